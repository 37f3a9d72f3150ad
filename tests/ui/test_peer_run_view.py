"""A server-free run in the run view: its curves add the edges' spread and the consensus
distance (and lose them for the next run with a server); its topology is the trust graph,
each edge with its accuracy, an edge that left drawn as such."""

from __future__ import annotations

from datetime import UTC, datetime

from app.services.entities.records import JobRecord
from app.ui.run_views.curves import CurvesTab
from app.ui.run_views.data import RunView
from app.ui.run_views.topology import TopologyTab
from app.ui.run_views.trust_graph import accuracy_color, left_the_run

EDGES = [f"site-{i}" for i in range(1, 9)]
PUSHSUM = {
    "name": "p2p",
    "algorithm": {"name": "pushsum"},
    "decentralized": {"graph": "ring", "random_links": 8, "seed": 1},
}


def _view(job_id: int, config: dict, edges=EDGES) -> RunView:
    now = datetime.now(UTC)
    job = JobRecord(
        job_id, "r", [], "p", "c", 1, config, edges, "RUNNING", "", 3, 20, None, now, now, None
    )
    view = RunView(job)
    view.metrics[("aggregate", "test_accuracy")] = {1: 0.5, 2: 0.7, 3: 0.8}
    view.metrics[("aggregate", "accuracy_min")] = {1: 0.3, 2: 0.6, 3: 0.75}
    view.metrics[("aggregate", "accuracy_max")] = {1: 0.6, 2: 0.8, 3: 0.85}
    view.metrics[("aggregate", "consensus_distance")] = {1: 1.0, 2: 0.7, 3: 0.5}
    for i, edge in enumerate(edges):
        last = 2 if edge == "site-8" else 3  # site-8 stopped after round 2
        view.metrics[(edge, "test_accuracy")] = {r: 0.7 + i / 100 for r in range(1, last + 1)}
    return view


def test_the_curves_show_the_spread_and_the_consensus_distance(qtbot):
    tab = CurvesTab()
    qtbot.addWidget(tab)
    tab.render(_view(1, PUSHSUM))
    low, high, _fill = tab.peer._band
    assert list(low.getData()[1]) == [0.3, 0.6, 0.75]
    assert list(high.getData()[1]) == [0.6, 0.8, 0.85]
    assert list(tab.peer._line.getData()[1]) == [1.0, 0.7, 0.5]
    # its rounds laid out as the other plots' (not linked: plots of other widths drift)
    assert tab.peer.consensus.viewRange()[0] == tab.accuracy.viewRange()[0]
    assert tab._curves["test_accuracy"].name() == "edges' mean"
    assert "edges' models" in tab.accuracy.titleLabel.text
    # the next run has a server: no band, no consensus plot, the server's words again
    tab.render(_view(2, {"name": "c", "algorithm": {"name": "fedavg"}}, ["a", "b"]))
    assert tab.peer.consensus is None and not tab.peer._band
    assert tab._curves["test_accuracy"].name() == "server test set"
    assert tab.accuracy.titleLabel.text == "Accuracy of the global model"
    assert tab.peer.consensus not in tab.canvas.ci.items


def test_the_topology_is_the_trust_graph_with_each_edges_accuracy(qtbot, tmp_path):
    tab = TopologyTab()
    qtbot.addWidget(tab)
    tab.resize(800, 600)
    view = _view(1, PUSHSUM)
    tab.render(view)
    assert tab.graph is not None and len(tab.graph.links) == 16
    assert tuple(tab.graph.nodes) == tuple(EDGES)
    assert left_the_run(view) == {"site-8"}
    picture = tab.grab().toImage()
    assert not picture.isNull()
    # colours by accuracy: low is red, high is green
    assert accuracy_color(0.1).hue() < 30 < 90 < accuracy_color(0.95).hue()
    tab.render(_view(2, {"name": "c", "algorithm": {"name": "fedavg"}}, ["a", "b"]))
    assert tab.graph is None  # a run with a server draws the server again
