"""The dashboard: what runs now and how it goes, edges online over the day, the day's
failures with their reasons, the next fires; each opens its page from the keyboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from PySide6.QtCore import Qt

from app.services.entities.edge_history import online_per_hour
from app.services.runs.dashboard import load_dashboard
from app.services.security.auth import SYSTEM
from app.storage.models import EdgeEvent, Job, RoundMetric
from app.ui.main_window import MainWindow
from app.ui.pages.dashboard import VALUES, DashboardPage
from app.ui.pages.edges import EdgesPage
from app.ui.pages.schedules import SchedulesPage
from app.ui.run_views.detail_page import RunDetailPage
from tests.helpers import SAMPLE_CONFIG

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def test_online_per_hour_counts_an_edge_in_every_hour_it_was_seen():
    before = {1: "IDLE", 2: "OFFLINE", 3: "OFFLINE"}
    changes = [
        (2, T0 + timedelta(hours=5, minutes=30), "IDLE"),
        (2, T0 + timedelta(hours=7, minutes=10), "OFFLINE"),
        (1, T0 + timedelta(hours=9), "OFFLINE"),
        (3, T0 + timedelta(hours=9, minutes=59), "TRAINING"),  # online for a minute of hour 9
        (3, T0 + timedelta(hours=10, minutes=1), "OFFLINE"),
    ]
    counts = online_per_hour(before, changes, T0, 12)
    assert counts[:5] == [1, 1, 1, 1, 1]
    assert counts[5:8] == [2, 2, 2]  # edge 2 from 05:30, and in 07:00-07:10
    assert counts[8] == 1
    assert counts[9] == 2  # edge 1 until 09:00 and edge 3 at 09:59
    assert counts[10] == 1 and counts[11] == 0


def _lab(services):
    services.projects.create(SYSTEM, "p")
    services.configs.save_dict(SYSTEM, SAMPLE_CONFIG)
    for name in ("e1", "e2", "e3"):
        services.edges.register(SYSTEM, name, tags=["lab"])
    now = datetime.now(UTC)
    going = services.jobs.create(SYSTEM, "going", "p", SAMPLE_CONFIG["name"], ["e1", "e2"])
    services.jobs.transition(SYSTEM, going.id, "STARTING")
    services.jobs.transition(SYSTEM, going.id, "RUNNING")
    failed = services.jobs.create(SYSTEM, "broke", "p", SAMPLE_CONFIG["name"], ["e1", "e3"])
    services.jobs.transition(SYSTEM, failed.id, "STARTING")
    services.jobs.settle(SYSTEM, failed.id, "FAILED", "too few edges joined: 1 of 2", 0)
    old = services.jobs.create(SYSTEM, "broke long ago", "p", SAMPLE_CONFIG["name"], ["e1", "e3"])
    services.jobs.settle(SYSTEM, old.id, "FAILED", "an old failure", 0)
    e1, e2 = (services.edges.get(SYSTEM, n).id for n in ("e1", "e2"))
    with services.db.session() as s:
        s.get(Job, old.id).finished_at = now - timedelta(days=2)
        s.get(Job, failed.id).finished_at = now - timedelta(minutes=5, seconds=10)
        s.get(Job, going.id).current_round = 3
        for rnd, acc in ((1, 0.4), (2, 0.7), (3, 0.85)):
            s.add(
                RoundMetric(
                    job_id=going.id, round=rnd, node="aggregate", name="test_accuracy", value=acc
                )
            )
        s.add(EdgeEvent(edge_id=e1, at=now - timedelta(hours=30), status="IDLE"))
        s.add(EdgeEvent(edge_id=e2, at=now - timedelta(minutes=1), status="IDLE"))
    template = {"project": "p", "config": SAMPLE_CONFIG["name"], "edge_tag": "lab"}
    services.schedules.create(SYSTEM, "hourly", template, "interval", "1h")
    services.schedules.create(SYSTEM, "paused", template, "interval", "5m", enabled=False)
    return going.id, failed.id


def test_the_dashboard_data(services):
    going, failed = _lab(services)
    data = load_dashboard(services, SYSTEM)
    assert [r.job.id for r in data.running] == [going]
    assert data.running[0].accuracy == [0.4, 0.7, 0.85]
    assert [j.id for j in data.failures] == [failed]  # the two-day-old one is not today's
    assert [f.schedule for f in data.next_fires] == ["hourly"]  # a disabled one never fires
    assert data.next_fires[0].target == f"{SAMPLE_CONFIG['name']} on tag lab"
    assert len(data.online) == 24
    assert data.online[-1] == 2 and data.online[0] == 1  # e1 all day; e2 since a minute


def test_the_dashboard_shows_it_and_opens_each_item(qtbot, admin_ctx, tmp_path):
    going, failed = _lab(admin_ctx.services)
    window = MainWindow(admin_ctx)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    page = window.stack.currentWidget()
    assert isinstance(page, DashboardPage)
    qtbot.waitUntil(lambda: page.fires.rowCount() == 1, timeout=5000)
    assert page.running.item(0, 0).text() == f"#{going}"
    assert page.running.item(0, 3).data(VALUES) == (3, SAMPLE_CONFIG["training"]["rounds"])
    assert page.running.item(0, 4).data(VALUES) == [0.4, 0.7, 0.85]
    assert page.failures.rowCount() == 1
    assert page.failures.item(0, 3).text() == "too few edges joined: 1 of 2"
    assert page.failures.item(0, 2).text() == "5 min ago"
    assert page.fires.item(0, 1).text().startswith("in ")
    assert page.online.counts[-1] == 2
    window.grab().save(str(tmp_path / "dashboard.png"))

    page.failures.setFocus()
    page.failures.setCurrentCell(0, 0)
    qtbot.keyClick(page.failures, Qt.Key.Key_Return)
    assert window.stack.currentWidget() is window.pages[RunDetailPage]
    detail = window.pages[RunDetailPage]
    qtbot.waitUntil(lambda: detail.view is not None and detail.view.job.id == failed, timeout=5000)

    window.nav.setCurrentRow(0)
    page.online.setFocus()
    qtbot.keyClick(page.online, Qt.Key.Key_Return)
    assert window.stack.currentWidget() is window.pages[EdgesPage]

    window.nav.setCurrentRow(0)
    page.fires.setCurrentCell(0, 0)
    qtbot.keyClick(page.fires, Qt.Key.Key_Return)
    assert window.stack.currentWidget() is window.pages[SchedulesPage]


def test_the_counts_follow_the_database_within_one_refresh(qtbot, admin_ctx):
    """A run's new status, announced live, is counted at once; a load asked for while one
    runs is not lost."""
    from collections import Counter

    from app.services.runs.events import LiveEvent
    from app.services.security.auth import SYSTEM

    going, _failed = _lab(admin_ctx.services)
    page = DashboardPage(admin_ctx)
    qtbot.addWidget(page)
    page.show()
    page.timer.stop()  # only the live events move it here

    def counted() -> dict[str, str]:
        return {s: page.counts[f"jobs:{s}"].text() for s in ("RUNNING", "FINISHED")}

    def stored() -> dict[str, str]:
        statuses = Counter(j.status for j in admin_ctx.services.jobs.list(SYSTEM))
        return {s: str(statuses[s]) for s in ("RUNNING", "FINISHED")}

    qtbot.waitUntil(lambda: counted() == stored(), timeout=5000)
    admin_ctx.services.jobs.settle(SYSTEM, going, "FINISHED", "", 3)
    page.refresh()  # one already under way: the event's load must follow it
    event = LiveEvent("job", going, {"status": "FINISHED", "round": 3, "name": "x"})
    admin_ctx.live.event.emit(event)
    after = {"RUNNING": "0", "FINISHED": "1"}
    qtbot.waitUntil(lambda: counted() == stored() == after, timeout=5000)
    assert page.running.rowCount() == 0
