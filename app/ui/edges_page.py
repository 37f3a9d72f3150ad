"""Edges: live status, last seen, a CPU/memory sparkline each; register (token shown once)."""

from __future__ import annotations

from collections import defaultdict, deque

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (
    QApplication,
    QInputDialog,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from app.services.runs.events import LiveEvent
from app.ui.edge_dialog import RegisterEdgeDialog
from app.ui.simple_dialogs import line
from app.ui.table_page import TablePage

SPARK_POINTS = 60


class SparklineDelegate(QStyledItemDelegate):
    """Draws the last minute of CPU (blue) and memory (orange) for the row's edge."""

    def __init__(self, history: dict[str, dict[str, deque]], parent=None) -> None:
        super().__init__(parent)
        self.history = history

    def paint(self, painter: QPainter, option, index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        name, opt.text = opt.text, ""  # the cell's text is the edge name: draw the lines instead
        style = opt.widget.style() if opt.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        series = self.history.get(name)
        if not series:
            return
        rect = option.rect.adjusted(4, 4, -4, -4)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for key, color in (("mem", "#ef6c00"), ("cpu", "#1565c0")):
            values = list(series[key])
            if len(values) < 2:
                continue
            step = rect.width() / (SPARK_POINTS - 1)
            start = rect.right() - step * (len(values) - 1)
            points = [
                QPointF(start + i * step, rect.bottom() - rect.height() * min(v, 100) / 100)
                for i, v in enumerate(values)
            ]
            painter.setPen(QPen(QColor(color), 1.4))
            painter.drawPolyline(QPolygonF(points))
        painter.restore()


class EdgesPage(TablePage):
    title = "Edges"
    columns = [
        ("Name", lambda e: e.name),
        ("Status", lambda e: e.status),
        ("Last seen", lambda e: e.last_seen),
        ("Tags", lambda e: e.tags),
        ("Device id", lambda e: e.device_id),
        ("CPU / memory", lambda e: e.name),
        ("Data keys", lambda e: e.data_keys),
    ]

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.history: dict[str, dict[str, deque]] = defaultdict(
            lambda: {"cpu": deque(maxlen=SPARK_POINTS), "mem": deque(maxlen=SPARK_POINTS)}
        )
        self.table.setItemDelegateForColumn(5, SparklineDelegate(self.history, self.table))
        self.table.setColumnWidth(5, 200)
        self.add_action("Register…", self.register, "Ctrl+N", needs="operator")
        self.add_action("Edit…", self.edit, "Ctrl+E", needs="operator")
        self.add_action("Remove", self.remove, "Del", needs="operator")
        self.add_action("Start local demo edges…", self.start_demo, needs="operator")
        ctx.live.event.connect(self._on_live)

    def query(self):
        services, actor = self.ctx.services, self.ctx.actor
        return lambda: services.edges.list(actor)

    def _on_live(self, event: LiveEvent) -> None:
        if event.kind == "sample":
            series = self.history[event.data["edge"]]
            series["cpu"].append(event.data["cpu"])
            series["mem"].append(event.data["mem"])
            self.table.viewport().update()
        elif event.kind == "edge":
            self.refresh()

    def register(self) -> None:
        dialog = RegisterEdgeDialog(self.ctx, self)
        dialog.registered.connect(lambda _new: self.refresh())
        dialog.open()

    def edit(self) -> None:
        """Rename an edge and set its tags (its device id and token stay)."""
        edge = self.one_selected("edge")
        if edge is None:
            return
        services, actor = self.ctx.services, self.ctx.actor

        def save(values: dict):
            name = values["name"].strip()
            if name != edge.name:
                services.edges.rename(actor, edge.name, name)
            tags = [t.strip() for t in values["tags"].split(",") if t.strip()]
            return services.edges.set_tags(actor, name, tags)

        fields = {"name": line(), "tags": line("comma-separated")}
        fields["name"].setText(edge.name)
        fields["tags"].setText(", ".join(edge.tags))
        self.open_form(f"Edit edge {edge.name}", fields, save)

    def remove(self) -> None:
        services, actor = self.ctx.services, self.ctx.actor
        self.remove_selected("edges", lambda e: services.edges.remove(actor, e.name))

    def start_demo(self) -> None:
        count, ok = QInputDialog.getInt(
            self, "Local demo edges", "How many edge processes?", 4, 1, 32
        )
        if ok:
            self.status.setText(f"Starting {count} demo edges…")
            self.run(self.ctx.center.start_demo_edges, self.ctx.actor, count)
