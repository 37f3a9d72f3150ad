"""The window driven like a person: sign in, then the dashboard fills in from the database."""

import pytest
from PySide6.QtCore import Qt

from app.config import Settings
from app.services import Services
from app.ui.dialogs.login import LoginDialog
from app.ui.main_window import MainWindow
from app.ui.pages.dashboard import DashboardPage
from tests.helpers import SAMPLE_CONFIG


@pytest.fixture
def fresh_deck(tmp_path):
    settings = Settings.load(data_dir=tmp_path / "ui")
    services = Services.open(settings)
    yield settings, services
    services.close()


def test_first_run_creates_the_admin(qtbot, fresh_deck):
    _, services = fresh_deck
    dialog = LoginDialog(services, first_run=True)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.password, "adminpass1")
    qtbot.keyClicks(dialog.repeat, "adminpass2")
    qtbot.keyClick(dialog.repeat, Qt.Key.Key_Return)
    assert "differ" in dialog.error.text()
    dialog.repeat.clear()
    qtbot.keyClicks(dialog.repeat, "adminpass1")
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        qtbot.keyClick(dialog.repeat, Qt.Key.Key_Return)
    assert dialog.actor.name == "admin" and dialog.actor.role == "admin"


def test_the_sign_in_shows_before_the_database_answers(qtbot, tmp_path):
    """The dialog is up at once; the form it asks for comes with the database's answer."""
    import threading

    from PySide6.QtWidgets import QDialogButtonBox

    from app.ui.app import open_for_sign_in

    answer = threading.Event()
    settings = Settings.load(data_dir=tmp_path / "slow")

    def slow_open():
        answer.wait(10)
        return open_for_sign_in(settings)

    dialog = LoginDialog.opening(slow_open)
    qtbot.addWidget(dialog)
    dialog.show()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert "opening" in dialog.windowTitle() and not ok.isEnabled()
    assert not dialog.password.isEnabled()
    answer.set()
    qtbot.waitUntil(lambda: "create the admin" in dialog.windowTitle(), timeout=10000)
    assert ok.isEnabled() and dialog.repeat.isVisible() and dialog.name.text() == "admin"
    qtbot.keyClicks(dialog.password, "adminpass1")
    qtbot.keyClicks(dialog.repeat, "adminpass1")
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        qtbot.keyClick(dialog.repeat, Qt.Key.Key_Return)
    assert dialog.actor.name == "admin"
    dialog.services.close()


def test_a_database_that_cannot_be_opened_is_said_in_the_dialog(qtbot):
    from PySide6.QtWidgets import QDialogButtonBox

    def failing_open():
        raise OSError("the data folder /nowhere is not writable")

    dialog = LoginDialog.opening(failing_open)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: "not writable" in dialog.error.text(), timeout=5000)
    assert "could not be opened" in dialog.windowTitle()
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def test_wrong_password_shows_the_reason(qtbot, fresh_deck):
    _, services = fresh_deck
    services.users.create_first_admin("admin", "adminpass1")
    dialog = LoginDialog(services, first_run=False)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.name, "admin")
    qtbot.keyClicks(dialog.password, "nope-nope")
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "wrong user name or password" in dialog.error.text(), timeout=5000)
    assert dialog.actor is None and dialog.buttons.isEnabled()


def test_dashboard_counts_from_the_database(qtbot, admin_ctx, tmp_path):
    services, admin = admin_ctx.services, admin_ctx.actor
    services.projects.create(admin, "p")
    services.configs.save_dict(admin, SAMPLE_CONFIG)
    for name in ("e1", "e2", "e3"):
        services.edges.register(admin, name)
    services.edges.set_status(admin, "e1", "TRAINING")
    services.jobs.create(admin, "run-a", "p", SAMPLE_CONFIG["name"], ["e1", "e2"])
    window = MainWindow(admin_ctx)
    qtbot.addWidget(window)
    page = window.stack.currentWidget()
    assert isinstance(page, DashboardPage)
    qtbot.waitUntil(lambda: page.running.rowCount() == 1, timeout=5000)
    assert page.counts["edges:OFFLINE"].text() == "2"
    assert page.counts["edges:TRAINING"].text() == "1"
    assert page.counts["jobs:QUEUED"].text() == "1"
    assert page.running.item(0, 1).text() == "run-a"
    assert window.user_label.text() == "admin (admin)"
    window.grab().save(str(tmp_path / "dashboard.png"))
    assert (tmp_path / "dashboard.png").stat().st_size > 1000


