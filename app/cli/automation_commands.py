"""`feddeck schedule|scheduler|flow ...`: runs that start by themselves, and chains of runs."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from app.cli.cluster_options import add_engine_options, cluster_plan
from app.cli.context import CliContext
from app.cli.coordinator import Coordinator
from app.errors import InvalidInput
from app.storage.vocabulary import utcnow

SCHEDULE_COLUMNS = ("name", "trigger", "enabled", "next_fire_at", "overlap_policy", "lease_owner")
FIRE_COLUMNS = ("fire_time", "at", "outcome", "job_id", "flow_run_id", "reason")
FLOW_COLUMNS = ("name", "description", "steps")
RUN_COLUMNS = ("id", "flow", "status", "trigger", "started_at", "finished_at", "reason")


def _trigger(args: argparse.Namespace) -> tuple[str, str] | None:
    given = [(k, v) for k, v in (("cron", args.cron), ("interval", args.every), ("once", args.at))]
    chosen = [(k, v) for k, v in given if v]
    if len(chosen) > 1:
        raise InvalidInput("give one trigger: --cron, --every or --at")
    return chosen[0] if chosen else None


def _template(args: argparse.Namespace) -> dict | None:
    if args.flow:
        if args.project or args.config or args.edge or args.edge_tag:
            raise InvalidInput("--flow launches a flow; drop --project/--config/--edge/--edge-tag")
        return {"flow": args.flow}
    if not (args.project or args.config):
        return None
    template = {
        "project": args.project,
        "config": args.config,
        "config_version": args.config_version,
        "edges": args.edge,
        "edge_tag": args.edge_tag,
        "tags": args.tag,
    }
    cluster = cluster_plan(args)
    if cluster is not None:
        template["cluster"] = cluster.as_dict()
    if args.name_pattern:
        template["name"] = args.name_pattern
    return {k: v for k, v in template.items() if v not in (None, [])}


def schedule_create(ctx: CliContext, args: argparse.Namespace):
    from app.services.automation.schedules import preview

    trigger = _trigger(args)
    if trigger is None:
        raise InvalidInput("a schedule needs a trigger: --cron, --every or --at")
    template = _template(args)
    if template is None:
        raise InvalidInput("a schedule launches --flow NAME, or a job: --project and --config")
    if args.dry_run:
        fires = preview(trigger[0], trigger[1], args.tz)
        return {"next_fires": [t.isoformat() for t in fires], "saved": False}
    return ctx.services.schedules.create(
        ctx.actor(),
        args.name,
        template,
        trigger[0],
        trigger[1],
        timezone=args.tz,
        overlap_policy=args.overlap,
        misfire_policy=args.missed,
        enabled=not args.disabled,
    )


def schedule_edit(ctx: CliContext, args: argparse.Namespace):
    trigger = _trigger(args)
    return ctx.services.schedules.update(
        ctx.actor(),
        args.name,
        template=_template(args),
        kind=trigger[0] if trigger else None,
        expr=trigger[1] if trigger else None,
        timezone=args.tz,
        overlap_policy=args.overlap,
        misfire_policy=args.missed,
    )


def schedule_list(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.schedules.list(ctx.actor())


def schedule_show(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.schedules.get(ctx.actor(), args.name)


def schedule_history(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.schedules.history(ctx.actor(), args.name, args.limit)


def schedule_enable(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.schedules.set_enabled(ctx.actor(), args.name, args.enable)


def schedule_delete(ctx: CliContext, args: argparse.Namespace):
    ctx.services.schedules.delete(ctx.actor(), args.name)
    return {"deleted": args.name}


def serve_automation(
    ctx: CliContext,
    coordinator: Coordinator,
    stop: threading.Event,
    clock: Callable[[], datetime] = utcnow,
    period_s: float = 1.0,
) -> None:
    """Fire schedules and advance flows until `stop` is set (`feddeck scheduler`)."""
    from app.services.automation.ticker import Automation, new_owner

    automation = Automation(
        ctx.services, coordinator.launcher.start, new_owner("scheduler"), clock=clock
    )

    def report(fire) -> None:
        print(f"schedule {fire.schedule}: {fire.outcome} {fire.reason}", file=sys.stderr)

    try:
        automation.run(stop, period_s, on_fire=report)
    finally:
        automation.stop()


def scheduler_run(ctx: CliContext, args: argparse.Namespace):
    ctx.actor()  # only a signed-in user may start the lab's scheduler
    coordinator = Coordinator(ctx, standby=True)
    # Runs an earlier scheduler (killed, or the machine restarted) had open: follow or settle.
    coordinator.launcher.recover()
    coordinator.take_launch_requests()  # `job start` in a shell hands its run over
    stop = threading.Event()
    print(f"scheduler running on {coordinator.url}; Ctrl-C stops it", file=sys.stderr)
    try:
        serve_automation(ctx, coordinator, stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        coordinator.close()
    return None


def flow_create(ctx: CliContext, args: argparse.Namespace):
    file = Path(args.file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read flow file {file}: {exc}") from exc
    return ctx.services.flows.save_toml(ctx.actor(), text, str(file), replace=args.replace)


def flow_list(ctx: CliContext, args: argparse.Namespace):
    flows = ctx.services.flows.list(ctx.actor())
    if ctx.as_json:
        return flows
    return [
        {"name": f.name, "description": f.description, "steps": [s["name"] for s in f.steps]}
        for f in flows
    ]


def flow_show(ctx: CliContext, args: argparse.Namespace):
    if ctx.as_json:
        return ctx.services.flows.get(ctx.actor(), args.name)
    return ctx.services.flows.export_toml(ctx.actor(), args.name)


def flow_delete(ctx: CliContext, args: argparse.Namespace):
    ctx.services.flows.delete(ctx.actor(), args.name)
    return {"deleted": args.name}


def _print_steps(run, seen: dict[str, str]) -> None:
    for step in run.steps:
        state = f"{step['status']} {step['job_id'] or ''}".strip()
        if seen.get(step["step"]) != state:
            seen[step["step"]] = state
            job = f" (job {step['job_id']})" if step["job_id"] else ""
            print(f"step {step['step']}: {step['status']}{job} {step['reason']}", file=sys.stderr)


def flow_run(ctx: CliContext, args: argparse.Namespace):
    """Run a flow in the foreground until every step is done; Ctrl-C stops it."""
    from app.services.automation.flow_engine import stop_flow_run
    from app.services.automation.ticker import Automation, new_owner

    actor = ctx.actor()
    coordinator = Coordinator(ctx, standby=True)
    automation = Automation(ctx.services, coordinator.launcher.start, new_owner("flow-run"))
    flows = ctx.services.flows
    seen: dict[str, str] = {}
    flow_run_id = None
    try:
        flow_run_id = automation.start_flow(actor, args.name)
        print(f"flow run {flow_run_id} of {args.name!r} started", file=sys.stderr)
        while True:
            automation.flows.tick(only=flow_run_id)
            run = flows.run(actor, flow_run_id)
            _print_steps(run, seen)
            if run.done:
                break
            threading.Event().wait(1.0)
    except KeyboardInterrupt:
        if flow_run_id is not None:
            stop_flow_run(ctx.services, coordinator.launcher.stop, actor, flow_run_id)
    finally:
        automation.stop()
        coordinator.close()
    return flows.run(actor, flow_run_id) if flow_run_id is not None else None


def flow_stop(ctx: CliContext, args: argparse.Namespace):
    from app.services.automation.flow_engine import stop_flow_run

    coordinator = Coordinator(ctx)
    try:
        return stop_flow_run(ctx.services, coordinator.launcher.stop, ctx.actor(), args.flow_run)
    finally:
        coordinator.close()


def flow_status(ctx: CliContext, args: argparse.Namespace):
    run = ctx.services.flows.run(ctx.actor(), args.flow_run)
    if ctx.as_json:
        return run
    _print_steps(run, {})
    return {k: v for k, v in run.to_dict().items() if k != "steps"}


def flow_runs(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.flows.runs(ctx.actor(), args.flow)


def _trigger_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cron", help="five-field cron expression, e.g. '0 3 * * mon-fri'")
    p.add_argument("--every", help="an interval: 90s, 15m, 1h30m, 2d, 1w")
    p.add_argument("--at", help="once, at this local date-time: 2026-12-01T09:00")


def _target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--flow", help="launch this flow")
    p.add_argument("--project")
    p.add_argument("--config")
    p.add_argument("--config-version", type=int, help="pin a version (default: the latest)")
    p.add_argument("--edge", action="append", default=[], help="repeatable")
    p.add_argument("--edge-tag", help="the idle edges with this tag at fire time")
    p.add_argument("--name-pattern", help="job name: {source}, {fired:%%Y-%%m-%%d}, {attempt}")
    p.add_argument("--tag", action="append", default=[], help="repeatable")
    add_engine_options(p)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    sched = sub.add_parser("schedule", help="runs on a timetable").add_subparsers(required=True)
    p = sched.add_parser("create", parents=[common], help="a job or flow on a trigger")
    p.add_argument("name")
    _trigger_options(p)
    _target_options(p)
    p.add_argument("--tz", default="UTC", help="IANA time zone of the trigger (default UTC)")
    p.add_argument("--overlap", default="skip", help="last run going: skip|queue|parallel")
    p.add_argument("--missed", default="skip", help="fires missed while down: skip|run_once")
    p.add_argument("--disabled", action="store_true", help="save it switched off")
    p.add_argument("--dry-run", action="store_true", help="show the next fire times only")
    p.set_defaults(handler=schedule_create)
    p = sched.add_parser("edit", parents=[common], help="change a schedule")
    p.add_argument("name")
    _trigger_options(p)
    _target_options(p)
    p.add_argument("--tz")
    p.add_argument("--overlap")
    p.add_argument("--missed")
    p.set_defaults(handler=schedule_edit)
    p = sched.add_parser("list", parents=[common], help="all schedules and their next fire")
    p.set_defaults(handler=schedule_list, columns=SCHEDULE_COLUMNS)
    p = sched.add_parser("show", parents=[common], help="one schedule and its next five fires")
    p.add_argument("name")
    p.set_defaults(handler=schedule_show)
    p = sched.add_parser("history", parents=[common], help="what a schedule launched or skipped")
    p.add_argument("name")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=schedule_history, columns=FIRE_COLUMNS)
    for verb, flag in (("enable", True), ("disable", False)):
        p = sched.add_parser(verb, parents=[common], help=f"{verb} a schedule")
        p.add_argument("name")
        p.set_defaults(handler=schedule_enable, enable=flag)
    p = sched.add_parser("delete", parents=[common], help="delete a schedule (its runs stay)")
    p.add_argument("name")
    p.set_defaults(handler=schedule_delete)

    p = sub.add_parser(
        "scheduler", parents=[common], help="fire schedules and advance flows, headless"
    )
    p.set_defaults(handler=scheduler_run)

    flow = sub.add_parser("flow", help="chains of dependent runs").add_subparsers(required=True)
    p = flow.add_parser("create", parents=[common], help="a flow from a TOML file")
    p.add_argument("--file", required=True)
    p.add_argument("--replace", action="store_true", help="replace a flow of the same name")
    p.set_defaults(handler=flow_create)
    p = flow.add_parser("list", parents=[common], help="all flows")
    p.set_defaults(handler=flow_list, columns=FLOW_COLUMNS)
    p = flow.add_parser("show", parents=[common], help="a flow as TOML")
    p.add_argument("name")
    p.set_defaults(handler=flow_show)
    p = flow.add_parser("delete", parents=[common], help="delete a flow and its run history")
    p.add_argument("name")
    p.set_defaults(handler=flow_delete)
    p = flow.add_parser("run", parents=[common], help="run a flow in the foreground")
    p.add_argument("name")
    p.set_defaults(handler=flow_run, exit_by_status=True)
    p = flow.add_parser("status", parents=[common], help="a flow run and its steps")
    p.add_argument("flow_run", metavar="RUN", type=int, help="a flow run's id")
    p.set_defaults(handler=flow_status)
    p = flow.add_parser("runs", parents=[common], help="flow runs, newest first")
    p.add_argument("--flow")
    p.set_defaults(handler=flow_runs, columns=RUN_COLUMNS)
    p = flow.add_parser("stop", parents=[common], help="stop a flow run and its running jobs")
    p.add_argument("flow_run", metavar="RUN", type=int, help="a flow run's id")
    p.set_defaults(handler=flow_stop)
