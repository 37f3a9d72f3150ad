"""The window's light and dark themes, applied at once (at start, and from Settings)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

DARK = (
    (QPalette.ColorRole.Window, "#263238"),
    (QPalette.ColorRole.WindowText, "#eceff1"),
    (QPalette.ColorRole.Base, "#1e272c"),
    (QPalette.ColorRole.AlternateBase, "#2b363c"),
    (QPalette.ColorRole.Text, "#eceff1"),
    (QPalette.ColorRole.Button, "#37474f"),
    (QPalette.ColorRole.ButtonText, "#eceff1"),
    (QPalette.ColorRole.Highlight, "#1e88e5"),
    (QPalette.ColorRole.ToolTipBase, "#37474f"),
    (QPalette.ColorRole.ToolTipText, "#eceff1"),
    # Hints in empty fields: clearly lighter than text, clearly there on the dark base.
    (QPalette.ColorRole.PlaceholderText, "#90a4ae"),
)


def apply_theme(app: QApplication, theme: str) -> None:
    """`light` (Fusion's own colours) or `dark`; every open window follows at once."""
    app.setStyle("Fusion")
    palette = app.style().standardPalette()
    if theme == "dark":
        for role, color in DARK:
            palette.setColor(role, QColor(color))
    app.setPalette(palette)
