"""Flows: the flows, their runs, and the selected run drawn as a graph coloured by status;
new/edit in TOML with a live drawing, run, stop, and a link from each step to its job."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QLabel,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.services.automation.flow_engine import stop_flow_run
from app.services.automation.flows import FlowRecord, FlowRunRecord
from app.ui.dialogs.flow_editor import FlowEditor
from app.ui.pages.table_page import TablePage, select_row
from app.ui.widgets.flow_graph import FlowGraph
from app.ui.widgets.record_model import RecordTableModel
from app.ui.workers import run_in_background

LIVE_REFRESH_MS = 2000


@dataclass(frozen=True)
class FlowRow:
    flow: FlowRecord
    last_run: FlowRunRecord | None

    @property
    def name(self) -> str:
        return self.flow.name


RUN_COLUMNS = [
    ("Run", lambda r: r.id),
    ("Status", lambda r: r.status),
    ("Trigger", lambda r: r.trigger),
    ("Started", lambda r: r.started_at),
    ("Finished", lambda r: r.finished_at),
    ("Reason", lambda r: r.reason),
]
STEP_COLUMNS = [
    ("Step", lambda s: s["step"]),
    ("Status", lambda s: s["status"]),
    ("Job", lambda s: s["job_id"]),
    ("Job status", lambda s: s["job_status"]),
    ("Tries", lambda s: s["attempts"]),
    ("Reason", lambda s: s["reason"]),
]


def _table(model) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(24)
    view.horizontalHeader().setStretchLastSection(True)
    return view


def _load_flows(services, actor) -> list[FlowRow]:
    last: dict[str, FlowRunRecord] = {}
    for run in services.flows.runs(actor):  # newest first
        last.setdefault(run.flow, run)
    return [FlowRow(f, last.get(f.name)) for f in services.flows.list(actor)]


def _fetch_runs(services, actor, flow: FlowRecord) -> tuple[FlowRecord, list[FlowRunRecord]]:
    """The flow's runs, newest first."""
    return flow, services.flows.runs(actor, flow.name)


