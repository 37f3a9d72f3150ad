"""Models: one row per round, newest first, holding the aggregated model with its test
figures; the clients' updates of that round under it, with their training figures.
Sizes as people read them; the selected model exported as safetensors (checksum checked)."""

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
from app.ui.run_data import RunView
from app.ui.workers import run_in_background

HEADERS = ["Round / node", "Size", "Accuracy", "Loss", "Samples", "SHA-256"]
ARTIFACT = Qt.ItemDataRole.UserRole
# Whose figures a row shows: the aggregate's on the server's test set (else the edges'
# validation), a client's on its own training data in that round.
AGGREGATE_FIGURES = (("test_accuracy", "fed_val_accuracy"), ("test_loss", "fed_val_loss"))
CLIENT_FIGURES = (("train_accuracy",), ("train_loss",))


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
        self.message = QLabel()
        export = QPushButton("&Export model…")
        export.clicked.connect(self.export)
        self.onnx = QPushButton("Export as &ONNX…")
        self.onnx.setToolTip("The selected aggregated model as ONNX, to deploy (onnx extra)")
        self.onnx.clicked.connect(self.export_onnx)
        bar = QHBoxLayout()
        bar.addWidget(self.caption, 1)
        bar.addWidget(self.message)
        bar.addWidget(export)
        bar.addWidget(self.onnx)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.tree)
        self._shown: tuple = ()
        self._artifacts: dict[int, object] = {}
        self._run_id: int | None = None

    def render(self, view: RunView) -> None:
        stored = view.artifacts
        aggregated = sum(1 for a in stored if a.node == "aggregate")
        self.caption.setText(
            f"Run {view.job.id} · {len(stored)} models ({aggregated} aggregated, "
            f"{human_size(sum(a.bytes for a in stored))})"
        )
        # Rebuilt when a model or a figure arrived, not on every heartbeat. Client updates
        # are bounded by the project's retention, so the tree stays small.
        shown = (view.job.id, len(stored), sum(len(points) for points in view.metrics.values()))
        if shown != self._shown:
            self._shown = shown
            self._fill(view)

    def _fill(self, view: RunView) -> None:
        selected = self.selected_id()
        expanded = {
            self.tree.topLevelItem(i).data(0, ARTIFACT + 1)
            for i in range(self.tree.topLevelItemCount())
            if self.tree.topLevelItem(i).isExpanded()
        }
        if self._run_id != view.job.id:  # another run: its newest round open, nothing kept
            self._run_id, selected = view.job.id, None
            expanded = {max((a.round for a in view.artifacts), default=0)}
        self._artifacts = {a.id: a for a in view.artifacts}
        by_round: dict[int, list] = {}
        for a in view.artifacts:
            by_round.setdefault(a.round, []).append(a)
        self.tree.clear()
        for rnd in sorted(by_round, reverse=True):
            models = sorted(by_round[rnd], key=lambda a: (a.node != "aggregate", a.node))
            head = models[0] if models[0].node == "aggregate" else None
            top = QTreeWidgetItem(self._cells(view, rnd, head, f"Round {rnd}"))
            top.setData(0, ARTIFACT + 1, rnd)
            if head is not None:
                top.setData(0, ARTIFACT, head.id)
            for a in models:
                if a is head:
                    continue
                child = QTreeWidgetItem(self._cells(view, rnd, a, a.node))
                child.setData(0, ARTIFACT, a.id)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
            top.setExpanded(rnd in expanded)
            for item in (top, *(top.child(i) for i in range(top.childCount()))):
                if item.data(0, ARTIFACT) == selected:
                    self.tree.setCurrentItem(item)
        for column in range(len(HEADERS) - 1):
            self.tree.resizeColumnToContents(column)

    def _cells(self, view: RunView, rnd: int, artifact, label: str) -> list[str]:
        if artifact is None:
            return [label, "", "", "", "", "(the aggregate is not on record)"]
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
            f"run{artifact.run_id}-round{artifact.round}{node}.{suffix}",
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
            artifact.run_id,
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
