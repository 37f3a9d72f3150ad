"""Create or edit a config (every save is a new version): a validated form, or raw TOML."""

from __future__ import annotations

import copy
import re

import tomli_w
from pydantic import ValidationError
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.algorithms import ALGORITHMS
from app.core.algorithms.robust import RULES
from app.core.fl_config import FLConfig, config_from_toml, config_to_toml, parse_config
from app.errors import InvalidInput
from app.ui.widgets.style import ERROR_STYLE
from app.ui.workers import run_in_background

CHOICES = {
    "model.kind": ["mlp", "logreg", "cnn"],
    "dataset.name": ["digits", "mnist1d", "synthetic"],
    "partitioning.kind": ["iid", "dirichlet", "shards"],
    "algorithm.name": list(ALGORITHMS),
    "algorithm.aggregation": list(RULES),
    "training.optimizer": ["sgd", "adam", "adamw"],
    "training.lr_schedule": ["constant", "step", "cosine"],
    "training.device": ["auto", "cpu", "cuda"],
    "decentralized.graph": ["ring", "exponential", "watts_strogatz", "links"],
}
NUMBERS = {  # path: (decimals or None for int, minimum shown, maximum)
    "partitioning.alpha": (3, -1.0, 1000.0),
    "algorithm.mu": (4, -1.0, 100.0),
    "algorithm.server_lr": (4, -1.0, 100.0),
    "algorithm.trim_fraction": (2, -1.0, 0.99),
    "algorithm.byzantine": (None, -1, 100),
    "algorithm.temperature": (2, -1.0, 100.0),
    "algorithm.alpha": (2, -1.0, 100.0),
    "algorithm.server_epochs": (None, -1, 100),
    "training.rounds": (None, -1, 100_000),
    "training.local_epochs": (None, -1, 1000),
    "training.batch_size": (None, -1, 65_536),
    "training.lr": (5, -1.0, 10.0),
    "training.weight_decay": (5, -1.0, 1.0),
    "training.eval_every": (None, -1, 100_000),
    "training.min_clients": (None, -1, 1000),
    "training.round_timeout_s": (1, -1.0, 86_400.0),
    "privacy.noise_multiplier": (3, -1.0, 100.0),
    "privacy.clip_norm": (3, -1.0, 1000.0),
    "secure_aggregation.max_dropout": (2, -1.0, 0.5),
    "decentralized.random_links": (None, -1, 10_000),
    "decentralized.seed": (None, -1, 1_000_000),
    "decentralized.peer_timeout_s": (1, -1.0, 86_400.0),
}
SWITCHES = ["secure_aggregation.enabled"]


def _get(data: dict, path: str):
    for key in path.split("."):
        data = data[key]
    return data


def _as_toml(data: dict) -> str:
    """The form's values as TOML: the config's own form when they are valid, else as they
    are, so that the TOML tab shows (and lets one fix) exactly what the form holds."""
    try:
        return config_to_toml(FLConfig.model_validate(data))
    except ValidationError:
        return tomli_w.dumps(data)


