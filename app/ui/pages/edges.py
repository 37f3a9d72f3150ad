"""Edges: live status, "seen 3 s ago", a CPU/memory sparkline each, filters by status and
tag; register (token shown once); Enter opens an edge's detail. Status changes reload the
list at most once a second, so a thousand edges coming and going do not swamp it."""

from __future__ import annotations

from collections import defaultdict, deque

from PySide6.QtCore import QRectF, QTimer, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QInputDialog,
    QLabel,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from app.services.runs.events import LiveEvent
from app.ui.dialogs.edge import RegisterEdgeDialog
from app.ui.dialogs.simple import line
from app.ui.pages.edge_detail import EdgeDetailDialog
from app.ui.pages.table_page import Listing, TablePage
from app.ui.widgets.record_model import Ago
from app.ui.widgets.sparkline import draw_sparkline

SPARK_POINTS = 60
STATUSES = ("IDLE", "TRAINING", "OFFLINE", "ERROR")


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
        rect = QRectF(option.rect.adjusted(4, 4, -4, -4))
        for key, color in (("mem", "#ef6c00"), ("cpu", "#1565c0")):
            draw_sparkline(painter, rect, list(series[key]), color, slots=SPARK_POINTS)


class EdgesPage(TablePage):
    title = "Edges"
    open_run = Signal(int)
    columns = [
        ("Name", lambda e: e.name),
        ("Status", lambda e: e.status),
        ("Last seen", lambda e: Ago(e.last_seen)),
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
        self.add_action("Details…", self.activated, "Return")
        self.status_filter = QComboBox(objectName="statusFilter")
        self.status_filter.addItems(["All statuses", *STATUSES])
        self.tag_filter = QComboBox(objectName="tagFilter")
        self.tag_filter.addItem("All tags")
        for label, combo in (("&Status", self.status_filter), ("Ta&g", self.tag_filter)):
            text = QLabel(label)
            text.setBuddy(combo)
            self.toolbar.addWidget(text)
            self.toolbar.addWidget(combo)
            combo.currentIndexChanged.connect(self.refresh)
        self.counts = QLabel(objectName="edgeCounts")
        self.toolbar.addSeparator()
        self.toolbar.addWidget(self.counts)
        self._stale = False
        # Once a second: reload if an edge changed, and age the "seen … ago" column.
        self.ticker = QTimer(self, interval=1000, timeout=self._tick)
        self.ticker.start()
        ctx.live.event.connect(self._on_live)

    def query(self):
        services, actor = self.ctx.services, self.ctx.actor
        status = self.status_filter.currentText() if self.status_filter.currentIndex() else None
        tag = self.tag_filter.currentText() if self.tag_filter.currentIndex() > 0 else None

        def load() -> Listing:
            every = services.edges.list(actor)
            shown = [
                e
                for e in every
                if (status is None or e.status == status) and (tag is None or tag in e.tags)
            ]
            online = sum(e.status != "OFFLINE" for e in every)
            choices = {
                "tag": sorted({t for e in every for t in e.tags}),
                "counts": [f"{online} of {len(every)} online; {len(shown)} shown"],
            }
            return Listing(shown, choices)

        return load

    def show_choices(self, choices: dict[str, list[str]]) -> None:
        self.counts.setText(choices["counts"][0])
        current = self.tag_filter.currentText()
        wanted = ["All tags", *choices["tag"]]
        if [self.tag_filter.itemText(i) for i in range(self.tag_filter.count())] != wanted:
            self.tag_filter.blockSignals(True)
            self.tag_filter.clear()
            self.tag_filter.addItems(wanted)
            self.tag_filter.setCurrentText(current if current in wanted else "All tags")
            self.tag_filter.blockSignals(False)

    def _tick(self) -> None:
        if not self.isVisible():
            return
        if self._stale:
            self._stale = False
            self.refresh()
        else:
            self.table.viewport().update()

    def activated(self) -> None:
        edge = self.one_selected("edge")
        if edge is None:
            return
        dialog = EdgeDetailDialog(self.ctx, edge.name, self)
        dialog.open_run.connect(self.open_run)
        dialog.open_run.connect(lambda _id: dialog.accept())
        dialog.open()

    def _on_live(self, event: LiveEvent) -> None:
        if event.kind == "sample":
            series = self.history[event.data["edge"]]
            series["cpu"].append(event.data["cpu"])
            series["mem"].append(event.data["mem"])
            self.table.viewport().update()
        elif event.kind == "edge":
            self._stale = True

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
