"""Printing command results: a JSON document for scripts, or an aligned table for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.services.entities.records import Record, human_size


def to_plain(value: Any) -> Any:
    if isinstance(value, Record):
        return to_plain(value.to_dict())
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str) and "T" in value and value[:4].isdigit():
        return value[:19].replace("T", " ")
    return str(value)


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        print("(none)")
        return
    cells = [
        [
            human_size(row[c])
            if c.endswith("_bytes") and row.get(c) is not None
            else _cell(row.get(c))
            for c in columns
        ]
        for row in rows
    ]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def emit(result: Any, as_json: bool, columns: Sequence[str] | None = None) -> None:
    plain = to_plain(result)
    if as_json:
        json.dump(plain, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    elif isinstance(plain, str):
        sys.stdout.write(plain if plain.endswith("\n") else plain + "\n")
    elif isinstance(plain, list) and columns:
        print_table(plain, columns)
    elif isinstance(plain, dict):
        width = max((len(k) for k in plain), default=0)
        for key, value in plain.items():
            shown = json.dumps(value) if isinstance(value, dict | list) else _cell(value)
            print(f"{key.ljust(width)}  {shown}")
    elif plain is not None:
        print(plain)


def round_progress(total: int | None = None):
    """An event handler printing one line per aggregated round to stderr: the server's
    test accuracy, or, for a task without a test set, the edges' validation accuracy.
    The federated figures of a round arrive in a second metric event; they are printed
    only when no test accuracy ever came (else each round would be printed twice)."""
    seen_test = False

    def on_event(event) -> None:
        nonlocal seen_test
        if event.kind != "metric" or event.data["node"] != "aggregate":
            return
        values, rnd = event.data["values"], event.data["round"]
        of = f"/{total}" if total else ""
        if "test_accuracy" in values:
            seen_test = True
            text = f"test accuracy {values['test_accuracy']:.4f}"
        elif "fed_val_accuracy" in values and not seen_test:
            text = f"validation accuracy on the edges {values['fed_val_accuracy']:.4f}"
        else:
            return
        print(f"round {rnd:>3}{of}: {text}", file=sys.stderr)

    return on_event


NOTE_LEVELS = ("WARNING", "ERROR")


def print_note(level: str, text: str) -> None:
    print(f"{level.lower()}: {text}", file=sys.stderr)


def run_notes():
    """An event handler printing the server's warnings and errors to stderr as they come:
    an edge that went offline, came back, left, missed a round or was refused."""

    def on_event(event) -> None:
        data = event.data
        if event.kind == "log" and data["node"] == "server" and data["level"] in NOTE_LEVELS:
            print_note(data["level"], data["text"])

    return on_event
