"""Settings: hub (embedded or a URL), data dir, theme, plot refresh rate, notifications.

The hub URL is saved in the data dir's `feddeck.toml` (read by Settings.load after CLI
flags and the environment); theme and refresh rate are window preferences.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomli_w
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
)

from app.errors import InvalidInput
from app.ui.widgets.style import ERROR_STYLE
from app.ui.widgets.theme import apply_theme
from app.wire.transports import embeddable, validate_hub_url

HUBS = [*(f"embedded://{name}" for name in embeddable()), "external URL…"]


def settings_file(data_dir: Path) -> Path:
    return data_dir / "feddeck.toml"


def save_hub_url(data_dir: Path, url: str) -> None:
    path = settings_file(data_dir)
    data = tomllib.loads(path.read_text()) if path.exists() else {}
    data["hub_url"] = validate_hub_url(url)
    path.write_text(tomli_w.dumps(data))


def preferences(data_dir: Path) -> QSettings:
    return QSettings(str(data_dir / "window.ini"), QSettings.Format.IniFormat)


class SettingsDialog(QDialog):
    def __init__(self, settings, parent=None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Settings")
        prefs = preferences(settings.data_dir)
        self.hub = QComboBox()
        self.hub.addItems(HUBS)
        self.url = QLineEdit(placeholderText="mqtt://broker:1883 or grpc://hub:50051")
        if settings.hub_url in HUBS:
            self.hub.setCurrentText(settings.hub_url)
        else:
            self.hub.setCurrentText(HUBS[-1])
            self.url.setText(settings.hub_url)
        self.hub.currentTextChanged.connect(lambda t: self.url.setEnabled(t == HUBS[-1]))
        self.url.setEnabled(self.hub.currentText() == HUBS[-1])
        self.theme = QComboBox()
        self.theme.addItems(["light", "dark"])
        self.theme.setCurrentText(str(prefs.value("theme", "light")))
        self.refresh = QDoubleSpinBox(minimum=0.2, maximum=30.0, suffix=" Hz", decimals=1)
        self.refresh.setValue(float(prefs.value("plot_refresh_hz", 2.0)))
        self.notify = QCheckBox("Notify me when a run ends")
        self.notify.setChecked(str(prefs.value("notify_runs", "true")).lower() == "true")
        self.error = QLabel(styleSheet=ERROR_STYLE, wordWrap=True)
        form = QFormLayout()
        form.addRow("&Hub", self.hub)
        form.addRow("Hub &URL", self.url)
        form.addRow("Data dir", QLabel(str(settings.data_dir)))
        form.addRow("&Theme", self.theme)
        form.addRow("&Plot refresh", self.refresh)
        form.addRow("&Notifications", self.notify)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(
            QLabel(
                "A hub change applies at the next start. The data dir is chosen "
                "with --data-dir or FEDDECK_DATA_DIR."
            )
        )
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _save(self) -> None:
        url = (
            self.url.text().strip()
            if self.hub.currentText() == HUBS[-1]
            else self.hub.currentText()
        )
        try:
            save_hub_url(self.settings.data_dir, url)
        except InvalidInput as exc:
            self.error.setText(str(exc))
            return
        prefs = preferences(self.settings.data_dir)
        prefs.setValue("theme", self.theme.currentText())
        apply_theme(QApplication.instance(), self.theme.currentText())  # now, not at restart
        prefs.setValue("plot_refresh_hz", self.refresh.value())
        prefs.setValue("notify_runs", "true" if self.notify.isChecked() else "false")
        self.accept()
