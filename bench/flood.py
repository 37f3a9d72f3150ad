"""A flood of hostile connections while a run goes: does the run finish, every round
recorded, with its edges never cut off?

    python -m bench.flood [--rate 1000] [--seconds 30] [--hubs mqtt,grpc] [--rounds 30]

Per hub (the embedded MQTT broker, the gRPC hub; authentication on): a control center,
4 edge processes and a FedAvg run on digits; meanwhile a second process opens `--rate`
new connections a second for `--seconds` with bad or no credentials (at most 256 open
at a time: bounded). The baseline row is the same run with no flood, in the same bench
run. Reported: the run's wall time, rounds recorded, edges that went offline, flood
attempts made and their outcomes (refused, timed out; accepted must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IN_FLIGHT = 256


def _mqtt_connect_packet(client_id: str, username: str | None, password: str | None) -> bytes:
    """An MQTT 3.1.1 CONNECT, built by hand: the flooder needs no client library."""

    def field(text: str) -> bytes:
        raw = text.encode()
        return len(raw).to_bytes(2, "big") + raw

    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = field("MQTT") + bytes([4, flags]) + (30).to_bytes(2, "big") + field(client_id)
    if username is not None:
        body += field(username)
    if password is not None:
        body += field(password)
    length, size = b"", len(body)
    while True:
        byte, size = size % 128, size // 128
        length += bytes([byte | (0x80 if size else 0)])
        if not size:
            break
    return b"\x10" + length + body


def _bad_credentials(rng: random.Random) -> tuple[str | None, str | None]:
    kind = rng.randrange(4)
    if kind == 0:
        return None, None  # none at all
    if kind == 1:
        return secrets.token_hex(8), secrets.token_hex(16)  # an unknown edge
    if kind == 2:
        return "feddeck-service", "feddeck-service." + secrets.token_hex(16)  # a guessed secret
    return secrets.token_hex(8), None  # a name, no password


async def _mqtt_attempt(host: str, port: int, rng: random.Random) -> str:
    user, password = _bad_credentials(rng)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    except (OSError, TimeoutError):
        return "not connected"
    try:
        writer.write(_mqtt_connect_packet(f"flood-{secrets.token_hex(6)}", user, password))
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(4), 5)
        if len(reply) == 4 and reply[0] == 0x20:
            return "accepted" if reply[3] == 0 else "refused"
        return "refused"  # closed on it
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return "timed out"
    finally:
        writer.close()


async def _grpc_attempt(target: str, rng: random.Random) -> str:
    import grpc

    from app.backends.grpc import hub_pb2, hub_pb2_grpc

    user, password = _bad_credentials(rng)
    metadata = [("node-id", user or "")] + (
        [("authorization", f"Bearer {password}")] if password else []
    )

    async def no_frames():
        await asyncio.sleep(10)
        if False:  # an async generator that sends nothing
            yield hub_pb2.Frame()

    async with grpc.aio.insecure_channel(target) as channel:
        call = hub_pb2_grpc.HubStub(channel).Connect(no_frames(), metadata=metadata)
        try:
            await asyncio.wait_for(call.read(), 5)
            return "accepted"
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            return "refused" if code != grpc.StatusCode.UNAVAILABLE else "not connected"
        except TimeoutError:
            return "timed out"
        finally:
            call.cancel()


async def _flood(kind: str, address: str, rate: float, seconds: float) -> dict:
    host, _, port = address.rpartition(":")
    rng = random.Random(7)
    outcomes: dict[str, int] = {}
    gate = asyncio.Semaphore(IN_FLIGHT)
    tasks = set()

    async def one() -> None:
        try:
            if kind == "mqtt":
                result = await _mqtt_attempt(host, int(port), rng)
            else:
                result = await _grpc_attempt(address, rng)
        except Exception as exc:  # an outcome to count, not a reason to stop the flood
            result = type(exc).__name__
        finally:
            gate.release()
        outcomes[result] = outcomes.get(result, 0) + 1

    start = time.monotonic()
    made = 0
    while (now := time.monotonic()) - start < seconds:
        due = int((now - start) * rate) - made
        for _ in range(due):
            await gate.acquire()
            task = asyncio.create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            made += 1
        await asyncio.sleep(0.005)
    wall = time.monotonic() - start
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"attempts": made, "seconds": wall, "outcomes": outcomes}


def flooder(kind: str, address: str, rate: float, seconds: float) -> None:
    result = asyncio.run(_flood(kind, address, rate, seconds))
    print(json.dumps(result), flush=True)


def start_flood(kind: str, address: str, rate: float, seconds: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.flood", "--flooder", kind, address, str(rate), str(seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def run_case(kind: str, rounds: int, flood: tuple[float, float] | None) -> dict:
    """One run of `rounds` on a fresh data dir; `flood`: (rate, seconds) or None."""
    import tempfile
    import threading

    from app.config import Settings
    from app.services import Services
    from app.services.runs.demo import DemoOptions, create_demo_job, start_cluster
    from app.services.security.auth import SYSTEM

    tmp = Path(tempfile.mkdtemp(prefix="feddeck-flood-"))
    settings = Settings.load(data_dir=tmp)
    services = Services.open(settings)
    options = DemoOptions(edges=4, rounds=rounds, backend=kind, heartbeat_s=1.0)
    cluster = start_cluster(settings, services, options)
    done = threading.Event()
    cluster.launcher.on_exit = lambda _id: done.set()
    try:
        deadline = time.monotonic() + 120
        while any(services.edges.get(SYSTEM, n).status != "IDLE" for n in cluster.edge_names):
            if time.monotonic() > deadline:
                raise SystemExit("the edges did not come online")
            time.sleep(0.2)
        job_id = create_demo_job(services, cluster.edge_names, options)
        proc = start_flood(kind, cluster.hub_url.split("://")[1], *flood) if flood else None
        started = time.monotonic()
        cluster.launcher.start(SYSTEM, job_id)
        if not done.wait(900):
            raise SystemExit("the run did not end")
        wall = time.monotonic() - started
        cluster.ingest.settle()
        flooded = json.loads(proc.communicate(timeout=120)[0]) if proc else None
        job = services.jobs.get(SYSTEM, job_id)
        rounds_recorded = sorted(
            {
                m.round
                for m in services.run_data.metrics(SYSTEM, job_id)
                if m.node == "aggregate" and m.name == "test_accuracy"
            }
        )
        offline = [
            line.text
            for line in services.run_data.logs(SYSTEM, job_id, "server", min_level="WARNING")
            if "went offline" in line.text or "missed the deadline" in line.text
        ]
        return {
            "hub": kind,
            "flood": flood,
            "status": job.status,
            "reason": job.status_reason,
            "wall_s": wall,
            "rounds_recorded": len(rounds_recorded),
            "all_rounds": rounds_recorded == list(range(1, rounds + 1)),
            "edges_cut_off": len(offline),
            "flooded": flooded,
        }
    finally:
        cluster.close()
        services.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="attempts per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--hubs", default="mqtt,grpc")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--flooder", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.flooder:
        kind, address, rate, seconds = args.flooder
        flooder(kind, address, float(rate), float(seconds))
        return 0
    rows = []
    for kind in args.hubs.split(","):
        rows.append(run_case(kind, args.rounds, None))
        rows.append(run_case(kind, args.rounds, (args.rate, args.seconds)))
    if args.json:
        print(json.dumps(rows, indent=2))
    head = f"{'hub':<5} {'flood':<14} {'status':<9} {'wall s':>7} {'rounds':>7} {'cut off':>8}"
    print(head + f" {'attempts':>9} {'per s':>7}  outcomes")
    for r in rows:
        f = r["flooded"]
        shown = "none (baseline)" if not r["flood"] else f"{r['flood'][0]:g}/s x {r['flood'][1]:g}s"
        attempts = f["attempts"] if f else 0
        rate = attempts / f["seconds"] if f else 0
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(f["outcomes"].items())) if f else "-"
        print(
            f"{r['hub']:<5} {shown:<14} {r['status']:<9} {r['wall_s']:>7.1f} "
            f"{r['rounds_recorded']:>7} {r['edges_cut_off']:>8} {attempts:>9} {rate:>7.0f}  "
            f"{outcomes}"
        )
    ok = all(
        r["status"] == "FINISHED"
        and r["all_rounds"]
        and not r["edges_cut_off"]
        and not (r["flooded"] or {}).get("outcomes", {}).get("accepted")
        for r in rows
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