def test_a_database_that_cannot_be_written_is_said_in_the_status_bar(qtbot, admin_ctx):
    from app.services.runs.events import LiveEvent

    window = MainWindow(admin_ctx)
    qtbot.addWidget(window)
    text = "disk full while writing the database: 12 messages could not be recorded"
    admin_ctx.center.events.emit(LiveEvent("storage", data={"error": text}))  # as ingest does
    qtbot.waitUntil(lambda: text in window.statusBar().currentMessage(), timeout=5000)


def test_f1_lists_every_shortcut_from_the_actions_themselves(qtbot, admin_ctx):
    from app.ui.dialogs.help import ShortcutSheet

    window = MainWindow(admin_ctx)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_F1)
    sheet = window.findChild(ShortcutSheet)
    qtbot.waitUntil(lambda: sheet is not None and sheet.isVisible(), timeout=3000)
    entries = dict((text, keys) for keys, text in sheet.entries())
    assert entries["Run ▸ Run the demo"] == "Ctrl+Shift+R"
    assert entries["Launch…"] == "Ctrl+L"  # the Jobs page's own action
    assert entries["Retention…"] == "Ctrl+K"
    assert entries["go to Jobs"] == "Ctrl+2"
    qtbot.keyClicks(sheet.filter, "delete")
    shown = sheet.entries()
    assert shown and all("delete" in f"{k} {t}".lower() for k, t in shown)
    sheet.close()
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    titles = [a.text() for a in help_menu.actions() if a.text()]
    assert titles == [
        "&Keyboard shortcuts",
        "&Guide (README)",
        "&Operating: edges, schedules, flows, exports",
        "&Command line",
        "&Tasks: your own model and code",
        "A&lgorithms",
        "&Security and failures",
        "&Architecture",
        "&About FedDeck",
    ]
    assert all(a.isEnabled() for a in help_menu.actions() if a.text())  # docs found here


def test_a_run_that_ends_is_notified_unless_turned_off(qtbot, admin_ctx):
    from app.services.runs.events import LiveEvent
    from app.ui.dialogs.settings import SettingsDialog

    window = MainWindow(admin_ctx)
    qtbot.addWidget(window)
    notifier, events = window.notifier, admin_ctx.center.events
    events.emit(LiveEvent("job", 7, {"status": "RUNNING", "round": 1, "name": "demo"}))
    qtbot.waitUntil(lambda: notifier.going == {7}, timeout=3000)
    assert "1 run going" in notifier.tooltip()
    done = {"status": "FINISHED", "round": 20, "name": "demo", "test_accuracy": 0.958}
    events.emit(LiveEvent("job", 7, done))
    qtbot.waitUntil(lambda: len(notifier.sent) == 1, timeout=3000)
    assert notifier.sent[0] == ("Run #7 demo finished", "after 20 rounds; test accuracy 0.9580")
    assert "no run going" in notifier.tooltip()
    failed = {"status": "FAILED", "round": 3, "name": "x", "reason": "disk full while writing a"}
    events.emit(LiveEvent("job", 8, failed))
    qtbot.waitUntil(lambda: len(notifier.sent) == 2, timeout=3000)
    assert notifier.sent[1] == ("Run #8 x failed", "after 3 rounds: disk full while writing a")

    dialog = SettingsDialog(admin_ctx.settings, window)  # turned off in Settings
    dialog.notify.setChecked(False)
    dialog._save()
    events.emit(LiveEvent("job", 9, {**failed, "name": "y"}))
    events.emit(LiveEvent("hub", data={"state": "connected"}))
    qtbot.waitUntil(lambda: "hub: connected" in notifier.tooltip(), timeout=3000)
    assert len(notifier.sent) == 2


