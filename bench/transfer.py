"""Move one large named-tensor message through each hub on loopback; compare with raw TCP.

    python -m bench.transfer [--sizes 100,1000] [--backends local,mqtt,mosquitto,grpc,mpi,trpc]
                             [--json]

MB/s counts payload megabytes (10^6 bytes) from the start of publish() until the receiving
handler holds the decoded, integrity-checked tensors. As deployed, the sender (this
process), the hub (`feddeck hub` or Mosquitto) and the receiver are three processes; `local`
is the in-process hub; `mpi` and `trpc` are a 2-rank job (mpirun, torchrun) whose rank 0
sends to rank 1, as a cluster run's server sends to its ranks (until the receiver's answer
is back). `direct` rows move the model beside the hub, as an FL server offers it to an
edge: the sender lays it out and hashes it, announces it over the gRPC hub, and the
receiver fetches it over its own connection, hashing as it lands; `stored model` is how a
run offers every round's model after the first: the aggregate it stored, under the digest
the store computed. The baseline sends the same number of bytes through a plain TCP socket
between two threads of this process, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from app.backends.factory import create_hub
from app.backends.mqtt.embedded_broker import free_port
from app.core.artifacts import save_weights
from app.core.run.direct_models import DirectPlan, ServerDirect, fetch_model, push_update
from app.wire.chunking import CHUNK_OVERHEAD
from app.wire.messages import Message, MessageType
from tests.servers import Mosquitto
from tests.waiting import wait_port

MB = 1_000_000
ROOT = Path(__file__).resolve().parents[1]
RANK_BACKENDS = ("mpi", "trpc")  # a 2-rank job on this machine: mpirun, torchrun


def socket_baseline(nbytes: int) -> float:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    received = [0]

    def receive() -> None:
        conn, _ = server.accept()
        buf = memoryview(bytearray(1 << 20))
        while received[0] < nbytes:
            n = conn.recv_into(buf)
            if not n:
                break
            received[0] += n
        conn.close()

    thread = threading.Thread(target=receive)
    thread.start()
    payload = np.ones(nbytes, dtype=np.uint8)
    client = socket.create_connection(("127.0.0.1", port))
    start = time.perf_counter()
    client.sendall(memoryview(payload))
    thread.join()
    elapsed = time.perf_counter() - start
    client.close()
    server.close()
    assert received[0] == nbytes
    return elapsed


def receive(url: str, nbytes: int, raw: bool) -> None:
    """The receiving node, as its own process: says when it listens, then when it holds the
    message (time.monotonic is one clock for every process of the machine). `raw`: count
    the chunks' bytes as they arrive, without reassembling or decoding anything."""
    done = threading.Event()
    got: list[Message] = []
    with create_hub(url, "bench-rx") as rx:
        if raw:
            counted = [0]

            def count(topic: str, chunk: bytes) -> None:  # on the network thread
                counted[0] += len(chunk) - CHUNK_OVERHEAD
                if counted[0] >= nbytes:
                    done.set()

            rx._on_chunk = count
        rx.subscribe("fd/bench/#", lambda topic, m: (got.append(m), done.set()))
        print("ready", flush=True)
        if not done.wait(600):
            raise SystemExit(f"{url}: message not delivered")
        at = time.monotonic()
        if not raw and got[0].tensors["w"].nbytes != nbytes // 4 * 4:
            raise SystemExit(f"{url}: received {got[0].tensors['w'].nbytes} bytes")
    print(f"done {at!r}", flush=True)


