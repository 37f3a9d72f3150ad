"""Robust aggregation rules on known updates: one hostile update of five moves the mean
far away and none of the robust rules; Krum names whom it left out; a norm bound scales an
update's change down to it."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.algorithms.robust import HeldUpdates, aggregator_for, bound_update
from app.core.algorithms.running_mean import RunningMean
from app.core.fl_config import parse_config
from app.errors import InvalidInput


def _round(rule_or_mean, hostile_scale=1e4, **options):
    rng = np.random.default_rng(3)
    held = RunningMean() if rule_or_mean == "mean" else HeldUpdates(rule_or_mean, **options)
    for i in range(4):
        w = {"w": (1 + 0.01 * rng.standard_normal(50)).astype(np.float32), "n": np.array(7)}
        held.add(f"e{i}", w, 100)
    held.add("bad", {"w": np.full(50, hostile_scale, np.float32), "n": np.array(7)}, 100)
    return held, held.mean()


@pytest.mark.parametrize("rule", ["median", "trimmed_mean", "krum", "multi_krum"])
def test_one_hostile_update_of_five_moves_the_mean_but_not_the_robust_rules(rule):
    _, mean = _round("mean")
    assert np.abs(mean["w"] - 1).max() > 1000
    held, out = _round(rule, trim_fraction=0.2, byzantine=1)
    assert np.abs(out["w"] - 1).max() < 0.05, rule
    assert out["w"].dtype == np.float32 and out["n"].dtype == np.int64 and out["n"] == 7
    if rule == "krum":
        assert "bad" in held.left_out and len(held.left_out) == 4
    if rule == "multi_krum":
        assert held.left_out == ["bad"]


def test_a_rule_that_needs_more_updates_says_how_many():
    held = HeldUpdates("krum", byzantine=2)
    for i in range(6):
        held.add(f"e{i}", {"w": np.ones(3)}, 1)
    with pytest.raises(ValueError, match="needs at least 7 updates; the round has 6"):
        held.mean()
    trimmed = HeldUpdates("trimmed_mean", trim_fraction=0.4)
    trimmed.add("a", {"w": np.ones(3)}, 1)
    trimmed.add("b", {"w": np.ones(3)}, 1)
    assert np.array_equal(trimmed.mean()["w"], np.ones(3))  # floor(0.8) = 0 trimmed


def test_a_norm_bound_scales_the_change_down_to_it_and_leaves_the_rest():
    reference = {"w": np.zeros(4, np.float32), "steps": np.array(3)}
    update = {"w": np.array([3, 4, 0, 0], np.float32), "steps": np.array(9)}
    bounded, norm = bound_update(update, reference, 1.0)
    assert norm == pytest.approx(5.0)
    assert np.allclose(bounded["w"], [0.6, 0.8, 0, 0]) and bounded["w"].dtype == np.float32
    assert bounded["steps"] == 9 and update["w"][0] == 3  # the sent update is not changed
    same, norm = bound_update(update, reference, 10.0)
    assert same is update and norm == pytest.approx(5.0)


def test_the_config_chooses_the_rule_and_checks_krum_against_min_clients():
    spec = parse_config({"name": "c", "algorithm": {"aggregation": "median"}}).algorithm
    assert isinstance(aggregator_for(spec), HeldUpdates)
    spec = parse_config({"name": "c"}).algorithm
    assert isinstance(aggregator_for(spec), RunningMean) and spec.norm_bound is None
    with pytest.raises(InvalidInput, match=r"needs training\.min_clients of at least 5"):
        parse_config({"name": "c", "algorithm": {"aggregation": "krum"}})
    parse_config(
        {"name": "c", "algorithm": {"aggregation": "krum"}, "training": {"min_clients": 5}}
    )
    with pytest.raises(InvalidInput, match=r"algorithm\.trim_fraction"):
        parse_config({"name": "c", "algorithm": {"trim_fraction": 0.5}})
    with pytest.raises(InvalidInput, match=r"algorithm\.norm_bound"):
        parse_config({"name": "c", "algorithm": {"norm_bound": 0}})