def test_the_theme_changes_when_saved_not_at_the_next_start(qtbot, admin_ctx):
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    from app.ui.dialogs.settings import SettingsDialog

    app = QApplication.instance()
    try:
        for theme, window_color in (("dark", "#263238"), ("light", None)):
            dialog = SettingsDialog(admin_ctx.settings)
            qtbot.addWidget(dialog)
            dialog.theme.setCurrentText(theme)
            dialog._save()
            palette = app.palette()
            shown = palette.color(QPalette.ColorRole.Window).name()
            if window_color:
                assert shown == window_color
                hint = palette.color(QPalette.ColorRole.PlaceholderText)
                base = palette.color(QPalette.ColorRole.Base)
                assert abs(hint.lightness() - base.lightness()) > 90  # readable on its base
            else:
                standard = app.style().standardPalette()
                assert shown == standard.color(QPalette.ColorRole.Window).name()
    finally:
        from app.ui.widgets.theme import apply_theme

        apply_theme(app, "light")


def test_every_page_fits_1024_by_700_without_overlaps(qtbot, admin_ctx):
    """The smallest screen a lab laptop gives: no page asks for more, and the run view's
    top bar (chooser, title, progress) never draws one widget over another."""
    import itertools

    from app.services.runs.demo import DemoOptions, run_demo
    from app.ui.main_window import MainWindow
    from app.ui.run_views.detail_page import RunDetailPage

    summary = run_demo(admin_ctx.settings, DemoOptions(edges=2, rounds=1, backend="local"))
    from app.storage.models import Job

    with admin_ctx.services.db.session() as s:  # a name as long as a lab's can be
        s.get(Job, summary["job_id"]).name = "nightly-digits-" * 4
    window = MainWindow(admin_ctx)
    qtbot.addWidget(window)
    window.resize(1024, 700)
    window.show()
    window.open_run(summary["job_id"])
    detail = window.pages[RunDetailPage]
    qtbot.waitUntil(lambda: detail.view is not None, timeout=10000)
    detail.models.message.setText("Saved " + "/very/long/path" * 20 + " (checksum verified)")
    for page in window.pages.values():
        window.stack.setCurrentWidget(page)
        for tab in range(detail.tabs.count()) if page is detail else [None]:
            if tab is not None:
                detail.tabs.setCurrentIndex(tab)
            hint = window.minimumSizeHint()
            assert hint.width() <= 1024 and hint.height() <= 700, (type(page).__name__, tab, hint)
    assert window.width() == 1024
    window.stack.setCurrentWidget(detail)
    top = [detail.run_choice, detail.heading, detail.progress]
    for a, b in itertools.pairwise(top):
        assert not a.geometry().intersects(b.geometry()), (a, b)
    assert detail.heading.width() > 100  # room left for the title


def test_an_uncaught_exception_is_logged_and_shown(qtbot, tmp_path, caplog):
    """The window's excepthook: the traceback in the log (and its file), the person told."""
    import logging
    import sys

    from app.ui import crash_report

    try:
        raise IsADirectoryError(21, "Is a directory", "/usr/share/zoneinfo/Europe")
    except IsADirectoryError:
        kind, value, tb = sys.exc_info()
    with caplog.at_level(logging.ERROR, logger="app.ui"):
        box = crash_report.report(kind, value, tb, tmp_path / "window.log")
    assert box is not None and box.isVisible()
    assert "IsADirectoryError" in box.text() and str(tmp_path / "window.log") in box.text()
    box.close()
    record = next(r for r in caplog.records if r.name == "app.ui")
    assert record.exc_info[0] is IsADirectoryError  # the traceback goes to the log
