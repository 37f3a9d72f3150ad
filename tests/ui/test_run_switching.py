"""Switching between recorded runs: every tab shows the selected run's own data, its time
span, counts and statuses, and nothing of the run shown before."""

from __future__ import annotations

import pytest

from app.services.runs.demo import DemoOptions, run_demo
from app.ui.main_window import MainWindow
from app.ui.run_views.data import ENDED
from app.ui.run_views.detail_page import RunDetailPage
from app.ui.run_views.load import MIN_SPAN_S


@pytest.fixture
def three_runs(admin_ctx):
    runs = []
    for rounds in (2, 3, 1):
        summary = run_demo(admin_ctx.settings, DemoOptions(edges=2, rounds=rounds, backend="local"))
        assert summary["status"] == "FINISHED"
        runs.append(summary["job_id"])
    return runs


def test_each_tab_shows_only_the_selected_run(qtbot, admin_ctx, three_runs):
    services, actor = admin_ctx.services, admin_ctx.actor
    window = MainWindow(admin_ctx)
    qtbot.addWidget(window)
    window.show()
    detail = window.pages[RunDetailPage]
    for job_id in [*three_runs, three_runs[0]]:  # and back to the first
        window.open_run(job_id)
        qtbot.waitUntil(lambda r=job_id: detail.view is not None and detail.view.job.id == r)
        job = services.jobs.get(actor, job_id)
        for tab in (detail.load_tab, detail.models, detail.topology, detail.overview):
            detail.tabs.setCurrentWidget(tab)
            detail._drawn = -1
            detail._redraw()
        # device load: the run's own span, no curve of another run's samples
        (x0, x1), _ = detail.load_tab.plots["cpu"].viewRange()
        start, end = job.started_at.timestamp(), job.finished_at.timestamp()
        shown_end = max(end, start + MIN_SPAN_S)  # a short run: a minute of clock time
        pad = 0.05 * (shown_end - start)
        assert start - pad <= x0 <= start and shown_end <= x1 <= shown_end + pad, (x0, x1)
        for (_edge, _key), curve in detail.load_tab._curves.items():
            xs, _ = curve.getData()
            assert xs is None or len(xs) == 0 or (xs.min() >= start and xs.max() <= end)
        # models: the database's count, this run's rounds
        stored = services.run_data.artifacts(actor, job_id)
        assert detail.models.caption.text().startswith(f"Run {job_id} · {len(stored)} models")
        tree = detail.models.tree
        rounds = [tree.topLevelItem(i).data(0, 257) for i in range(tree.topLevelItemCount())]
        assert rounds == list(range(1, job.total_rounds + 1))
        # topology: no live link to a run that ended; overview: its times
        assert set(detail.view.link.values()) == ({ENDED} if job.edges else set())
        assert detail.overview.labels["Started"].text() != "-"
        assert detail.overview.labels["Run"].text().startswith(f"#{job_id} ")
        assert detail.heading.text().startswith(f"#{job_id} ")


def test_a_new_status_reads_the_record_again(qtbot, admin_ctx):
    """Overview while a run goes: its start time and its RUNNING entry, not '-'."""
    from app.services.runs.demo import create_demo_job
    from app.services.runs.events import LiveEvent
    from app.services.security.auth import SYSTEM

    services = admin_ctx.services
    services.edges.register(SYSTEM, "e1")
    job_id = create_demo_job(services, ["e1"], DemoOptions(edges=1, rounds=5))
    services.jobs.transition(SYSTEM, job_id, "STARTING", "started by admin")
    window = MainWindow(admin_ctx)
    qtbot.addWidget(window)
    window.show()
    window.open_run(job_id)
    detail = window.pages[RunDetailPage]
    qtbot.waitUntil(lambda: detail.view is not None and detail.view.job.id == job_id)
    detail.tabs.setCurrentWidget(detail.overview)
    services.jobs.transition(SYSTEM, job_id, "RUNNING")
    admin_ctx.live.event.emit(LiveEvent("job", job_id, {"status": "RUNNING", "round": 0}))
    qtbot.waitUntil(
        lambda: [h["status"] for h in detail.view.job.history][-1:] == ["RUNNING"], timeout=5000
    )
    detail._drawn = -1
    detail._redraw()
    history = detail.overview.history
    shown = [history.item(r, 0).text() for r in range(history.rowCount())]
    assert shown[-1] == "RUNNING"
    assert detail.overview.labels["Started"].text() != "-"
