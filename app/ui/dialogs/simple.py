"""Small create dialogs: a form, a service call off the GUI thread, errors beside the field."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.ui.widgets.style import ERROR_STYLE
from app.ui.workers import run_in_background


class FormDialog(QDialog):
    """Fields by name; `submit(values)` runs on a worker. An error that names a field or
    quotes its value is shown under that field, any other under the form."""

    done = Signal(object)

    def __init__(
        self, title: str, fields: dict[str, QWidget], submit: Callable[[dict], object], parent=None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.fields, self._submit = fields, submit
        self.errors: dict[str, QLabel] = {}
        form = QFormLayout()
        for name, widget in fields.items():
            form.addRow(f"&{name[0].upper()}{name[1:]}", widget)
            error = QLabel(styleSheet=ERROR_STYLE, wordWrap=True, visible=False)
            form.addRow("", error)
            self.errors[name] = error
        self.general = QLabel(styleSheet=ERROR_STYLE, wordWrap=True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._ok)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.general)
        layout.addWidget(self.buttons)
        self.resize(420, 0)

    def values(self) -> dict[str, str]:
        out = {}
        for name, widget in self.fields.items():
            out[name] = widget.currentText() if isinstance(widget, QComboBox) else widget.text()
        return out

    def _ok(self) -> None:
        for label in self.errors.values():
            label.hide()
        self.general.clear()
        self.buttons.setEnabled(False)
        run_in_background(
            self, self._submit, self.values(), on_result=self._done, on_error=self._failed
        )

    def _done(self, result) -> None:
        self.done.emit(result)
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        text = str(exc)
        values = self.values()
        for name, label in self.errors.items():
            # An error names its field ("password must…") or quotes its value ("'lab' exists").
            if name.lower() in text.lower() or (values[name] and repr(values[name]) in text):
                label.setText(text)
                label.show()
                self.fields[name].setFocus()
                self._fit()
                return
        self.general.setText(text)
        self._fit()

    def _fit(self) -> None:
        """Tall enough for every line of the message shown (a wrapped label does not grow
        its dialog by itself)."""
        layout = self.layout()
        layout.activate()
        needed = layout.totalHeightForWidth(self.width())
        if needed > self.height():
            self.resize(self.width(), needed)


def line(placeholder: str = "", password: bool = False) -> QLineEdit:
    edit = QLineEdit(placeholderText=placeholder)
    if password:
        edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


def combo(items: list[str], current: str | None = None) -> QComboBox:
    box = QComboBox()
    box.addItems(items)
    if current:
        box.setCurrentText(current)
    return box
