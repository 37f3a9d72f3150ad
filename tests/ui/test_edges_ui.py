"""The Edges page a lab manager filters (status, tag) among many edges, "seen … ago", and
an edge's detail opened from the keyboard: hardware, runs, load, connections, last error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.storage.models import EdgeEvent, Job, LogLine, SystemSample
from app.ui.main_window import MainWindow
from app.ui.pages.edge_detail import EdgeDetailDialog
from app.ui.pages.edges import EdgesPage
from app.ui.pages.table_page import select_row
from app.ui.run_views.detail_page import RunDetailPage
from tests.helpers import SAMPLE_CONFIG

EDGES = 1000


def _visible_names(page: EdgesPage) -> list[str]:
    return [page.proxy.index(r, 0).data() for r in range(page.proxy.rowCount())]


def test_a_thousand_edges_filtered_by_status_and_tag(qtbot, admin_ctx):
    services, actor = admin_ctx.services, admin_ctx.actor
    now = datetime.now(UTC)
    for i in range(EDGES):
        services.edges.register(actor, f"node-{i:04d}", tags=["gpu"] if i % 10 == 0 else ["cpu"])
    services.edges.set_status(actor, "node-0000", "TRAINING", seen_at=now - timedelta(minutes=2))
    services.edges.set_status(actor, "node-0001", "IDLE", seen_at=now - timedelta(seconds=3))
    page = EdgesPage(admin_ctx)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.model.rowCount() == EDGES, timeout=10000)
    assert page.counts.text() == f"2 of {EDGES} online; {EDGES} shown"
    model = page.model
    seen = {model.index(r, 0).data(): model.index(r, 2).data() for r in range(model.rowCount())}
    assert seen["node-0000"] == "2 min ago" and seen["node-0002"] == "never"
    assert seen["node-0001"].endswith(" s ago")  # 3 s, and the time the loading took

    page.status_filter.setCurrentText("TRAINING")
    qtbot.waitUntil(lambda: _visible_names(page) == ["node-0000"], timeout=5000)
    page.status_filter.setCurrentIndex(0)
    page.tag_filter.setCurrentText("gpu")
    qtbot.waitUntil(lambda: page.model.rowCount() == EDGES // 10, timeout=5000)
    assert all(int(n[5:]) % 10 == 0 for n in _visible_names(page))
    assert page.counts.text() == f"2 of {EDGES} online; {EDGES // 10} shown"

    # Sorted by when last seen: the most recent first when descending.
    page.tag_filter.setCurrentIndex(0)
    qtbot.waitUntil(lambda: page.model.rowCount() == EDGES, timeout=5000)
    page.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    assert _visible_names(page)[:2] == ["node-0001", "node-0000"]


def test_an_edges_detail_opens_from_the_keyboard_and_leads_to_its_run(qtbot, admin_ctx):
    services, actor = admin_ctx.services, admin_ctx.actor
    services.projects.create(actor, "p")
    services.configs.save_dict(actor, SAMPLE_CONFIG)
    for name in ("pi-1", "pi-2"):
        services.edges.register(actor, name, tags=["arm"])
    now = datetime.now(UTC)
    services.edges.set_status(
        actor,
        "pi-1",
        "IDLE",
        seen_at=now - timedelta(minutes=5, seconds=20),
        hardware={"platform": "Linux-aarch64", "cpus": 4, "memory_gb": 7.6},
    )
    job = services.jobs.create(actor, "digits on pis", "p", SAMPLE_CONFIG["name"], ["pi-1", "pi-2"])
    edge_id = services.edges.get(actor, "pi-1").id
    with services.db.session() as s:
        s.get(Job, job.id).status = "FAILED"
        s.add(LogLine(job_id=job.id, node="pi-1", at=now, level="ERROR", text="CUDA out of memory"))
        for minutes, status in ((50, "IDLE"), (30, "OFFLINE"), (10, "IDLE")):
            s.add(EdgeEvent(edge_id=edge_id, at=now - timedelta(minutes=minutes), status=status))
        for k in range(30):
            at = now - timedelta(minutes=30 - k)
            s.add(SystemSample(edge_id=edge_id, at=at, cpu=float(k), mem=40.0))

    window = MainWindow(admin_ctx)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    window.open_page("Edges")
    page = window.pages[EdgesPage]
    qtbot.waitUntil(lambda: page.model.rowCount() == 2, timeout=5000)
    select_row(page.table, _visible_names(page).index("pi-1"))
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_Return)
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, EdgeDetailDialog))
    qtbot.waitUntil(lambda: dialog.detail is not None or bool(dialog.error.text()), timeout=5000)
    assert dialog.detail is not None, dialog.error.text()
    assert dialog.heading.text() == "pi-1 — IDLE, seen 5 min ago"
    assert "CUDA out of memory" in dialog.error.text() and f"run #{job.id}" in dialog.error.text()
    facts = {
        dialog.facts.itemAt(r, dialog.facts.ItemRole.LabelRole)
        .widget()
        .text(): dialog.facts.itemAt(r, dialog.facts.ItemRole.FieldRole).widget().text()
        for r in range(dialog.facts.rowCount())
    }
    assert facts["Platform:"] == "Linux-aarch64" and facts["Memory:"] == "7.6 GB"
    assert facts["Tags:"] == "arm"
    assert [dialog.changes.item(r, 1).text() for r in range(3)] == ["IDLE", "OFFLINE", "IDLE"]
    xs, ys = dialog.lines["cpu"].getData()
    assert len(xs) == 30 and ys[-1] == 29.0
    dialog.range.setCurrentIndex(1)  # the last hour
    left, right = dialog.plot.viewRange()[0]
    assert 3500 < right - left < 3700

    dialog.tabs.setCurrentWidget(dialog.runs)
    dialog.runs.setCurrentCell(0, 0)
    qtbot.keyClick(dialog.runs, Qt.Key.Key_Return)
    assert window.stack.currentWidget() is window.pages[RunDetailPage]
    assert not dialog.isVisible()
