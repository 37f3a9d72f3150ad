"""Create or edit a schedule: what it launches, its trigger with a live preview of the next
five fire times, and its policies. Errors show beside the field they concern."""

from __future__ import annotations

from functools import partial
from zoneinfo import available_timezones

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.errors import FedDeckError
from app.services.automation.schedules import (
    MISFIRE_POLICIES,
    OVERLAP_POLICIES,
    ScheduleRecord,
    preview,
)
from app.ui.widgets.style import ERROR_STYLE
from app.ui.workers import run_in_background

EXPR_HINTS = {
    "cron": "minute hour day month weekday, e.g. 0 3 * * mon-fri",
    "interval": "e.g. 90s, 15m, 1h30m, 2d, 1w",
    "once": "local date-time, e.g. 2026-12-01T09:00",
}
TARGET_JOB, TARGET_FLOW = "A job", "A flow"


def _choices(services, actor):
    return (
        services.projects.list(actor),
        services.configs.list(actor),
        services.flows.list(actor),
        sorted({t for e in services.edges.list(actor) for t in e.tags}),
    )


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


class ScheduleDialog(QDialog):
    saved = Signal(object)

    def __init__(self, ctx, record: ScheduleRecord | None = None, parent=None) -> None:
        super().__init__(parent)
        self.ctx, self.record = ctx, record
        self.setWindowTitle(f"Edit schedule {record.name}" if record else "New schedule")
        self.name = QLineEdit(record.name if record else "")
        self.name.setReadOnly(record is not None)
        self.target = QComboBox()
        self.target.addItems([TARGET_JOB, TARGET_FLOW])
        self.pages = QStackedWidget()
        self.target.currentIndexChanged.connect(self.pages.setCurrentIndex)

        job_page = QWidget()
        self.project = QComboBox()
        self.config = QComboBox()
        self.edge_mode = QComboBox()
        self.edge_mode.addItems(["Idle edges tagged", "These edges"])
        self.edges = QComboBox(editable=True)
        self.edges.setToolTip("A tag, or edge names separated by commas")
        self.job_name = QLineEdit(placeholderText="{source} {fired:%Y-%m-%d %H:%M}")
        self.tags = QLineEdit(placeholderText="comma-separated")
        job_form = QFormLayout(job_page)
        job_form.addRow("&Project", self.project)
        job_form.addRow("&Config (latest)", self.config)
        job_form.addRow(self.edge_mode, self.edges)
        job_form.addRow("Job &name", self.job_name)
        job_form.addRow("&Tags", self.tags)
        flow_page = QWidget()
        self.flow = QComboBox()
        QFormLayout(flow_page).addRow("&Flow", self.flow)
        self.pages.addWidget(job_page)
        self.pages.addWidget(flow_page)
        self.target_error = QLabel(wordWrap=True, styleSheet=ERROR_STYLE)

        self.kind = QComboBox()
        self.kind.addItems(list(EXPR_HINTS))
        self.expr = QLineEdit()
        self.timezone = QComboBox(editable=True)
        zones = sorted(available_timezones())
        self.timezone.addItems(zones)
        self.timezone.setCurrentText("UTC")
        self.timezone.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        # Suggestions in a list as one types, never completed in place: what the box holds
        # when it is left is what was typed or picked ("Europe" stays "Europe", refused).
        zone_completer = QCompleter(zones, self.timezone)
        zone_completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        zone_completer.setFilterMode(Qt.MatchFlag.MatchContains)
        zone_completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.timezone.setCompleter(zone_completer)
        self.trigger_error = QLabel(wordWrap=True, styleSheet=ERROR_STYLE)
        self.upcoming = QListWidget()
        self.upcoming.setMaximumHeight(110)
        self.upcoming.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.overlap = QComboBox()
        self.overlap.addItems(list(OVERLAP_POLICIES))
        self.overlap.setToolTip("When the previous run is still going: skip, queue or run both")
        self.missed = QComboBox()
        self.missed.addItems(list(MISFIRE_POLICIES))
        self.missed.setToolTip("Fires missed while no scheduler ran: skip them or run once")
        self.enabled = QCheckBox("&Enabled", checked=True)

        for label in (self.target_error, self.trigger_error):  # room kept: the form stays put
            label.setMinimumHeight(2 * label.fontMetrics().lineSpacing())
            label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        trigger_box = QGroupBox("When")
        trig = QFormLayout(trigger_box)
        trig.addRow("&Trigger", self.kind)
        trig.addRow("E&xpression", self.expr)
        trig.addRow("Time &zone", self.timezone)
        trig.addRow("", self.trigger_error)
        trig.addRow("Next fires", self.upcoming)
        trig.addRow("If still &running", self.overlap)
        trig.addRow("&Missed fires", self.missed)
        trig.addRow("", self.enabled)
        what_box = QGroupBox("What")
        what = QVBoxLayout(what_box)
        head = QFormLayout()
        head.addRow("N&ame", self.name)
        head.addRow("&Launches", self.target)
        what.addLayout(head)
        what.addWidget(self.pages)
        what.addWidget(self.target_error)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)
        self.error = QLabel(wordWrap=True, styleSheet=ERROR_STYLE)
        layout = QVBoxLayout(self)
        layout.addWidget(what_box)
        layout.addWidget(trigger_box)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        for signal in (
            self.kind.currentTextChanged,
            self.expr.textChanged,
            self.timezone.currentTextChanged,
        ):
            signal.connect(self.update_preview)
        self.kind.currentTextChanged.connect(
            lambda k: self.expr.setPlaceholderText(EXPR_HINTS.get(k, ""))
        )
        self.expr.setPlaceholderText(EXPR_HINTS["cron"])
        if record is not None:
            self._show_record(record)
        else:
            self.expr.setText("0 3 * * *")
        self.resize(560, 700)
        self.buttons.setEnabled(False)
        run_in_background(
            self, _choices, ctx.services, ctx.actor, on_result=self._fill, on_error=self._failed
        )

    def _show_record(self, r: ScheduleRecord) -> None:
        self.kind.setCurrentText(r.trigger_kind)
        self.expr.setText(r.trigger_expr)
        self.timezone.setCurrentText(r.timezone)
        self.overlap.setCurrentText(r.overlap_policy)
        self.missed.setCurrentText(r.misfire_policy)
        self.enabled.setChecked(r.enabled)
        t = r.template
        if "flow" in t:
            self.target.setCurrentText(TARGET_FLOW)
            return
        self.edge_mode.setCurrentIndex(0 if t.get("edge_tag") else 1)
        self.edges.setCurrentText(t.get("edge_tag") or ", ".join(t.get("edges", [])))
        self.job_name.setText(t.get("name", ""))
        self.tags.setText(", ".join(t.get("tags", [])))

    def _fill(self, choices) -> None:
        projects, configs, flows, tags = choices
        self.project.addItems([p.name for p in projects])
        self.config.addItems([c.name for c in configs])
        self.flow.addItems([f.name for f in flows])
        current = self.edges.currentText()
        self.edges.addItems(tags)
        self.edges.setCurrentText(current or (tags[0] if tags else ""))
        if self.record is not None:
            t = self.record.template
            self.flow.setCurrentText(t.get("flow", ""))
            self.project.setCurrentText(t.get("project", ""))
            self.config.setCurrentText(t.get("config", ""))
        self.buttons.setEnabled(True)

    def update_preview(self) -> None:
        """Pure arithmetic on the trigger (no database): fine on the GUI thread."""
        self.upcoming.clear()
        try:
            fires = preview(self.kind.currentText(), self.expr.text(), self.timezone.currentText())
        except FedDeckError as exc:
            self.trigger_error.setText(str(exc))
            return
        self.trigger_error.setText("" if fires else "This trigger never fires again.")
        for when in fires:
            self.upcoming.addItem(when.strftime("%a %Y-%m-%d %H:%M %Z"))

    def template(self) -> dict:
        if self.target.currentText() == TARGET_FLOW:
            return {"flow": self.flow.currentText()}
        template = {"project": self.project.currentText(), "config": self.config.currentText()}
        if self.edge_mode.currentIndex() == 0:
            template["edge_tag"] = self.edges.currentText().strip()
        else:
            template["edges"] = _split(self.edges.currentText())
        if self.job_name.text().strip():
            template["name"] = self.job_name.text().strip()
        if _split(self.tags.text()):
            template["tags"] = _split(self.tags.text())
        return template

    def _save(self) -> None:
        ctx, schedules = self.ctx, self.ctx.services.schedules
        values = {  # read on the GUI thread; the worker gets plain values
            "template": self.template(),
            "kind": self.kind.currentText(),
            "expr": self.expr.text(),
            "timezone": self.timezone.currentText(),
            "overlap_policy": self.overlap.currentText(),
            "misfire_policy": self.missed.currentText(),
            "enabled": self.enabled.isChecked(),
        }
        name = self.name.text().strip()
        call = schedules.create if self.record is None else schedules.update
        self.buttons.setEnabled(False)
        run_in_background(
            self,
            partial(call, ctx.actor, name, **values),
            on_result=self._done,
            on_error=self._failed,
        )

    def _done(self, record) -> None:
        self.saved.emit(record)
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        text = str(exc)
        target = self.target_error if "schedule" in text and ":" in text else self.error
        if any(k in text for k in ("cron", "interval", "date-time", "time zone", "trigger")):
            target = self.trigger_error
        target.setText(text)
