"""Curves across runs: each run's clients get distinct colours, whatever the last run drew."""

import dataclasses
from datetime import UTC, datetime

from app.services.entities.records import JobRecord
from app.ui.run_views.curves import CurvesTab
from app.ui.run_views.data import RunView


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


def test_many_clients_draw_a_band_and_a_ticked_client_over_it(qtbot):
    import numpy as np

    from app.ui.run_views.curves import MAX_CLIENT_LINES, RoundBand

    nodes = [f"edge-{i:02d}" for i in range(MAX_CLIENT_LINES + 3)]
    view = _view(3, nodes)
    for i, node in enumerate(nodes):
        view.metrics[(node, "train_loss")] = {1: 1.0 + i, 2: 0.5 + i}
    tab = CurvesTab()
    qtbot.addWidget(tab)
    tab.render(view)
    low, mean, high, _ = tab._band
    assert list(low.getData()[1]) == [1.0, 0.5] and list(high.getData()[1]) == [15.0, 14.5]
    assert np.allclose(mean.getData()[1], [8.0, 7.5])
    first = tab._curves[f"client:{nodes[0]}"]
    assert not first.isVisible() and not tab._toggles[nodes[0]].isChecked()
    tab._toggles[nodes[0]].setChecked(True)  # the client's own line, over the band
    assert first.isVisible() and list(first.getData()[1]) == [1.0, 0.5]
    # A round more, folded in; the same band as one made from scratch.
    for i, node in enumerate(nodes):
        view.metrics[(node, "train_loss")][3] = 0.25 + i
    tab.render(view)
    fresh = RoundBand()
    fresh.fold({n: view.metrics[(n, "train_loss")] for n in nodes})
    for drawn, made in zip((low, mean, high), fresh.arrays()[1:], strict=False):
        assert np.allclose(drawn.getData()[1], made)
    assert list(first.getData()[1]) == [1.0, 0.5, 0.25]


def test_a_rewritten_series_is_folded_again():
    from app.ui.run_views.curves import RoundBand

    band = RoundBand()
    series = {"a": {1: 1.0, 2: 2.0}, "b": {1: 3.0, 2: 4.0}}
    band.fold(series)
    series["a"][2] = 10.0  # a round recorded again (from the run's folder, say)
    assert band.fold(series)
    rounds, low, mean, high = band.arrays()
    assert list(low) == [1.0, 4.0]
    assert list(rounds) == [1.0, 2.0] and list(high) == [3.0, 10.0] and list(mean) == [2.0, 7.0]


def test_a_large_run_bands_its_clients_from_the_first_to_report(qtbot):
    from app.ui.run_views.curves import MAX_CLIENT_LINES

    edges = [f"edge-{i:02d}" for i in range(MAX_CLIENT_LINES + 8)]
    view = _view(4, edges[:3])  # three clients heard from so far...
    view.job = dataclasses.replace(view.job, edges=edges)  # ...of twenty
    tab = CurvesTab()
    qtbot.addWidget(tab)
    tab.render(view)
    assert tab._band  # the band from the start
    assert not any(c.isVisible() for k, c in tab._curves.items() if k.startswith("client:"))
    assert not any(box.isChecked() for box in tab._toggles.values())
