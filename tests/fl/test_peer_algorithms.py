"""Server-free algorithms without processes: trust graphs and their checks, push-sum's and
DSGD's mixing, the consensus distance from sketches, and the configs they refuse."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.core.algorithms import ALGORITHMS, is_peer
from app.core.algorithms.push_sum import DSGD, PushSum
from app.core.fl_config import parse_config
from app.core.peer.consensus import consensus_distance, sketch
from app.core.peer.graph import TrustGraph, build_graph, peer_links
from app.errors import InvalidInput
from app.services.security.auth import SYSTEM
from tests.helpers import SAMPLE_CONFIG

NODES = [f"site-{i}" for i in range(1, 9)]


def spec(**table):
    return parse_config({"name": "c", "algorithm": {"name": "pushsum"}, "decentralized": table})


def test_the_registry_names_the_server_free_algorithms():
    assert {n for n in ALGORITHMS if is_peer(n)} == {"pushsum", "dsgd"}
    assert not is_peer("fedavg")


@pytest.mark.parametrize(
    "table, links",
    [
        ({"graph": "ring"}, 8),
        ({"graph": "ring", "random_links": 8, "seed": 1}, 16),
        ({"graph": "exponential"}, 24),  # i → i+1, i+2, i+4
    ],
)
def test_graphs_are_strongly_connected_and_the_same_for_everyone(table, links):
    graph = build_graph(spec(**table).decentralized, reversed(NODES))
    assert len(graph.links) == links
    assert graph.unreached() == []
    assert graph == build_graph(spec(**table).decentralized, NODES)  # order does not matter
    assert TrustGraph.from_dict(graph.as_dict()) == graph


def test_watts_strogatz_is_seeded():
    one = build_graph(spec(graph="watts_strogatz", rewire=0.3, seed=3).decentralized, NODES)
    two = build_graph(spec(graph="watts_strogatz", rewire=0.3, seed=4).decentralized, NODES)
    assert one == build_graph(spec(graph="watts_strogatz", rewire=0.3, seed=3).decentralized, NODES)
    assert one != two


def test_one_peer_exponential_sends_to_one_neighbour_a_round_in_turn():
    graph = build_graph(spec(graph="exponential").decentralized, NODES)
    assert [graph.peers_in_round("site-1", r) for r in (1, 2, 3, 4)] == [
        (["site-2"], ["site-8"]),
        (["site-3"], ["site-7"]),
        (["site-5"], ["site-5"]),
        (["site-2"], ["site-8"]),
    ]
    assert graph.without(["site-2"]).peers_in_round("site-1", 1) == ([], ["site-8"])


def test_bad_graphs_are_refused_naming_what_is_wrong():
    with pytest.raises(InvalidInput, match="connected: the models of site-3 never reach site-1"):
        links = [["site-1", "site-2"], ["site-2", "site-1"], ["site-2", "site-3"]]
        build_graph(spec(graph="links", links=links).decentralized, NODES[:3])
    with pytest.raises(InvalidInput, match="site-9 is not an edge of this run"):
        build_graph(spec(graph="links", links=[["site-1", "site-9"]]).decentralized, NODES[:3])
    with pytest.raises(InvalidInput, match="links to itself"):
        build_graph(spec(graph="links", links=[["site-1", "site-1"]]).decentralized, NODES[:3])
    with pytest.raises(InvalidInput, match=r"needs decentralized\.links"):
        spec(graph="links")
    with pytest.raises(InvalidInput, match="apply to the FedAvg family"):
        secure = {"enabled": True}
        parse_config({"name": "c", "algorithm": {"name": "pushsum"},
                      "secure_aggregation": secure, "training": {"min_clients": 3}})  # fmt: skip
    with pytest.raises(ValueError, match="malformed trust graph"):
        TrustGraph.from_dict({"nodes": ["a"], "links": "x"})
    # a hub asked about a job whose graph cannot be built grants no link
    assert peer_links({"name": "c", "algorithm": {"name": "pushsum"}}, {"a": "d1"}) == frozenset()


def _gossip(rule, graph: TrustGraph, models, weights, rounds):
    """`rounds` rounds of pure mixing (no training) on `graph`."""
    for _ in range(rounds):
        shares = {}
        for node in graph.nodes:
            outs = graph.out(node)
            model = models[node]
            shares[node] = rule.share(model, model, weights[node], 1.0, len(outs))
        received = {n: [shares[n]] + [shares[a] for a in graph.into(n)] for n in graph.nodes}
        for node in graph.nodes:
            models[node], weights[node] = rule.mix(received[node])
    return models


def test_push_sum_reaches_the_sample_weighted_mean_where_dsgd_is_biased():
    # a directed graph with unequal in-degrees: 1 → 2 → 3 → 4 → 1, and 1 → 3, 2 → 4
    nodes = ("1", "2", "3", "4")
    links = {("1", "2"), ("2", "3"), ("3", "4"), ("4", "1"), ("1", "3"), ("2", "4")}
    graph = TrustGraph(nodes, frozenset(links))
    rng = np.random.default_rng(0)
    start = {n: {"w": rng.normal(size=(3, 2))} for n in nodes}
    samples = {"1": 100.0, "2": 300.0, "3": 50.0, "4": 150.0}
    mean = sum(start[n]["w"] * samples[n] for n in nodes) / sum(samples.values())

    pushed = _gossip(PushSum(), graph, dict(start), dict(samples), 200)
    for node in nodes:
        np.testing.assert_allclose(pushed[node]["w"], mean, atol=1e-9)

    averaged = _gossip(DSGD(), graph, dict(start), {n: 1.0 for n in nodes}, 200)
    agreed = averaged["1"]["w"]
    for node in nodes:  # DSGD agrees too ...
        np.testing.assert_allclose(averaged[node]["w"], agreed, atol=1e-9)
    assert np.abs(agreed - mean).max() > 0.05  # ... on another, biased, point


def test_a_neighbours_odd_model_is_refused():
    rule = PushSum()

    def share(model):
        return rule.share(model, model, 1.0, 1.0, 1)

    mine = share({"w": np.ones((2, 2))})
    with pytest.raises(ValueError, match="is \\(3,\\)"):
        rule.mix([mine, share({"w": np.ones(3)})])
    with pytest.raises(ValueError, match="other tensors"):
        rule.mix([mine, share({"v": np.ones((2, 2))})])


def test_on_a_complete_graph_push_sum_moves_as_fedavg_s_sample_weighted_mean():
    """A node's change counts as its samples do against the mean (step = w·n/n̄, and after
    a first round on this graph every w is n̄), so a round of push-sum on a complete graph
    lands every node on FedAvg's aggregate."""
    rule, rng = PushSum(), np.random.default_rng(2)
    start = {"w": rng.normal(size=(4, 3))}
    samples = [100.0, 250.0, 50.0, 400.0]
    weight = sum(samples) / 4  # what every node holds after a first round on this graph
    trained = [{"w": start["w"] + rng.normal(size=(4, 3))} for _ in samples]
    shares = [rule.share(start, t, weight, n, 3) for t, n in zip(trained, samples, strict=True)]
    mixed, _ = rule.mix(shares)
    fedavg = sum(t["w"] * n for t, n in zip(trained, samples, strict=True)) / sum(samples)
    np.testing.assert_allclose(mixed["w"], fedavg, atol=1e-12)


