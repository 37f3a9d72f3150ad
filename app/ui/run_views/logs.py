"""Logs: every node's lines merged in time order; filter by node, level, text; follow."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.services.entities.job_status import LEVEL_ORDER
from app.ui.run_views.data import RunView
from app.ui.widgets.record_model import RecordTableModel

COLUMNS = [
    ("Time", lambda r: r.at.strftime("%H:%M:%S.%f")[:-3]),
    ("Node", lambda r: r.node),
    ("Level", lambda r: r.level),
    ("Text", lambda r: r.text),
]


class _LogFilter(QSortFilterProxyModel):
    node = ""
    min_level = 0
    text = ""

    def filterAcceptsRow(self, row, parent) -> bool:
        record = self.sourceModel().record(row)
        if self.node and record.node != self.node:
            return False
        if LEVEL_ORDER.index(record.level) < self.min_level:
            return False
        return not self.text or self.text in record.text.lower()


class LogsTab(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.model = RecordTableModel(COLUMNS, self)
        self.proxy = _LogFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.node = QComboBox()
        self.node.addItem("All nodes")
        self.level = QComboBox()
        self.level.addItems(LEVEL_ORDER)
        self.level.setCurrentText("INFO")
        self.search = QLineEdit(placeholderText="Filter text", clearButtonEnabled=True)
        self.follow = QCheckBox("&Follow", checked=True)
        copy = QPushButton("&Copy")
        copy.clicked.connect(self.copy_selection)
        save = QPushButton("&Save…")
        save.clicked.connect(self.save)
        QShortcut(QKeySequence.StandardKey.Copy, self.table, activated=self.copy_selection)
        for widget in (self.node, self.level):
            widget.currentIndexChanged.connect(self._refilter)
        self.search.textChanged.connect(self._refilter)
        bar = QHBoxLayout()
        for w in (self.node, self.level, self.search, self.follow, copy, save):
            bar.addWidget(w)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        self._shown = 0
        self._refilter()

    def _refilter(self) -> None:
        self.proxy.node = self.node.currentText() if self.node.currentIndex() > 0 else ""
        self.proxy.min_level = self.level.currentIndex()
        self.proxy.text = self.search.text().lower()
        self.proxy.invalidateFilter()

    def render(self, view: RunView) -> None:
        if len(view.logs) == self._shown:
            return
        if self._shown == 0 or len(view.logs) < self._shown:
            self.model.set_rows(sorted(view.logs, key=lambda r: r.at))
        else:  # append only what is new
            self.model.append_rows(view.logs[self._shown :])
        self._shown = len(view.logs)
        nodes = sorted({r.node for r in view.logs})
        for node in nodes:
            if self.node.findText(node) < 0:
                self.node.addItem(node)
        if self.follow.isChecked():
            self.table.scrollToBottom()

    def visible_lines(self) -> list[str]:
        out = []
        for row in range(self.proxy.rowCount()):
            record = self.model.record(self.proxy.mapToSource(self.proxy.index(row, 0)).row())
            out.append(f"{record.at.isoformat()} {record.level} {record.node}: {record.text}")
        return out

    def copy_selection(self) -> None:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        lines = self.visible_lines()
        QGuiApplication.clipboard().setText("\n".join(lines[r] for r in rows) or "\n".join(lines))

    def save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save log", "run.log", "Log (*.log *.txt)")
        if path:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write("\n".join(self.visible_lines()) + "\n")
