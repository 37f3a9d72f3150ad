"""Differential privacy's two halves: an edge's update clipped and noised as configured
(seeded, so a round repeats), and the server's ledger: more noise, less epsilon spent;
more rounds or a higher sample rate, more."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from app.core.fl_config import parse_config
from app.core.privacy import PrivacyLedger, privatize
from app.errors import InvalidInput


def test_an_update_is_clipped_to_the_bound_and_noised_with_the_configured_spread():
    reference = {"w": np.zeros(200_000, np.float32), "steps": np.array(4)}
    update = {"w": np.full(200_000, 0.01, np.float32), "steps": np.array(5)}
    clean, norm = privatize(update, reference, clip_norm=1.0, noise_multiplier=0.0, seed=1)
    assert norm == pytest.approx(0.01 * np.sqrt(200_000), rel=1e-6)
    assert np.linalg.norm(clean["w"].astype(np.float64)) == pytest.approx(1.0, rel=1e-5)
    assert clean["steps"] == 5 and clean["w"].dtype == np.float32
    noisy, _ = privatize(update, reference, clip_norm=1.0, noise_multiplier=0.5, seed=1)
    assert np.std(noisy["w"] - clean["w"]) == pytest.approx(0.5, rel=0.01)
    again, _ = privatize(update, reference, clip_norm=1.0, noise_multiplier=0.5, seed=1)
    assert np.array_equal(noisy["w"], again["w"])  # the edge's seed: a round repeats
    other, _ = privatize(update, reference, clip_norm=1.0, noise_multiplier=0.5, seed=2)
    assert not np.array_equal(noisy["w"], other["w"])


def test_the_ledger_spends_less_with_more_noise_and_more_with_more_rounds():
    def spent(noise, rate, rounds):
        ledger = PrivacyLedger(noise, 1e-5)
        return [ledger.round_done(rate) for _ in range(rounds)]

    low, high = spent(0.8, 1.0, 10), spent(2.0, 1.0, 10)
    assert all(a < b for a, b in itertools.pairwise(low))  # it only grows
    assert high[-1] < low[-1]
    assert spent(0.8, 0.5, 3)[-1] < low[2]  # sampled edges spend less
    resumed = PrivacyLedger(0.8, 1e-5, rounds_done=9).round_done(1.0)
    assert resumed == pytest.approx(low[-1])


def test_privacy_is_off_unless_noise_is_set_and_refuses_bad_values():
    assert not parse_config({"name": "c"}).privacy.enabled
    assert parse_config({"name": "c", "privacy": {"noise_multiplier": 1.0}}).privacy.enabled
    with pytest.raises(InvalidInput, match=r"privacy\.clip_norm"):
        parse_config({"name": "c", "privacy": {"clip_norm": 0}})
    with pytest.raises(InvalidInput, match=r"privacy\.delta"):
        parse_config({"name": "c", "privacy": {"delta": 1.5}})
