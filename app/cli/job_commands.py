"""`feddeck job ...`: queue, start, stop, inspect runs and read their logs."""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
import time
from pathlib import Path

from app.cli.cluster_options import add_engine_options, cluster_plan
from app.cli.context import CliContext
from app.cli.coordinator import Coordinator
from app.cli.output import NOTE_LEVELS, print_note, print_table, round_progress, run_notes
from app.errors import InvalidInput
from app.services.entities.records import human_size

JOB_COLUMNS = (
    "id",
    "name",
    "project",
    "status",
    "current_round",
    "total_rounds",
    "edges",
    "tags",
    "disk_bytes",
)


def job_create(ctx: CliContext, args: argparse.Namespace):
    cluster = cluster_plan(args)
    return ctx.services.jobs.create(
        ctx.actor(),
        name=args.name,
        project=args.project,
        config=args.config,
        config_version=args.config_version,
        edges=args.edge,
        tags=args.tag,
        cluster=cluster.as_dict() if cluster is not None else None,
    )


def job_list(ctx: CliContext, args: argparse.Namespace):
    jobs = ctx.services.jobs
    return jobs.list(ctx.actor(), status=args.status, tag=args.tag, project=args.project)


def job_delete(ctx: CliContext, args: argparse.Namespace):
    from app.services.runs.retention import delete_run

    return delete_run(ctx.services, ctx.settings.artifacts_dir, ctx.actor(), args.id)


def job_export(ctx: CliContext, args: argparse.Namespace):
    """A finished run to MLflow and/or TensorBoard, its aggregated model to ONNX."""
    if not (args.mlflow or args.tensorboard or args.onnx):
        raise InvalidInput("say where to: --mlflow URI, --tensorboard DIR and/or --onnx FILE")
    actor = ctx.actor()
    done: dict = {"job_id": args.id}
    if args.mlflow or args.tensorboard:
        from app.services.entities.projects import parse_log_dir, parse_mlflow_uri
        from app.services.runs.tracking import export_run

        mlflow = parse_mlflow_uri(args.mlflow) if args.mlflow else None
        logs = parse_log_dir(str(Path(args.tensorboard).absolute())) if args.tensorboard else None
        done.update(export_run(ctx.services, actor, args.id, mlflow, logs))
    if args.onnx:
        from app.services.runs.deployment import export_onnx

        done.update(
            export_onnx(ctx.services, ctx.settings, actor, args.id, Path(args.onnx), args.round)
        )
    return done