class ConfigDialog(QDialog):
    saved = Signal(object)

    def __init__(self, ctx, base: FLConfig | None = None, parent=None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._editing = base.name if base is not None else None  # None: a new config
        base = base or FLConfig(name="new-config")
        data = base.model_dump(mode="json", exclude_none=True)
        self._base = data  # what the form does not show (task params, algorithm betas…) stays
        self.setWindowTitle(
            f"Edit {base.name} (saves a new version)" if self._editing else "New config"
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

        add("name", QLineEdit())
        add("description", QLineEdit())
        self.task = QComboBox()
        self.task.addItem("the built-in task of dataset.name", None)
        self._task_wanted: str | None = None  # the task the config named, set with the form
        add("task.name", self.task)
        for path, items in CHOICES.items():
            box = QComboBox()
            box.addItems(items)
            add(path, box)
        for i, algorithm in enumerate(ALGORITHMS.values()):
            tip = f"{algorithm.title}: {algorithm.summary}"
            if algorithm.fields:
                tip += f" (reads {', '.join('algorithm.' + f for f in algorithm.fields)})"
            self.widgets["algorithm.name"].setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        add("model.hidden", QLineEdit())
        for path, (decimals, low, high) in NUMBERS.items():
            spin = QSpinBox() if decimals is None else QDoubleSpinBox(decimals=decimals)
            spin.setRange(low, high)  # below-range values reach the validator, which names them
            add(path, spin)
        for path in SWITCHES:
            add(path, QCheckBox())
        self._show_in_form(data)
        form_page = QWidget()
        form_page.setLayout(form)
        # Forty fields are taller than a laptop's screen: the form scrolls (and Tab keeps
        # the focused field in view), the buttons stay put.
        form_scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        form_scroll.setWidget(form_page)
        form_scroll.setMinimumWidth(form_page.sizeHint().width() + 24)
        self.toml = QPlainTextEdit(config_to_toml(base))
        self.toml.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.tabs = QTabWidget()
        self.tabs.addTab(form_scroll, "&Form")
        self.tabs.addTab(self.toml, "&TOML")
        # One config behind both tabs: each switch carries every edit across.
        self._tab = 0
        self.tabs.currentChanged.connect(self._switched)
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

    def _show_in_form(self, data: dict) -> None:
        """Every field the form shows, set from `data` (a config as a dict)."""
        for path, widget in self.widgets.items():
            try:
                value = _get(data, path)
            except KeyError:  # only task.name is ever left out (None: the built-in task)
                value = None
            if widget is self.task:
                self._task_wanted = value
                self._select_task(value)
            elif isinstance(widget, QComboBox):
                widget.setCurrentText(str(value))
            elif isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif path == "model.hidden":
                widget.setText(", ".join(str(h) for h in value))
            elif isinstance(widget, QLineEdit):
                widget.setText(str(value))
            else:
                widget.setValue(value)

    def _select_task(self, name: str | None) -> None:
        index = self.task.findData(name)
        if index < 0 and name:  # not listed (yet, or no longer): keep it, the save says why
            self.task.addItem(name, name)
            index = self.task.count() - 1
        self.task.setCurrentIndex(max(index, 0))

    def _switched(self, index: int) -> None:
        """Form → TOML: the TOML is written from the form. TOML → form: the TOML must be a
        valid config, else the TOML tab stays, saying what is wrong."""
        self.general.clear()
        if index == 1 and self._tab == 0:
            self.toml.setPlainText(_as_toml(self.form_data()))
        elif index == 0 and self._tab == 1:
            try:
                config = config_from_toml(self.toml.toPlainText())
            except InvalidInput as exc:
                self.tabs.blockSignals(True)
                self.tabs.setCurrentIndex(1)
                self.tabs.blockSignals(False)
                self.general.setText(f"{exc}. Fix it before going back to the form.")
                return
            self._base = config.model_dump(mode="json", exclude_none=True)
            self._show_in_form(self._base)
        self._tab = index

    def _fill_tasks(self, tasks) -> None:
        wanted = self.task.currentData()  # as the form holds it now (the TOML may have set it)
        for i in range(self.task.count() - 1, 0, -1):
            if self.task.itemText(i) == self.task.itemData(i):  # a placeholder: listed below
                self.task.removeItem(i)
        for t in tasks:
            kind = "built in" if t.builtin else f"v{t.version}"
            key = f", data {t.data_key!r}" if t.data_key else ""
            self.task.addItem(f"{t.name} ({kind}{key})", t.name)
        self._select_task(wanted)

    def form_data(self) -> dict:
        data = copy.deepcopy(self._base)
        for path, widget in self.widgets.items():
            if widget is self.task:
                value = widget.currentData()
            elif isinstance(widget, QComboBox):
                value = widget.currentText()
            elif isinstance(widget, QCheckBox):
                value = widget.isChecked()
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
        """Saves what the tab in front holds (the other was synced when it was left).
        A name that exists, other than the config being edited, is asked about first."""
        for label in self.errors.values():
            label.hide()
        self.general.clear()
        services, actor = self.ctx.services, self.ctx.actor
        if self.tabs.currentIndex() == 1:
            text = self.toml.toPlainText()
            make = lambda: config_from_toml(text)  # noqa: E731
        else:
            data = self.form_data()
            make = lambda: parse_config(data)  # noqa: E731

        def check():
            config = make()
            existing = services.configs.latest_version(actor, config.name)
            return config, None if config.name == self._editing else existing

        self.buttons.setEnabled(False)
        run_in_background(self, check, on_result=self._checked, on_error=self._failed)

    def _checked(self, result) -> None:
        config, existing = result
        if existing is not None:
            answer = QMessageBox.question(
                self,
                "Config exists",
                f"A config named {config.name!r} exists (latest version {existing}). Save "
                f"this as its version {existing + 1}? New runs of {config.name} would use it.",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Save:
                self.buttons.setEnabled(True)
                self.tabs.setCurrentIndex(0)
                self.widgets["name"].setFocus()
                self.widgets["name"].selectAll()
                return
        services, actor = self.ctx.services, self.ctx.actor
        run_in_background(
            self, services.configs.save, actor, config, on_result=self._done, on_error=self._failed
        )

    def _done(self, record) -> None:
        self.saved.emit(record)
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        text = str(exc)
        shown = False
        if self.tabs.currentIndex() == 1:  # the TOML in front: the form's labels are hidden
            self.general.setText(text)
            return
        for part in text.removeprefix("invalid config: ").split("; "):
            path = part.split(":")[0].strip()
            if path in self.errors:
                self.errors[path].setText(part.split(":", 1)[1].strip())
                self.errors[path].show()
                shown = True
        if not shown:
            self.general.setText(text)
