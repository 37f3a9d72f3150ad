"""Shared look: one style for inline error text beside fields and lists."""

ERROR_STYLE = "color: #c62828"
