"""What differs between runs, as rows of a table: the config values that differ (dotted
paths into the config snapshot), then each run's status, rounds, duration and final
figures. No Qt here: the Compare page shows it, a test reads it, CSV writes it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any

from app.services.entities.records import JobRecord
from app.ui.run_views.labels import run_duration, run_label, task_label

# final figures worth a row (not per-round traffic): the model's, the edges' own, their spread
RESULT_PREFIXES = ("test_", "fed_", "edge_", "accuracy_", "consensus_")
NONE = "-"


@dataclass(frozen=True)
class Row:
    section: str  # "config" or "result"
    label: str
    values: list[str]
    differs: bool


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def _shown(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_shown(v) for v in value)
    return str(value)


def _bytes(points: list[tuple[int, float]] | None) -> str:
    if not points:
        return NONE
    mean = sum(v for _, v in points) / len(points)
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if mean >= size:
            return f"{mean / size:.3g} {unit}"
    return f"{mean:.0f} B"


def final_values(series: dict[str, list[tuple[int, float]]]) -> dict[str, float]:
    """Each aggregate metric's value in the last round that has it."""
    return {name: max(points)[1] for name, points in series.items() if points}


def comparison(
    jobs: list[JobRecord], series: dict[int, dict[str, list[tuple[int, float]]]]
) -> list[Row]:
    """Config rows where the runs differ (all of them when only one run is given), then
    the result rows; `differs` marks what to highlight."""
    configs = [flatten(j.config_snapshot) for j in jobs]
    keys = sorted({k for c in configs for k in c})
    rows = []
    for key in keys:
        values = [c.get(key) for c in configs]
        differs = len({repr(v) for v in values}) > 1
        if differs or len(jobs) == 1:
            rows.append(Row("config", key, [_shown(v) for v in values], differs))
    finals = [final_values(series.get(j.id, {})) for j in jobs]
    names = sorted({n for f in finals for n in f if n.startswith(RESULT_PREFIXES)})
    plain = [
        ("status", [j.status for j in jobs]),
        ("rounds", [f"{j.current_round}/{j.total_rounds}" for j in jobs]),
        ("duration", [run_duration(j) for j in jobs]),
        ("task", [task_label(j) for j in jobs]),
    ]
    traffic = [series.get(j.id, {}).get("bytes_per_round") for j in jobs]
    if any(traffic):  # what reached the nodes in a round, on average: models, features, logits
        plain.append(("bytes per round", [_bytes(t) for t in traffic]))
    for label, values in plain:
        rows.append(Row("result", label, values, len(set(values)) > 1))
    for name in names:
        values = [f.get(name) for f in finals]
        rows.append(Row("result", f"final {name}", [_shown(v) for v in values], False))
    return rows


def write_csv(jobs: list[JobRecord], rows: list[Row], path: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["section", "value", *(run_label(j) for j in jobs)])
        for row in rows:
            out.writerow([row.section, row.label, *row.values])
