"""Many edges heartbeating at once: is every system sample stored, and at what cost?

    python -m bench.load [--edges 200] [--seconds 60] [--brokers embedded,mosquitto] [--json]

Per broker: N simulated edges — real hub connections with their own tokens, in a separate
process so that the control center's CPU is measured alone — each publish one system
sample a second for the given time. The control center side (this process) runs ingest
on its own hub client; on `embedded` it also runs the broker, with authentication and
topic rules on. Reported: samples sent and stored (lost = the difference), ingest rows/s
over the run, and the CPU the control center (and a Mosquitto process) used, as percent
of one core. The baseline row is the same edges and seconds with no broker: the rate at
which samples were produced.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from tests.servers import Mosquitto

# paho's network loop uses select(), which takes no descriptor above 1024: one process
# holds a few hundred MQTT clients at most (each has its socket and a wake-up pair). A real
# edge is a process of its own; the simulated ones are spread over processes of this many.
EDGES_PER_WORKER = 200


def edge_worker(spec_file: str) -> int:
    """The simulated edges: connect all, then one sample per edge per second, staggered."""
    from app.backends.factory import create_hub
    from app.wire import topics
    from app.wire.messages import Message, MessageType

    spec = json.loads(Path(spec_file).read_text())
    first, total = spec["first"], spec["total"]  # this worker's place among all the edges
    hubs = []
    for device_id, token in spec["edges"]:
        hub = create_hub(spec["url"], device_id, token=token)
        hub.connect(timeout=60)
        hubs.append((device_id, hub))
    print("ready", flush=True)
    sys.stdin.readline()  # the control center says go
    sent = 0
    start = time.monotonic()
    ticks = int(spec["seconds"])
    for tick in range(ticks):
        for i, (device_id, hub) in enumerate(hubs):
            due = start + tick + (first + i) / total
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body = {"cpu": 12.5, "mem": 40.0, "disk": 55.0, "net_sent": tick, "net_recv": tick}
            message = Message(MessageType.SYSTEM, body=body)
            hub.publish(topics.edge_topic(device_id, "system"), message)
            sent += 1
    for _, hub in hubs:
        hub.flush(30)
        hub.close()
    print(json.dumps({"sent": sent, "wall_s": time.monotonic() - start}), flush=True)
    return 0


def run_case(broker: str, edges: int, seconds: int) -> dict:
    from sqlalchemy import func, select

    from app.backends.embedded import start_embedded_hub
    from app.backends.factory import create_hub
    from app.config import Settings
    from app.services import Services
    from app.services.runs.ingest import IngestService
    from app.services.security.auth import SYSTEM
    from app.services.security.hub_access import HubAccess
    from app.storage.models import SystemSample

    tmp = Path(tempfile.mkdtemp(prefix="feddeck-load-"))
    settings = Settings.load(data_dir=tmp)
    services = Services.open(settings)
    tokens = [
        (new.edge.device_id, new.token)
        for new in (services.edges.register(SYSTEM, f"sim-{i:03d}") for i in range(edges))
    ]
    mosquitto = hub_server = None
    if broker == "embedded":
        hub_server = start_embedded_hub(
            "mqtt", access=HubAccess.for_settings(services.db, settings)
        )
        url, stop_broker = hub_server.url, hub_server.stop
    else:
        mosquitto = Mosquitto(tmp).start()
        url, stop_broker = mosquitto.url, mosquitto.stop
    center = create_hub(url, "center", token=settings.hub_token)
    center.connect(timeout=15)
    ingest = IngestService(services.db, center).start()
    workers = []
    for first in range(0, edges, EDGES_PER_WORKER):
        spec = tmp / f"edges-{first}.json"
        share = tokens[first : first + EDGES_PER_WORKER]
        spec.write_text(
            json.dumps(
                {"url": url, "edges": share, "seconds": seconds, "first": first, "total": edges}
            )
        )
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "bench.load", "--edge-worker", str(spec)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    try:
        for worker in workers:
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError("the simulated edges did not connect")
        me = psutil.Process()
        broker_proc = psutil.Process(mosquitto.proc.pid) if mosquitto else None
        cpu0 = me.cpu_times()
        broker0 = broker_proc.cpu_times() if broker_proc else None
        t0 = time.monotonic()
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        sent = sum(json.loads(worker.stdout.readline())["sent"] for worker in workers)
        ingest.drain(60)
        elapsed = time.monotonic() - t0
        cpu1 = me.cpu_times()
        seen = -1
        while seen != ingest.stats.received:  # the last samples may still cross the broker
            seen = ingest.stats.received
            time.sleep(1.0)
            ingest.drain(60)

        def used(a, b) -> float:
            return 100 * ((b.user - a.user) + (b.system - a.system)) / elapsed

        with services.db.session() as s:
            stored = s.scalar(select(func.count()).select_from(SystemSample))
        return {
            "broker": broker,
            "edges": edges,
            "seconds": seconds,
            "sent": sent,
            "stored": stored,
            "lost": sent - stored,
            "rows_per_s": round(stored / elapsed, 1),
            "center_cpu_pct": round(used(cpu0, cpu1), 1),
            "center_cpu_ms_per_sample": round(used(cpu0, cpu1) * elapsed * 10 / max(stored, 1), 3),
            "broker_cpu_pct": (
                round(used(broker0, broker_proc.cpu_times()), 1) if broker_proc else None
            ),
            "refused": dict(hub_server.access.refused) if hub_server else {},
        }
    finally:
        for worker in workers:
            worker.wait(60)
        ingest.stop()
        center.close()
        stop_broker()
        services.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--brokers", default="embedded,mosquitto")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--edge-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.edge_worker:
        return edge_worker(args.edge_worker)
    if args.edges < 1 or args.seconds < 1:
        parser.error("--edges and --seconds must be at least 1")
    rows = [
        {
            "broker": "baseline (produced)",
            "edges": args.edges,
            "seconds": args.seconds,
            "sent": args.edges * args.seconds,
            "stored": None,
            "lost": None,
            "rows_per_s": float(args.edges),
            "center_cpu_pct": None,
            "broker_cpu_pct": None,
        }
    ]
    for broker in args.brokers.split(","):
        try:
            rows.append(run_case(broker, args.edges, args.seconds))
        except FileNotFoundError as exc:
            print(f"skipping {broker}: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = (
        "broker",
        "edges",
        "seconds",
        "sent",
        "stored",
        "lost",
        "rows_per_s",
        "center_cpu_pct",
        "center_cpu_ms_per_sample",
        "broker_cpu_pct",
    )
    print(" | ".join(cols))
    print(" | ".join("---" for _ in cols))
    for row in rows:
        print(" | ".join("-" if row.get(c) is None else str(row[c]) for c in cols))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
