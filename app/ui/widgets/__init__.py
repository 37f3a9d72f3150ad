"""Widgets and looks the pages share."""