def hub_transfer(url: str, nbytes: int, raw: bool = False) -> float:
    if url.startswith("local://"):
        return _in_process_transfer(url, nbytes)
    command = [sys.executable, "-m", "bench.transfer", "--receive", url, "--bytes", str(nbytes)]
    rx = subprocess.Popen(command + ["--raw"] * raw, stdout=subprocess.PIPE, text=True)
    try:
        if rx.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{url}: the receiver did not start")
        tensor = np.ones(nbytes // 4, dtype=np.float32)
        with create_hub(url, "bench-tx") as tx:
            start = time.monotonic()
            if raw:  # the same bytes in chunks of the same size, with no message around them
                chunk = bytes(tx.limits.chunk_size + CHUNK_OVERHEAD)
                for _ in range(-(-nbytes // tx.limits.chunk_size)):
                    tx._send_chunk("fd/bench/raw", chunk)
            else:
                tx.publish("fd/bench/model/up", Message(MessageType.DATA, tensors={"w": tensor}))
            line = rx.stdout.readline().split()
            tx.flush()
        if line[:1] != ["done"]:
            raise RuntimeError(f"{url}: the receiver failed")
        return float(line[1]) - start
    finally:
        rx.wait(timeout=60)


def _in_process_transfer(url: str, nbytes: int) -> float:
    done = threading.Event()
    with create_hub(url, "bench-rx") as rx, create_hub(url, "bench-tx") as tx:
        rx.subscribe("fd/bench/#", lambda topic, m: done.set())
        tensor = np.ones(nbytes // 4, dtype=np.float32)
        start = time.monotonic()
        tx.publish("fd/bench/model/up", Message(MessageType.DATA, tensors={"w": tensor}))
        if not done.wait(600):
            raise TimeoutError(f"{url}: message not delivered")
        return time.monotonic() - start


def direct_receive(url: str, nbytes: int) -> None:
    """The fetching node, as its own process: takes the announcement from the hub, then the
    model over the direct channel (what an edge does)."""
    done = threading.Event()
    got: list = []

    def on_announcement(topic: str, message: Message) -> None:
        got.append(fetch_model(message.body["direct"]["bench-rx"]))
        done.set()

    with create_hub(url, "bench-rx") as rx:
        rx.subscribe("fd/bench/#", on_announcement)
        print("ready", flush=True)
        if not done.wait(600):
            raise SystemExit("direct: model not fetched")
        at = time.monotonic()
    if got[0]["w"].nbytes != nbytes // 4 * 4:
        raise SystemExit(f"direct: received {got[0]['w'].nbytes} bytes")
    print(f"done {at!r}", flush=True)


def direct_transfer(url: str, nbytes: int, tls: bool = False, stored: bool = False) -> float:
    """`stored`: the model stored before the clock starts and offered under the digest
    the store computed, as the FL server offers every round's model after the first."""
    command = [sys.executable, "-m", "bench.transfer", "--receive-direct", url]
    rx = subprocess.Popen([*command, "--bytes", str(nbytes)], stdout=subprocess.PIPE, text=True)
    server = ServerDirect(DirectPlan("127.0.0.1", 0, tls), max_pending=1 << 30)
    try:
        if rx.stdout.readline().strip() != "ready":
            raise RuntimeError("direct: the receiver did not start")
        tensors = {"w": np.ones(nbytes // 4, dtype=np.float32)}
        with create_hub(url, "bench-tx") as tx, tempfile.TemporaryDirectory() as folder:
            if stored:
                file = save_weights(Path(folder) / "aggregate.safetensors", tensors, {"round": "1"})
                server.stored(1, tensors, file.metadata, file.sha256)
            start = time.monotonic()
            offers = server.offers(1, tensors, ["bench-rx"])
            tx.publish("fd/bench/model/down", Message(MessageType.DATA, body={"direct": offers}))
            line = rx.stdout.readline().split()
        if line[:1] != ["done"]:
            raise RuntimeError("direct: the receiver failed")
        return float(line[1]) - start
    finally:
        server.close()
        rx.wait(timeout=60)


def direct_push(url: str, nbytes: int) -> None:
    """The pushing node, as its own process (what an edge does with its update): reads its
    offer from stdin, says when it starts, pushes, announces the update on the hub."""
    offer = json.loads(sys.stdin.readline())
    update = Message(MessageType.MODEL_UP, round=1, tensors={"w": np.ones(nbytes // 4, np.float32)})
    with create_hub(url, "bench-tx") as tx:
        start = time.monotonic()
        tx.publish("fd/bench/model/up", push_update(offer, update))
        tx.flush()
    print(f"start {start!r}", flush=True)


def direct_push_transfer(url: str, nbytes: int) -> float:
    """An edge's update pushed directly: from the start of its push until the server holds
    the tensors it announced on the hub (the edge hashes as it sends)."""
    server = ServerDirect(DirectPlan("127.0.0.1", 0), max_pending=2 * nbytes + (1 << 20))
    done, at = threading.Event(), []

    def on_update(topic: str, message: Message) -> None:
        if server.received(message).tensors["w"].nbytes == nbytes // 4 * 4:
            at.append(time.monotonic())
            done.set()

    offer = {  # what a round's offer gives an edge for its update
        "endpoint": server.channel.endpoint.to_json(),
        "push": server.channel.expect(("bench-tx", 1), 2 * nbytes),
    }
    command = [sys.executable, "-m", "bench.transfer", "--push-direct", url]
    try:
        with create_hub(url, "bench-rx") as rx:
            rx.subscribe("fd/bench/#", on_update)
            tx = subprocess.Popen(
                [*command, "--bytes", str(nbytes)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            tx.stdin.write(json.dumps(offer) + "\n")
            tx.stdin.flush()
            line = tx.stdout.readline().split()
            if line[:1] != ["start"] or not done.wait(600):
                raise RuntimeError("direct: the update was not pushed")
            tx.wait(timeout=60)
        return at[0] - float(line[1])
    finally:
        server.close()


def paho_receive(port: int, nbytes: int) -> None:
    """paho alone, receiving side (its own process): counts 1 MiB messages, QoS 1."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    done, count = threading.Event(), [0]

    def on_message(client, userdata, msg) -> None:
        count[0] += len(msg.payload)
        if count[0] >= nbytes:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="paho-rx")
    client.on_message = on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe("bench/#", qos=1)
    subscribed.wait(20)
    print("ready", flush=True)
    done.wait(600)
    print(f"done {time.monotonic()!r}", flush=True)
    client.loop_stop()


def paho_alone(url: str, nbytes: int, chunk_size: int = 1 << 20) -> float:
    """paho-mqtt alone through the same broker: 1 MiB QoS 1 messages from this process to a
    receiving process; no FedDeck code. The ceiling of any MQTT hub client in Python."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    port = url.rsplit(":", 1)[1]
    command = [sys.executable, "-m", "bench.transfer", "--receive-paho", port]
    rx = subprocess.Popen([*command, "--bytes", str(nbytes)], stdout=subprocess.PIPE, text=True)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="paho-tx")
    client.max_inflight_messages_set(64)
    try:
        if rx.stdout.readline().strip() != "ready":
            raise RuntimeError("the paho receiver did not start")
        client.connect("127.0.0.1", int(port))
        client.loop_start()
        payload = bytes(chunk_size)
        start = time.monotonic()
        for _ in range(-(-nbytes // chunk_size)):
            client.publish("bench/raw", payload, qos=1)
        line = rx.stdout.readline().split()
        if line[:1] != ["done"]:
            raise RuntimeError("the paho receiver failed")
        return float(line[1]) - start
    finally:
        client.loop_stop()
        client.disconnect()
        rx.wait(timeout=60)


def grpcio_stream(nbytes: int, chunk_size: int = 1 << 20) -> float:
    """grpcio alone: one client stream of `chunk_size` messages into a server that counts
    them, both in this process; no FedDeck code. The ceiling of any gRPC hub in Python."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc

    def same(b: bytes) -> bytes:
        return b

    def sink(requests, context) -> bytes:
        return str(sum(len(r) for r in requests)).encode()

    limit = [("grpc.max_receive_message_length", 2 * chunk_size)]
    server = grpc.server(ThreadPoolExecutor(2), options=limit)
    handler = grpc.stream_unary_rpc_method_handler(sink, same, same)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("b", {"S": handler})])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=limit) as channel:
            call = channel.stream_unary("/b/S", same, same)
            chunk = bytes(chunk_size)
            count = -(-nbytes // chunk_size)
            start = time.monotonic()
            got = int(call(iter([chunk] * count)))
            elapsed = time.monotonic() - start
    finally:
        server.stop(0)
    assert got == count * chunk_size
    return elapsed


class _Hubs:
    """Starts each backend's hub for the run and stops it after."""

    def __init__(self) -> None:
        self._stops: list = []
        self._tmp = Path(tempfile.mkdtemp(prefix="feddeck-bench-"))

    def url(self, backend: str) -> str | None:
        if backend in RANK_BACKENDS:
            return None  # each row starts its own job
        if backend == "local":
            return "local://bench"
        if backend in ("mqtt", "grpc"):  # `feddeck hub`, as a lab runs it standalone
            port = free_port()
            command = [sys.executable, "-m", "app", "--data-dir", str(self._tmp), "hub"]
            command += [f"--{backend}", f"127.0.0.1:{port}", "--open"]
            proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)
            self._stops.append(lambda: (proc.terminate(), proc.wait()))
            wait_port(port)
            return f"{backend}://127.0.0.1:{port}"
        if backend == "mosquitto":
            if shutil.which("mosquitto") is None:
                return None
            broker = Mosquitto(self._tmp).start()
            self._stops.append(broker.stop)
            return broker.url
        raise SystemExit(f"unknown backend {backend!r}")

    def stop(self) -> None:
        for stop in reversed(self._stops):
            stop()


def rank_transfer(backend: str, nbytes: int, repeat: int, how: str) -> float | None:
    """The best of `repeat` times for a message (or raw chunks) from rank 0 to rank 1 of a
    2-rank job on this machine, started by the transport's engine (None: not installed)."""
    url = f"{backend}://world"
    command = [sys.executable, "-m", "bench.rank_transfer", url, str(nbytes), str(repeat), how]
    if backend == "mpi":
        if shutil.which("mpirun") is None:
            return None
        root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
        engine = ["mpirun", *root, "-np", "2", "--oversubscribe", "--bind-to", "none"]
    else:
        port = free_port()
        engine = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1"]
        engine += ["--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
        engine += ["--master-port", str(port), "--no-python"]
    done = subprocess.run(
        [*engine, *command], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    found = [line for line in done.stdout.splitlines() if line.startswith("seconds ")]
    if done.returncode != 0 or not found:
        raise RuntimeError(f"{backend} transfer failed: {(done.stdout + done.stderr)[-2000:]}")
    return float(found[0].split()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="payload sizes in MB")
    parser.add_argument("--backends", default="local,mqtt,mosquitto,grpc,mpi,trpc")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the best counts")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--receive", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--bytes", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--receive-paho", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--receive-direct", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--push-direct", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.push_direct:
        direct_push(args.push_direct, args.bytes)
        return 0
    if args.receive_direct:
        direct_receive(args.receive_direct, args.bytes)
        return 0
    if args.receive_paho:
        paho_receive(args.receive_paho, args.bytes)
        return 0
    if args.receive:
        receive(args.receive, args.bytes, args.raw)
        return 0
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        parser.error("--sizes takes comma-separated whole numbers of MB")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    rows = []
    hubs = _Hubs()
    try:
        urls = {backend: hubs.url(backend) for backend in args.backends.split(",")}
        # The direct rows' announcement goes over a hub of its own, as a lab's would.
        announcer = urls.get("grpc") or hubs.url("grpc")
        for size in sizes:
            nbytes = size * MB

            def best(measure, *a) -> float:
                return min(measure(*a) for _ in range(args.repeat))

            base = best(socket_baseline, nbytes)
            measured = [
                ("tcp-socket", "", base),
                ("grpcio-alone", "raw", best(grpcio_stream, nbytes)),
            ]
            for backend, url in urls.items():
                if backend in RANK_BACKENDS:
                    for how, what in (("message", "message"), ("raw", "raw chunks")):
                        seconds = rank_transfer(backend, nbytes, args.repeat, how)
                        if seconds is None:
                            print(f"skipping {backend}: not installed", file=sys.stderr)
                            break
                        measured.append((backend, what, seconds))
                    continue
                if url is None:
                    print(f"skipping {backend}: not installed", file=sys.stderr)
                    continue
                measured.append((backend, "message", best(hub_transfer, url, nbytes)))
                if backend in ("mosquitto", "grpc"):
                    measured.append((backend, "raw", best(hub_transfer, url, nbytes, True)))
                if backend == "mosquitto":
                    measured.append(("paho-alone", "raw", best(paho_alone, url, nbytes)))
            measured.append(("direct", "message", best(direct_transfer, announcer, nbytes)))
            measured.append(
                ("direct", "message, TLS", best(direct_transfer, announcer, nbytes, True))
            )
            measured.append(
                ("direct", "stored model", best(direct_transfer, announcer, nbytes, False, True))
            )
            measured.append(("direct", "push", best(direct_push_transfer, announcer, nbytes)))
            rows += [
                {
                    "backend": backend,
                    "what": what,
                    "mb": size,
                    "seconds": seconds,
                    "mb_per_s": size / seconds,
                    "vs_socket": base / seconds,
                }
                for backend, what, seconds in measured
            ]
    finally:
        hubs.stop()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(
            f"{'backend':<13} {'what':<12} {'MB':>5} {'seconds':>8} {'MB/s':>7} {'vs socket':>10}"
        )
        for r in rows:
            print(
                f"{r['backend']:<13} {r['what']:<12} {r['mb']:>5} {r['seconds']:>8.2f} "
                f"{r['mb_per_s']:>7.0f} {r['vs_socket']:>10.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
