"""Create or edit a config (every save is a new version): a validated form, or raw TOML."""

from __future__ import annotations

import copy
import re

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.fl_config import FLConfig, config_from_toml, config_to_toml
from app.ui.style import ERROR_STYLE
from app.ui.workers import run_in_background

CHOICES = {
    "model.kind": ["mlp", "logreg", "cnn"],
    "dataset.name": ["digits", "mnist1d", "synthetic"],
    "partitioning.kind": ["iid", "dirichlet", "shards"],
    "algorithm.name": ["fedavg", "fedprox", "fedadam", "fedyogi", "fedadagrad", "fedavgm"],
    "training.optimizer": ["sgd", "adam", "adamw"],
    "training.lr_schedule": ["constant", "step", "cosine"],
    "training.device": ["auto", "cpu", "cuda"],
}
NUMBERS = {  # path: (decimals or None for int, minimum shown, maximum)
    "partitioning.alpha": (3, -1.0, 1000.0),
    "algorithm.mu": (4, -1.0, 100.0),
    "algorithm.server_lr": (4, -1.0, 100.0),
    "training.rounds": (None, -1, 100_000),
    "training.local_epochs": (None, -1, 1000),
    "training.batch_size": (None, -1, 65_536),
    "training.lr": (5, -1.0, 10.0),
    "training.weight_decay": (5, -1.0, 1.0),
    "training.eval_every": (None, -1, 100_000),
    "training.min_clients": (None, -1, 1000),
    "training.round_timeout_s": (1, -1.0, 86_400.0),
}


def _get(data: dict, path: str):
    for key in path.split("."):
        data = data[key]
    return data


class ConfigDialog(QDialog):
    saved = Signal(object)

    def __init__(self, ctx, base: FLConfig | None = None, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        base = base or FLConfig(name="new-config")
        data = base.model_dump(mode="json", exclude_none=True)
        self._base = data  # what the form does not show (task params, algorithm betas…) stays
        self.setWindowTitle(
            f"Edit {base.name} (saves a new version)" if base.name != "new-config" else "New config"
        )
        self.widgets: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        form = QFormLayout()

        def add(path: str, widget: QWidget) -> None:
            self.widgets[path] = widget
            error = QLabel(styleSheet=ERROR_STYLE, visible=False, wordWrap=True)
            self.errors[path] = error
            form.addRow(path, widget)
            form.addRow("", error)

        add("name", QLineEdit(base.name))
        add("description", QLineEdit(base.description))
        self.task = QComboBox()
        self.task.addItem("the built-in task of dataset.name", None)
        self._task_wanted = base.task.name
        add("task.name", self.task)
        for path, items in CHOICES.items():
            box = QComboBox()
            box.addItems(items)
            box.setCurrentText(str(_get(data, path)))
            add(path, box)
        add("model.hidden", QLineEdit(", ".join(str(h) for h in base.model.hidden)))
        for path, (decimals, low, high) in NUMBERS.items():
            spin = QSpinBox() if decimals is None else QDoubleSpinBox(decimals=decimals)
            spin.setRange(low, high)  # below-range values reach the validator, which names them
            spin.setValue(_get(data, path))
            add(path, spin)
        form_page = QWidget()
        form_page.setLayout(form)
        self.toml = QPlainTextEdit(config_to_toml(base))
        self.toml.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.tabs = QTabWidget()
        self.tabs.addTab(form_page, "&Form")
        self.tabs.addTab(self.toml, "&TOML")
        self.general = QLabel(styleSheet=ERROR_STYLE, wordWrap=True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.general)
        layout.addWidget(self.buttons)
        self.resize(520, 760)
        run_in_background(self, ctx.services.tasks.list, ctx.actor, on_result=self._fill_tasks)

    def _fill_tasks(self, tasks) -> None:
        for t in tasks:
            kind = "built in" if t.builtin else f"v{t.version}"
            key = f", data {t.data_key!r}" if t.data_key else ""
            self.task.addItem(f"{t.name} ({kind}{key})", t.name)
        if self._task_wanted:
            index = self.task.findData(self._task_wanted)
            if index < 0:  # a task no longer listed: keep it, the save will say why
                self.task.addItem(self._task_wanted, self._task_wanted)
                index = self.task.count() - 1
            self.task.setCurrentIndex(index)

    def form_data(self) -> dict:
        data = copy.deepcopy(self._base)
        for path, widget in self.widgets.items():
            if widget is self.task:
                value = widget.currentData()
            elif isinstance(widget, QComboBox):
                value = widget.currentText()
            elif isinstance(widget, QLineEdit):
                value = widget.text()
                if path == "model.hidden":
                    value = [int(v) for v in re.findall(r"-?\d+", value)]
            else:
                value = widget.value()
            node = data
            *parents, leaf = path.split(".")
            for key in parents:
                node = node.setdefault(key, {})
            if path == "task.name" and value != self._task_wanted:
                node.pop("version", None)  # the version pinned belonged to the other task
            if value is None:
                node.pop(leaf, None)
            else:
                node[leaf] = value
        return data

    def _save(self) -> None:
        for label in self.errors.values():
            label.hide()
        self.general.clear()
        services, actor = self.ctx.services, self.ctx.actor
        if self.tabs.currentIndex() == 1:
            text = self.toml.toPlainText()
            job = lambda: services.configs.save(actor, config_from_toml(text))  # noqa: E731
        else:
            data = self.form_data()
            job = lambda: services.configs.save_dict(actor, data)  # noqa: E731
        self.buttons.setEnabled(False)
        run_in_background(self, job, on_result=self._done, on_error=self._failed)

    def _done(self, record) -> None:
        self.saved.emit(record)
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        text = str(exc)
        shown = False
        for part in text.removeprefix("invalid config: ").split("; "):
            path = part.split(":")[0].strip()
            if path in self.errors:
                self.errors[path].setText(part.split(":", 1)[1].strip())
                self.errors[path].show()
                shown = True
        if not shown:
            self.general.setText(text)
