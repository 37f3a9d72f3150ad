"""Launch a run: project, config version, edges (offline ones shown, not selectable) or a
cluster's ranks (mpirun, torchrun, Slurm), name, tags."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QVBoxLayout,
)

from app.services.entities.records import JobRecord
from app.ui.widgets.style import ERROR_STYLE
from app.ui.workers import run_in_background


def _choices(services, actor):
    return (
        services.projects.list(actor),
        services.configs.list(actor, all_versions=True),
        services.edges.list(actor),
        services.tasks.list(actor, all_versions=True),
    )


# Where a run goes: the chosen edges, or the ranks of a cluster engine (docs/clusters.md).
RUN_ON = [
    ("the edges checked below", None),
    ("MPI ranks (mpirun)", "mpi"),
    ("torchrun ranks, on this machine", "torchrun"),
    ("Slurm ranks (srun)", "slurm"),
]


def cluster_plan(choice: dict | None):
    """A cluster choice made a checked plan (files read, programs found), on a worker."""
    if choice is None:
        return None
    from app.core.run.cluster import ClusterPlan

    given = {key: value for key, value in choice.items() if value is not None}
    return ClusterPlan.from_dict(given, "the launch dialog").check()


def task_of(body: dict) -> str:
    return (body.get("task") or {}).get("name") or body.get("dataset", {}).get("name", "")


class LaunchDialog(QDialog):
    launched = Signal(int)

    def __init__(self, ctx, template: JobRecord | None = None, parent=None) -> None:
        super().__init__(parent)
        self.ctx, self.template = ctx, template
        self.setWindowTitle("Clone run" if template else "Launch a run")
        self.project = QComboBox()
        self.config = QComboBox()
        self.edges = QListWidget()
        self.name = QLineEdit(template.name + " (clone)" if template else "")
        self.tags = QLineEdit(", ".join(template.tags) if template else "")
        self.error = QLabel(wordWrap=True, styleSheet=ERROR_STYLE)
        self.task = QLabel(wordWrap=True)
        self.task_version = QComboBox()
        self.run_on = QComboBox()
        for label, engine in RUN_ON:
            self.run_on.addItem(label, engine)
        self.ranks = QSpinBox(minimum=2, maximum=4096, value=3)
        self.ranks.setToolTip("every rank, rank 0 (the server) included")
        self.place = QLineEdit()  # mpi: a hostfile; slurm: a partition
        self.data_map = QLineEdit(placeholderText="optional: a data map file (TOML)")
        self._edges, self._data_keys, self._bodies, self._versions = [], {}, {}, {}
        form = QFormLayout()
        form.addRow("&Project", self.project)
        form.addRow("&Config", self.config)
        form.addRow("Task", self.task)
        form.addRow("Task &version", self.task_version)
        form.addRow("Run &on", self.run_on)
        form.addRow("&Edges", self.edges)
        form.addRow("&Ranks", self.ranks)
        self.place_label = QLabel("&Hostfile")
        self.place_label.setBuddy(self.place)
        form.addRow(self.place_label, self.place)
        form.addRow("&Data map", self.data_map)
        form.addRow("&Name", self.name)
        form.addRow("&Tags", self.tags)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Start")
        self.buttons.accepted.connect(self._start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(520, 560)
        self.run_on.currentIndexChanged.connect(self._show_run_on)
        self._show_run_on()
        self.buttons.setEnabled(False)
        run_in_background(
            self, _choices, ctx.services, ctx.actor, on_result=self._fill, on_error=self._failed
        )

    def _fill(self, choices) -> None:
        projects, configs, edges, tasks = choices
        for t in tasks:
            self._data_keys[t.name] = t.data_key
            self._versions.setdefault(t.name, []).append(t)
        self._edges = edges
        for p in projects:
            self.project.addItem(p.name)
        for c in sorted(configs, key=lambda c: (c.name, -c.version)):
            self.config.addItem(f"{c.name}  v{c.version}", (c.name, c.version))
            self._bodies[(c.name, c.version)] = c.body
        for e in edges:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, e.name)
            online = e.status in ("IDLE", "TRAINING")
            item.setFlags(
                Qt.ItemFlag.ItemIsUserCheckable
                | (Qt.ItemFlag.ItemIsEnabled if online else Qt.ItemFlag.NoItemFlags)
            )
            chosen = self.template is not None and e.name in self.template.edges
            item.setCheckState(
                Qt.CheckState.Checked
                if online and (chosen or self.template is None)
                else Qt.CheckState.Unchecked
            )
            self.edges.addItem(item)
        self.config.currentIndexChanged.connect(self._show_task)
        if self.template is not None and self.template.cluster:  # a clone runs where it ran
            cluster = self.template.cluster
            self.run_on.setCurrentIndex(max(0, self.run_on.findData(cluster["engine"])))
            self.ranks.setValue(cluster.get("ranks", 3))
            self.place.setText(cluster.get("hostfile") or cluster.get("partition") or "")
        if self.template is not None:
            self.project.setCurrentText(self.template.project)
            index = self.config.findData((self.template.config_name, self.template.config_version))
            if index >= 0:
                self.config.setCurrentIndex(index)
        if not self.name.text() and configs:
            self.name.setText(f"{self.config.currentData()[0]} run")
        self._show_task()
        self.buttons.setEnabled(True)

    def _show_task(self) -> None:
        """The chosen config's task, and which edges hold the data key it reads."""
        body = self._bodies.get(self.config.currentData(), {})
        task = task_of(body)
        self._offer_versions(task, (body.get("task") or {}).get("version"))
        key = self._data_keys.get(task, "")
        have = [e.name for e in self._edges if key in e.data_keys]
        if not body:
            self.task.setText("")
        elif task not in self._data_keys:
            self.task.setText(f"{task}: no such task (Tasks page)")
        elif key:
            self.task.setText(f"{task}, reads data {key!r}: {len(have)} of the edges have it")
        else:
            self.task.setText(f"{task}: its data ships with it")
        for i, e in enumerate(self._edges):
            item = self.edges.item(i)
            lacks = bool(key) and key not in e.data_keys
            item.setText(f"{e.name}   [{e.status}]" + (f"   — no {key!r} data" if lacks else ""))
            if e.status not in ("IDLE", "TRAINING"):
                item.setToolTip(f"{e.name} is {e.status}: it cannot take part now")
            elif lacks:
                item.setToolTip(f"{e.name} was not started with --data {key}=…: it would refuse")
            else:
                item.setToolTip("")

    def _show_run_on(self) -> None:
        """Edges for a run on edges; ranks and the engine's options for a cluster run."""
        engine = self.run_on.currentData()
        self.edges.setEnabled(engine is None)
        for widget in (self.ranks, self.data_map):
            widget.setEnabled(engine is not None)
        self.place_label.setText("&Partition" if engine == "slurm" else "&Hostfile")
        self.place.setEnabled(engine in ("mpi", "slurm"))
        self.place.setPlaceholderText(
            {"mpi": "optional: Open MPI's hostfile, this machine first",
             "slurm": "optional: the Slurm partition"}.get(engine, "")
        )  # fmt: skip

    def cluster_choice(self) -> dict | None:
        """The chosen cluster engine and its options as plain values, or None for edges."""
        engine = self.run_on.currentData()
        if engine is None:
            return None
        place = self.place.text().strip()
        return {
            "engine": engine,
            "ranks": self.ranks.value(),
            "hostfile": place if engine == "mpi" and place else None,
            "partition": place if engine == "slurm" and place else None,
            "data_map": self.data_map.text().strip() or None,
        }

    def _offer_versions(self, task: str, pinned: int | None) -> None:
        """The stored versions of the config's task, the pinned (else the latest) chosen."""
        self.task_version.clear()
        versions = sorted(self._versions.get(task, []), key=lambda t: -t.version)
        for t in versions:
            label = "built in" if t.builtin else f"v{t.version} · {t.label} · {t.sha256[:12]}…"
            self.task_version.addItem(label, None if t.builtin else t.version)
        if pinned is not None:
            self.task_version.setCurrentIndex(max(0, self.task_version.findData(pinned)))
        self.task_version.setEnabled(self.task_version.count() > 1)

    def checked_edges(self) -> list[str]:
        items = (self.edges.item(i) for i in range(self.edges.count()))
        return [
            i.data(Qt.ItemDataRole.UserRole)
            for i in items
            if i.checkState() == Qt.CheckState.Checked
        ]

    def _start(self) -> None:
        if self.config.currentData() is None:
            self.error.setText("Create a config first (Configs page).")
            return
        name, version = self.config.currentData()
        tags = [t.strip() for t in self.tags.text().split(",") if t.strip()]
        ctx = self.ctx
        # Read the widgets here, on the GUI thread; the worker gets plain values.
        choice = self.cluster_choice()
        job_args = (
            self.name.text(),
            self.project.currentText(),
            name,
            [] if choice is not None else self.checked_edges(),
            version,
            tags,
        )
        task_version = self.task_version.currentData()

        def create_and_start():
            plan = cluster_plan(choice)  # refused with the reason before the job exists
            job = ctx.services.jobs.create(ctx.actor, *job_args, task_version=task_version)
            ctx.center.launcher.start(ctx.actor, job.id, plan)
            return job.id

        self.buttons.setEnabled(False)
        run_in_background(self, create_and_start, on_result=self._done, on_error=self._failed)

    def _done(self, job_id: int) -> None:
        self.launched.emit(job_id)
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        self.error.setText(str(exc))
