"""`feddeck`: the window by default; sub-commands for everything else.

Exit codes: 0 success, 1 refused (bad input, not found, conflict, permission), 2 usage.
A command that runs a job or flow to its end (`job start`, `demo`, `flow run`) says how it
ended: 0 FINISHED, 3 FAILED, 4 STOPPED (130 when Ctrl-C ends the command itself).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from app import __version__
from app.cli import (
    automation_commands,
    cluster_rank,
    demo_command,
    hub_commands,
    job_commands,
    people_commands,
    resource_commands,
    server_process,
)
from app.cli.context import CliContext
from app.cli.output import emit
from app.config import Settings
from app.errors import FedDeckError

# What an edge-only install lacks, by the top-level module that is missing.
CENTER_MODULES = {"sqlalchemy", "alembic", "amqtt", "argon2", "apscheduler"}
GUI_MODULES = {"PySide6", "pyqtgraph", "shiboken6"}
EXTRAS = {"control center": "center", "window": "gui"}
RUN_EXIT_CODES = {"FINISHED": 0, "FAILED": 3, "STOPPED": 4}


def run_exit_code(result: object) -> int:
    """The exit code of a command that ran a job or flow (`exit_by_status`), from how the
    run ended; the reason of one that did not finish goes to stderr."""
    if result is None:
        return 0
    get = result.get if isinstance(result, dict) else lambda key: getattr(result, key, None)
    status = str(get("status"))
    reason = get("status_reason") or get("reason") or ""
    if status != "FINISHED":
        said = f"feddeck: the run ended {status}" + (f": {reason}" if reason else "")
        print(said, file=sys.stderr)
    return RUN_EXIT_CODES.get(status, 1)


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    top = (exc.name or "").split(".")[0]
    if top in GUI_MODULES:
        return "window"
    return "control center" if top in CENTER_MODULES else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feddeck", description="FedDeck, a control center for federated learning."
    )
    parser.add_argument("--version", action="version", version=f"feddeck {__version__}")
    parser.add_argument("--data-dir", help="data folder (env FEDDECK_DATA_DIR)")
    parser.add_argument("--db-url", help="SQLAlchemy database URL (env FEDDECK_DB_URL)")
    parser.add_argument("--hub-url", help="hub URL (env FEDDECK_HUB_URL)")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--user", help="acting user (env FEDDECK_USER)")

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="open the control center window (the default)")
    gui.set_defaults(handler=None)
    people_commands.register(sub, common)
    resource_commands.register(sub, common)
    job_commands.register(sub, common)
    automation_commands.register(sub, common)
    hub_commands.register(sub, common)
    server_process.register(sub, common)
    cluster_rank.register(sub, common)
    demo_command.register(sub, common)
    return parser


def _run_gui(settings: Settings) -> int:
    from app.ui.app import run_app  # Qt is imported only when a window is wanted

    return run_app(settings)


def main(argv: Sequence[str] | None = None) -> int:
    from app.services.runs.child_processes import watch_parent

    watch_parent()  # a demo edge ends with the window that started it
    parser = build_parser()
    args = parser.parse_args(argv)
    code = _main(args)
    if getattr(args, "quick_exit", False) and argv is None:
        # A server or an edge agent holds torch: tearing its modules down takes over a
        # second, and all it had to write is written (outcome, models, output flushed here).
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _main(args: argparse.Namespace) -> int:
    as_json = getattr(args, "json", False)
    ctx: CliContext | None = None
    try:
        settings = Settings.load(args.data_dir, args.db_url, args.hub_url)
        if getattr(args, "handler", None) is None:
            return _run_gui(settings)
        ctx = CliContext(settings=settings, user_name=args.user, as_json=as_json)
        result = args.handler(ctx, args)
        emit(result, as_json, getattr(args, "columns", None))
        return run_exit_code(result) if getattr(args, "exit_by_status", False) else 0
    except FedDeckError as exc:
        if as_json:
            print(json.dumps({"error": str(exc), "kind": type(exc).__name__}))
        print(f"feddeck: error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        extra = missing_extra(exc)
        if extra is None:
            raise
        print(
            f"feddeck: error: this command needs the {extra}, which this install lacks "
            f"(no module {exc.name!r}); install it with: pip install 'feddeck[{EXTRAS[extra]}]'",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early
        return 0
    finally:
        if ctx is not None:
            ctx.close()
