"""Secure aggregation's arithmetic: the masks cancel in the sum, the server's vectors say
nothing alone, a dropout is recovered, and what an edge reveals is limited."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.secagg import shamir
from app.core.secagg.masking import EdgeSecrets, decode, encode
from app.core.secagg.secure_sum import MASKED, SecureSum, threshold_for
from app.wire.messages import Message, MessageType

JOB, RND = 7, 3


def _model(rng) -> dict[str, np.ndarray]:
    return {
        "fc.weight": rng.normal(size=(16, 8)).astype(np.float32),
        "fc.bias": rng.normal(size=16).astype(np.float32),
        "steps": np.array(5, dtype=np.int64),
    }


def _round(n=5, dropped=(), silent=(), max_dropout=0.4, seed=0):
    rng = np.random.default_rng(seed)
    edges = {f"edge-{i}": EdgeSecrets(JOB, f"edge-{i}") for i in range(n)}
    reference = _model(rng)
    updates = {node: _model(rng) for node in edges}
    samples = {node: int(rng.integers(50, 500)) for node in edges}
    keys = {node: e.public for node, e in edges.items()}
    server = SecureSum(reference, keys, threshold_for(n, max_dropout))
    body = server.round_body()
    sent = {}
    for node, edge in edges.items():
        vector, shares = edge.mask(RND, body["secagg"], updates[node], samples[node])
        sent[node] = vector
        if node in dropped:
            continue  # trained, never delivered
        message = Message(MessageType.MODEL_UP, body={"shares": shares}, tensors={MASKED: vector})
        assert server.problem(message) is None
        server.add(node, message)
    request = server.unmask_request()
    for node in server.nodes:
        if node in silent:
            continue
        answer = edges[node].answer(
            RND, request["secagg"], request["survivors"], request["sealed"][node]
        )
        assert server.take_answer(node, answer) is None
    kept = [n for n in edges if n not in dropped]
    total = sum(samples[n] for n in kept)
    plain = {
        k: sum(updates[n][k].astype(np.float64) * samples[n] for n in kept) / total
        for k in reference
    }
    return server, plain, total, sent, updates, edges, request


def test_the_sum_of_masked_updates_is_the_weighted_mean():
    server, plain, total, sent, updates, *_ = _round()
    mean, samples = server.unmask()
    assert samples == total
    for name, value in plain.items():
        assert mean[name].dtype == updates["edge-0"][name].dtype
        np.testing.assert_allclose(mean[name], value.astype(mean[name].dtype), atol=1e-6)
    # what the server holds of one edge: words that look uniformly random
    clear = encode(updates["edge-0"], 100)
    assert np.mean(sent["edge-0"] == clear) < 0.01
    signed = sent["edge-0"].view(np.int64).astype(np.float64)
    assert np.abs(signed).mean() > 2**60  # the clear values are below 2^40


def test_an_edge_that_dropped_out_is_recovered_from_the_others():
    server, plain, total, *_ = _round(n=5, dropped=("edge-2",))
    mean, samples = server.unmask()
    assert samples == total
    np.testing.assert_allclose(mean["fc.weight"], plain["fc.weight"], atol=1e-6)


def test_too_few_answers_or_a_silent_survivor_beside_a_dropout_say_why():
    server, *_ = _round(n=5, silent=("edge-0", "edge-1", "edge-3"))
    with pytest.raises(ValueError, match="2 shares of edge-0's mask seed came back; 3 are needed"):
        server.unmask()
    server, *_ = _round(n=5, dropped=("edge-4",), silent=("edge-1",))
    with pytest.raises(ValueError, match="edge-1 did not answer, so its masks with edge-4"):
        server.unmask()


def test_an_edge_answers_once_and_never_for_a_survivors_pairwise_masks():
    *_, edges, request = _round(n=4, dropped=("edge-3",), max_dropout=0.25)
    with pytest.raises(ValueError, match="answered already"):
        edges["edge-0"].answer(RND, request["secagg"], request["survivors"], {})
    fresh = EdgeSecrets(JOB, "edge-x")
    keys = {"edge-x": fresh.public, "a": EdgeSecrets(JOB, "a").public}
    secagg = {"keys": keys, "threshold": 2}
    with pytest.raises(ValueError, match="1 survivors named; the threshold is 2"):
        fresh.answer(RND, secagg, ["edge-x"], {})
    answer = edges["edge-1"].answer(
        RND + 1, request["secagg"], request["survivors"], request["sealed"]["edge-1"]
    )  # a share sealed for round 3 does not open as round 4's
    assert answer["seed_shares"] == {} and set(answer["mask_keys"]) == {"edge-3"}
    with pytest.raises(ValueError, match="does not carry this edge's own key"):
        fresh.mask(RND, {"keys": {"a": keys["a"]}, "threshold": 2}, {}, 1)


def test_shamir_needs_the_threshold():
    shares = shamir.split(123456789, [1, 2, 3, 4, 5], 3)
    assert shamir.combine({x: shares[x] for x in (1, 3, 5)}) == 123456789
    assert shamir.combine({x: shares[x] for x in (2, 4)}) != 123456789


def test_decode_refuses_a_sum_without_samples():
    with pytest.raises(ValueError, match="sample count is 0"):
        decode(np.zeros(3, np.uint64), {"w": np.zeros(2, np.float32)})