@pytest.mark.parametrize("size", [500, 50_000])  # all coordinates; a sample of them
def test_the_consensus_distance_from_sketches_is_close_to_the_true_one(size):
    rng = np.random.default_rng(1)
    centre = rng.normal(size=size)
    models = [{"a": centre + rng.normal(scale=0.1, size=size)} for _ in range(8)]
    stacked = np.stack([m["a"] for m in models])
    true = math.sqrt(((stacked - stacked.mean(axis=0)) ** 2).sum(axis=1).mean())
    sketches = [sketch(m, seed=7)[0] for m in models]
    estimate = consensus_distance(sketches, size)
    assert abs(estimate - true) / true < 0.3
    assert consensus_distance([sketch(models[0], 7)[0]] * 3, size) < 1e-9


def test_a_server_free_job_needs_edges_that_make_its_graph(services):
    services.groups.add(SYSTEM, "g")
    services.projects.create(SYSTEM, "p", "g")
    for name in ("a", "b", "c"):
        services.edges.register(SYSTEM, name)
    links = [["a", "b"], ["b", "a"], ["b", "c"]]
    ring = {**SAMPLE_CONFIG, "name": "p2p", "algorithm": {"name": "pushsum"},
            "decentralized": {"graph": "links", "links": links}}  # fmt: skip
    services.configs.save_dict(SYSTEM, ring)
    with pytest.raises(InvalidInput, match="not strongly connected: the models of c never"):
        services.jobs.create(SYSTEM, "j", "p", "p2p", ["a", "b", "c"])
    with pytest.raises(InvalidInput, match="c is not an edge of this run"):
        services.jobs.create(SYSTEM, "j", "p", "p2p", ["a", "b"])
    services.configs.save_dict(SYSTEM, {**ring, "decentralized": {"graph": "ring"}})
    assert services.jobs.create(SYSTEM, "j", "p", "p2p", ["a", "b", "c"]).edges == ["a", "b", "c"]


