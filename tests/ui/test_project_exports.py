"""Projects ▸ Exports…: where each run of a project goes as it ends, set from the window;
a bad value is refused in the form with the reason and nothing is changed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from app.ui.dialogs.simple import FormDialog
from app.ui.pages.people import ProjectsPage
from app.ui.pages.table_page import select_row


def _ok(dialog: FormDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_a_projects_exports_set_from_the_window(qtbot, admin_ctx, tmp_path):
    services, actor = admin_ctx.services, admin_ctx.actor
    services.projects.create(actor, "digits")
    page = ProjectsPage(admin_ctx)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=5000)
    assert page.proxy.index(0, 3).data() == "nowhere"
    select_row(page.table, 0)
    page.exports()
    dialog = page.findChildren(FormDialog)[-1]
    dialog.fields["MLflow tracking URI"].setText("ftp://nope")
    qtbot.mouseClick(_ok(dialog), Qt.MouseButton.LeftButton)
    error = dialog.errors["MLflow tracking URI"]
    qtbot.waitUntil(lambda: "scheme must be one of" in error.text(), timeout=5000)
    assert services.projects.get(actor, "digits").export_mlflow == ""

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    dialog.fields["MLflow tracking URI"].setText(store)
    dialog.fields["TensorBoard folder"].setText(str(tmp_path / "tb"))
    with qtbot.waitSignal(dialog.done, timeout=5000):
        qtbot.mouseClick(_ok(dialog), Qt.MouseButton.LeftButton)
    project = services.projects.get(actor, "digits")
    assert project.export_mlflow == store and project.export_tensorboard == str(tmp_path / "tb")
    qtbot.waitUntil(lambda: page.proxy.index(0, 3).data().startswith("MLflow sqlite"), timeout=5000)
