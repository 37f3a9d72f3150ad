"""Models: one row per round, oldest first (a round that arrives is added at the end, so no
row moves under the pointer), holding the aggregated model with its test figures; the
clients' updates of that round under it, with their training figures. Rows are updated in
place, never rebuilt. Sizes as people read them; the selected model exported as
safetensors (checksum checked)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.services.entities.records import human_size
from app.ui.run_views.data import LIVE, RunView
from app.ui.widgets.elided_label import ElidedLabel
from app.ui.workers import run_in_background

HEADERS = ["Round / node", "Size", "Accuracy", "Loss", "Samples", "SHA-256"]
ARTIFACT = Qt.ItemDataRole.UserRole
# Whose figures a row shows: the aggregate's on the server's test set (else the edges'
# validation), a client's on its own training data in that round.
AGGREGATE_FIGURES = (("test_accuracy", "fed_val_accuracy"), ("test_loss", "fed_val_loss"))
CLIENT_FIGURES = (("train_accuracy",), ("train_loss",))


def _children(item: QTreeWidgetItem) -> dict[int, QTreeWidgetItem]:
    """A round's client rows by the artifact each shows."""
    return {item.child(i).data(0, ARTIFACT): item.child(i) for i in range(item.childCount())}


def _figure(view: RunView, node: str, names: tuple[str, ...], rnd: int) -> str:
    for name in names:
        value = view.metrics.get((node, name), {}).get(rnd)
        if value is not None:
            return f"{value:.4f}"
    return ""