def job_show(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.jobs.get(ctx.actor(), args.id)


def job_start(ctx: CliContext, args: argparse.Namespace):
    from app.services.runs.launch_requests import ask_center

    actor = ctx.actor()
    rounds = ctx.services.jobs.get(actor, args.id).total_rounds
    cluster = cluster_plan(args)
    progress = None if ctx.as_json else round_progress(rounds)
    coordinator = Coordinator(ctx, serve=False)
    try:
        # A hub this command did not start may have a control center on it: the run goes
        # to that center's warm server, and only its ingest stores the run. A cluster run
        # is started here, by the cluster's engine.
        if (
            cluster is None
            and coordinator.embedded is None
            and ask_center(coordinator.hub, actor.name, args.id)
        ):
            print(
                f"job {args.id} started by the control center on {coordinator.url}; "
                "Ctrl-C stops it",
                file=sys.stderr,
            )
            _follow(ctx, coordinator, actor, args.id, progress)
        else:
            coordinator.serve_here()
            _run_here(coordinator, actor, args.id, progress, cluster)
    finally:
        coordinator.close()
    return ctx.services.jobs.get(actor, args.id)


def _run_here(coordinator: Coordinator, actor, job_id: int, progress, cluster=None) -> None:
    done = threading.Event()
    coordinator.launcher.on_exit = lambda _id: done.set()
    if progress is not None:
        coordinator.ingest.events.subscribe(progress)
    coordinator.ingest.events.subscribe(run_notes())  # stderr, also beside --json
    coordinator.launcher.start(actor, job_id, cluster)
    ranks = coordinator.launcher.services.jobs.get(actor, job_id).cluster  # given or kept
    where = f"{ranks['ranks']} ranks ({ranks['engine']})" if ranks else coordinator.url
    print(f"job {job_id} started on {where}; Ctrl-C stops it", file=sys.stderr)
    for node, line in enumerate(coordinator.launcher.node_lines.get(job_id, []), 1):
        print(f"on machine {node}, start its ranks with:\n  {line}", file=sys.stderr, flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        coordinator.launcher.stop(actor, job_id)


def _follow(ctx: CliContext, coordinator: Coordinator, actor, job_id: int, progress) -> None:
    """A run a control center started, followed in its database until it ends; its
    metrics are read again only when it records a new round."""
    from app.services.entities.job_status import TERMINAL
    from app.services.runs.launcher import JobLauncher
    from app.storage.models import JobStatus

    shown: set[int] = set()
    read_at = -1
    notes = 0
    try:
        for polled in itertools.count():
            job = ctx.services.jobs.get(actor, job_id)
            ended = JobStatus(job.status) in TERMINAL
            if ended or polled % 4 == 0:
                # the server's warnings (stderr, also beside --json), read once a second
                lines = ctx.services.run_data.logs(actor, job_id, "server", NOTE_LEVELS[0])
                for line in lines[notes:]:
                    print_note(line.level, line.text)
                notes = len(lines)
            if progress is not None and (ended or job.current_round != read_at):
                read_at = job.current_round
                _print_new_rounds(ctx, actor, job_id, shown, progress)
            if ended:
                return
            time.sleep(0.25)
    except KeyboardInterrupt:
        launcher = JobLauncher(ctx.services, ctx.settings, coordinator.hub, coordinator.url)
        launcher.stop(actor, job_id)


def _print_new_rounds(ctx: CliContext, actor, job_id: int, shown: set[int], progress) -> None:
    """Each aggregated round not yet shown whose accuracy is on record, through `progress`
    as the live event ingest would have made."""
    from app.services.runs.events import LiveEvent

    rounds: dict[int, dict[str, float]] = {}
    for m in ctx.services.run_data.metrics(actor, job_id):
        if m.node == "aggregate" and m.round not in shown:
            rounds.setdefault(m.round, {})[m.name] = m.value
    for rnd, values in sorted(rounds.items()):
        if {"test_accuracy", "fed_val_accuracy"} & values.keys():
            shown.add(rnd)
            progress(
                LiveEvent("metric", job_id, {"node": "aggregate", "round": rnd, "values": values})
            )


def job_metrics(ctx: CliContext, args: argparse.Namespace):
    """Every figure of a run, per round: the aggregate's, then each edge's; with --node,
    one node's ('aggregate' or an edge's name). A table per node kind, or JSON rows."""
    rows: dict[tuple[int, str], dict] = {}
    for m in ctx.services.run_data.metrics(ctx.actor(), args.id):
        if args.node is None or m.node == args.node:
            rows.setdefault((m.round, m.node), {"round": m.round, "node": m.node})[m.name] = m.value
    if args.node is not None and not rows:
        nodes = sorted({m.node for m in ctx.services.run_data.metrics(ctx.actor(), args.id)})
        raise InvalidInput(
            f"run {args.id} has no figures of node {args.node!r}; "
            f"it has: {', '.join(nodes) or 'none yet'}"
        )
    ordered = [rows[k] for k in sorted(rows, key=lambda k: (k[1] != "aggregate", k[1], k[0]))]
    if ctx.as_json:
        return ordered
    for group in (
        [r for r in ordered if r["node"] == "aggregate"],
        [r for r in ordered if r["node"] != "aggregate"],
    ):
        if group:
            names = sorted({k for r in group for k in r} - {"round", "node"})
            shown = [
                {k: human_size(v) if "bytes" in k else v for k, v in row.items()} for row in group
            ]
            print_table(shown, ["round", "node", *names])
            print()
    return None


def job_stop(ctx: CliContext, args: argparse.Namespace):
    from app.backends.factory import create_hub
    from app.services.runs.launcher import JobLauncher
    from app.wire.transports import client_url

    actor = ctx.actor()
    job = ctx.services.jobs.get(actor, args.id)
    url = client_url(ctx.settings.hub_url)
    hub = create_hub(
        url, f"cli-stop-{args.id}", token=ctx.settings.hub_token, limits=ctx.settings.wire
    )
    if job.status in ("STARTING", "RUNNING"):  # only a live server needs telling
        hub.connect(timeout=10)
    try:
        JobLauncher(ctx.services, ctx.settings, hub, "").stop(actor, args.id, grace_s=args.grace)
    finally:
        hub.close()
    return ctx.services.jobs.get(actor, args.id)


def job_logs(ctx: CliContext, args: argparse.Namespace):
    actor = ctx.actor()
    run_data = ctx.services.run_data
    lines = run_data.logs(actor, args.id, args.node, args.level, args.grep)
    if ctx.as_json:
        return lines
    shown = 0
    while True:
        for line in lines[shown:]:
            print(f"{line.at:%H:%M:%S.%f}"[:-3] + f"  {line.level:<7} {line.node:<14} {line.text}")
        shown = len(lines)
        if not args.follow or ctx.services.jobs.get(actor, args.id).status in (
            "FINISHED",
            "FAILED",
            "STOPPED",
        ):
            return None
        time.sleep(1.0)
        lines = run_data.logs(actor, args.id, args.node, args.level, args.grep)


def job_baseline(ctx: CliContext, args: argparse.Namespace):
    """Job ID's config trained here on the pooled data, recorded as a new job beside it."""
    from app.services.runs.baseline import create_baseline, run_baseline

    actor = ctx.actor()
    job = create_baseline(ctx.services, actor, args.id)
    print(
        f"job {job.id}: {job.name}, training on the pooled data; Ctrl-C stops it", file=sys.stderr
    )

    def progress(rnd: int, rounds: int, accuracy: float) -> None:
        if not ctx.as_json:
            print(f"round {rnd:>3}/{rounds}: test accuracy {accuracy:.4f}", file=sys.stderr)

    stop = threading.Event()
    worker = threading.Thread(
        target=lambda: run_baseline(
            ctx.services, ctx.settings.artifacts_dir, actor, job.id, progress, stop
        ),
        name="baseline",
    )
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.5)
    except KeyboardInterrupt:
        stop.set()  # ends after the round in progress
        worker.join()
    return ctx.services.jobs.get(actor, job.id)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    job = sub.add_parser("job", help="FL jobs (runs)").add_subparsers(required=True)
    p = job.add_parser("create", parents=[common], help="queue a job")
    p.add_argument("name")
    p.add_argument("--project", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--config-version", type=int)
    p.add_argument("--edge", action="append", default=[], help="repeatable")
    p.add_argument("--tag", action="append", default=[], help="repeatable")
    add_engine_options(p)
    p.set_defaults(handler=job_create)
    p = job.add_parser("list", parents=[common], help="list jobs")
    p.add_argument("--status")
    p.add_argument("--tag")
    p.add_argument("--project")
    p.set_defaults(handler=job_list, columns=JOB_COLUMNS)
    p = job.add_parser("show", parents=[common], help="one job in full")
    p.add_argument("id", type=int)
    p.set_defaults(handler=job_show)
    p = job.add_parser("start", parents=[common], help="run a queued job (in the foreground)")
    p.add_argument("id", type=int)
    add_engine_options(p)
    p.set_defaults(handler=job_start, exit_by_status=True)
    p = job.add_parser(
        "baseline",
        parents=[common],
        help="train a job's config centrally on the pooled data, recorded as a new job",
    )
    p.add_argument("id", type=int, help="the federated job to compare with")
    p.set_defaults(handler=job_baseline, exit_by_status=True)
    p = job.add_parser("stop", parents=[common], help="stop a queued or running job")
    p.add_argument("id", type=int)
    p.add_argument("--grace", type=float, default=20.0, help="seconds to wait for a clean stop")
    p.set_defaults(handler=job_stop)
    p = job.add_parser("logs", parents=[common], help="a run's log lines, all nodes merged")
    p.add_argument("id", type=int)
    p.add_argument("--node", help="only this node (edge name or 'server')")
    p.add_argument("--level", help="at least this level: DEBUG, INFO, WARNING, ERROR")
    p.add_argument("--grep", help="only lines containing this text")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing until the run ends")
    p.set_defaults(handler=job_logs)
    p = job.add_parser(
        "metrics", parents=[common], help="a run's figures per round: aggregate and each edge"
    )
    p.add_argument("id", type=int)
    p.add_argument("--node", help="only this node: 'aggregate' or an edge's name")
    p.set_defaults(handler=job_metrics)
    p = job.add_parser(
        "delete", parents=[common], help="delete a finished run: its records and its files"
    )
    p.add_argument("id", type=int)
    p.set_defaults(handler=job_delete)
    p = job.add_parser(
        "export",
        parents=[common],
        help="an ended run to MLflow / TensorBoard; its aggregated model to ONNX",
    )
    p.add_argument("id", type=int)
    p.add_argument("--mlflow", metavar="URI", help="tracking URI, e.g. file:///srv/mlruns")
    p.add_argument("--tensorboard", metavar="DIR", help="log folder (run-ID under PROJECT/)")
    p.add_argument("--onnx", metavar="FILE", help="the aggregated model as ONNX")
    p.add_argument("--round", type=int, help="with --onnx: that round's model (default: last)")
    p.set_defaults(handler=job_export)
