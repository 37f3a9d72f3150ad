"""One edge in full: its hardware and data keys, its last error, the runs it took part in,
its load over the last day (zoom with the wheel or the range chooser) and when it came and
went. Loaded off the GUI thread; Enter on a run opens it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.services.entities.edge_history import RUNS_SHOWN, EdgeDetail
from app.services.entities.records import human_ago
from app.ui.run_views.curves import show_grid
from app.ui.widgets.row_table import RowTable
from app.ui.widgets.style import ERROR_STYLE
from app.ui.workers import run_in_background

RANGES = (("What was sampled", 0), ("Last hour", 1), ("Last 6 hours", 6), ("Last 24 hours", 24))
LOAD_LINES = (
    ("cpu", "CPU %", "#1565c0"),
    ("mem", "Memory %", "#ef6c00"),
    ("gpu", "GPU %", "#2e7d32"),
)


def _when(at: datetime | None) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if at else ""


class EdgeDetailDialog(QDialog):
    open_run = Signal(int)

    def __init__(self, ctx, name: str, parent=None) -> None:
        super().__init__(parent)
        self.ctx, self.name = ctx, name
        self.detail: EdgeDetail | None = None
        self.setWindowTitle(f"Edge {name}")
        self.resize(900, 600)
        self.heading = QLabel(name, objectName="heading")
        self.heading.setStyleSheet("font-size: 15px; font-weight: 600")
        self.error = QLabel(objectName="lastError", wordWrap=True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        overview = QWidget()
        self.facts = QFormLayout(overview)
        self.hardware = RowTable(["Fact", "Value"], "hardware")
        self.runs = RowTable(["Run", "Name", "Project", "Status", "Rounds", "Started"], "runs")
        self.runs.entered.connect(self._open_run)
        self.changes = RowTable(["When", "Status", "Ago"], "changes")

        load = QWidget()
        load_layout = QVBoxLayout(load)
        bar = QHBoxLayout()
        self.range = QComboBox(objectName="range")
        for label, hours in RANGES:
            self.range.addItem(label, hours)
        self.range.currentIndexChanged.connect(self._zoom)
        shown = QLabel("&Show")
        shown.setBuddy(self.range)
        bar.addWidget(shown)
        bar.addWidget(self.range)
        bar.addWidget(QLabel("(wheel or drag on the plot to zoom; right-click to reset)"))
        bar.addStretch(1)
        load_layout.addLayout(bar)
        self.plot = pg.PlotWidget(background="w", axisItems={"bottom": pg.DateAxisItem()})
        show_grid(self.plot, True)
        self.plot.setYRange(0, 100)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.addLegend(offset=(-10, 10), labelTextColor="#333")
        self.lines = {
            key: self.plot.plot([], [], name=title, pen=pg.mkPen(color, width=1.5))
            for key, title, color in LOAD_LINES
        }
        load_layout.addWidget(self.plot, 1)

        self.tabs = QTabWidget()
        self.tabs.addTab(overview, "O&verview")
        self.tabs.addTab(self.hardware, "&Hardware")
        self.tabs.addTab(self.runs, "&Runs")
        self.tabs.addTab(load, "&Load")
        self.tabs.addTab(self.changes, "&Connections")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        refresh = QShortcut(QKeySequence.StandardKey.Refresh, self)
        refresh.activated.connect(self.refresh)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.error)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
        self.refresh()

    def refresh(self) -> None:
        run_in_background(
            self,
            self.ctx.services.edge_history.detail,
            self.ctx.actor,
            self.name,
            on_result=self._show,
            on_error=lambda exc: self.error.setText(str(exc)),
        )

    def _show(self, detail: EdgeDetail) -> None:
        self.detail = detail
        edge, now = detail.edge, datetime.now(UTC)
        seen = f"seen {human_ago(edge.last_seen, now)}" if edge.last_seen else "never seen"
        self.heading.setText(f"{edge.name} — {edge.status}, {seen}")
        if detail.last_error is not None:
            err = detail.last_error
            self.error.setText(
                f"Last error ({human_ago(err.at, now)}, run #{err.job_id}): {err.text}"
            )
        else:
            self.error.setText("")
        while self.facts.rowCount():
            self.facts.removeRow(0)
        hw = edge.hardware
        for label, value in (
            ("Device id", edge.device_id),
            ("Status", edge.status),
            ("Last seen", f"{human_ago(edge.last_seen, now)} ({_when(edge.last_seen)})"),
            ("Tags", ", ".join(edge.tags) or "none"),
            ("Data keys", ", ".join(edge.data_keys) or "none (built-in datasets only)"),
            ("Platform", str(hw.get("platform", "not reported yet"))),
            ("CPUs", str(hw.get("cpus", "?"))),
            ("Memory", f"{hw['memory_gb']} GB" if "memory_gb" in hw else "?"),
            ("GPUs", ", ".join(map(str, hw.get("gpus") or [])) or "none reported"),
            (
                "Runs taken part in",
                f"{len(detail.runs)}{'+' if len(detail.runs) == RUNS_SHOWN else ''}",
            ),
        ):
            text = QLabel(value)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.facts.addRow(f"{label}:", text)
        self.hardware.fill([[k, str(v)] for k, v in sorted(hw.items())])
        self.runs.fill(
            [
                [f"#{r.job_id}", r.name, r.project, r.status, r.rounds, _when(r.started_at)]
                for r in detail.runs
            ],
        )
        self.changes.fill([[_when(c.at), c.status, human_ago(c.at, now)] for c in detail.changes])
        times = np.array([p.at.timestamp() for p in detail.load])
        for key, _title, _color in LOAD_LINES:
            values = [getattr(p, key) for p in detail.load]
            if key == "gpu" and all(v is None for v in values):
                self.lines[key].setData([], [])
                continue
            ys = np.array([np.nan if v is None else v for v in values], dtype=float)
            self.lines[key].setData(times, ys, connect="finite")
        self._zoom()

    def _zoom(self) -> None:
        hours = self.range.currentData()
        end = datetime.now(UTC).timestamp()
        if hours == 0:  # the day's samples, however short a span they cover
            load = self.detail.load if self.detail else []
            start = load[0].at.timestamp() if load else end - 3600
            self.plot.setXRange(start, max(end, start + 60), padding=0.02)
        else:
            self.plot.setXRange(end - hours * 3600, end, padding=0)

    def _open_run(self, row: int) -> None:
        if self.detail is not None and 0 <= row < len(self.detail.runs):
            self.open_run.emit(self.detail.runs[row].job_id)
