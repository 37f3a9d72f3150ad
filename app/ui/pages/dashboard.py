"""Dashboard: the runs going now (progress, an accuracy sparkline), edges online over the
last 24 hours, the day's failures with their reasons, the next scheduled fires. Enter or a
double-click opens what a row names. Loaded off the GUI thread."""

from __future__ import annotations

import logging

from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QStyledItemDelegate,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from app.services.entities.records import human_ago, human_until
from app.services.runs.dashboard import Dashboard, load_dashboard
from app.services.runs.events import LiveEvent
from app.ui.widgets.row_table import RowTable
from app.ui.widgets.sparkline import draw_sparkline
from app.ui.widgets.style import ERROR_STYLE
from app.ui.workers import run_in_background

EDGE_STATES = ("IDLE", "TRAINING", "OFFLINE", "ERROR")
JOB_STATES = ("QUEUED", "STARTING", "RUNNING", "FINISHED", "FAILED", "STOPPED")
log = logging.getLogger(__name__)
VALUES = Qt.ItemDataRole.UserRole  # a cell's data for its delegate
KEY = Qt.ItemDataRole.UserRole + 1  # the run a row opens


class ProgressDelegate(QStyledItemDelegate):
    """(done, total) drawn as a bar with "7/20" on it: painted here, not by the style,
    whose progress bar in a table cell ignores its fraction (full width) and strikes its
    text through with the chunk."""

    def paint(self, painter, option, index) -> None:
        done, total = index.data(VALUES) or (0, 0)
        rect = QRectF(option.rect.adjusted(4, 5, -4, -5))
        fraction = min(max(done / total, 0.0), 1.0) if total else 0.0
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor("#90a4ae"))
        painter.setBrush(QColor("#eceff1"))
        painter.drawRoundedRect(rect, 3, 3)
        if fraction:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#90caf9"))
            filled = QRectF(rect.x(), rect.y(), rect.width() * fraction, rect.height())
            painter.drawRoundedRect(filled.adjusted(0.5, 0.5, -0.5, -0.5), 3, 3)
        painter.setPen(QColor("#102027"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, f"{done}/{total}")
        painter.restore()


class AccuracyDelegate(QStyledItemDelegate):
    """The aggregate's test accuracy per round as a line, scaled to its own range (what
    matters at a glance is whether it still climbs), the latest value at the right."""

    def initStyleOption(self, option, index) -> None:
        super().initStyleOption(option, index)
        option.displayAlignment = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter

    def paint(self, painter: QPainter, option, index) -> None:
        super().paint(painter, option, index)
        values = index.data(VALUES) or []
        if len(values) < 2:
            return
        low, high = min(values), max(values)
        pad = max((high - low) * 0.1, 0.005)
        rect = QRectF(option.rect.adjusted(4, 4, -56, -4))
        draw_sparkline(painter, rect, values, "#2e7d32", low=low - pad, high=high + pad)


class OnlineChart(QWidget):
    """Edges online in each of the last 24 hours, as bars; Enter or a click opens Edges."""

    activated = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.counts: list[int] = []
        self.first_hour = 0
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumHeight(130)
        self.setAccessibleName("Edges online, last 24 hours")

    def set_counts(self, counts: list[int], first_hour: int) -> None:
        self.counts, self.first_hour = counts, first_hour
        peak = max(counts, default=0)
        self.setToolTip(f"Now {counts[-1] if counts else 0} online; at most {peak} in 24 h")
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        area = QRectF(self.rect()).adjusted(28, 8, -8, -20)
        peak = max(max(self.counts, default=0), 1)
        painter.setPen(palette.color(palette.ColorRole.WindowText))
        painter.drawText(QRectF(0, area.top() - 6, 24, 14), Qt.AlignmentFlag.AlignRight, str(peak))
        painter.drawText(QRectF(0, area.bottom() - 8, 24, 14), Qt.AlignmentFlag.AlignRight, "0")
        if not self.counts:
            return
        width = area.width() / len(self.counts)
        for i, count in enumerate(self.counts):
            height = area.height() * count / peak
            bar = QRectF(area.left() + i * width + 1, area.bottom() - height, width - 2, height)
            painter.fillRect(bar, QColor("#1565c0" if i == len(self.counts) - 1 else "#64b5f6"))
            hour = (self.first_hour + i) % 24
            if i % 4 == 0:
                painter.drawText(
                    QRectF(area.left() + i * width - 10, area.bottom() + 3, 40, 14),
                    Qt.AlignmentFlag.AlignLeft,
                    f"{hour:02d}:00",
                )
        if self.hasFocus():
            painter.setPen(palette.color(palette.ColorRole.Highlight))
            painter.drawRect(self.rect().adjusted(0, 0, -1, -1))

    def mouseReleaseEvent(self, _event) -> None:
        self.activated.emit()

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.activated.emit()
        else:
            super().keyPressEvent(event)


class DashboardPage(QWidget):
    title = "Dashboard"
    open_run = Signal(int)
    open_page = Signal(str)  # a page's title: "Edges", "Schedules"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self._services, self._actor = ctx.services, ctx.actor
        ctx.live.event.connect(self._on_live)
        self._loading = False
        self.data: Dashboard | None = None
        self.counts: dict[str, QLabel] = {}
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        for title, states in (("Edges", EDGE_STATES), ("Jobs", JOB_STATES)):
            box = QGroupBox(title)
            grid = QGridLayout(box)
            for i, state in enumerate(states):
                value = QLabel("-", objectName=f"count_{title.lower()}_{state}")
                value.setStyleSheet("font-size: 18px; font-weight: 600")
                grid.addWidget(value, 0, i)
                grid.addWidget(QLabel(state.title()), 1, i)
                self.counts[f"{title.lower()}:{state}"] = value
            row.addWidget(box)
        layout.addLayout(row)

        self.running = self._box_table(
            "&Running now", ["Run", "Name", "Status", "Progress", "Accuracy"], "running"
        )
        self.running.setItemDelegateForColumn(3, ProgressDelegate(self.running))
        self.running.setItemDelegateForColumn(4, AccuracyDelegate(self.running))
        self.failures = self._box_table(
            "&Failed in the last 24 h", ["Run", "Name", "When", "Reason"], "failures"
        )
        self.fires = self._box_table(
            "&Next scheduled fires", ["Schedule", "When", "Runs", "Trigger"], "fires"
        )
        self.online = OnlineChart()
        self.online.activated.connect(lambda: self.open_page.emit("Edges"))
        self.online_label = QLabel("Edges &online, last 24 h")
        self.online_label.setBuddy(self.online)
        online_box = QWidget()
        online_layout = QVBoxLayout(online_box)
        online_layout.setContentsMargins(0, 0, 0, 0)
        online_layout.addWidget(self.online_label)
        online_layout.addWidget(self.online, 1)

        grid = QGridLayout()
        grid.addWidget(self.running.parentWidget(), 0, 0)
        grid.addWidget(online_box, 0, 1)
        grid.addWidget(self.failures.parentWidget(), 1, 0)
        grid.addWidget(self.fires.parentWidget(), 1, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        layout.addLayout(grid, 1)
        for table in (self.running, self.failures):
            table.entered.connect(lambda r, t=table: self._open_run(t, r))
        self.fires.entered.connect(lambda _r: self.open_page.emit("Schedules"))
        # A run's status event reloads it at once (a load asked for while one runs follows
        # it); otherwise the timer reloads every 2 s while it shows, and ages the times.
        self._again = False
        self.problem = QLabel(styleSheet=ERROR_STYLE, wordWrap=True, visible=False)
        layout.addWidget(self.problem)
        self.timer = QTimer(self, interval=2000, timeout=self._maybe_refresh)
        self.timer.start()
        self.refresh()

    def _box_table(self, title: str, headers: list[str], name: str) -> RowTable:
        box = QWidget(self)
        box_layout = QVBoxLayout(box)
        box_layout.setContentsMargins(0, 0, 0, 0)
        label = QLabel(title)
        table = RowTable(headers, name)
        label.setBuddy(table)
        box_layout.addWidget(label)
        box_layout.addWidget(table, 1)
        return table

    def _open_run(self, table: QTableWidget, row: int) -> None:
        item = table.item(row, 0)
        if item is not None and item.data(KEY) is not None:
            self.open_run.emit(int(item.data(KEY)))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()  # current the moment it comes into view

    def _on_live(self, event: LiveEvent) -> None:
        # A run's status, at once; edges come and go by the hundred: the timer has them.
        if event.kind == "job" and event.data.get("status") and self.isVisible():
            self.refresh()

    def _maybe_refresh(self) -> None:
        if self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        if self._loading:
            self._again = True  # what changed meanwhile is read right after
            return
        self._loading = True
        run_in_background(
            self,
            load_dashboard,
            self._services,
            self._actor,
            on_result=self._show,
            on_error=self._failed,
        )

    def _failed(self, exc: Exception) -> None:
        log.warning("the dashboard could not be read: %s", exc)
        self.problem.setText(f"The dashboard could not be read: {exc}")
        self.problem.show()
        self._done()

    def _done(self) -> None:
        self._loading = False
        if self._again:
            self._again = False
            self.refresh()

    def _show(self, data: Dashboard) -> None:
        self.problem.hide()
        self.data = data
        now = data.now
        for key, label in self.counts.items():
            kind, state = key.split(":")
            label.setText(str((data.edges if kind == "edges" else data.jobs)[state]))
        rows = []
        for run in data.running:
            job = run.job
            last = f"{run.accuracy[-1]:.3f}" if run.accuracy else "-"
            rows.append(
                [
                    (f"#{job.id}", {KEY: job.id}),
                    job.name,
                    job.status,
                    ("", {VALUES: (job.current_round, job.total_rounds)}),
                    (last, {VALUES: run.accuracy}),
                ]
            )
        self.running.fill(rows)
        self.failures.fill(
            [
                [
                    (f"#{j.id}", {KEY: j.id}),
                    j.name,
                    human_ago(j.finished_at or j.created_at, now),
                    j.status_reason or "no reason given",
                ]
                for j in data.failures
            ]
        )
        self.fires.fill(
            [[f.schedule, human_until(f.at, now), f.target, f.trigger] for f in data.next_fires]
        )
        self.running.setColumnWidth(3, max(self.running.columnWidth(3), 110))
        self.running.setColumnWidth(4, max(self.running.columnWidth(4), 220))
        if data.online_since is not None:
            local = data.online_since.astimezone()
            self.online.set_counts(data.online, local.hour)
        self._done()
