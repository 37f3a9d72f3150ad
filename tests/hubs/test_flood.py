"""A flood of connections with bad or no credentials while a run goes (bench.flood, at a
test's scale): the run finishes with every round, its edges are not cut off, no flood
connection gets in, and the hub's log says so in a few lines, not one per attempt."""

from __future__ import annotations

import logging
import math

import pytest

from bench.flood import run_case

pytestmark = pytest.mark.slow
RATE, SECONDS, ROUNDS = 200.0, 12.0, 6


@pytest.mark.parametrize("hub", ["mqtt", "grpc"])
def test_a_run_finishes_through_a_flood_of_bad_connections(hub, caplog):
    caplog.set_level(logging.WARNING, logger="app.backends")
    result = run_case(hub, ROUNDS, (RATE, SECONDS))
    assert result["status"] == "FINISHED", result["reason"]
    assert result["all_rounds"] and result["rounds_recorded"] == ROUNDS
    assert result["edges_cut_off"] == 0
    outcomes = result["flooded"]["outcomes"]
    assert result["flooded"]["attempts"] >= RATE * SECONDS / 4  # it did flood
    assert outcomes.get("accepted", 0) == 0 and outcomes.get("refused", 0) > 0, outcomes
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    # 20 in full per 10 s, then one line with the count: not one line per attempt. The
    # intervals count from the hub's start, so a 12 s flood (and its last attempts' time
    # outs) can touch three of them.
    windows = math.ceil((SECONDS + 5) / 10) + 1
    assert 0 < len(refusals) <= windows * 21 < outcomes["refused"], (len(refusals), outcomes)
    assert any("more" in r.getMessage() and "connections in" in r.getMessage() for r in refusals)
