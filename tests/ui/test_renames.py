"""Renaming edges, projects and groups and editing an edge's tags from the window."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from app.errors import Conflict
from app.ui.dialogs.simple import FormDialog
from app.ui.pages.edges import EdgesPage
from app.ui.pages.people import ProjectsPage, UsersPage
from app.ui.pages.table_page import select_row


def _submit(qtbot, dialog):
    with qtbot.waitSignal(dialog.done, timeout=5000):
        qtbot.mouseClick(
            dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton
        )


def _page(qtbot, ctx, page_type):
    page = page_type(ctx)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.model.rowCount() > 0, timeout=5000)
    return page


def test_edit_an_edge_rename_a_project_and_a_group(qtbot, admin_ctx):
    services, actor = admin_ctx.services, admin_ctx.actor
    services.edges.register(actor, "pi-1", tags=["arm"])
    services.groups.add(actor, "lab")
    services.projects.create(actor, "digits", "lab")

    edges = _page(qtbot, admin_ctx, EdgesPage)
    select_row(edges.table, 0)
    edges.edit()
    dialog = _form(edges)
    assert dialog.fields["tags"].text() == "arm"
    dialog.fields["name"].setText("pi-kitchen")
    dialog.fields["tags"].setText("arm, lab")
    _submit(qtbot, dialog)
    edge = services.edges.get(actor, "pi-kitchen")
    assert edge.tags == ["arm", "lab"]

    projects = _page(qtbot, admin_ctx, ProjectsPage)
    select_row(projects.table, 0)
    projects.rename()
    dialog = _form(projects)
    dialog.fields["name"].setText("handwriting")
    _submit(qtbot, dialog)
    assert [p.name for p in services.projects.list(actor)] == ["handwriting"]

    users = _page(qtbot, admin_ctx, UsersPage)
    row = next(i for i in range(users.model.rowCount()) if users.model.record(i)[0] == "group")
    select_row(users.table, users.proxy.mapFromSource(users.model.index(row, 0)).row())
    users.rename_group()
    dialog = _form(users)
    dialog.fields["name"].setText("ml-lab")
    _submit(qtbot, dialog)
    assert [g.name for g in services.groups.list(actor)] == ["ml-lab"]
    assert services.projects.list(actor)[0].group == "ml-lab"


def _form(page) -> FormDialog:
    """The form the page's action just opened."""
    return page.findChildren(FormDialog)[-1]


def test_a_project_with_a_run_going_keeps_its_name(admin_ctx):
    from app.services.runs.demo import DemoOptions, demo_config

    services, actor = admin_ctx.services, admin_ctx.actor
    services.groups.add(actor, "lab")
    services.projects.create(actor, "digits", "lab")
    services.edges.register(actor, "pi-1")
    services.configs.save(actor, demo_config(DemoOptions(edges=1, rounds=1)))
    services.jobs.create(actor, "r", "digits", "demo-digits-fedavg", ["pi-1"])
    with pytest.raises(Conflict, match="runs going"):
        services.projects.rename(actor, "digits", "other")


def test_a_projects_retention_is_set_from_the_window(qtbot, admin_ctx):
    services, actor = admin_ctx.services, admin_ctx.actor
    services.projects.create(actor, "digits")
    projects = _page(qtbot, admin_ctx, ProjectsPage)
    column = [h for h, _ in ProjectsPage.columns].index("Client updates kept")
    assert projects.proxy.index(0, column).data() == "last 10 rounds"
    select_row(projects.table, 0)
    projects.table.setFocus()
    qtbot.keyClick(projects.table, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    dialog = _form(projects)
    field = dialog.fields["keep client updates"]
    assert field.currentText() == "10"
    field.setCurrentText("twelve")  # refused, the reason under the field, nothing stored
    qtbot.mouseClick(
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton
    )
    error = dialog.errors["keep client updates"]
    qtbot.waitUntil(lambda: error.isVisible(), timeout=5000)
    assert "give all, none, or a number of rounds" in error.text()
    assert services.projects.get(actor, "digits").keep_client_rounds == 10
    field.setCurrentText("none")
    _submit(qtbot, dialog)
    assert services.projects.get(actor, "digits").keep_client_rounds == 0
    qtbot.waitUntil(lambda: projects.proxy.index(0, column).data() == "none", timeout=5000)
