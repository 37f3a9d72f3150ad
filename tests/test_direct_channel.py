"""The direct channel for big payloads, over real sockets: what one fetch or push moves,
and everything it refuses (used capabilities, altered bytes, oversize pushes, a server
that is gone, a certificate that is not the one announced)."""

from __future__ import annotations

import dataclasses
import hashlib
import socket

import numpy as np
import pytest

from app.wire import tensor_format
from app.wire.direct import DirectFailed, Endpoint, digest_of, fetch, push
from app.wire.direct_server import DirectServer


@pytest.fixture(params=[False, True], ids=["tcp", "tls"])
def server(request):
    channel = DirectServer("127.0.0.1", tls=request.param, max_pending=64 << 20)
    yield channel
    channel.close()


def payload(n: int = 3_000_000):
    tensors = {"w": np.arange(n, dtype=np.float32), "b": np.ones(7, dtype=np.int64)}
    head, views = tensor_format.layout(tensors)
    parts = [head, *views]
    return tensors, parts, sum(memoryview(p).nbytes for p in parts), digest_of(parts)


def test_a_fetch_gets_the_offered_bytes_once_per_capability(server):
    tensors, parts, size, sha = payload()
    first, second = server.offer(parts, holders=2)
    got = tensor_format.read(memoryview(fetch(server.endpoint, first, size, sha)))
    assert np.array_equal(got["w"], tensors["w"]) and np.array_equal(got["b"], tensors["b"])
    assert fetch(server.endpoint, second, size, sha).nbytes == size
    with pytest.raises(DirectFailed, match="unknown or used capability"):
        fetch(server.endpoint, first, size, sha)
    assert server.bytes_sent == 2 * size


def test_a_fetch_refuses_bytes_that_are_not_the_announced_ones(server):
    _, parts, size, _ = payload()
    (cap,) = server.offer(parts, holders=1)
    with pytest.raises(DirectFailed, match="do not match their SHA-256"):
        fetch(server.endpoint, cap, size, hashlib.sha256(b"other").hexdigest())


def test_a_push_is_kept_under_its_key_until_taken(server):
    tensors, parts, size, sha = payload()
    cap = server.expect(("edge-1", 4), max_size=size)
    assert push(server.endpoint, cap, parts, sha) == (size, sha)
    assert server.take(("edge-1", 4), "0" * 64) is None  # not what was announced
    cap = server.expect(("edge-1", 4), max_size=size)
    push(server.endpoint, cap, parts, sha)
    got = tensor_format.read(memoryview(server.take(("edge-1", 4), sha)))
    assert np.array_equal(got["w"], tensors["w"])
    assert server.take(("edge-1", 4), sha) is None  # taken once
    with pytest.raises(DirectFailed, match="unknown or used capability"):
        push(server.endpoint, cap, parts, sha)


def test_a_push_hashes_while_it_sends(server):
    tensors, parts, size, sha = payload()
    assert push(server.endpoint, server.expect("k", size), parts) == (size, sha)
    got = tensor_format.read(memoryview(server.take("k", sha)))
    assert np.array_equal(got["w"], tensors["w"])


def test_a_push_is_refused_when_too_big_or_altered(server):
    _, parts, size, sha = payload()
    cap = server.expect("k", max_size=size - 1)
    with pytest.raises(DirectFailed, match=f"{size} bytes is more than the {size - 1} expected"):
        push(server.endpoint, cap, parts, sha)
    cap = server.expect("k", max_size=size)
    with pytest.raises(DirectFailed, match="do not match their SHA-256"):
        push(server.endpoint, cap, parts, hashlib.sha256(b"x").hexdigest())
    assert server.take("k", sha) is None


def test_pushed_bytes_held_at_once_are_bounded(server):
    _, parts, size, sha = payload(10_000_000)  # 40 MB; the fixture holds 64 MiB at most
    push(server.endpoint, server.expect("a", size), parts, sha)
    with pytest.raises(DirectFailed, match="too many pushed bytes held"):
        push(server.endpoint, server.expect("b", size), parts, sha)
    assert server.take("a", sha) is not None
    push(server.endpoint, server.expect("b", size), parts, sha)  # room again