class ModelsTab(QWidget):
    def __init__(self, ctx, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(HEADERS)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.caption = QLabel()
        self.message = ElidedLabel()  # a long path must not widen the window
        export = QPushButton("&Export model…")
        export.clicked.connect(self.export)
        self.onnx = QPushButton("Export as &ONNX…")
        self.onnx.setToolTip("The selected aggregated model as ONNX, to deploy (onnx extra)")
        self.onnx.clicked.connect(self.export_onnx)
        bar = QHBoxLayout()
        bar.addWidget(self.caption)
        bar.addWidget(self.message, 1)
        bar.addWidget(export)
        bar.addWidget(self.onnx)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.tree)
        self._shown: tuple = ()
        self._artifacts: dict[int, object] = {}
        self._rounds: dict[int, QTreeWidgetItem] = {}
        self._job_id: int | None = None

    def render(self, view: RunView) -> None:
        stored = view.artifacts
        aggregated = sum(1 for a in stored if a.node == "aggregate")
        self.caption.setText(
            f"Run {view.job.id} · {len(stored)} models ({aggregated} aggregated, "
            f"{human_size(sum(a.bytes for a in stored))})"
        )
        if self._job_id != view.job.id:  # another run: nothing of the last one stays
            self._job_id = view.job.id
            self.tree.clear()
            self._rounds = {}
            self.message.clear()
            self._shown = ()
        # Updated when a model or a figure arrived, not on every heartbeat. Client updates
        # are bounded by the project's retention, so the tree stays small.
        shown = (
            view.job.status,
            tuple(a.id for a in stored),
            sum(len(points) for points in view.metrics.values()),
        )
        if shown != self._shown:
            first = not self._shown
            self._shown = shown
            self._update(view, first)
            if first:  # a run opened: its newest round in view
                self.tree.scrollToBottom()

    def _update(self, view: RunView, first: bool) -> None:
        bar = self.tree.verticalScrollBar()
        following = bar.value() == bar.maximum()  # at the newest round: stay there
        self._artifacts = {a.id: a for a in view.artifacts}
        by_round: dict[int, list] = {}
        for a in view.artifacts:
            by_round.setdefault(a.round, []).append(a)
        for rnd in [r for r in self._rounds if r not in by_round]:
            self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(self._rounds.pop(rnd)))
        newest = max(by_round, default=0)
        for rnd in sorted(by_round):
            models = sorted(by_round[rnd], key=lambda a: (a.node != "aggregate", a.node))
            head = models[0] if models[0].node == "aggregate" else None
            top = self._rounds.get(rnd)
            if top is None:
                top = QTreeWidgetItem()
                top.setData(0, ARTIFACT + 1, rnd)
                self.tree.addTopLevelItem(top)  # the last round so far: added at the end
                self._rounds[rnd] = top
                top.setExpanded(first and rnd == newest)
            in_progress = head is None and rnd == newest and view.job.status in LIVE
            self._set(top, self._cells(view, rnd, head, f"Round {rnd}", in_progress))
            top.setData(0, ARTIFACT, head.id if head is not None else None)
            clients = [a for a in models if a is not head]
            children = _children(top)
            for gone in set(children) - {a.id for a in clients}:
                top.removeChild(children.pop(gone))
            for a in clients:
                child = children.get(a.id)
                if child is None:
                    child = QTreeWidgetItem()
                    child.setData(0, ARTIFACT, a.id)
                    top.addChild(child)
                self._set(child, self._cells(view, rnd, a, a.node))
        for column in range(len(HEADERS) - 1):
            self.tree.resizeColumnToContents(column)
        if following:
            self.tree.scrollToBottom()

    @staticmethod
    def _set(item: QTreeWidgetItem, cells: list[str]) -> None:
        for column, text in enumerate(cells):
            if item.text(column) != text:
                item.setText(column, text)

    def _cells(
        self, view: RunView, rnd: int, artifact, label: str, in_progress: bool = False
    ) -> list[str]:
        if artifact is None:
            note = "(aggregating…)" if in_progress else "(no aggregate stored for this round)"
            return [label, "", "", "", "", note]
        aggregate = artifact.node == "aggregate"
        figures = AGGREGATE_FIGURES if aggregate else CLIENT_FIGURES
        node = "aggregate" if aggregate else artifact.node
        samples = "" if aggregate else _figure(view, node, ("num_samples",), rnd)
        return [
            f"{label} · aggregate" if aggregate else label,
            human_size(artifact.bytes),
            _figure(view, node, figures[0], rnd),
            _figure(view, node, figures[1], rnd),
            samples.split(".")[0] if samples else "",
            artifact.sha256[:16] + "…",
        ]

    def selected_id(self) -> int | None:
        item = self.tree.currentItem()
        return item.data(0, ARTIFACT) if item is not None else None

    def _target(self, title: str, suffix: str, kind: str, aggregate_only: bool = False):
        """The selected model and the file the operator chose for it, or None."""
        artifact = self._artifacts.get(self.selected_id())
        if artifact is None or (aggregate_only and artifact.node != "aggregate"):
            self.message.setText(
                f"Select {'an aggregated' if aggregate_only else 'a'} model first."
            )
            return None
        node = "" if aggregate_only else f"-{artifact.node}"
        path, _ = QFileDialog.getSaveFileName(
            self,
            title,
            f"run{artifact.job_id}-round{artifact.round}{node}.{suffix}",
            f"{kind} (*.{suffix})",
        )
        return (artifact, path) if path else None

    def export_onnx(self) -> None:
        chosen = self._target("Export as ONNX", "onnx", "ONNX", aggregate_only=True)
        if chosen is None:
            return
        artifact, path = chosen
        from app.services.runs.deployment import export_onnx

        self.message.setText(f"Exporting round {artifact.round} as ONNX…")
        self.onnx.setEnabled(False)

        def done(result: dict) -> None:
            self.onnx.setEnabled(True)
            self.message.setText(f"Saved {result['onnx']} ({human_size(result['bytes'])})")

        def failed(exc: Exception) -> None:
            self.onnx.setEnabled(True)
            self.message.setText(str(exc))

        ctx = self.ctx
        run_in_background(
            self,
            export_onnx,
            ctx.services,
            ctx.settings,
            ctx.actor,
            artifact.job_id,
            Path(path),
            artifact.round,
            on_result=done,
            on_error=failed,
        )

    def export(self) -> None:
        chosen = self._target("Export model", "safetensors", "safetensors")
        if chosen is None:
            return
        artifact, path = chosen
        run_in_background(
            self,
            self.ctx.services.run_data.export_artifact,
            self.ctx.actor,
            artifact.id,
            path,
            on_result=lambda _r: self.message.setText(f"Saved {path} (checksum verified)"),
            on_error=lambda e: self.message.setText(str(e)),
        )
