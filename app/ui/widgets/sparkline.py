"""Small line charts drawn straight into a cell: a run's accuracy, an edge's load."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF


def draw_sparkline(
    painter: QPainter,
    rect: QRectF,
    values: Sequence[float],
    color: str,
    low: float = 0.0,
    high: float = 100.0,
    slots: int | None = None,
) -> None:
    """`values` from left to right between `low` and `high`; with `slots`, the newest value
    sits at the right edge and older ones step left (a fixed time scale)."""
    if len(values) < 2:
        return
    span = (high - low) or 1.0
    count = slots or len(values)
    step = rect.width() / max(1, count - 1)
    start = rect.right() - step * (len(values) - 1)
    points = [
        QPointF(
            start + i * step,
            rect.bottom() - rect.height() * (min(max(v, low), high) - low) / span,
        )
        for i, v in enumerate(values)
    ]
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor(color), 1.4))
    painter.drawPolyline(QPolygonF(points))
    painter.restore()
