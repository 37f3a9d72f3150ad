from pathlib import Path

import numpy as np
import pytest

from app.core.algorithms import ALGORITHMS, build_strategy
from app.core.algorithms.registry import PEER
from app.core.algorithms.running_mean import ClientUpdate, RunningMean, is_finite
from app.core.algorithms.sampling import sample_clients
from app.core.fl_config import AlgorithmSpec, FLConfig, parse_config
from app.core.protocols import PROTOCOLS
from app.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[2]


def upd(node, value, n):
    return ClientUpdate(node, {"w": np.full(3, value, np.float32), "steps": np.array(5)}, n)


def step(strategy, global_weights, updates):
    """One round on the server: the clients' running mean, then the strategy."""
    running = RunningMean()
    for u in updates:
        running.add(u.node, u.weights, u.num_samples)
    return strategy.apply(global_weights, running.mean())


def test_fedavg_is_sample_weighted():
    out = step(build_strategy(AlgorithmSpec()), {}, [upd("a", 1.0, 1), upd("b", 4.0, 3)])
    assert np.allclose(out["w"], 3.25) and out["w"].dtype == np.float32


def test_fedavgm_accumulates_momentum():
    strat = build_strategy(AlgorithmSpec(name="fedavgm", server_lr=1.0, server_momentum=0.5))
    g = {"w": np.zeros(3, np.float32), "steps": np.array(5)}
    g1 = step(strat, g, [upd("a", 1.0, 1)])
    assert np.allclose(g1["w"], 1.0)
    g2 = step(strat, g1, [upd("a", 2.0, 1)])  # delta 1, momentum 0.5*1 + 1 = 1.5
    assert np.allclose(g2["w"], 2.5)


@pytest.mark.parametrize("name", ["fedadam", "fedyogi", "fedadagrad"])
def test_adaptive_server_optimisers_move_toward_the_clients(name):
    strat = build_strategy(AlgorithmSpec(name=name, server_lr=0.1))
    g = {"w": np.zeros(3, np.float32), "steps": np.array(5)}
    for _ in range(5):
        g = step(strat, g, [upd("a", 1.0, 2), upd("b", 1.0, 2)])
    assert np.all(g["w"] > 0.05) and np.all(g["w"] < 1.5)


def test_fedprox_asks_clients_for_a_proximal_term():
    assert build_strategy(AlgorithmSpec(name="fedprox", mu=0.3)).client_prox_mu == 0.3
    assert build_strategy(AlgorithmSpec(name="fedavg")).client_prox_mu == 0.0


def test_every_registered_algorithm_is_a_config_choice_and_builds():
    """The registry is the one list: a name in it validates and builds a strategy, a name
    not in it is refused by the config with the choices named."""
    assert list(ALGORITHMS)[:2] == ["fedavg", "fedprox"]
    g = {"w": np.zeros(3, np.float32), "steps": np.array(5)}
    for name, algorithm in ALGORITHMS.items():
        spec = FLConfig.model_validate({"name": "c", "algorithm": {"name": name}}).algorithm
        assert set(algorithm.fields) <= set(AlgorithmSpec.model_fields) - {"name"}, name
        assert algorithm.role in PROTOCOLS, name
        if algorithm.role == PEER:  # a mixing rule: one node alone keeps its own model
            rule = algorithm.build(spec)
            model = {"w": np.full(3, 2.0)}
            mixed, _ = rule.mix([rule.share(model, model, 5.0, 5.0, 0)])
            assert np.array_equal(mixed["w"], np.full(3, 2.0)), name
            continue
        if algorithm.role != "server":  # its protocol's own rounds read the table
            assert algorithm.build(spec).spec is spec, name
            continue
        out = step(build_strategy(spec), g, [upd("a", 1.0, 2)])
        assert np.all(out["w"] > 0), name
        assert set(algorithm.fields) <= set(AlgorithmSpec.model_fields) - {"name"}, name
    with pytest.raises(InvalidInput, match="'fedavg', 'fedprox'"):
        parse_config({"name": "c", "algorithm": {"name": "centralized"}})


def test_the_docs_list_every_algorithm_and_what_it_reads():
    text = (ROOT / "docs" / "algorithms.md").read_text()
    first_table = text[text.index("| name |") :].split("\n\n")[0]
    table = [line.split("|")[1:-1] for line in first_table.splitlines() if line.startswith("| `")]
    listed = {cells[0].strip(" `"): cells[3].strip() for cells in table}
    assert sorted(listed) == sorted(ALGORITHMS)
    for name, reads in listed.items():
        assert reads == (", ".join(f"`{f}`" for f in ALGORITHMS[name].fields) or "—"), name


