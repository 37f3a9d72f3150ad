"""Switching between recorded runs: every tab shows the selected run's own data, its time
span, counts and statuses, and nothing of the run shown before."""

from __future__ import annotations

import pytest

from app.services.runs.demo import DemoOptions, run_demo
from app.ui.main_window import MainWindow
from app.ui.run_data import ENDED
from app.ui.run_detail_page import RunDetailPage


@pytest.fixture
def three_runs(admin_ctx):
    runs = []
    for rounds in (2, 3, 1):
        summary = run_demo(admin_ctx.settings, DemoOptions(edges=2, rounds=rounds, backend="local"))
        assert summary["status"] == "FINISHED"
        runs.append(summary["run_id"])
    return runs


def test_each_tab_shows_only_the_selected_run(qtbot, admin_ctx, three_runs):
    services, actor = admin_ctx.services, admin_ctx.actor
    window = MainWindow(admin_ctx)
    qtbot.addWidget(window)
    window.show()
    detail = window.pages[RunDetailPage]
    for run_id in [*three_runs, three_runs[0]]:  # and back to the first
        window.open_run(run_id)
        qtbot.waitUntil(lambda r=run_id: detail.view is not None and detail.view.job.id == r)
        job = services.jobs.get(actor, run_id)
        for tab in (detail.load_tab, detail.models, detail.topology, detail.overview):
            detail.tabs.setCurrentWidget(tab)
            detail._drawn = -1
            detail._redraw()
        # device load: the run's own span, no curve of another run's samples
        (x0, x1), _ = detail.load_tab.plots["cpu"].viewRange()
        start, end = job.started_at.timestamp(), job.finished_at.timestamp()
        pad = 0.05 * (end - start) + 1
        assert start - pad <= x0 <= start and end <= x1 <= end + pad, (x0, x1, start, end)
        for (_edge, _key), curve in detail.load_tab._curves.items():
            xs, _ = curve.getData()
            assert xs is None or len(xs) == 0 or (xs.min() >= start and xs.max() <= end)
        # models: the database's count, this run's rounds
        stored = services.run_data.artifacts(actor, run_id)
        assert detail.models.caption.text().startswith(f"Run {run_id} · {len(stored)} models")
        tree = detail.models.tree
        rounds = [tree.topLevelItem(i).data(0, 257) for i in range(tree.topLevelItemCount())]
        assert rounds == list(range(1, job.total_rounds + 1))
        # topology: no live link to a run that ended; overview: its times
        assert set(detail.view.link.values()) == ({ENDED} if job.edges else set())
        assert detail.overview.labels["Started"].text() != "-"
        assert detail.overview.labels["Run"].text().startswith(f"#{run_id} ")
        assert detail.heading.text().startswith(f"#{run_id} ")
