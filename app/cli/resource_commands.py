"""`feddeck edge|config|job|db ...`: devices, training configs, runs and the schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.context import CliContext
from app.errors import InvalidInput


def edge_add(ctx: CliContext, args: argparse.Namespace):
    new = ctx.services.edges.register(ctx.actor(), args.name, args.tag)
    if not ctx.as_json:
        print(
            f"edge {new.edge.name!r} registered (device id {new.edge.device_id}).", file=sys.stderr
        )
        print(
            "To run tasks this center ships, start the agent with "
            f"--trust-center {ctx.services.tasks.center_fingerprint()}",
            file=sys.stderr,
        )
        print("Its token is shown only now; give it to the edge agent:", file=sys.stderr)
        return new.token
    return new


def edge_list(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.edges.list(ctx.actor(), tag=args.tag)


def edge_token(ctx: CliContext, args: argparse.Namespace):
    new = ctx.services.edges.issue_token(ctx.actor(), args.name)
    if not ctx.as_json:
        print(f"edge {args.name!r} has a new token; the old one no longer works:", file=sys.stderr)
        return new.token
    return new


def edge_rename(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.edges.rename(ctx.actor(), args.name, args.new_name)


def edge_tags(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.edges.set_tags(ctx.actor(), args.name, args.tag)


def edge_remove(ctx: CliContext, args: argparse.Namespace):
    ctx.services.edges.remove(ctx.actor(), args.name)
    return {"removed": args.name}


def task_add(ctx: CliContext, args: argparse.Namespace):
    record, new = ctx.services.tasks.add(ctx.actor(), Path(args.dir))
    if not ctx.as_json:
        what = "added as version" if new else "unchanged: already stored as version"
        print(
            f"task {record.name} {what} {record.version} ({record.sha256[:16]}…)", file=sys.stderr
        )
    return record


def task_list(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.tasks.list(ctx.actor(), all_versions=args.all)


def task_show(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.tasks.get(ctx.actor(), args.name, args.version)


def task_export(ctx: CliContext, args: argparse.Namespace):
    """The stored archive, byte for byte (its SHA-256 is the task's)."""
    record = ctx.services.tasks.get(ctx.actor(), args.name, args.version)
    data = ctx.services.tasks.archive(ctx.actor(), args.name, args.version)
    out = write_output(Path(args.output or f"{record.name}-{record.version}.tar"), data, args.force)
    return {
        "exported": record.name,
        "version": record.version,
        "file": str(out),
        "sha256": record.sha256,
    }


def task_example_data(ctx: CliContext, args: argparse.Namespace):
    from app.core.tasks.examples import write_example

    root = Path(args.dir)
    config = write_example(args.example, root, args.sites)
    sites = [str(root / f"site-{i}") for i in range(1, args.sites + 1)]
    return {"example": args.example, "config": str(config), "sites": sites}


def center_fingerprint(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.tasks.center_fingerprint()


def config_create(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.configs.import_toml(ctx.actor(), args.file)


def config_list(ctx: CliContext, args: argparse.Namespace):
    return ctx.services.configs.list(ctx.actor(), all_versions=args.all)


def config_algorithms(ctx: CliContext, args: argparse.Namespace):
    from app.core.algorithms import ALGORITHMS

    return [
        {
            "name": a.name,
            "runs": a.role,
            "reads": " ".join([*a.fields, *(f"[{t}]" for t in a.tables)]) or "-",
            "what": f"{a.title}: {a.summary}",
        }
        for a in ALGORITHMS.values()
    ]


def config_show(ctx: CliContext, args: argparse.Namespace):
    record = ctx.services.configs.get(ctx.actor(), args.name, args.version)
    if ctx.as_json:
        return record
    return ctx.services.configs.export_toml(ctx.actor(), args.name, record.version)


def config_export(ctx: CliContext, args: argparse.Namespace):
    text = ctx.services.configs.export_toml(ctx.actor(), args.name, args.version)
    if args.output is None:
        return text
    out = write_output(Path(args.output), text.encode("utf-8"), args.force)
    return {"exported": args.name, "file": str(out)}


def write_output(out: Path, data: bytes, force: bool) -> Path:
    """An export's file: refused if it exists (unless forced) or cannot be written."""
    if out.exists() and not force:
        raise InvalidInput(f"{out} exists; pass --force to overwrite it")
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write {out}: {exc.strerror}") from exc
    return out


def add_show_export(group, common, show, export, helps: tuple[str, str], default: str) -> None:
    """`show NAME [--version N]` and `export NAME [--version N] [-o F] [--force]`."""
    for verb, handler, text in (("show", show, helps[0]), ("export", export, helps[1])):
        p = group.add_parser(verb, parents=[common], help=text)
        p.add_argument("name")
        p.add_argument("--version", type=int, help="default: the latest")
        if verb == "export":
            p.add_argument("--output", "-o", help=f"file to write (default: {default})")
            p.add_argument("--force", action="store_true", help="overwrite --output")
        p.set_defaults(handler=handler)


def db_backup(ctx: CliContext, args: argparse.Namespace):
    from app.storage.backup import backup

    return backup(ctx.services.db, Path(args.file))


def db_restore(ctx: CliContext, args: argparse.Namespace):
    from app.storage.backup import restore

    return restore(Path(args.file), ctx.settings.db_url)  # the services would create a db


def db_upgrade(ctx: CliContext, args: argparse.Namespace):
    db = ctx.services.db  # opening the services applies the migrations
    return {"database": db.url, "revision": db.current_revision()}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    edge_parser = sub.add_parser(
        "edge", parents=[common], help="edge devices; with --hub and --token: run the agent"
    )
    from app.cli.edge_command import add_agent_options, edge_run

    add_agent_options(edge_parser)
    edge_parser.set_defaults(handler=edge_run, quick_exit=True)  # holds torch
    edge = edge_parser.add_subparsers(required=False, metavar="{add,list,rename,tags,token,remove}")
    p = edge.add_parser("add", parents=[common], help="register an edge; prints its token once")
    p.add_argument("name")
    p.add_argument("--tag", action="append", default=[], help="repeatable")
    p.set_defaults(handler=edge_add)
    p = edge.add_parser("list", parents=[common], help="list edges")
    p.add_argument("--tag", help="only edges with this tag")
    p.set_defaults(handler=edge_list, columns=("name", "device_id", "status", "last_seen", "tags"))
    p = edge.add_parser("rename", parents=[common], help="rename an edge (token stays)")
    p.add_argument("name")
    p.add_argument("new_name")
    p.set_defaults(handler=edge_rename)
    p = edge.add_parser("tags", parents=[common], help="set an edge's tags (none: clear)")
    p.add_argument("name")
    p.add_argument("--tag", action="append", default=[], help="repeatable")
    p.set_defaults(handler=edge_tags)
    p = edge.add_parser("token", parents=[common], help="issue a new token (the old one stops)")
    p.add_argument("name")
    p.set_defaults(handler=edge_token)
    p = edge.add_parser("remove", parents=[common], help="remove an edge (revokes its token)")
    p.add_argument("name")
    p.set_defaults(handler=edge_remove)

    task = sub.add_parser("task", help="tasks: model and training code").add_subparsers(
        required=True
    )
    p = task.add_parser("add", parents=[common], help="store a task folder (new version)")
    p.add_argument("dir", help="the folder with task.toml")
    p.set_defaults(handler=task_add)
    p = task.add_parser("list", parents=[common], help="list tasks (latest versions)")
    p.add_argument("--all", action="store_true", help="every version")
    p.set_defaults(
        handler=task_list, columns=("name", "version", "label", "data_key", "sha256", "builtin")
    )
    helps = ("a task's details", "write a task's archive (.tar)")
    add_show_export(task, common, task_show, task_export, helps, "NAME-VERSION.tar")
    p = task.add_parser(
        "example-data", parents=[common], help="write example data: a folder per site, a config"
    )
    p.add_argument("example", choices=["wine", "digits-images"])
    p.add_argument("dir", help="an empty or new folder")
    p.add_argument("--sites", type=int, default=3, help="how many sites (edges), default 3")
    p.set_defaults(handler=task_example_data)
    p = sub.add_parser(
        "fingerprint", parents=[common], help="this control center's signing key fingerprint"
    )
    p.set_defaults(handler=center_fingerprint)

    config = sub.add_parser("config", help="training configs").add_subparsers(required=True)
    p = config.add_parser("create", parents=[common], help="import a TOML config (new version)")
    p.add_argument("--file", required=True)
    p.set_defaults(handler=config_create)
    p = config.add_parser("list", parents=[common], help="list configs (latest versions)")
    p.add_argument("--all", action="store_true", help="every version")
    p.set_defaults(handler=config_list, columns=("name", "version", "created_at"))
    p = config.add_parser(
        "algorithms", parents=[common], help="the [algorithm] names a config may choose"
    )
    p.set_defaults(handler=config_algorithms, columns=("name", "runs", "reads", "what"))
    helps = ("print a config", "write a config as TOML")
    add_show_export(config, common, config_show, config_export, helps, "stdout")

    db = sub.add_parser("db", help="database schema").add_subparsers(required=True)
    p = db.add_parser(
        "backup", parents=[common], help="copy the SQLite database, while the app runs"
    )
    p.add_argument("file", help="a new file for the copy")
    p.set_defaults(handler=db_backup)
    p = db.add_parser(
        "restore", parents=[common], help="a backup as the database of a data dir without one"
    )
    p.add_argument("file", help="a file made by `feddeck db backup`")
    p.set_defaults(handler=db_restore)
    p = db.add_parser("upgrade", parents=[common], help="apply migrations up to the newest")
    p.set_defaults(handler=db_upgrade)
