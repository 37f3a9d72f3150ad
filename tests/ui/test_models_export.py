"""The Models tab exports the selected aggregated model as ONNX, off the GUI thread, and
says where it went; a client's update is refused with the reason."""

from __future__ import annotations

import onnx
from PySide6.QtCore import Qt

from app.services.runs.demo import DemoOptions, run_demo
from app.ui.main_window import MainWindow
from app.ui.run_views.detail_page import RunDetailPage
from app.ui.run_views.models import ARTIFACT


def test_the_selected_aggregate_exported_as_onnx(qtbot, admin_ctx, tmp_path, monkeypatch):
    summary = run_demo(admin_ctx.settings, DemoOptions(edges=2, rounds=2, backend="local"))
    assert summary["status"] == "FINISHED"
    window = MainWindow(admin_ctx)
    qtbot.addWidget(window)
    window.open_run(summary["job_id"])
    detail = window.pages[RunDetailPage]
    qtbot.waitUntil(lambda: detail.view is not None, timeout=10000)
    detail.tabs.setCurrentWidget(detail.models)
    tab = detail.models
    qtbot.waitUntil(lambda: tab.tree.topLevelItemCount() == 2, timeout=10000)
    newest = tab.tree.topLevelItem(tab.tree.topLevelItemCount() - 1)  # oldest first
    assert tab._artifacts[newest.data(0, ARTIFACT)].round == 2

    client = newest.child(0)
    tab.tree.setCurrentItem(client)
    tab.onnx.click()
    assert tab.message.text() == "Select an aggregated model first."

    target = tmp_path / "deploy.onnx"
    monkeypatch.setattr(
        "app.ui.run_views.models.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), "")
    )
    tab.tree.setCurrentItem(newest)
    qtbot.mouseClick(tab.onnx, Qt.MouseButton.LeftButton)
    assert tab.message.text() == "Exporting round 2 as ONNX…" and not tab.onnx.isEnabled()
    qtbot.waitUntil(lambda: tab.message.text().startswith("Saved"), timeout=60000)
    assert tab.onnx.isEnabled() and str(target) in tab.message.text()
    onnx.checker.check_model(onnx.load(str(target)))
