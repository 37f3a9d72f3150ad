"""A flow's steps drawn as a graph, left to right by dependency depth, coloured by status.

Click a step, or move with the arrow keys and press Enter, to open its job.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

STATUS_COLORS = {
    "PENDING": "#78909c",
    "WAITING": "#ef6c00",  # for edges to come online
    "RUNNING": "#1565c0",
    "SUCCEEDED": "#2e7d32",
    "FAILED": "#c62828",
    "SKIPPED": "#b0bec5",
    "": "#546e7a",  # a definition, not a run
}
NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 150.0, 52.0, 70.0, 26.0, 24.0


def layers(steps: list[dict]) -> dict[str, tuple[int, int]]:
    """(column, row) per step: column = longest path from a root, rows in given order."""
    depth: dict[str, int] = {}
    parents = {s["step"]: list(s.get("depends_on", [])) for s in steps}

    def visit(name: str, trail: tuple[str, ...] = ()) -> int:
        if name not in depth:
            known = [p for p in parents.get(name, []) if p in parents and p not in trail]
            depth[name] = 1 + max((visit(p, (*trail, name)) for p in known), default=-1)
        return depth[name]

    for name in parents:
        visit(name)
    rows: dict[int, int] = {}
    out = {}
    for name in parents:
        col = depth[name]
        out[name] = (col, rows.get(col, 0))
        rows[col] = rows.get(col, 0) + 1
    return out


class FlowGraph(QWidget):
    step_activated = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.steps: list[dict] = []
        self.current = 0
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 160)
        self.setAccessibleName("Flow steps")

    def set_steps(self, steps: list[dict]) -> None:
        """Each: step, depends_on, and for a run status, job_id, attempts."""
        names_before = [s["step"] for s in self.steps]
        self.steps = list(steps)
        if [s["step"] for s in self.steps] != names_before:
            self.current = 0
        self.updateGeometry()
        self.update()

    def _rects(self) -> dict[str, QRectF]:
        spots = layers(self.steps)
        return {
            name: QRectF(
                MARGIN + col * (NODE_W + GAP_X), MARGIN + row * (NODE_H + GAP_Y), NODE_W, NODE_H
            )
            for name, (col, row) in spots.items()
        }

    def sizeHint(self) -> QSize:
        rects = self._rects().values()
        if not rects:
            return QSize(320, 160)
        right = max(r.right() for r in rects) + MARGIN
        bottom = max(r.bottom() for r in rects) + MARGIN + 20
        return QSize(int(right), int(bottom))

    def _arrow(self, p: QPainter, start: QPointF, end: QPointF) -> None:
        path = QPainterPath(start)
        dx = (end.x() - start.x()) / 2
        path.cubicTo(start + QPointF(dx, 0), end - QPointF(dx, 0), end)
        p.drawPath(path)
        head = QPolygonF([end, end + QPointF(-9, -5), end + QPointF(-9, 5)])
        p.setBrush(p.pen().color())
        p.drawPolygon(head)
        p.setBrush(Qt.BrushStyle.NoBrush)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        if not self.steps:
            p.setPen(QColor("#78909c"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No steps to show")
            p.end()
            return
        rects = self._rects()
        scale = self._scale()
        p.scale(scale, scale)
        p.setPen(QPen(QColor("#607d8b"), 1.6))
        for step in self.steps:
            for parent in step.get("depends_on", []):
                if parent in rects:
                    a, b = rects[parent], rects[step["step"]]
                    start = QPointF(a.right(), a.center().y())
                    self._arrow(p, start, QPointF(b.left(), b.center().y()))
        bold = QFont(p.font().family(), 10, QFont.Weight.Bold)
        small = QFont(p.font().family(), 8)
        for i, step in enumerate(self.steps):
            rect = rects[step["step"]]
            status = step.get("status", "")
            color = QColor(STATUS_COLORS.get(status, STATUS_COLORS[""]))
            focus = i == self.current and self.hasFocus()
            pen = QPen(QColor("#ffb300") if focus else color.darker(140), 3 if focus else 1.2)
            if status == "SKIPPED":
                pen.setStyle(Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.setBrush(color)
            p.drawRoundedRect(rect, 8, 8)
            ink = QColor("#263238") if status == "SKIPPED" else QColor("white")
            p.setPen(ink)
            p.setFont(bold)
            top_half = rect.adjusted(8, 5, -8, -NODE_H / 2)
            p.drawText(top_half, Qt.AlignmentFlag.AlignLeft, step["step"])
            detail = status.lower() or "step"
            if step.get("job_id"):
                detail += f" · job #{step['job_id']}"
            if step.get("attempts", 0) > 1:
                detail += f" · try {step['attempts']}"
            p.setFont(small)
            p.drawText(rect.adjusted(8, NODE_H / 2, -8, -4), Qt.AlignmentFlag.AlignLeft, detail)
        p.end()

    def _scale(self) -> float:
        """Shrink a wide or tall graph to fit the widget (never enlarge it)."""
        hint = self.sizeHint()
        return min(1.0, self.width() / hint.width(), self.height() / hint.height())

    def mousePressEvent(self, event) -> None:
        where = event.position() / self._scale()
        for i, step in enumerate(self.steps):
            if self._rects()[step["step"]].contains(where):
                self.current = i
                self.update()
                self.step_activated.emit(step["step"])
                return
        super().mousePressEvent(event)

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if self.steps and key in (Qt.Key.Key_Right, Qt.Key.Key_Down):
            self.current = (self.current + 1) % len(self.steps)
        elif self.steps and key in (Qt.Key.Key_Left, Qt.Key.Key_Up):
            self.current = (self.current - 1) % len(self.steps)
        elif self.steps and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.step_activated.emit(self.steps[self.current]["step"])
        else:
            super().keyPressEvent(event)
            return
        self.update()
