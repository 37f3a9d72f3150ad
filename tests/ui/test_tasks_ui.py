"""Tasks in the window: the Tasks page lists them with which edges hold their data, the
launch dialog marks edges that lack it, and a refused run shows why."""

from PySide6.QtCore import Qt

from app.core.fl_config import config_from_toml
from app.ui.dialogs.launch import LaunchDialog
from app.ui.main_window import MainWindow
from app.ui.pages.tasks import TasksPage
from app.ui.run_views.detail_page import RunDetailPage
from tests.tasks.test_task_checks import make_task


def test_tasks_page_launch_dialog_and_a_refusal_in_the_run_view(qtbot, admin_ctx, tmp_path):
    services, actor = admin_ctx.services, admin_ctx.actor
    folder = make_task(tmp_path / "tiny")
    (folder / "task.toml").write_text((folder / "task.toml").read_text() + 'data_key = "scans"\n')
    services.tasks.add(actor, folder)
    (folder / "task.py").write_text((folder / "task.py").read_text() + "\n# v2\n")
    services.tasks.add(actor, folder)
    services.groups.add(actor, "lab")
    services.projects.create(actor, "p", "lab")
    services.configs.save(actor, config_from_toml('name = "c"\n[task]\nname = "tiny"\n'))
    edges = admin_ctx.center.start_demo_edges(actor, 2)  # no data, no trust
    qtbot.waitUntil(
        lambda: all(e.status == "IDLE" for e in services.edges.list(actor)), timeout=10000
    )

    win = MainWindow(admin_ctx)
    qtbot.addWidget(win)
    win.show()
    page = win.pages[TasksPage]
    win.nav.setCurrentRow(win.stack.indexOf(page))
    qtbot.waitUntil(lambda: any(r.task.name == "tiny" for r in page.model.rows), timeout=5000)
    row = next(r for r in page.model.rows if r.task.name == "tiny")
    assert row.data == "scans: 0 of 2 edges" and row.task.version in (1, 2)
    assert services.tasks.center_fingerprint() in page.fingerprint.text()

    dialog = LaunchDialog(admin_ctx, None, win)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.buttons.isEnabled(), timeout=5000)
    assert "reads data 'scans': 0 of the edges have it" in dialog.task.text()
    texts = [dialog.edges.item(i).text() for i in range(dialog.edges.count())]
    assert all("no 'scans' data" in t for t in texts), texts
    versions = [dialog.task_version.itemData(i) for i in range(dialog.task_version.count())]
    assert versions == [2, 1] and dialog.task_version.currentData() == 2  # the latest first
    dialog.task_version.setCurrentIndex(1)  # this run: the older code
    with qtbot.waitSignal(dialog.launched, timeout=10000) as launched:
        qtbot.mouseClick(dialog.buttons.buttons()[0], Qt.MouseButton.LeftButton)
    job_id = launched.args[0]
    qtbot.waitUntil(lambda: services.jobs.get(actor, job_id).status == "FAILED", timeout=60000)
    detail = win.pages[RunDetailPage]
    win.open_run(job_id)
    detail.tabs.setCurrentWidget(detail.overview)
    qtbot.waitUntil(
        lambda: "--trust-center" in detail.overview.labels["Reason"].text(), timeout=10000
    )
    assert detail.overview.labels["Task"].text().startswith("tiny v1")
    assert services.jobs.get(actor, job_id).task_version == 1
    assert edges[0] in detail.overview.labels["Reason"].text()
