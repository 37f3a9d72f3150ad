"""The window driven like a person: pages, dialogs, a live run, role gating."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from app.services.runs.demo import DemoOptions, demo_config
from app.ui.dialogs.config import ConfigDialog
from app.ui.dialogs.edge import RegisterEdgeDialog
from app.ui.dialogs.launch import LaunchDialog
from app.ui.dialogs.simple import FormDialog, line
from app.ui.main_window import PAGES, MainWindow
from app.ui.pages.jobs import JobsPage
from app.ui.pages.table_page import TablePage, select_row
from app.ui.run_views.curves import SAME_SAMPLES
from app.ui.run_views.detail_page import RunDetailPage
from app.ui.widgets.record_model import RecordTableModel


@pytest.fixture
def window(qtbot, admin_ctx):
    win = MainWindow(admin_ctx)
    qtbot.addWidget(win)
    win.show()
    return win


def test_every_page_opens_and_loads(qtbot, window):
    for row, page_type in enumerate(PAGES[:10]):
        key = Qt.Key(Qt.Key.Key_0 + (row + 1) % 10)  # Ctrl+1 … Ctrl+9, Ctrl+0
        qtbot.keyClick(window, key, Qt.KeyboardModifier.ControlModifier)
        page = window.pages[page_type]
        qtbot.waitUntil(page.isVisible, timeout=3000)
        if isinstance(page, TablePage):
            qtbot.waitUntil(lambda p=page: not p._loading, timeout=5000)
            assert page.status.text() == "", page.status.text()
    for page_type in PAGES[10:]:  # past Ctrl+0: Ctrl+PgDown steps on
        qtbot.keyClick(window, Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(window.pages[page_type].isVisible, timeout=3000)
    assert "connected" in window.hub_label.text()


def test_register_an_edge_shows_its_token_once(qtbot, admin_ctx):
    dialog = RegisterEdgeDialog(admin_ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.name, "pi-1")
    qtbot.keyClicks(dialog.tags, "arm, lab")
    with qtbot.waitSignal(dialog.registered, timeout=5000) as blocker:
        qtbot.mouseClick(
            dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton
        )
    token = dialog.token.text()
    assert token == blocker.args[0].token and token.startswith(blocker.args[0].edge.device_id)
    assert admin_ctx.services.edges.authenticate(token).tags == ["arm", "lab"]
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    # a second edge of the same name: the error appears beside the name field
    again = RegisterEdgeDialog(admin_ctx)
    qtbot.addWidget(again)
    again.show()
    qtbot.keyClicks(again.name, "pi-1")
    qtbot.mouseClick(
        again.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(lambda: "exists already" in again.name_error.text(), timeout=5000)


def test_form_dialog_puts_the_error_by_its_field(qtbot, admin_ctx):
    services, actor = admin_ctx.services, admin_ctx.actor
    services.projects.create(actor, "taken")
    dialog = FormDialog(
        "New project",
        {"name": line(), "description": line()},
        lambda v: services.projects.create(actor, v["name"]),
    )
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.fields["name"], "taken")
    qtbot.mouseClick(
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(lambda: dialog.errors["name"].isVisible(), timeout=5000)
    assert "exists already" in dialog.errors["name"].text()


def test_config_dialog_validates_next_to_the_field(qtbot, admin_ctx):
    dialog = ConfigDialog(admin_ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.widgets["name"].setText("bad-lr")
    dialog.widgets["training.lr"].setValue(-0.5)
    dialog._save()
    qtbot.waitUntil(lambda: dialog.errors["training.lr"].isVisible(), timeout=5000)
    assert "greater than 0" in dialog.errors["training.lr"].text()
    assert admin_ctx.services.configs.list(admin_ctx.actor) == []
    dialog.widgets["training.lr"].setValue(0.1)
    with qtbot.waitSignal(dialog.saved, timeout=5000) as blocker:
        dialog._save()
    assert blocker.args[0].body["training"]["lr"] == pytest.approx(0.1)


def test_a_launched_run_fills_curves_and_logs_live(qtbot, window, admin_ctx):
    services, actor = admin_ctx.services, admin_ctx.actor
    services.groups.add(actor, "lab")
    services.projects.create(actor, "digits", "lab")
    services.configs.save(actor, demo_config(DemoOptions(edges=2, rounds=3)))
    admin_ctx.center.start_demo_edges(actor, 2)
    qtbot.waitUntil(
        lambda: all(e.status == "IDLE" for e in services.edges.list(actor)), timeout=10000
    )
    dialog = LaunchDialog(admin_ctx, parent=window.pages[JobsPage])
    dialog.launched.connect(window.pages[JobsPage]._launched)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.buttons.isEnabled(), timeout=5000)
    assert dialog.checked_edges() == ["demo-edge-1", "demo-edge-2"]
    with qtbot.waitSignal(dialog.launched, timeout=10000):
        qtbot.mouseClick(
            dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton
        )
    detail = window.pages[RunDetailPage]
    qtbot.waitUntil(detail.isVisible, timeout=3000)
    qtbot.waitUntil(
        lambda: detail.view is not None and detail.view.job.status == "FINISHED", timeout=60000
    )

    def plotted_rounds(metric="test_accuracy"):
        curve = detail.curves._curves.get(metric)
        return [] if curve is None or curve.xData is None else list(curve.xData)

    # The demo's edges validate on the server's test samples: their figures are the
    # server's, drawn once, the legend saying so (not two lines, one hiding the other).
    qtbot.waitUntil(lambda: plotted_rounds() == [1, 2, 3], timeout=10000)
    qtbot.waitUntil(
        lambda: len(detail.view.metrics.get(("aggregate", "fed_val_accuracy"), {})) == 3,
        timeout=10000,
    )
    detail._drawn = -1
    detail._redraw()
    federated = detail.view.metrics[("aggregate", "fed_val_accuracy")]
    tested = detail.view.metrics[("aggregate", "test_accuracy")]
    if federated == tested:
        assert "fed_val_accuracy" not in detail.curves._curves
        assert detail.curves._curves["test_accuracy"].name() == SAME_SAMPLES
    else:
        assert plotted_rounds("fed_val_accuracy") == [1, 2, 3]
    chosen = detail.run_choice.itemText(detail.run_choice.findData(detail.view.job.id))
    assert chosen.endswith("[FINISHED]")  # the chooser followed the run's status
    rounds, accuracy = detail.curves._curves["test_accuracy"].getData()
    assert list(rounds) == [1, 2, 3] and 0 < accuracy[-1] <= 1
    detail.tabs.setCurrentWidget(detail.logs)
    qtbot.waitUntil(lambda: detail.logs.proxy.rowCount() > 5, timeout=5000)
    assert {"server", "demo-edge-1"} <= {r.node for r in detail.logs.model.rows}
    detail.logs.node.setCurrentText("server")
    assert all(
        detail.logs.model.record(
            detail.logs.proxy.mapToSource(detail.logs.proxy.index(r, 0)).row()
        ).node
        == "server"
        for r in range(detail.logs.proxy.rowCount())
    )
    detail.tabs.setCurrentWidget(detail.models)
    tree = detail.models.tree
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 3, timeout=5000)  # one per round
    newest = tree.topLevelItem(2)  # oldest first: a new round never moves the rows above
    assert newest.text(0) == "Round 3 · aggregate" and newest.childCount() == 2
    assert newest.text(1).endswith(" KB") and 0 < float(newest.text(2)) <= 1  # test accuracy
    client = newest.child(0)
    assert client.text(0) == "demo-edge-1" and 0 < float(client.text(2)) <= 1  # its training
    assert int(client.text(4)) > 0  # samples
    tree.setCurrentItem(client)
    assert detail.models.selected_id() == next(
        a.id for a in detail.view.artifacts if a.round == 3 and a.node == "demo-edge-1"
    )


def test_a_viewer_sees_forbidden_actions_disabled_with_the_reason(qtbot, viewer_ctx):
    win = MainWindow(viewer_ctx)
    qtbot.addWidget(win)
    jobs = win.pages[JobsPage]
    launch = next(a for a in jobs.toolbar.actions() if a.text() == "Launch…")
    assert not launch.isEnabled() and "needs the operator role" in launch.toolTip()
    refresh = next(a for a in jobs.toolbar.actions() if a.text() == "Refresh")
    assert refresh.isEnabled()


def test_record_model_is_a_valid_qt_model(qtmodeltester):
    from types import SimpleNamespace

    model = RecordTableModel([("Name", lambda r: r.name), ("Value", lambda r: r.value)])
    model.set_rows([SimpleNamespace(name=f"n{i}", value=i * 0.5) for i in range(5)])
    qtmodeltester.check(model)


def test_one_click_demo_shows_a_live_run(qtbot, window, admin_ctx):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    qtbot.keyClick(
        window.nav,
        Qt.Key.Key_R,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    detail = window.pages[RunDetailPage]
    qtbot.waitUntil(lambda: detail.isVisible() and detail.view is not None, timeout=60000)
    qtbot.waitUntil(lambda: detail.view.job.status == "FINISHED", timeout=90000)
    job = admin_ctx.services.jobs.get(admin_ctx.actor, detail.view.job.id)
    assert job.project == "demo" and len(job.edges) == 4 and job.current_round == 20


def test_remove_and_change_role_through_the_pages(qtbot, window, admin_ctx, monkeypatch):
    from app.ui.pages.people import ProjectsPage, UsersPage

    services, actor = admin_ctx.services, admin_ctx.actor
    services.projects.create(actor, "old")
    services.users.add(actor, "olga", "olgapass123", "operator")
    monkeypatch.setattr(TablePage, "confirm", lambda self, title, text: True)

    projects = window.pages[ProjectsPage]
    window.nav.setCurrentRow(PAGES.index(ProjectsPage))
    qtbot.waitUntil(lambda: projects.model.rowCount() == 1, timeout=5000)
    select_row(projects.table, 0)
    projects.remove()
    qtbot.waitUntil(lambda: projects.model.rowCount() == 0, timeout=5000)
    assert services.projects.list(actor) == []

    users = window.pages[UsersPage]
    window.nav.setCurrentRow(PAGES.index(UsersPage))
    qtbot.waitUntil(lambda: users.model.rowCount() == 2, timeout=5000)
    row = next(i for i in range(users.proxy.rowCount()) if users.proxy.index(i, 1).data() == "olga")
    select_row(users.table, row)
    users.remove()
    qtbot.waitUntil(lambda: users.model.rowCount() == 1, timeout=5000)
    assert [u.name for u in services.users.list(actor)] == ["admin"]
    # removing yourself is refused, and the reason shows
    select_row(users.table, 0)
    users.remove()
    qtbot.waitUntil(lambda: "cannot remove yourself" in users.status.text(), timeout=5000)


def test_a_finished_run_is_deleted_from_the_jobs_page_after_asking(
    qtbot, window, admin_ctx, monkeypatch
):
    from app.core.run.directory import RunDir
    from app.services.runs.demo import create_demo_job

    services, actor, settings = admin_ctx.services, admin_ctx.actor, admin_ctx.settings
    for name in ("demo-edge-1", "demo-edge-2"):
        services.edges.register(actor, name)
    options = DemoOptions(edges=2, rounds=2)
    done = create_demo_job(services, ["demo-edge-1", "demo-edge-2"], options)
    going = create_demo_job(services, ["demo-edge-1", "demo-edge-2"], options)
    for job_id in (done, going):
        services.jobs.transition(actor, job_id, "STARTING")
    services.jobs.transition(actor, done, "RUNNING")
    services.jobs.settle(actor, done, "FINISHED", "", 2)
    folder = RunDir(settings.artifacts_dir, done).path
    (folder / "round-0001").mkdir(parents=True)
    (folder / "server.log").write_text("the run's log\n")
    asked = []
    monkeypatch.setattr(TablePage, "confirm", lambda self, title, text: asked.append(text) or True)

    jobs = window.pages[JobsPage]
    window.nav.setCurrentRow(PAGES.index(JobsPage))
    qtbot.waitUntil(lambda: jobs.model.rowCount() == 2, timeout=5000)
    assert jobs.disk_total.text() == "Models on disk: 0 B"
    row = next(
        i for i in range(jobs.proxy.rowCount()) if jobs.proxy.index(i, 0).data() == str(going)
    )
    select_row(jobs.table, row)
    jobs.table.setFocus()
    qtbot.keyClick(jobs.table, Qt.Key.Key_Delete)  # a run still going is not offered
    assert asked == [] and "Select a finished" in jobs.status.text()
    row = next(
        i for i in range(jobs.proxy.rowCount()) if jobs.proxy.index(i, 0).data() == str(done)
    )
    select_row(jobs.table, row)
    qtbot.keyClick(jobs.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: jobs.model.rowCount() == 1, timeout=5000)
    assert len(asked) == 1 and f"#{done} demo" in asked[0] and "removed for good" in asked[0]
    assert not folder.exists()
    assert [j.id for j in services.jobs.list(actor)] == [going]


def test_tables_open_sorted_as_their_header_says(qtbot, admin_ctx):
    """The arrow in the header and the rows agree from the start: A→Z (Jobs: newest first)."""
    from app.ui.pages.configs import ConfigsPage
    from app.ui.pages.edges import EdgesPage
    from app.ui.pages.table_page import TablePage

    services, actor = admin_ctx.services, admin_ctx.actor
    for name in ("bravo", "alpha", "charlie"):
        services.edges.register(actor, name)
    services.groups.add(actor, "lab")
    services.projects.create(actor, "p", "lab")
    services.configs.save(actor, demo_config(DemoOptions(edges=1, rounds=1)))
    for name in ("first", "second", "third"):
        services.jobs.create(actor, name, "p", "demo-digits-fedavg", ["alpha"])
    for page_type, expected in (
        (EdgesPage, ["alpha", "bravo", "charlie"]),
        (JobsPage, ["3", "2", "1"]),
        (ConfigsPage, ["demo-digits-fedavg"]),
    ):
        page: TablePage = page_type(admin_ctx)
        qtbot.addWidget(page)
        page.show()
        qtbot.waitUntil(lambda p=page, n=len(expected): p.proxy.rowCount() == n, timeout=5000)
        header = page.table.horizontalHeader()
        column, order = page_type.default_sort
        assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (column, order)
        shown = [page.proxy.index(r, column).data() for r in range(page.proxy.rowCount())]
        assert [str(v) for v in shown] == expected, page_type.__name__


def test_a_form_grows_to_show_its_whole_message(qtbot, admin_ctx):
    """The New project dialog: an empty name is refused in words, every line of them shown."""
    from app.ui.pages.people import ProjectsPage

    page = ProjectsPage(admin_ctx)
    qtbot.addWidget(page)
    page._create_with([])
    dialog = next(w for w in page.findChildren(FormDialog) if w.windowTitle() == "New project")
    qtbot.waitExposed(dialog)
    before = dialog.height()
    dialog._ok()
    qtbot.waitUntil(lambda: dialog.errors["name"].isVisible(), timeout=5000)
    label = dialog.errors["name"]
    assert label.text().startswith("a project needs a name: 1-64 letters")
    assert "String should" not in label.text()
    assert label.height() >= label.heightForWidth(label.width())  # no line cut off
    assert dialog.height() > before
    dialog.reject()


def test_a_centralized_baseline_from_the_jobs_page_trains_live_and_is_a_run(
    qtbot, window, admin_ctx
):
    """Ctrl+B on a job: a new run `<name> (centralized)` opens and fills as it trains."""
    services, actor = admin_ctx.services, admin_ctx.actor
    services.projects.create(actor, "p")
    services.configs.save(actor, demo_config(DemoOptions(edges=2, rounds=3)))
    for name in ("e1", "e2"):
        services.edges.register(actor, name)
    fed = services.jobs.create(actor, "fed", "p", "demo-digits-fedavg", ["e1", "e2"])
    jobs = window.pages[JobsPage]
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.keyClick(window.nav, Qt.Key.Key_2, ctrl)  # Jobs: the keys go to its table
    qtbot.waitUntil(lambda: jobs.table.hasFocus() and len(jobs.selected()) == 1, timeout=5000)
    qtbot.keyClick(jobs.table, Qt.Key.Key_B, ctrl)
    detail = window.pages[RunDetailPage]
    qtbot.waitUntil(
        lambda: detail.view is not None and detail.view.job.name == "fed (centralized)",
        timeout=10000,
    )
    qtbot.waitUntil(lambda: detail.view.job.status == "FINISHED", timeout=60000)
    accuracy = detail.view.metrics[("aggregate", "test_accuracy")]
    assert sorted(accuracy) == [1, 2, 3] and accuracy[3] > 0.85
    baseline = services.jobs.get(actor, detail.view.job.id)
    assert baseline.id != fed.id and "centralized" in baseline.tags
    assert baseline.status_reason.startswith("centralized: 6 epochs on the pooled digits")
