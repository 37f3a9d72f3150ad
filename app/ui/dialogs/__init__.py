"""Dialogs: create and edit forms, sign-in, settings, help."""
