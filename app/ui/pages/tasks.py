"""Tasks: the built-in ones and every stored version, with hash, requirements, data key and
which edges hold that key; add a task folder, export an archive."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLabel

from app.services.entities.records import EdgeRecord, TaskRecord
from app.ui.pages.table_page import Listing, TablePage
from app.ui.widgets.record_model import Bytes


@dataclass(frozen=True)
class TaskRow:
    task: TaskRecord
    edges_with_key: tuple[str, ...]
    edges: int

    @property
    def id(self) -> tuple[str, int]:
        return (self.task.name, self.task.version)

    @property
    def data(self) -> str:
        if not self.task.data_key:
            return "ships with the task"
        have = len(self.edges_with_key)
        names = ", ".join(self.edges_with_key[:4]) + ("…" if have > 4 else "")
        return f"{self.task.data_key}: {have} of {self.edges} edges" + (
            f" ({names})" if have else ""
        )


def load_tasks(services, actor) -> Listing:
    tasks = services.tasks.list(actor, all_versions=True)
    edges: list[EdgeRecord] = services.edges.list(actor)
    rows = [
        TaskRow(t, tuple(sorted(e.name for e in edges if t.data_key in e.data_keys)), len(edges))
        for t in tasks
    ]
    return Listing(rows, {"fingerprint": [services.tasks.center_fingerprint()]})


class TasksPage(TablePage):
    title = "Tasks"
    columns = [
        ("Name", lambda r: r.task.name),
        ("Version", lambda r: "built in" if r.task.builtin else r.task.version),
        ("Label", lambda r: r.task.label),
        ("Data", lambda r: r.data),
        ("Requirements", lambda r: r.task.requirements),
        ("SHA-256", lambda r: r.task.sha256[:16] + "…"),
        ("Size", lambda r: Bytes(r.task.size)),
        ("Added", lambda r: r.task.created_at),
        ("Description", lambda r: r.task.description),
    ]

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.add_action("Add folder…", self.add, "Ctrl+N", needs="operator")
        self.add_action("Export archive…", self.export, "Ctrl+S")
        self.fingerprint = QLabel(wordWrap=True)
        self.fingerprint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.layout().insertWidget(1, self.fingerprint)

    def query(self):
        services, actor = self.ctx.services, self.ctx.actor
        return lambda: load_tasks(services, actor)

    def show_choices(self, choices) -> None:
        (value,) = choices.get("fingerprint", [""])
        self.fingerprint.setText(
            f"This center signs its tasks with key <b>{value}</b>; an edge runs them when "
            "started with <tt>--trust-center</tt> and that fingerprint."
        )

    def add(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a task folder (with task.toml)")
        if folder:
            self.run(self.ctx.services.tasks.add, self.ctx.actor, Path(folder), done=self._added)

    def _added(self, result) -> None:
        record, new = result
        what = "added as version" if new else "unchanged: already stored as version"
        self.status.setText(f"Task {record.name} {what} {record.version}.")

    def export(self) -> None:
        row = self.one_selected("task")
        if row is None:
            return
        task = row.task
        path, _ = QFileDialog.getSaveFileName(
            self, "Export task archive", f"{task.name}-{task.version}.tar", "Tar (*.tar)"
        )
        if path:
            services, actor = self.ctx.services, self.ctx.actor

            def write() -> str:
                Path(path).write_bytes(services.tasks.archive(actor, task.name, task.version))
                return path

            self.run(write, done=lambda p: self.status.setText(f"Saved {p}"))
