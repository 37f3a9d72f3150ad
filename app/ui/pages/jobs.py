"""Jobs: every run with status, progress, accuracy and disk use; launch, stop, clone, open,
delete (a finished run, with its files, after asking)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QLabel

from app.services.entities.records import JobRecord, human_size
from app.services.runs.baseline import create_baseline, run_baseline
from app.services.runs.events import LiveEvent
from app.services.runs.retention import delete_run
from app.ui.dialogs.launch import LaunchDialog
from app.ui.pages.table_page import Listing, TablePage
from app.ui.widgets.record_model import Bytes
from app.ui.workers import run_in_background

STATUSES = ["", "QUEUED", "STARTING", "RUNNING", "FINISHED", "FAILED", "STOPPED"]
DELETABLE = ("QUEUED", "FINISHED", "FAILED", "STOPPED")


@dataclass(frozen=True)
class JobRow:
    job: JobRecord
    accuracy: float | None

    @property
    def id(self) -> int:
        return self.job.id


class JobsPage(TablePage):
    title = "Jobs"
    open_run = Signal(int)
    columns = [
        ("Id", lambda r: r.job.id),
        ("Name", lambda r: r.job.name),
        ("Project", lambda r: r.job.project),
        ("Status", lambda r: r.job.status),
        ("Progress", lambda r: f"{r.job.current_round}/{r.job.total_rounds}"),
        ("Accuracy", lambda r: r.accuracy),
        ("Tags", lambda r: r.job.tags),
        ("Edges", lambda r: r.job.edges),
        ("Disk", lambda r: Bytes(r.job.disk_bytes)),
        ("Created", lambda r: r.job.created_at),
    ]
    default_sort = (0, Qt.SortOrder.DescendingOrder)  # the newest run first

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.add_action("Launch…", self.launch, "Ctrl+L", needs="operator")
        self.add_action("Stop", self.stop, "Ctrl+.", needs="operator")
        self.add_action("Clone…", self.clone, "Ctrl+D", needs="operator")
        baseline = self.add_action("Baseline", self.baseline, "Ctrl+B", needs="operator")
        if baseline.isEnabled():
            baseline.setToolTip(
                "Train the selected job's config centrally on the pooled data, "
                "as a run of its own (Ctrl+B)"
            )
        self.add_action("Open", self.activated, "Return")
        self.add_action("Delete…", self.delete, "Del", needs="operator")
        self.status_filter = QComboBox()
        self.status_filter.addItems(["All statuses", *STATUSES[1:]])
        self.project_filter = QComboBox()
        self.tag_filter = QComboBox()
        for label, combo in (
            ("&Status", self.status_filter),
            ("&Project", self.project_filter),
            ("Ta&g", self.tag_filter),
        ):
            text = QLabel(label)
            text.setBuddy(combo)
            self.toolbar.addWidget(text)
            self.toolbar.addWidget(combo)
            combo.currentIndexChanged.connect(self.refresh)
        self.disk_total = QLabel()
        self.disk_total.setObjectName("diskTotal")
        self.toolbar.addSeparator()
        self.toolbar.addWidget(self.disk_total)
        ctx.live.event.connect(self._on_live)

    def query(self):
        status = self.status_filter.currentText() if self.status_filter.currentIndex() else None
        project = (
            self.project_filter.currentText() if self.project_filter.currentIndex() > 0 else None
        )
        tag = self.tag_filter.currentText() if self.tag_filter.currentIndex() > 0 else None
        services, actor = self.ctx.services, self.ctx.actor

        def load() -> Listing:
            jobs = services.jobs.list(actor, status=status, tag=tag, project=project)
            every = services.jobs.list(actor) if (status or tag or project) else jobs
            accuracy = services.run_data.latest_accuracy(actor)
            choices = {
                "project": sorted(p.name for p in services.projects.list(actor)),
                "tag": sorted({t for j in every for t in j.tags}),
                "disk": [str(sum(j.disk_bytes for j in every))],  # shown beside the filters
            }
            return Listing([JobRow(j, accuracy.get(j.id)) for j in jobs], choices)

        return load

    def show_choices(self, choices: dict[str, list[str]]) -> None:
        total = int(choices["disk"][0])
        self.disk_total.setText(f"Models on disk: {human_size(total)}")
        for combo, values, everything in (
            (self.project_filter, choices["project"], "All projects"),
            (self.tag_filter, choices["tag"], "All tags"),
        ):
            current = combo.currentText()
            wanted = [everything, *values]
            if [combo.itemText(i) for i in range(combo.count())] != wanted:
                combo.blockSignals(True)
                combo.clear()
                combo.addItems(wanted)
                combo.setCurrentText(current if current in wanted else everything)
                combo.blockSignals(False)

    def _on_live(self, event: LiveEvent) -> None:
        if event.kind == "job":
            self.refresh()

    def launch(self, template: JobRecord | None = None) -> None:
        dialog = LaunchDialog(self.ctx, template if isinstance(template, JobRecord) else None, self)
        dialog.launched.connect(self._launched)
        dialog.open()

    def _launched(self, job_id: int) -> None:
        self.refresh()
        self.open_run.emit(job_id)

    def clone(self) -> None:
        rows = self.selected()
        if rows:
            self.launch(rows[0].job)

    def baseline(self) -> None:
        """The selected job's config trained here on the pooled data, as a run of its own
        (shown live as it trains; Compare draws it beside the federated run)."""
        rows = self.selected()
        if not rows:
            self.status.setText("Select a job to train centrally on the pooled data.")
            return
        ctx, source = self.ctx, rows[0].job.id

        def started(job: JobRecord) -> None:
            self.status.setText(f"#{job.id} {job.name}: training on the pooled data…")
            self.open_run.emit(job.id)
            run_in_background(
                self,
                run_baseline,
                ctx.services,
                ctx.settings.artifacts_dir,
                ctx.actor,
                job.id,
                None,
                None,
                ctx.center.events,
                on_result=lambda done: self.status.setText(f"#{done.id}: {done.status_reason}"),
                on_error=self._failed,
            )

        self.run(create_baseline, ctx.services, ctx.actor, source, done=started)

    def stop(self) -> None:
        rows = [r for r in self.selected() if r.job.status in ("QUEUED", "STARTING", "RUNNING")]
        if not rows:
            self.status.setText("Select a queued or running job to stop.")
            return
        for row in rows:
            self.run(self.ctx.center.launcher.stop, self.ctx.actor, row.job.id)

    def delete(self) -> None:
        rows = [r for r in self.selected() if r.job.status in DELETABLE]
        if not rows:
            self.status.setText("Select a finished, failed, stopped or queued job to delete.")
            return
        size = human_size(sum(r.job.disk_bytes for r in rows))
        names = ", ".join(f"#{r.job.id} {r.job.name}" for r in rows)
        text = f"Delete {names}?\n\nIts metrics, logs and models ({size}) are removed for good."
        if not self.confirm("Delete runs", text):
            return
        ctx = self.ctx
        self.run(
            lambda: [
                delete_run(ctx.services, ctx.settings.artifacts_dir, ctx.actor, r.job.id)
                for r in rows
            ]
        )

    def activated(self) -> None:
        rows = self.selected()
        if rows:
            self.open_run.emit(rows[0].job.id)
