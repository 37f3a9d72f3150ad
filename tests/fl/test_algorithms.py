import numpy as np
import pytest

from app.core.algorithms import (
    ClientUpdate,
    FedAvg,
    build_strategy,
    is_finite,
    sample_clients,
    weighted_average,
)
from app.core.fl_config import AlgorithmSpec


def upd(node, value, n):
    return ClientUpdate(node, {"w": np.full(3, value, np.float32), "steps": np.array(5)}, n)


def test_fedavg_is_sample_weighted():
    out = FedAvg(AlgorithmSpec()).step({}, [upd("a", 1.0, 1), upd("b", 4.0, 3)])
    assert np.allclose(out["w"], 3.25) and out["w"].dtype == np.float32


def test_fedavgm_accumulates_momentum():
    strat = build_strategy(AlgorithmSpec(name="fedavgm", server_lr=1.0, server_momentum=0.5))
    g = {"w": np.zeros(3, np.float32), "steps": np.array(5)}
    g1 = strat.step(g, [upd("a", 1.0, 1)])
    assert np.allclose(g1["w"], 1.0)
    g2 = strat.step(g1, [upd("a", 2.0, 1)])  # delta 1, momentum 0.5*1 + 1 = 1.5
    assert np.allclose(g2["w"], 2.5)


@pytest.mark.parametrize("name", ["fedadam", "fedyogi", "fedadagrad"])
def test_adaptive_server_optimisers_move_toward_the_clients(name):
    strat = build_strategy(AlgorithmSpec(name=name, server_lr=0.1))
    g = {"w": np.zeros(3, np.float32), "steps": np.array(5)}
    for _ in range(5):
        g = strat.step(g, [upd("a", 1.0, 2), upd("b", 1.0, 2)])
    assert np.all(g["w"] > 0.05) and np.all(g["w"] < 1.5)
    assert set(strat.state()) == {"m.w", "v.w"}


def test_fedprox_asks_clients_for_a_proximal_term():
    assert build_strategy(AlgorithmSpec(name="fedprox", mu=0.3)).client_prox_mu == 0.3
    assert build_strategy(AlgorithmSpec(name="fedavg")).client_prox_mu == 0.0


def test_centralized_is_not_a_strategy():
    with pytest.raises(ValueError, match="baseline"):
        build_strategy(AlgorithmSpec(name="centralized"))


def test_non_finite_detection():
    assert is_finite({"w": np.ones(2)})
    assert not is_finite({"w": np.array([1.0, np.nan])})
    assert not is_finite({"w": np.array([np.inf])})


def test_weighted_average_needs_samples():
    with pytest.raises(ValueError):
        weighted_average([upd("a", 1.0, 0)])


def test_client_sampling():
    rng = np.random.default_rng(0)
    edges = [f"e{i}" for i in range(10)]
    picked = sample_clients(edges, 0.3, 2, rng)
    assert len(picked) == 3 and set(picked) <= set(edges)
    assert sample_clients(edges, 0.1, 4, rng).__len__() == 4
    assert sample_clients(edges[:2], 1.0, 5, rng) == ["e0", "e1"]
