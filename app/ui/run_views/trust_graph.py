"""The topology of a server-free run: its trust graph, each edge a circle holding its latest
test accuracy, an arrow for each link a → b (a pushes its model to b). An edge that left the
run is drawn grey, its links dotted; the one-peer graph's links are all drawn, as over its
rounds each is used in turn."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen

from app.core.algorithms import is_peer
from app.core.fl_config import parse_config
from app.core.peer.graph import TrustGraph, build_graph
from app.errors import InvalidInput
from app.ui.run_views.data import RunView

RADIUS = 38.0
GONE = "#b0bec5"


def trust_graph_of(view: RunView) -> TrustGraph | None:
    """The run's trust graph over its edges' names; None for a run with a server."""
    snapshot = view.job.config_snapshot
    try:
        config = parse_config(snapshot)
        if not is_peer(config.algorithm.name) or not view.job.edges:
            return None
        return build_graph(config.decentralized, view.job.edges)
    except InvalidInput:
        return None


def left_the_run(view: RunView) -> set[str]:
    """Edges that stopped reporting while the others went on."""
    latest = max(view.metrics.get(("aggregate", "test_accuracy"), {}) or [0])
    return {
        edge
        for edge in view.job.edges
        if (rounds := view.metrics.get((edge, "test_accuracy"))) and max(rounds) < latest
    }


def accuracy_color(accuracy: float | None) -> QColor:
    """Red (0) through amber to green (1); grey while unknown."""
    if accuracy is None:
        return QColor("#78909c")
    hue = max(0.0, min(1.0, accuracy)) * 120  # degrees: red 0 … green 120
    return QColor.fromHsv(int(hue), 170, 170)


def paint_trust_graph(p: QPainter, view: RunView, graph: TrustGraph, area: QRectF) -> None:
    nodes = list(graph.nodes)
    ring = area.adjusted(0, 0, 0, -24)  # the key below
    centre = ring.center()
    radius = max(40.0, min(ring.width(), ring.height()) / 2 - RADIUS - 14)
    spots = {
        node: QPointF(
            centre.x() + radius * math.cos(-math.pi / 2 + 2 * math.pi * i / len(nodes)),
            centre.y() + radius * math.sin(-math.pi / 2 + 2 * math.pi * i / len(nodes)),
        )
        for i, node in enumerate(nodes)
    }
    gone = left_the_run(view)
    for a, b in sorted(graph.links):
        dotted = a in gone or b in gone
        color = QColor(GONE if dotted else "#455a64")
        style = Qt.PenStyle.DotLine if dotted else Qt.PenStyle.SolidLine
        _arrow(p, spots[a], spots[b], color, style)
    font = p.font()
    p.setFont(QFont(font.family(), 8))  # an edge's name fits its circle
    for node in nodes:
        points = view.metrics.get((node, "test_accuracy"), {})
        accuracy = points[max(points)] if points else None
        fill = QColor(GONE) if node in gone else accuracy_color(accuracy)
        p.setPen(QPen(QColor("#37474f"), 1.2))
        p.setBrush(fill)
        p.drawEllipse(spots[node], RADIUS, RADIUS)
        p.setPen(QColor("black"))
        shown = "left" if node in gone else "—" if accuracy is None else f"{accuracy:.3f}"
        p.drawText(
            QRectF(spots[node].x() - RADIUS - 20, spots[node].y() - 16, 2 * RADIUS + 40, 32),
            Qt.AlignmentFlag.AlignCenter,
            f"{node}\n{shown}",
        )
    p.setFont(font)
    job = view.job
    algorithm = job.config_snapshot.get("algorithm", {}).get("name", "")
    label = QRectF(centre.x() - 80, centre.y() - 22, 160, 44)
    p.setPen(QPen(QColor("#90a4ae"), 1))
    p.setBrush(QColor("#eceff1"))
    p.drawRoundedRect(label, 8, 8)
    p.setPen(QColor("#263238"))
    p.drawText(
        label,
        Qt.AlignmentFlag.AlignCenter,
        f"no server · {algorithm}\n{job.status.lower()}"
        + (f" · round {job.current_round}" if job.current_round else ""),
    )
    p.setPen(QColor("#37474f"))
    p.drawText(
        QRectF(area.x(), area.bottom() - 18, area.width(), 18),
        Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
        "a → b: a pushes its model to b · each edge coloured by its test accuracy "
        "(red 0, green 1) · grey: left the run",
    )


def _arrow(p: QPainter, start: QPointF, end: QPointF, color: QColor, style) -> None:
    """From the edge of one circle to the edge of the other, the head at `end`; a pair of
    links both ways is drawn as two arcs, not one line with two heads."""
    dx, dy = end.x() - start.x(), end.y() - start.y()
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    bend = QPointF(-uy * 14, ux * 14)  # every link bows to its right: a pair never overlaps
    a = QPointF(start.x() + ux * RADIUS, start.y() + uy * RADIUS) + bend * 0.4
    b = QPointF(end.x() - ux * (RADIUS + 2), end.y() - uy * (RADIUS + 2)) + bend * 0.4
    middle = QPointF((a.x() + b.x()) / 2, (a.y() + b.y()) / 2) + bend
    path = QPainterPath(a)
    path.quadTo(middle, b)
    p.setPen(QPen(color, 1.6, style))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawPath(path)
    tx, ty = b.x() - middle.x(), b.y() - middle.y()
    norm = math.hypot(tx, ty) or 1.0
    tx, ty = tx / norm, ty / norm
    head = QPainterPath(b)
    head.lineTo(b.x() - tx * 10 - ty * 5, b.y() - ty * 10 + tx * 5)
    head.lineTo(b.x() - tx * 10 + ty * 5, b.y() - ty * 10 - tx * 5)
    head.closeSubpath()
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(color)
    p.drawPath(head)