def test_a_restarted_center_ends_the_run_it_kept_and_stops_its_edges(tmp_path):
    """A run without a server lives in the control center that started it: after that
    center restarts nobody records it, so it fails with the reason and its edges are told
    to stop rather than train on unheard."""
    from app.backends.factory import create_hub
    from app.config import Settings
    from app.services import Services
    from app.services.runs.launcher import JobLauncher
    from app.wire import topics
    from tests.waiting import wait_until

    settings = Settings.load(data_dir=tmp_path)
    services = Services.open(settings)
    services.groups.add(SYSTEM, "g")
    services.projects.create(SYSTEM, "p", "g")
    for name in ("a", "b"):
        services.edges.register(SYSTEM, name)
    services.configs.save_dict(SYSTEM, {**SAMPLE_CONFIG, "name": "p2p",
                                        "algorithm": {"name": "pushsum"}})  # fmt: skip
    job = services.jobs.create(SYSTEM, "j", "p", "p2p", ["a", "b"])
    services.jobs.transition(SYSTEM, job.id, "STARTING", "started")
    services.jobs.transition(SYSTEM, job.id, "RUNNING", "running")
    url = f"local://recover-{job.id}-{tmp_path.name}"
    center, edge = create_hub(url, "center"), create_hub(url, "edge-a")
    center.connect()
    edge.connect()
    heard = []
    edge.subscribe(topics.run_topic("p", job.id, topics.SERVER, "control"),
                   lambda t, m: heard.append(m.body.get("action")))  # fmt: skip
    try:
        assert JobLauncher(services, settings, center, url).recover() == []
        wait_until(lambda: heard == ["stop"], 10, "the edges told to stop")
        ended = services.jobs.get(SYSTEM, job.id)
        assert ended.status == "FAILED"
        assert "keeping this run restarted; its edges were stopped" in ended.status_reason
    finally:
        edge.close()
        center.close()
        services.close()


def test_the_demo_runs_without_a_server_from_the_command_line(tmp_path, capsys):
    import json

    from app.cli import main

    data = ["--data-dir", str(tmp_path / "deck")]
    demo = ["demo", "--decentralized", "--edges", "3", "--rounds", "3", "--backend", "local"]
    assert main([*data, *demo]) == 1  # the window's demo is FedAvg: it says so
    assert "--decentralized is for the headless demo" in capsys.readouterr().err
    assert main([*data, *demo, "--headless", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "FINISHED" and summary["rounds"] == 3
    assert summary["counts"]["client_artifacts"] == 3  # each edge's last model, no server's
