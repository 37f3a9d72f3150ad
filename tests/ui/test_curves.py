"""Curves across runs: each run's clients get distinct colours, whatever the last run drew."""

from datetime import UTC, datetime

from app.services.entities.records import JobRecord
from app.ui.run_curves import CurvesTab
from app.ui.run_data import RunView


def _view(job_id: int, nodes: list[str]) -> RunView:
    now = datetime.now(UTC)
    job = JobRecord(
        job_id, "r", [], "p", "c", 1, {}, nodes, "FINISHED", "", 2, 2, None, now, now, now
    )
    view = RunView(job)
    for node in nodes:
        view.metrics[(node, "train_loss")] = {1: 1.0, 2: 0.5}
    view.metrics[("aggregate", "test_accuracy")] = {1: 0.5, 2: 0.8}
    return view


def test_a_second_run_draws_its_clients_in_distinct_colours(qtbot):
    tab = CurvesTab()
    qtbot.addWidget(tab)
    tab.render(_view(1, ["edge-1", "edge-2", "edge-3", "edge-4"]))
    tab.render(_view(2, ["edge-3", "edge-4", "edge-5", "edge-6"]))
    clients = {k: c for k, c in tab._curves.items() if k.startswith("client:")}
    assert sorted(clients) == [f"client:edge-{i}" for i in (3, 4, 5, 6)]
    colours = {c.opts["pen"].color().name() for c in clients.values()}
    assert len(colours) == 4
    assert len(tab.clients.listDataItems()) == 4  # the first run's lines are gone
    assert sorted(tab._toggles) == ["edge-3", "edge-4", "edge-5", "edge-6"]
    tab.render(_view(2, ["edge-3", "edge-4", "edge-5", "edge-6"]))  # the same run, redrawn
    assert len(tab.clients.listDataItems()) == 4
