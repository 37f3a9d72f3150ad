"""Configs: every version, new/edit (a new version each time), history and diff."""

from __future__ import annotations

import difflib

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QDialog, QFileDialog, QPlainTextEdit, QVBoxLayout

from app.core.fl_config import FLConfig, config_to_toml
from app.ui.dialogs.config import ConfigDialog
from app.ui.pages.table_page import TablePage


class ConfigsPage(TablePage):
    title = "Configs"
    columns = [
        ("Name", lambda c: c.name),
        ("Version", lambda c: c.version),
        ("Model", lambda c: c.body["model"]["kind"]),
        ("Dataset", lambda c: c.body["dataset"]["name"]),
        ("Split", lambda c: c.body["partitioning"]["kind"]),
        ("Algorithm", lambda c: c.body["algorithm"]["name"]),
        ("Rounds", lambda c: c.body["training"]["rounds"]),
        ("Saved", lambda c: c.created_at),
    ]

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.add_action("New…", self.new, "Ctrl+N", needs="operator")
        self.add_action("Edit…", self.edit, "Ctrl+E", needs="operator")
        self.add_action("Import TOML…", self.import_toml, "Ctrl+I", needs="operator")
        self.add_action("Diff versions", self.diff, "Ctrl+Shift+D")

    def query(self):
        services, actor = self.ctx.services, self.ctx.actor
        return lambda: services.configs.list(actor, all_versions=True)

    @staticmethod
    def _key(record):
        return record.id

    def new(self) -> None:
        self._open(ConfigDialog(self.ctx, None, self))

    def edit(self) -> None:
        rows = self.selected()
        if not rows:
            self.status.setText("Select a config to edit.")
            return
        self._open(ConfigDialog(self.ctx, FLConfig.model_validate(rows[0].body), self))

    def _open(self, dialog: ConfigDialog) -> None:
        dialog.saved.connect(lambda _r: self.refresh())
        dialog.open()

    def import_toml(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import config", "", "TOML (*.toml)")
        if path:
            self.run(self.ctx.services.configs.import_toml, self.ctx.actor, path)

    def diff(self) -> None:
        """The selected two versions, or the selected one against its predecessor."""
        rows = self.selected()
        if len(rows) == 1:
            older = [
                c
                for c in self.model.rows
                if c.name == rows[0].name and c.version == rows[0].version - 1
            ]
            rows = older + rows
        if len(rows) != 2:
            self.status.setText("Select two versions (Ctrl+click), or one with an earlier version.")
            return
        a, b = sorted(rows, key=lambda c: (c.name, c.version))
        text = (
            "".join(
                difflib.unified_diff(
                    config_to_toml(FLConfig.model_validate(a.body)).splitlines(keepends=True),
                    config_to_toml(FLConfig.model_validate(b.body)).splitlines(keepends=True),
                    f"{a.name} v{a.version}",
                    f"{b.name} v{b.version}",
                )
            )
            or "(no differences)"
        )
        show_text(self, f"{a.name} v{a.version} → {b.name} v{b.version}", text)


def show_text(parent, title: str, text: str) -> None:
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    view = QPlainTextEdit(text, readOnly=True)
    view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    QVBoxLayout(dialog).addWidget(view)
    dialog.resize(640, 480)
    dialog.open()