def test_a_server_that_is_gone_is_said_as_such():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DirectFailed, match=f"127.0.0.1:{port}: .*refused"):
        fetch(Endpoint("127.0.0.1", port), "ab" * 32, 10, "cd" * 32)


def test_tls_refuses_a_server_whose_certificate_is_not_the_announced_one():
    channel = DirectServer("127.0.0.1", tls=True)
    try:
        _, parts, size, sha = payload(1000)
        (cap,) = channel.offer(parts, holders=1)
        forged = Endpoint("127.0.0.1", channel.endpoint.port, "00" * 32)
        with pytest.raises(DirectFailed, match="certificate is not the one announced"):
            fetch(forged, cap, size, sha)
        plain = Endpoint("127.0.0.1", channel.endpoint.port)  # no TLS against a TLS server
        with pytest.raises(DirectFailed):
            fetch(plain, cap, size, sha)
        assert fetch(channel.endpoint, cap, size, sha).nbytes == size  # the cap still holds
    finally:
        channel.close()


@pytest.mark.parametrize(
    ("endpoint", "error"),
    [
        ({"host": "", "port": 1}, "not a host name"),
        ({"host": "h", "port": 0}, "not a port"),
        ({"host": "h", "port": True}, "not a port"),
        ({"host": "h", "port": 1, "pin": "zz"}, "pin is not a SHA-256"),
        ([], "no direct endpoint"),
    ],
)
def test_a_malformed_announcement_is_refused_by_name(endpoint, error):
    with pytest.raises(DirectFailed, match=error):
        Endpoint.from_json(endpoint)


def test_garbage_on_the_port_does_not_hurt_the_server(server):
    with socket.create_connection(("127.0.0.1", server.endpoint.port)) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\n\r\n" + bytes(64))
    _, parts, size, sha = payload(1000)
    (cap,) = server.offer(parts, holders=1)
    assert fetch(server.endpoint, cap, size, sha).nbytes == size


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_a_round_offered_fetched_and_pushed_as_a_run_does(tls):
    """The FL server's side and the edge's, without the hub between them: each edge's own
    capabilities, one layout and hash a round, the update taken back under (edge, round)."""
    from app.core.run.direct_models import DirectPlan, ServerDirect, fetch_model, push_update
    from app.wire.messages import Message, MessageType

    server = ServerDirect(DirectPlan("127.0.0.1", min_bytes=1 << 20, tls=tls), 1 << 30)
    try:
        model, _, _, _ = payload(1_000_000)
        assert server.wants(model) and not server.wants({"b": model["b"]})
        offers = server.offers(3, model, ["e1", "e2"])
        assert offers["e1"]["sha256"] == offers["e2"]["sha256"]
        assert offers["e1"]["fetch"] != offers["e2"]["fetch"]
        assert bool(offers["e1"]["endpoint"]["pin"]) == tls
        got = fetch_model(offers["e2"])
        assert np.array_equal(got["w"], model["w"])
        update = Message(MessageType.MODEL_UP, job_id=1, round=3, sender="e2", body={"n": 1})
        update = dataclasses.replace(update, tensors={k: v * 2 for k, v in got.items()})
        announced = push_update(offers["e2"], update)
        assert announced.tensors == {} and announced.body["direct"]["size"] > 4_000_000
        back = server.received(announced)
        assert np.array_equal(back.tensors["w"], model["w"] * 2) and back.body == {"n": 1}
        with pytest.raises(DirectFailed, match="did not arrive"):  # taken once
            server.received(announced)
        server.end_round(3)
        with pytest.raises(DirectFailed, match="unknown or used capability"):
            fetch_model(offers["e1"])  # the round is over: its offers are withdrawn
    finally:
        server.close()
