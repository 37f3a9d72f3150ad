"""One run in detail, live while it goes and complete afterwards from the database."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.services.runs.events import LiveEvent
from app.ui.dialogs.settings import preferences
from app.ui.run_views.curves import CurvesTab
from app.ui.run_views.data import TERMINAL, RunView, load_run_view
from app.ui.run_views.load import LoadTab
from app.ui.run_views.logs import LogsTab
from app.ui.run_views.models import ModelsTab
from app.ui.run_views.overview import OverviewTab
from app.ui.run_views.topology import TopologyTab
from app.ui.widgets.elided_label import ElidedLabel
from app.ui.workers import Worker, run_in_background


class RunDetailPage(QWidget):
    title = "Run detail"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.view: RunView | None = None
        self._drawn = -1
        self._loading_id: int | None = None
        self._fetching: Worker | None = None
        self._missed: list[LiveEvent] = []  # events that arrive while a run loads
        self.run_choice = QComboBox(minimumWidth=320)
        # Sized by a fixed length, not by its longest run name: a renamed status or a long
        # name must not widen the window.
        self.run_choice.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.run_choice.setMinimumContentsLength(36)
        self.run_choice.activated.connect(lambda _i: self.show_run(self.run_choice.currentData()))
        self.heading = ElidedLabel("No run selected")
        self.heading.setStyleSheet("font-size: 15px; font-weight: 600")
        self.progress = QProgressBar(minimumWidth=160, maximumWidth=240, textVisible=True)
        top = QHBoxLayout()
        chooser = QLabel("&Run:")
        chooser.setBuddy(self.run_choice)
        top.addWidget(chooser)
        top.addWidget(self.run_choice)
        top.addWidget(self.heading, 1)
        top.addWidget(self.progress)
        self.tabs = QTabWidget()
        self.curves = CurvesTab()
        self.load_tab = LoadTab()
        self.logs = LogsTab()
        self.models = ModelsTab(ctx)
        self.topology = TopologyTab()
        self.overview = OverviewTab()
        for widget, name in (
            (self.curves, "&Curves"),
            (self.load_tab, "Device &load"),
            (self.logs, "L&ogs"),
            (self.models, "&Models"),
            (self.topology, "&Topology"),
            (self.overview, "O&verview"),
        ):
            self.tabs.addTab(widget, name)
        self.tabs.currentChanged.connect(
            lambda _i: self.view and self.tabs.currentWidget().render(self.view)
        )
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)
        self.timer = QTimer(self, interval=int(1000 / max(ctx_refresh_hz(ctx), 0.1)))
        self.timer.timeout.connect(self._redraw)
        self.timer.start()
        self._artifacts_due = QTimer(self, singleShot=True, interval=1000)
        self._artifacts_due.timeout.connect(self._reread_artifacts)
        ctx.live.event.connect(self._on_live)

    def _reread_artifacts(self) -> None:
        if self.view is None or self._loading_id is not None:
            return
        job_id = self.view.job.id

        def reread():
            return self.ctx.services.run_data.artifacts(self.ctx.actor, job_id)

        run_in_background(self, reread, on_result=lambda found: self._artifacts_read(job_id, found))

    def _artifacts_read(self, job_id: int, found) -> None:
        if self.view is not None and self.view.job.id == job_id and self._loading_id is None:
            self.view.artifacts = list(found)
            self.view.version += 1

    def showEvent(self, event) -> None:
        super().showEvent(event)
        run_in_background(
            self, self.ctx.services.jobs.list, self.ctx.actor, on_result=self._fill_choices
        )

    def _fill_choices(self, jobs) -> None:
        # A run asked for while the list loaded (opened from another page) stays the one shown.
        current = self._loading_id or (self.view.job.id if self.view else None)
        self.run_choice.clear()
        for job in jobs:
            self.run_choice.addItem(f"#{job.id} {job.name} [{job.status}]", job.id)
        if current is not None:
            self.run_choice.setCurrentIndex(max(0, self.run_choice.findData(current)))
        elif jobs:
            self.show_run(jobs[0].id)

    def _relabel_choice(self, job_id: int | None, status: str) -> None:
        """The run chooser says each run's status as it changes, not as it was at open."""
        index = self.run_choice.findData(job_id)
        if index >= 0:
            text = self.run_choice.itemText(index)
            self.run_choice.setItemText(index, f"{text.rsplit(' [', 1)[0]} [{status}]")

    def show_run(self, job_id: int | None) -> None:
        if job_id is None:
            return
        if self._loading_id != job_id:
            self._missed = []  # what was buffered belongs to another run
        self._loading_id = job_id
        if self._fetching is not None:
            self._fetching.cancel()  # its answer is for a run no longer wanted
        self._fetching = run_in_background(
            self,
            load_run_view,
            self.ctx.services,
            self.ctx.actor,
            job_id,
            on_result=self._loaded,
            on_error=self._load_failed,
        )

    def _load_failed(self, exc: Exception) -> None:
        self._fetching = None
        self._loading_id = None
        self._missed = []
        self.heading.setText(str(exc))

    def _loaded(self, view: RunView) -> None:
        self._fetching = None
        self._loading_id = None
        for event in self._missed:  # what happened between the database read and now
            view.apply(event)
        self._missed = []
        self.view = view
        self._drawn = -1
        index = self.run_choice.findData(view.job.id)
        if index >= 0:
            self.run_choice.setCurrentIndex(index)
        self._redraw()

    def _on_live(self, event: LiveEvent) -> None:
        if event.kind == "job" and event.data.get("status"):
            self._relabel_choice(event.job_id, event.data["status"])
        if self._loading_id is not None:
            self._missed.append(event)
            return
        if self.view is None:
            return
        was = self.view.job.status
        if not self.view.apply(event):
            return
        if event.kind == "job" and was not in TERMINAL and event.data["status"] != was:
            # A new status: the record's times and history are read again (Started, the
            # status history, and at the end the final artifacts).
            self.show_run(self.view.job.id)
            return
        round_closed = event.kind == "artifact" and event.data.get("node") == "aggregate"
        if round_closed and not self._artifacts_due.isActive():
            # Retention may have removed client models meanwhile: the list shown is the
            # database's, read again at most once a second.
            self._artifacts_due.start()

    def _redraw(self) -> None:
        view = self.view
        if view is None or view.version == self._drawn or not self.isVisible():
            return
        self._drawn = view.version
        job = view.job
        self.heading.setText(f"#{job.id} {job.name} — {job.status}")
        self.progress.setRange(0, max(job.total_rounds, 1))
        self.progress.setValue(job.current_round)
        self.progress.setFormat("round %v of %m")
        self.tabs.currentWidget().render(view)  # the others catch up when shown


def ctx_refresh_hz(ctx) -> float:
    return float(preferences(ctx.settings.data_dir).value("plot_refresh_hz", 2.0))
