"""Everything one run's views show, loaded once from the database, then grown by live events."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from app.services.entities.records import JobRecord
from app.services.entities.run_data import ArtifactRecord, LogRecord
from app.services.runs.events import LiveEvent

LIVE = ("STARTING", "RUNNING")
TERMINAL = ("FINISHED", "FAILED", "STOPPED")
ENDED = "run ended"  # an edge's link once its run is over


class Series:
    """A growing (time, value) series in numpy arrays: O(1) amortised append, and the plots
    get array views instead of rebuilding lists every frame."""

    __slots__ = ("_t", "_v", "n", "version")

    def __init__(self) -> None:
        self._t = np.empty(256)
        self._v = np.empty(256)
        self.n = 0
        self.version = 0

    def append(self, t: float, v: float) -> bool:
        if self.n and t <= self._t[self.n - 1]:
            return False  # not newer than what is held (a replayed or repeated sample)
        if self.n == len(self._t):
            self._t = np.resize(self._t, 2 * self.n)
            self._v = np.resize(self._v, 2 * self.n)
        self._t[self.n], self._v[self.n] = t, v
        self.n += 1
        self.version += 1
        return True

    @property
    def t(self) -> np.ndarray:
        return self._t[: self.n]

    @property
    def v(self) -> np.ndarray:
        return self._v[: self.n]

    def __len__(self) -> int:
        return self.n


@dataclass
class RunView:
    job: JobRecord
    # (node, metric name) -> {round: value}
    metrics: dict[tuple[str, str], dict[int, float]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    logs: list[LogRecord] = field(default_factory=list)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    # edge -> field -> [(unix time, value)]
    samples: dict[str, dict[str, Series]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Series))
    )
    link: dict[str, str] = field(
        default_factory=dict
    )  # edge -> connected/training/uploading/offline
    version: int = 0  # bumped on every change; views redraw when it moved

    def nodes(self) -> list[str]:
        return sorted({node for node, _ in self.metrics if node != "aggregate"})

    def series(self, node: str, name: str) -> tuple[list[int], list[float]]:
        points = sorted(self.metrics.get((node, name), {}).items())
        return [r for r, _ in points], [v for _, v in points]

    def apply(self, event: LiveEvent) -> bool:
        """Fold a live event in; True if it concerned this run."""
        from datetime import UTC, datetime

        d = event.data
        if event.kind == "sample":
            # Only while the run goes: an edge's load after the run is another run's (or
            # none's), and must not be drawn as this one's.
            if d["edge"] not in self.job.edges or self.job.status not in LIVE:
                return False
            for key in ("cpu", "mem", "gpu", "net_sent", "net_recv"):
                if d.get(key) is not None:
                    self.samples[d["edge"]][key].append(d["at"], float(d[key]))
            self.link.setdefault(d["edge"], "connected")
        elif event.job_id != self.job.id:
            return False
        elif event.kind == "metric":
            for name, value in d["values"].items():
                self.metrics[(d["node"], name)][d["round"]] = value
            if d["node"] != "aggregate":
                self.link[d["node"]] = "uploading"
            else:
                for edge in self.job.edges:
                    if self.link.get(edge) in ("uploading", "connected"):
                        self.link[edge] = "training"
        elif event.kind == "log":
            self.logs.append(
                LogRecord(datetime.fromtimestamp(d["at"], UTC), d["node"], d["level"], d["text"])
            )
        elif event.kind == "artifact":
            if any(a.id == d["id"] for a in self.artifacts):
                return False  # already loaded from the database
            self.artifacts.append(
                ArtifactRecord(
                    d["id"], self.job.id, d["round"], d["node"], d["path"], d["sha256"], d["bytes"]
                )
            )
        elif event.kind == "job":
            from dataclasses import replace

            if self.job.status in TERMINAL:
                return False  # the database copy already has the end; never go back
            self.job = replace(
                self.job,
                status=d["status"],
                current_round=max(self.job.current_round, d["round"]),
                status_reason=d.get("reason") or "",
            )
            if self.job.status in TERMINAL:  # no edge is linked to a run that ended
                self.link = dict.fromkeys(self.job.edges, ENDED)
        else:
            return False
        self.version += 1
        return True


def load_run_view(services, actor, job_id: int) -> RunView:
    """Runs on a worker thread."""
    data = services.run_data
    view = RunView(services.jobs.get(actor, job_id))
    for m in data.metrics(actor, job_id):
        view.metrics[(m.node, m.name)][m.round] = m.value
    view.logs = data.logs(actor, job_id)
    view.artifacts = data.artifacts(actor, job_id)
    for s in data.samples(actor, job_id):
        t = s.at.timestamp()
        for key in ("cpu", "mem", "gpu", "net_sent", "net_recv"):
            value = getattr(s, key)
            if value is not None:
                view.samples[s.edge][key].append(t, float(value))
    if view.job.status in TERMINAL:
        view.link = dict.fromkeys(view.job.edges, ENDED)
        return view
    edges = {e.name: e.status for e in services.edges.list(actor)}
    for edge in view.job.edges:
        status = edges.get(edge, "OFFLINE")
        view.link[edge] = {"TRAINING": "training", "IDLE": "connected"}.get(status, "offline")
    return view
