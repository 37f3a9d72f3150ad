"""Topology: the server, the user who started the run and each edge, links coloured by state.
A run on a cluster's ranks (edges named `<host>-r<k>`) shows each host as a box holding its
ranks, rank 0 the server; a server-free run, its trust graph (run_views/trust_graph)."""

from __future__ import annotations

import math
import re

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app.core.peer.graph import TrustGraph
from app.services.runs.baseline import TAG as BASELINE_TAG
from app.ui.run_views.data import ENDED, RunView
from app.ui.run_views.trust_graph import paint_trust_graph, trust_graph_of

LINK_COLORS = {
    "connected": "#2e7d32",
    "training": "#1565c0",
    "uploading": "#ef6c00",
    "offline": "#9e9e9e",
    ENDED: "#78909c",
}


_RANK = re.compile(r"^(?P<host>.+)-r(?P<rank>\d+)$")


def hosts_of(edges: list[str]) -> dict[str, list[str]] | None:
    """The ranks of a cluster run by host, in rank order; None unless every edge is a rank."""
    found = [_RANK.match(edge) for edge in edges]
    if not edges or not all(found):
        return None
    hosts: dict[str, list[str]] = {}
    for match in sorted(found, key=lambda m: int(m["rank"])):
        hosts.setdefault(match["host"], []).append(match[0])
    return hosts


class TopologyTab(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.view: RunView | None = None
        self.graph: TrustGraph | None = None  # a server-free run's, built once per run
        self.setMinimumSize(400, 300)

    def render(self, view: RunView) -> None:
        if self.view is None or self.view.job.id != view.job.id:
            self.graph = trust_graph_of(view)
        self.view = view
        self.update()

    def _node(
        self, p: QPainter, center: QPointF, label: str, color: str, height: float = 40
    ) -> None:
        rect = QRectF(center.x() - 62, center.y() - height / 2, 124, height)
        p.setPen(QPen(QColor("#37474f"), 1.2))
        p.setBrush(QColor(color))
        p.drawRoundedRect(rect, 8, 8)
        p.setPen(QColor("white"))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)

    def _host_boxes(
        self, p: QPainter, server: QPointF, hosts: dict[str, list[str]], area: QRectF
    ) -> tuple[dict[str, QPointF], float]:
        """Draw a box per host across `area`, linked to the server (the ranks' own states
        are their colours); return where each rank goes, and how tall its node may be."""
        width = area.width() / len(hosts)
        spots, tall = {}, 40.0
        for i, (host, ranks) in enumerate(hosts.items()):
            box = QRectF(area.x() + i * width + 6, area.y(), width - 12, area.height())
            p.setPen(QPen(QColor("#546e7a"), 2))
            p.drawLine(server, QPointF(box.center().x(), box.y()))
            p.setPen(QPen(QColor("#90a4ae"), 1.2))
            p.setBrush(QColor("#eceff1"))
            p.drawRoundedRect(box, 10, 10)
            p.setPen(QColor("#37474f"))
            p.drawText(
                QRectF(box.x() + 10, box.y() + 4, box.width() - 20, 18),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"{host} · {len(ranks)} rank{'s' if len(ranks) != 1 else ''}",
            )
            step = (box.height() - 40) / len(ranks)
            for k, rank in enumerate(ranks):
                spots[rank] = QPointF(box.center().x(), box.y() + 30 + step * (k + 0.5))
            tall = min(tall, max(14.0, step - 4))
        return spots, tall

    def paintEvent(self, event) -> None:
        if self.view is None:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setFont(QFont(p.font().family(), 9))
        w, h = self.width(), self.height()
        if self.graph is not None:
            paint_trust_graph(p, self.view, self.graph, QRectF(8, 8, w - 16, h - 16))
            p.end()
            return
        server = QPointF(w / 2, h / 2)
        user = QPointF(w / 2, 40)
        edges = self.view.job.edges
        hosts = hosts_of(edges)
        tall = 40.0
        if hosts is not None:  # rank 0 above a row of hosts, each holding its ranks
            server = QPointF(w / 2, 100)
            spots, tall = self._host_boxes(p, server, hosts, QRectF(12, 150, w - 24, h - 190))
        else:
            radius = min(w, h) / 2 - 60
            spots = {}
            for i, edge in enumerate(edges):
                angle = math.pi / 2 + (i + 0.5) * (2 * math.pi - 1.2) / max(len(edges), 1) + 0.6
                spots[edge] = QPointF(
                    server.x() + radius * 1.3 * math.cos(angle),
                    server.y() + radius * math.sin(angle),
                )
        p.setPen(QPen(QColor("#546e7a"), 2, Qt.PenStyle.DashLine))
        p.drawLine(user, server)
        for edge, spot in spots.items() if hosts is None else ():
            state = self.view.link.get(edge, "offline")
            p.setPen(
                QPen(
                    QColor(LINK_COLORS[state]),
                    1.5 if state == ENDED else 3,
                    Qt.PenStyle.DotLine if state in ("offline", ENDED) else Qt.PenStyle.SolidLine,
                )
            )
            p.drawLine(server, spot)
        job = self.view.job
        rank_0 = " · rank 0\n" if hosts is not None else " · "
        who = "server"
        if not edges and BASELINE_TAG in job.tags:  # trained here on the pooled data
            who, rank_0 = "centralized", "\n"
        self._node(p, server, f"{who}{rank_0}{job.status.lower()}", "#263238")
        self._node(p, user, f"started by {self.view.job.created_by or '?'}", "#546e7a")
        for edge, spot in spots.items():
            state = self.view.link.get(edge, "offline")
            label = f"{edge}\n{state}" if tall >= 34 else f"{edge} · {state}"
            self._node(p, spot, label, LINK_COLORS[state], tall)
        y = h - 18
        x = 12.0
        for state, color in LINK_COLORS.items():
            p.setPen(QPen(QColor(color), 4))
            p.drawLine(QPointF(x, y), QPointF(x + 22, y))
            p.setPen(QColor("#333"))
            p.drawText(QPointF(x + 28, y + 4), state)
            x += 110
        p.end()
