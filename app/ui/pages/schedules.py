"""Schedules: every schedule with its trigger, next fire and lease holder; new/edit with a
live preview, enable/disable, delete, and the history of what each fire did."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QTableView, QVBoxLayout

from app.ui.dialogs.schedule import ScheduleDialog
from app.ui.pages.table_page import TablePage
from app.ui.widgets.record_model import RecordTableModel


def _launches(r) -> str:
    t = r.template
    if "flow" in t:
        return f"flow {t['flow']}"
    edges = f"tag {t['edge_tag']}" if t.get("edge_tag") else ", ".join(t.get("edges", []))
    return f"{t['project']} · {t['config']} · {edges}"


def _next_fire(r) -> str:
    if not r.enabled:
        return "off"
    return r.next_fires[0].replace("T", " ")[:16] + f" {r.timezone}" if r.next_fires else "done"


FIRE_COLUMNS = [
    ("Due", lambda f: f.fire_time),
    ("Handled", lambda f: f.at),
    ("Outcome", lambda f: f.outcome),
    ("Job", lambda f: f.job_id),
    ("Flow run", lambda f: f.flow_run_id),
    ("Reason", lambda f: f.reason),
]


class SchedulesPage(TablePage):
    title = "Schedules"
    columns = [
        ("Name", lambda r: r.name),
        ("Enabled", lambda r: "on" if r.enabled else "off"),
        ("Trigger", lambda r: r.trigger),
        ("Next fire", _next_fire),
        ("Launches", _launches),
        ("If running", lambda r: r.overlap_policy),
        ("Missed", lambda r: r.misfire_policy),
        ("Fired by", lambda r: (r.lease_owner or "").split("@")[0] or "-"),
    ]

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.add_action("New…", self.new, "Ctrl+N", needs="operator")
        self.add_action("Edit…", self.edit, "Ctrl+E", needs="operator")
        self.add_action("Enable / disable", self.toggle, "Ctrl+T", needs="operator")
        self.add_action("History", self.history, "Ctrl+H")
        self.add_action("Delete", self.delete, "Del", needs="operator")
        ctx.live.event.connect(self._on_live)

    def query(self):
        services, actor = self.ctx.services, self.ctx.actor
        return lambda: services.schedules.list(actor)

    def _on_live(self, event) -> None:
        if event.kind == "automation" and self.isVisible():
            self.refresh()

    def _one(self):
        rows = self.selected()
        if not rows:
            self.status.setText("Select a schedule first.")
        return rows[0] if rows else None

    def new(self) -> None:
        self._open(ScheduleDialog(self.ctx, None, self))

    def edit(self) -> None:
        if (row := self._one()) is not None:
            self._open(ScheduleDialog(self.ctx, row, self))

    def activated(self) -> None:
        self.history()

    def _open(self, dialog: ScheduleDialog) -> None:
        dialog.saved.connect(lambda _r: self.refresh())
        dialog.open()

    def toggle(self) -> None:
        set_enabled = self.ctx.services.schedules.set_enabled
        for row in self.selected():
            self.run(set_enabled, self.ctx.actor, row.name, not row.enabled)

    def delete(self) -> None:
        self.remove_selected(
            "schedules", lambda r: self.ctx.services.schedules.delete(self.ctx.actor, r.name)
        )

    def history(self) -> None:
        if (row := self._one()) is None:
            return
        services, actor = self.ctx.services, self.ctx.actor
        self.run(services.schedules.history, actor, row.name, done=lambda f: self._show(row, f))

    def _show(self, row, fires) -> None:
        dialog = QDialog(self)
        dialog.setWindowTitle(f"History of {row.name}")
        model = RecordTableModel(FIRE_COLUMNS, dialog)
        model.set_rows(fires)
        view = QTableView()
        view.setModel(model)
        view.verticalHeader().hide()
        view.horizontalHeader().setStretchLastSection(True)
        view.resizeColumnsToContents()
        QVBoxLayout(dialog).addWidget(view)
        dialog.resize(820, 420)
        dialog.open()
