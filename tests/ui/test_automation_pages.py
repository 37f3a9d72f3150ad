"""Schedules and flows through the window: live fire-time preview, errors by the field,
enable switch, a flow written in the editor and run for real, its steps opening jobs."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from app.services.runs.demo import DemoOptions, demo_config
from app.ui.dialogs.flow_editor import FlowEditor
from app.ui.dialogs.schedule import ScheduleDialog
from app.ui.main_window import MainWindow
from app.ui.pages.flows import FlowsPage
from app.ui.pages.schedules import SchedulesPage
from app.ui.pages.table_page import select_row
from app.ui.run_views.detail_page import RunDetailPage

FLOW = """name = "chain"
[[steps]]
name = "train"
job = { project = "digits", config = "demo-digits-fedavg", edge_tag = "demo" }
[[steps]]
name = "tune"
depends_on = ["train"]
job = { project = "digits", config = "demo-digits-fedavg", edge_tag = "demo", init_from = "train" }
"""


def _lab(ctx, rounds=2):
    services, actor = ctx.services, ctx.actor
    services.groups.add(actor, "lab")
    services.projects.create(actor, "digits", "lab")
    services.configs.save(actor, demo_config(DemoOptions(edges=2, rounds=rounds)))


def test_schedule_dialog_previews_fires_and_saves(qtbot, admin_ctx):
    _lab(admin_ctx)
    admin_ctx.services.edges.register(admin_ctx.actor, "pi-1", tags=["demo"])
    dialog = ScheduleDialog(admin_ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(dialog.buttons.isEnabled, timeout=5000)
    assert dialog.upcoming.count() == 5  # the default 0 3 * * *
    dialog.expr.clear()
    qtbot.keyClicks(dialog.expr, "0 3 * *")
    assert "five fields" in dialog.trigger_error.text() and dialog.upcoming.count() == 0
    dialog.kind.setCurrentText("interval")
    dialog.expr.setText("90m")
    assert dialog.trigger_error.text() == "" and dialog.upcoming.count() == 5
    first, second = (dialog.upcoming.item(i).text() for i in (0, 1))
    assert first != second
    qtbot.keyClicks(dialog.name, "tidy")
    assert dialog.edges.currentText() == "demo"  # the known tag is offered
    with qtbot.waitSignal(dialog.saved, timeout=5000) as saved:
        qtbot.mouseClick(
            dialog.buttons.button(QDialogButtonBox.StandardButton.Save), Qt.MouseButton.LeftButton
        )
    record = saved.args[0]
    assert record.trigger == "every 90m (UTC)" and record.template["edge_tag"] == "demo"


def test_schedules_page_toggles_and_shows_errors_beside_the_target(qtbot, admin_ctx):
    _lab(admin_ctx)
    services, actor = admin_ctx.services, admin_ctx.actor
    template = {"project": "digits", "config": "demo-digits-fedavg", "edge_tag": "demo"}
    services.schedules.create(actor, "nightly", template, "cron", "0 3 * * *")
    win = MainWindow(admin_ctx)
    qtbot.addWidget(win)
    win.show()
    win.nav.setCurrentRow(win.stack.indexOf(win.pages[SchedulesPage]))
    page = win.pages[SchedulesPage]
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=5000)
    select_row(page.table, 0)
    win.activateWindow()  # the editor had the focus; shortcuts go to the active window
    qtbot.waitUntil(win.isActiveWindow, timeout=3000)
    qtbot.keyClick(page.table, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not services.schedules.get(actor, "nightly").enabled, timeout=5000)
    qtbot.waitUntil(lambda: page.model.record(0).enabled is False, timeout=5000)
    dialog = ScheduleDialog(admin_ctx, services.schedules.get(actor, "nightly"), page)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(dialog.buttons.isEnabled, timeout=5000)
    dialog.edge_mode.setCurrentIndex(1)
    dialog.edges.setCurrentText("no-such-edge")
    qtbot.mouseClick(
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save), Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(lambda: "no edge" in dialog.target_error.text(), timeout=5000)
    dialog.close()


def test_flow_editor_draws_and_refuses_a_cycle(qtbot, admin_ctx):
    editor = FlowEditor(admin_ctx, FLOW)
    qtbot.addWidget(editor)
    editor.show()
    assert [s["step"] for s in editor.graph.steps] == ["train", "tune"]
    editor.text.setPlainText(
        FLOW.replace('name = "train"\n', 'name = "train"\ndepends_on = ["tune"]\n')
    )
    assert "cycle" in editor.error.text()
    editor.close()


def test_a_flow_written_in_the_window_runs_and_links_to_its_jobs(qtbot, admin_ctx):
    _lab(admin_ctx)
    services, actor = admin_ctx.services, admin_ctx.actor
    admin_ctx.center.start_demo_edges(actor, 2)
    qtbot.waitUntil(
        lambda: all(e.status == "IDLE" for e in services.edges.list(actor)), timeout=10000
    )
    win = MainWindow(admin_ctx)
    qtbot.addWidget(win)
    win.show()
    page = win.pages[FlowsPage]
    win.nav.setCurrentRow(win.stack.indexOf(page))
    editor = FlowEditor(admin_ctx, FLOW, None, page)
    editor.saved.connect(lambda _r: page.refresh())
    qtbot.addWidget(editor)
    editor.show()
    with qtbot.waitSignal(editor.saved, timeout=5000):
        qtbot.mouseClick(
            editor.buttons.button(QDialogButtonBox.StandardButton.Save), Qt.MouseButton.LeftButton
        )
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=5000)
    select_row(page.table, 0)
    win.activateWindow()  # the editor had the focus; shortcuts go to the active window
    qtbot.waitUntil(win.isActiveWindow, timeout=3000)
    qtbot.keyClick(page.table, Qt.Key.Key_F9)

    qtbot.waitUntil(lambda: bool(services.flows.runs(actor, "chain")), timeout=10000)  # F9 did it

    def run_status():
        return page.runs.rows[0].status if page.runs.rows else None

    def stored():
        run = services.flows.runs(actor, "chain")[0]
        return run.status, [(s["step"], s["status"], s["job_status"]) for s in run.steps]

    try:
        qtbot.waitUntil(lambda: run_status() == "FINISHED", timeout=90000)
    except Exception as exc:  # say whether the run or the page fell behind
        raise AssertionError(f"page shows {run_status()}; stored: {stored()}") from exc
    qtbot.waitUntil(
        lambda: [s.get("status") for s in page.graph.steps] == ["SUCCEEDED"] * 2, timeout=10000
    )
    tune_job = page.graph.steps[1]["job_id"]
    assert services.jobs.get(actor, tune_job).init_model["job_id"] == page.graph.steps[0]["job_id"]
    page.graph.setFocus()
    qtbot.keyClick(page.graph, Qt.Key.Key_Right)
    with qtbot.waitSignal(page.open_run, timeout=2000) as opened:
        qtbot.keyClick(page.graph, Qt.Key.Key_Return)
    assert opened.args == [tune_job]
    qtbot.waitUntil(lambda: win.pages[RunDetailPage].isVisible(), timeout=3000)
