"""The worker API's thread rules: results reach a live receiver on the GUI thread, and are
dropped once the receiver is gone or the call was cancelled."""

import threading

import shiboken6
from PySide6.QtCore import QEvent, QThread
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from app.ui.pages.table_page import TablePage
from app.ui.workers import _live, run_in_background, wait_for_workers


def _settle() -> None:
    assert wait_for_workers(10_000)
    for _ in range(5):
        QApplication.processEvents()


def test_a_result_reaches_a_live_receiver_on_the_gui_thread(qapp):
    page = QWidget()
    got = []
    run_in_background(
        page,
        lambda x: (x * 2, QThread.currentThread() is not qapp.thread()),
        21,
        on_result=lambda r: got.append((r, QThread.currentThread() is qapp.thread())),
    )
    _settle()
    assert got == [((42, True), True)]  # computed off the GUI thread, delivered on it
    page.deleteLater()


def test_a_result_arriving_after_its_page_closed_is_dropped(qapp):
    page = QWidget()
    label = QLabel(page)
    release, started = threading.Event(), threading.Event()
    delivered, errors = [], []

    def slow_query():
        started.set()
        release.wait(10)
        return "rows"

    # A lambda that touches a child widget: delivered late, it would raise on a deleted object.
    run_in_background(
        page,
        slow_query,
        on_result=lambda rows: (delivered.append(rows), label.setText(rows)),
        on_error=errors.append,
    )
    assert started.wait(10)
    page.close()
    page.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not shiboken6.isValid(page)
    release.set()
    _settle()
    assert delivered == [] and errors == []
    assert not _live, "a finished worker is still held"


def test_an_error_after_the_page_closed_is_dropped_too(qapp):
    page = QWidget()
    release = threading.Event()
    errors = []

    def failing():
        release.wait(10)
        raise RuntimeError("database gone")

    run_in_background(page, failing, on_error=errors.append)
    page.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    release.set()
    _settle()
    assert errors == []


def test_a_cancelled_call_delivers_nothing(qapp):
    page = QWidget()
    release = threading.Event()
    got = []
    worker = run_in_background(page, lambda: release.wait(10) and "late", on_result=got.append)
    worker.cancel()
    release.set()
    _settle()
    assert got == [] and worker.cancelled
    # and a call made after it, on the same page, still arrives
    run_in_background(page, lambda: "fresh", on_result=got.append)
    _settle()
    assert got == ["fresh"]
    page.deleteLater()


def test_a_list_page_builds_its_query_on_the_gui_thread(admin_ctx, qtbot):
    """The page's filters are read where the widgets live; only the query runs elsewhere."""
    threads = []

    class Probe(TablePage):
        columns = [("Name", lambda r: r)]

        def query(self):
            threads.append(("query", QThread.currentThread() is qapp_thread))
            return lambda: threads.append(("load", QThread.currentThread() is qapp_thread)) or ["a"]

    qapp_thread = QApplication.instance().thread()
    page = Probe(admin_ctx)
    qtbot.addWidget(page)
    page.refresh()
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=5000)
    assert threads == [("query", True), ("load", False)]
