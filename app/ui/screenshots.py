"""Render every page, with a finished demo run and a running one, to PNGs.

    python -m app.ui.screenshots docs/screenshots

Everything is real: in-process edge agents train on digits through the local hub, ingest
records into a fresh database in a temporary data dir, the pages load it as usual.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.config import Settings
from app.core.fl_config import config_from_toml
from app.core.tasks.examples import write_example
from app.resource_dir import RESOURCES
from app.services import Services
from app.services.runs.demo import DemoOptions, demo_config


def pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def wait_until(app: QApplication, predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError(what)
        pump(app, 0.1)


PIPELINE = """
name = "digits-pipeline"
description = "train, fine-tune from its model, deploy only if it is excellent"
[[steps]]
name = "train"
job = { project = "digits", config = "digits-mlp-fedavg", edge_tag = "demo" }
[[steps]]
name = "finetune"
depends_on = ["train"]
condition = { min_accuracy = 0.8 }
job = { project = "digits", config = "digits-mlp-finetune", edge_tag = "demo", init_from = "train" }
[[steps]]
name = "deploy"
depends_on = ["finetune"]
condition = { min_accuracy = 0.995 }
[steps.job]
project = "digits"
config = "digits-mlp-finetune"
edge_tag = "demo"
init_from = "finetune"
"""


def make_schedules_and_flow(services, actor) -> None:
    services.flows.save_toml(actor, PIPELINE, "pipeline")
    nightly = {"project": "digits", "config": "digits-mlp-fedavg", "edge_tag": "demo"}
    services.schedules.create(
        actor, "nightly-baseline", nightly, "cron", "0 2 * * mon-fri", "Europe/Paris"
    )
    services.schedules.create(
        actor,
        "weekly-pipeline",
        {"flow": "digits-pipeline"},
        "cron",
        "0 6 * * sat",
        "UTC",
        overlap_policy="queue",
        misfire_policy="run_once",
    )
    services.schedules.create(
        actor,
        "hourly-probe",
        {**nightly, "name": "probe {fired:%H:%M}"},
        "interval",
        "1h",
        enabled=False,
    )


def editor_shots(app: QApplication, ctx) -> list:
    """The schedule editor (live fire preview) and the flow editor (live graph)."""
    from app.ui.dialogs.flow_editor import FlowEditor
    from app.ui.dialogs.schedule import ScheduleDialog

    record = ctx.services.schedules.get(ctx.actor, "nightly-baseline")
    schedule = ScheduleDialog(ctx, record)
    schedule.show()
    flow = FlowEditor(ctx, ctx.services.flows.export_toml(ctx.actor, "digits-pipeline"), "x")
    flow.show()
    pump(app, 1.5)
    shots = [("schedule-editor.png", schedule.grab()), ("flow-editor.png", flow.grab())]
    schedule.close()
    flow.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    out = Path(args[0] if args else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):  # pages come and go; leave no stale picture behind
        old.unlink()
    app = QApplication.instance() or QApplication([])
    from app.ui.app import build_context
    from app.ui.main_window import PAGES, MainWindow
    from app.ui.pages.compare import ComparePage
    from app.ui.run_views.detail_page import RunDetailPage
    from app.ui.widgets.theme import apply_theme

    apply_theme(app, "light")
    data_dir = Path(tempfile.mkdtemp(prefix="feddeck-shots-"))
    settings = Settings.load(data_dir=data_dir, hub_url="embedded://local")
    services = Services.open(settings)
    services.users.create_first_admin("admin", "admin-password")
    actor = services.users.login("admin", "admin-password")
    ctx = build_context(settings, services, actor)
    ctx.center.start()
    try:
        services.groups.add(actor, "lab", "the ML lab")
        services.projects.create(actor, "digits", "lab", "handwritten digits, 4 sites")
        resources = RESOURCES
        for path in sorted((resources / "configs").glob("*.toml")):
            services.configs.import_toml(actor, path)
        services.tasks.add(actor, resources / "example-tasks" / "cancer-mlp")
        # Two sites with tables of their own, beside the demo edges that share digits.
        wine = write_example("wine", data_dir / "wine", sites=2)
        services.configs.save(actor, config_from_toml(wine.read_text()))
        for i in (1, 2):
            site = services.edges.register(actor, f"wine-site-{i}", tags=["wine"])
            ctx.center.local_edges.start(
                site.edge.name,
                site.edge.device_id,
                site.token,
                data={"csv": data_dir / "wine" / f"site-{i}"},
            )
        edges = ctx.center.start_demo_edges(actor, 4)
        config = services.configs.save(actor, demo_config(DemoOptions(edges=4, rounds=20)))
        finished = services.jobs.create(
            actor,
            "digits fedavg 20r",
            "digits",
            config.name,
            edges,
            config.version,
            ["demo", "baseline"],
        )
        make_schedules_and_flow(services, actor)
        window = MainWindow(ctx)
        window.resize(1360, 860)
        window.show()
        ctx.center.launcher.start(actor, finished.id)
        wait_until(
            app, lambda: services.jobs.get(actor, finished.id).status == "FINISHED", 180, "run 1"
        )
        # Its centralized baseline, for Compare: federated against the pooled data.
        from app.services.runs.baseline import create_baseline, run_baseline

        baseline = create_baseline(services, actor, finished.id)
        run_baseline(services, ctx.settings.artifacts_dir, actor, baseline.id)
        # A run without a server: push-sum on eight edges (four more demo edges).
        peer_edges = edges + ctx.center.start_demo_edges(actor, 4)
        peer_config = services.configs.save(
            actor, demo_config(DemoOptions(edges=8, rounds=20, decentralized=True))
        )
        peer = services.jobs.create(
            actor, "digits push-sum 8 edges", "digits", peer_config.name, peer_edges,
            peer_config.version, ["demo"],
        )  # fmt: skip
        wait_until(
            app, lambda: all(e.status == "IDLE" for e in services.edges.list(actor, tag="demo")),
            60, "8 demo edges",
        )  # fmt: skip
        ctx.center.launcher.start(actor, peer.id)
        wait_until(
            app, lambda: services.jobs.get(actor, peer.id).status == "FINISHED", 180, "push-sum"
        )
        # A run that fails for a reason the dashboard shows: edges without the data it needs.
        wine_config = services.configs.list(actor)
        wine_name = next(c.name for c in wine_config if "wine" in c.name)
        refused = services.jobs.create(actor, "wine on digits edges", "digits", wine_name, edges)
        ctx.center.launcher.start(actor, refused.id)
        wait_until(
            app, lambda: services.jobs.get(actor, refused.id).status == "FAILED", 120, "a failure"
        )
        flow_run = ctx.center.automation.start_flow(actor, "digits-pipeline")
        wait_until(app, lambda: services.flows.run(actor, flow_run).done, 300, "the flow")
        slow = demo_config(DemoOptions(edges=4, rounds=400)).model_copy(
            update={"name": "digits-long"}
        )
        long_cfg = services.configs.save(actor, slow)
        running = services.jobs.create(
            actor, "digits fedavg long", "digits", long_cfg.name, edges, long_cfg.version, ["demo"]
        )
        ctx.center.launcher.start(actor, running.id)
        wait_until(
            app, lambda: services.jobs.get(actor, running.id).current_round >= 30, 180, "run 2"
        )
        shots = []
        for row, page_type in enumerate(PAGES):
            window.nav.setCurrentRow(row)
            pump(app, 1.5)
            if page_type is RunDetailPage:
                detail = window.pages[RunDetailPage]
                runs = ((running.id, "running"), (finished.id, "finished"), (peer.id, "pushsum"))
                for job_id, label in runs:
                    detail.show_run(job_id)
                    pump(app, 1.5)
                    for tab in range(detail.tabs.count()):
                        name = detail.tabs.tabText(tab).replace("&", "").lower().replace(" ", "-")
                        if label == "pushsum" and name not in ("curves", "topology"):
                            continue  # what a run without a server shows differently
                        detail.tabs.setCurrentIndex(tab)
                        pump(app, 1.0)
                        shots.append((f"run-{label}-{name}.png", window.grab()))
                continue
            if page_type is ComparePage:  # its runs load off the GUI thread
                page = window.pages[ComparePage]
                wait_until(app, lambda page=page: page.table.rowCount() > 0, 60, "compare")
                for i in range(page.runs.count()):  # the demo run beside its baseline
                    item = page.runs.item(i)
                    wanted = item.data(Qt.ItemDataRole.UserRole) in (finished.id, baseline.id)
                    item.setCheckState(Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked)
                pump(app, 1.0)
            slug = window.nav.item(row).text().lower().replace(" & ", "-").replace(" ", "-")
            shots.append((f"{slug}.png", window.grab()))
        shots += editor_shots(app, ctx)
        from app.ui.pages.edge_detail import EdgeDetailDialog

        edge = EdgeDetailDialog(ctx, edges[0], window)
        edge.show()
        wait_until(app, lambda: edge.detail is not None, 30, "the edge detail")
        for tab, name in ((0, "overview"), (3, "load")):
            edge.tabs.setCurrentIndex(tab)
            pump(app, 0.5)
            shots.append((f"edge-detail-{name}.png", edge.grab()))
        edge.close()
        from app.ui.dialogs.help import ShortcutSheet

        sheet = ShortcutSheet(window, [window.pages[p] for p in PAGES], window)
        sheet.show()
        pump(app, 0.5)
        shots.append(("keyboard-shortcuts.png", sheet.grab()))
        sheet.close()
        for name, pixmap in shots:
            pixmap.save(str(out / name))
            print(out / name)
        ctx.center.launcher.stop(actor, running.id)
        window.close()
    finally:
        ctx.live.close()
        ctx.center.close()
        services.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
