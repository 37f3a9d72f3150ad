"""The lab manager's pages at a thousand edges: one refresh of the Edges page and of the
dashboard on the GUI thread (the database read runs on a worker and is timed apart),
beside the same rows filled into a plain QTableWidget item by item in the same run; and
how many reloads a burst of 1,000 status changes causes (at most one a second now).

    python -m bench.lab_pages [--edges 1000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication, QTableWidget, QTableWidgetItem

from app.config import Settings
from app.services import Services
from app.services.runs.dashboard import load_dashboard
from app.services.runs.events import LiveEvent
from app.services.security.auth import SYSTEM
from app.storage.models import Edge, EdgeEvent

REPEATS = 20


def _lab(edges: int) -> tuple[Settings, Services]:
    settings = Settings.load(data_dir=Path(tempfile.mkdtemp(prefix="feddeck-lab-")))
    services = Services.open(settings)
    services.users.create_first_admin("admin", "admin-password")
    now = datetime.now(UTC)
    with services.db.session() as s:  # rows as registration makes them, without its hashing
        for i in range(edges):
            s.add(
                Edge(
                    name=f"node-{i:04d}",
                    device_id=f"{i:016x}",
                    token_hash="0" * 64,
                    tags=["gpu" if i % 10 == 0 else "cpu"],
                    status="IDLE" if i % 3 else "OFFLINE",
                    last_seen=now - timedelta(seconds=i),
                    hardware={"cpus": 4},
                )
            )
        s.flush()
        for i in range(1, edges + 1):
            for hour in range(0, 24, 6):
                at = now - timedelta(hours=hour, minutes=i % 60)
                s.add(EdgeEvent(edge_id=i, at=at, status="IDLE" if hour % 12 else "OFFLINE"))
    return settings, services


def _ms(fn, repeats: int = REPEATS) -> float:
    fn()  # warm
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edges", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication([])
    from app.ui.app import build_context
    from app.ui.pages.dashboard import DashboardPage
    from app.ui.pages.edges import EdgesPage
    from app.ui.workers import wait_for_workers

    settings, services = _lab(args.edges)
    actor = services.users.login("admin", "admin-password")
    ctx = build_context(settings, services, actor)
    rows: list[dict] = []
    try:
        edges = services.edges.list(actor)
        page = EdgesPage(ctx)
        page.resize(1280, 800)
        page.show()
        wait_for_workers()
        app.processEvents()

        def edges_refresh() -> None:
            page.show_rows(edges)
            page.table.viewport().repaint()

        def plain_table() -> None:
            table = QTableWidget(len(edges), len(page.columns))
            table.resize(1280, 800)
            for r, e in enumerate(edges):
                for c, (_h, get) in enumerate(page.columns):
                    table.setItem(r, c, QTableWidgetItem(str(get(e))))
            table.viewport().repaint()
            table.deleteLater()

        rows.append(
            {"view": "edges page", "what": "GUI refresh, same edges", "ms": _ms(edges_refresh)}
        )
        flip = {"n": 0}

        def edges_changed() -> None:  # an edge added or removed: the model resets
            flip["n"] += 1
            page.show_rows(edges if flip["n"] % 2 else edges[:-1])
            page.table.viewport().repaint()

        rows.append(
            {"view": "edges page", "what": "GUI refresh, edges changed", "ms": _ms(edges_changed)}
        )
        rows.append({"view": "edges page", "what": "QTableWidget fill", "ms": _ms(plain_table)})
        rows.append(
            {
                "view": "edges page",
                "what": "database read",
                "ms": _ms(lambda: services.edges.list(actor), 5),
            }
        )

        # A burst of 1,000 status changes in one second: reloads it triggers.
        loads = {"n": 0}
        original = page.query

        def counting_query():
            loads["n"] += 1
            return original()

        page.query = counting_query
        for i in range(1000):
            ctx.live.event.emit(LiveEvent("edge", data={"edge": f"node-{i:04d}", "status": "IDLE"}))
        end = time.monotonic() + 1.2
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)
        wait_for_workers()
        rows.append({"view": "edges page", "what": "reloads / 1,000 changes", "ms": loads["n"]})

        dashboard = DashboardPage(ctx)
        dashboard.resize(1280, 800)
        dashboard.show()
        data = load_dashboard(services, SYSTEM)

        def dashboard_refresh() -> None:
            dashboard._show(data)
            dashboard.repaint()

        rows.append({"view": "dashboard", "what": "GUI refresh", "ms": _ms(dashboard_refresh)})
        rows.append(
            {
                "view": "dashboard",
                "what": "database read",
                "ms": _ms(lambda: load_dashboard(services, SYSTEM), 5),
            }
        )
        wait_for_workers()
    finally:
        ctx.live.close()
        services.close()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{args.edges} edges, 4 status changes each over the last day")
        print(f"{'view':<12} {'what':<26} {'ms (or count)':>14}")
        for r in rows:
            print(f"{r['view']:<12} {r['what']:<26} {r['ms']:>14.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