def test_non_finite_detection():
    assert is_finite({"w": np.ones(2)})
    assert not is_finite({"w": np.array([1.0, np.nan])})
    assert not is_finite({"w": np.array([np.inf])})


def test_client_sampling():
    rng = np.random.default_rng(0)
    edges = [f"e{i}" for i in range(10)]
    picked = sample_clients(edges, 0.3, 2, rng)
    assert len(picked) == 3 and set(picked) <= set(edges)
    assert sample_clients(edges, 0.1, 4, rng).__len__() == 4
    assert sample_clients(edges[:2], 1.0, 5, rng) == ["e0", "e1"]


@pytest.mark.parametrize("slices", [3, RunningMean.THREADED_FROM + 1], ids=["inline", "threads"])
@pytest.mark.parametrize("owned", [False, True], ids=["lent", "owned"])
def test_the_running_mean_folds_updates_as_they_come_and_matches_the_held_average(slices, owned):
    """Lent updates are folded one by one; owned ones in pairs (an odd one waits for
    mean()); large tensors are shared among threads. Each way, in any order, gives the
    float64 mean rounded once, bit for bit."""
    rng = np.random.default_rng(1)
    big = RunningMean.SLICE * (slices - 1) + 17
    updates = [
        ClientUpdate(
            f"e{i}",
            {"w": rng.standard_normal(big, dtype=np.float32), "b": rng.standard_normal(3)},
            int(rng.integers(1, 500)),
        )
        for i in range(5)
    ]
    total = sum(u.num_samples for u in updates)
    expected = {
        name: sum(u.weights[name].astype(np.float64) * u.num_samples for u in updates) / total
        for name in ("w", "b")
    }
    for order in (updates, list(reversed(updates)), updates[1:] + updates[:1]):
        running = RunningMean()
        for u in order:
            given = {k: v.copy() for k, v in u.weights.items()} if owned else u.weights
            running.add(u.node, given, u.num_samples, owned=owned)
        mean = running.mean()
        assert mean["w"].dtype == np.float32 and mean["b"].dtype == np.float64
        assert np.array_equal(mean["w"], expected["w"].astype(np.float32))
        assert np.allclose(mean["b"], expected["b"], rtol=0, atol=1e-12)
        assert running.nodes == [u.node for u in order] and running.total == total
    with pytest.raises(ValueError, match="positive number of samples"):
        RunningMean().add("e0", updates[0].weights, 0)
    with pytest.raises(ValueError, match="no samples"):
        RunningMean().mean()


def test_the_mean_goes_into_the_last_owned_update_whether_it_waited_or_was_folded():
    running = RunningMean()
    only = {"w": np.arange(5, dtype=np.float32) / 3}
    expected = only["w"].copy()
    running.add("a", only, 7, owned=True)  # waits for a second update that never comes
    mean = running.mean()
    assert mean["w"] is only["w"] and np.array_equal(mean["w"], expected)
    running.start()
    first, second = {"w": np.ones(5, np.float32)}, {"w": np.full(5, 4, np.float32)}
    running.add("a", first, 1, owned=True)
    running.add("b", second, 2, owned=True)  # the pair is folded at once
    mean = running.mean()
    assert mean["w"] is second["w"] and np.array_equal(mean["w"], np.full(5, 3, np.float32))


def test_one_running_mean_serves_every_round_and_writes_only_into_what_it_was_given():
    rng = np.random.default_rng(2)

    def update(size):
        return {"w": rng.standard_normal(size, dtype=np.float32), "n": np.arange(3)}

    running = RunningMean()
    for size in (1000, 1000, RunningMean.SLICE + 5):  # the third round: a new shape
        running.start()
        kept, given = update(size), update(size)
        kept_copy = {k: v.copy() for k, v in kept.items()}
        expected = (kept["w"].astype(np.float64) * 3 + given["w"].astype(np.float64) * 5) / 8
        expected_n = ((kept["n"] * 3 + given["n"] * 5) / 8).astype(np.int64)
        running.add("a", kept, 3)
        running.add("b", given, 5, owned=True)
        mean = running.mean()
        assert mean["w"] is given["w"]  # the owned update's memory holds the mean
        assert np.array_equal(mean["w"], expected.astype(np.float32))
        assert np.array_equal(mean["n"], expected_n) and mean["n"].dtype == np.int64
        assert all(np.array_equal(kept[k], kept_copy[k]) for k in kept)  # not written
        assert running.nodes == ["a", "b"] and running.total == 8