class FlowsPage(TablePage):
    title = "Flows"
    open_run = Signal(int)
    columns = [
        ("Name", lambda r: r.flow.name),
        ("Steps", lambda r: [s["name"] for s in r.flow.steps]),
        ("Last run", lambda r: f"#{r.last_run.id} {r.last_run.status}" if r.last_run else ""),
        ("Started", lambda r: r.last_run.started_at if r.last_run else None),
        ("Description", lambda r: r.flow.description),
    ]

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.add_action("New…", self.new, "Ctrl+N", needs="operator")
        self.add_action("Edit…", self.edit, "Ctrl+E", needs="operator")
        self.add_action("Import TOML…", self.import_toml, "Ctrl+I", needs="operator")
        self.add_action("Run", self.start, "F9", needs="operator")
        self.add_action("Stop run", self.stop, "Ctrl+.", needs="operator")
        self.add_action("Delete", self.delete, "Del", needs="operator")
        self.runs = RecordTableModel(RUN_COLUMNS, self)
        self.steps = RecordTableModel(STEP_COLUMNS, self)
        self.runs_view = _table(self.runs)
        self.steps_view = _table(self.steps)
        self.steps_view.activated.connect(lambda i: self._open_step(self.steps.record(i.row())))
        self.graph = FlowGraph()
        self.graph.step_activated.connect(self._open_step_named)
        self.caption = QLabel("Select a flow to see its runs.")
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.caption)
        right_layout.addWidget(self.graph, 3)
        right_layout.addWidget(self.steps_view, 2)
        detail = QSplitter(Qt.Orientation.Horizontal)
        detail.addWidget(self.runs_view)
        detail.addWidget(right)
        detail.setSizes([380, 700])
        split = QSplitter(Qt.Orientation.Vertical)
        self.layout().replaceWidget(self.table, split)
        split.addWidget(self.table)
        split.addWidget(detail)
        split.setSizes([220, 520])
        self.table.selectionModel().selectionChanged.connect(lambda *_: self.load_runs())
        self.runs_view.selectionModel().selectionChanged.connect(lambda *_: self.show_run())
        self._shown_flow: str | None = None
        self._flow_run_id: int | None = None
        self.timer = QTimer(self, interval=LIVE_REFRESH_MS)
        self.timer.timeout.connect(self._tick)
        ctx.live.event.connect(self._on_live)

    def query(self):
        return partial(_load_flows, self.ctx.services, self.ctx.actor)

    def show_rows(self, rows) -> None:
        super().show_rows(rows)
        if not self.selected() and rows:
            select_row(self.table, 0)
        self.load_runs()

    # -- the selected flow's runs -----------------------------------------------------
    def load_runs(self) -> None:
        rows = self.selected()
        if not rows:
            return
        run_in_background(
            self,
            _fetch_runs,
            self.ctx.services,
            self.ctx.actor,
            rows[0].flow,
            on_result=self._runs_loaded,
            on_error=self._failed,
        )

    def _runs_loaded(self, result: tuple[FlowRecord, list[FlowRunRecord]]) -> None:
        flow, runs = result
        keep = self._flow_run_id if self._shown_flow == flow.name else None
        self._shown_flow = flow.name
        self.runs.set_rows(runs)
        self.runs_view.resizeColumnsToContents()
        if not runs:
            self._flow_run_id = None
            self.caption.setText(f"{flow.name}: never run — its steps:")
            self.graph.set_steps(
                [{"step": s["name"], "depends_on": s["depends_on"]} for s in flow.steps]
            )
            self.steps.set_rows([])
            return
        row = next((i for i, r in enumerate(runs) if r.id == keep), 0)
        select_row(self.runs_view, row)
        self.show_run()

    def show_run(self) -> None:
        rows = {i.row() for i in self.runs_view.selectionModel().selectedRows()}
        if not rows:
            return
        run = self.runs.record(min(rows))
        self._flow_run_id = run.id
        self.caption.setText(
            f"{run.flow} · run #{run.id} · {run.status}"
            + (f" — {run.reason}" if run.reason else "")
            + "   (Enter or click a step to open its job)"
        )
        self.graph.set_steps(run.steps)
        self.steps.set_rows(run.steps)
        self.steps_view.resizeColumnsToContents()
        if run.status == "RUNNING" and self.isVisible():
            self.timer.start()

    def _tick(self) -> None:
        running = any(r.status == "RUNNING" for r in self.runs.rows)
        if not running or not self.isVisible():
            self.timer.stop()
        self.load_runs()

    def _on_live(self, event) -> None:
        if event.kind in ("automation", "job") and self.isVisible():
            self.load_runs()

    def _open_step_named(self, name: str) -> None:
        step = next((s for s in self.steps.rows if s["step"] == name), None)
        if step is not None:
            self._open_step(step)

    def _open_step(self, step: dict) -> None:
        if step.get("job_id"):
            self.open_run.emit(step["job_id"])
        else:
            self.status.setText(f"Step {step['step']} has no job ({step['status'].lower()}).")

    # -- actions ----------------------------------------------------------------------
    def new(self) -> None:
        self._open(FlowEditor(self.ctx, None, None, self))

    def edit(self) -> None:
        rows = self.selected()
        if not rows:
            self.status.setText("Select a flow to edit.")
            return
        name = rows[0].name
        self.run(
            self.ctx.services.flows.export_toml,
            self.ctx.actor,
            name,
            done=lambda text: self._open(FlowEditor(self.ctx, text, name, self)),
        )

    def _open(self, editor: FlowEditor) -> None:
        editor.saved.connect(lambda _r: self.refresh())
        editor.open()

    def import_toml(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import flow", "", "TOML (*.toml)")
        if path:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
            self._open(FlowEditor(self.ctx, text, None, self))

    def start(self) -> None:
        rows = self.selected()
        automation = self.ctx.center.automation
        if not rows or automation is None:
            self.status.setText(
                "Select a flow first." if not rows else "The control center is still starting."
            )
            return
        self._flow_run_id = None
        self.run(automation.start_flow, self.ctx.actor, rows[0].name, "manual")

    def stop(self) -> None:
        if self._flow_run_id is None or self.ctx.center.launcher is None:
            self.status.setText("Select a running flow run to stop.")
            return
        flow_run_id = self._flow_run_id
        if self.confirm("Stop flow run", f"Stop flow run #{flow_run_id} and its running jobs?"):
            launcher = self.ctx.center.launcher
            self.run(stop_flow_run, self.ctx.services, launcher.stop, self.ctx.actor, flow_run_id)

    def delete(self) -> None:
        self.remove_selected(
            "flows", lambda r: self.ctx.services.flows.delete(self.ctx.actor, r.name)
        )
