"""Topology: the server, the user who started the run and each edge, links coloured by state."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app.ui.run_views.data import ENDED, RunView

LINK_COLORS = {
    "connected": "#2e7d32",
    "training": "#1565c0",
    "uploading": "#ef6c00",
    "offline": "#9e9e9e",
    ENDED: "#78909c",
}


class TopologyTab(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.view: RunView | None = None
        self.setMinimumSize(400, 300)

    def render(self, view: RunView) -> None:
        self.view = view
        self.update()

    def _node(self, p: QPainter, center: QPointF, label: str, color: str) -> None:
        rect = QRectF(center.x() - 62, center.y() - 20, 124, 40)
        p.setPen(QPen(QColor("#37474f"), 1.2))
        p.setBrush(QColor(color))
        p.drawRoundedRect(rect, 8, 8)
        p.setPen(QColor("white"))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)

    def paintEvent(self, event) -> None:
        if self.view is None:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setFont(QFont(p.font().family(), 9))
        w, h = self.width(), self.height()
        server = QPointF(w / 2, h / 2)
        user = QPointF(w / 2, 40)
        edges = self.view.job.edges
        radius = min(w, h) / 2 - 60
        spots = {}
        for i, edge in enumerate(edges):
            angle = math.pi / 2 + (i + 0.5) * (2 * math.pi - 1.2) / max(len(edges), 1) + 0.6
            spots[edge] = QPointF(
                server.x() + radius * 1.3 * math.cos(angle), server.y() + radius * math.sin(angle)
            )
        p.setPen(QPen(QColor("#546e7a"), 2, Qt.PenStyle.DashLine))
        p.drawLine(user, server)
        for edge, spot in spots.items():
            state = self.view.link.get(edge, "offline")
            p.setPen(
                QPen(
                    QColor(LINK_COLORS[state]),
                    1.5 if state == ENDED else 3,
                    Qt.PenStyle.DotLine if state in ("offline", ENDED) else Qt.PenStyle.SolidLine,
                )
            )
            p.drawLine(server, spot)
        status = self.view.job.status
        self._node(p, server, f"server · {status.lower()}", "#263238")
        self._node(p, user, f"started by {self.view.job.created_by or '?'}", "#546e7a")
        for edge, spot in spots.items():
            state = self.view.link.get(edge, "offline")
            self._node(p, spot, f"{edge}\n{state}", LINK_COLORS[state])
        y = h - 18
        x = 12.0
        for state, color in LINK_COLORS.items():
            p.setPen(QPen(QColor(color), 4))
            p.drawLine(QPointF(x, y), QPointF(x + 22, y))
            p.setPen(QColor("#333"))
            p.drawText(QPointF(x + 28, y + 4), state)
            x += 110
        p.end()
