"""A control center with edges of its own choosing (data folders, trust), on a real hub."""

import re
import threading
from pathlib import Path

import pytest

from app.config import Settings
from app.services import Services
from app.services.runs.demo import start_center
from app.services.security.auth import SYSTEM
from tests.waiting import wait_until

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tasks.md"


def doc_block(lang: str, starts: str) -> str:
    """The code block of docs/tasks.md in `lang` whose text starts with `starts`."""
    for block in re.findall(rf"```{lang}\n(.*?)```", DOCS.read_text(), flags=re.S):
        if block.startswith(starts):
            return block
    raise AssertionError(f"docs/tasks.md has no {lang} block starting {starts!r}")


def write_doc_task(folder: Path) -> Path:
    """The example task exactly as docs/tasks.md gives it."""
    folder.mkdir(parents=True)
    (folder / "task.toml").write_text(doc_block("toml", 'name = "cancer-mlp"'))
    (folder / "task.py").write_text(doc_block("python", '"""Breast-cancer diagnosis'))
    return folder


def write_doc_data(root: Path) -> list[Path]:
    """The example's three site folders, made by the docs' own script."""
    script = doc_block("bash", "python - <<'PY'\n").split("\n", 1)[1].rsplit("PY", 1)[0]
    exec(compile(script.replace("/tmp/cancer", str(root)), "docs/tasks.md", "exec"), {})
    return sorted(root.glob("site-*"))


class Center:
    """The control center's live side (`start_center`), and edges it starts as it likes."""

    def __init__(self, tmp_path: Path, backend: str) -> None:
        self.settings = Settings.load(data_dir=tmp_path / f"center-{backend}")
        self.services = Services.open(self.settings)
        self.cluster = start_center(self.settings, self.services, backend, heartbeat_s=0.5)
        self.launcher, self.ingest = self.cluster.launcher, self.cluster.ingest
        self.ended: dict[int, threading.Event] = {}
        self.launcher.on_exit = self._ended
        self.services.groups.add(SYSTEM, "lab")
        self.services.projects.create(SYSTEM, "lab", "lab")

    def _ended(self, job_id: int) -> None:
        self.ended.setdefault(job_id, threading.Event()).set()

    def edge(self, name: str, **options) -> None:
        new = self.services.edges.register(SYSTEM, name)
        self.cluster.edges.start(name, new.edge.device_id, new.token, **options)

    def wait_online(self, names, timeout=60) -> None:
        def online() -> bool:
            status = {e.name: e.status for e in self.services.edges.list(SYSTEM)}
            return all(status.get(n) == "IDLE" for n in names)

        wait_until(online, timeout, f"edges {names} online", interval=0.1)

    def run(self, config: str, edges, timeout=240):
        job = self.services.jobs.create(SYSTEM, "run", "lab", config, edges)
        self.ended.setdefault(job.id, threading.Event())
        self.launcher.start(SYSTEM, job.id)
        assert self.ended[job.id].wait(timeout), "run did not end"
        self.ingest.settle()
        return self.services.jobs.get(SYSTEM, job.id)

    def close(self) -> None:
        self.cluster.close()
        self.services.close()


@pytest.fixture
def make_center(tmp_path):
    centers = []

    def make(backend: str) -> Center:
        center = Center(tmp_path, backend)
        centers.append(center)
        return center

    yield make
    for center in centers:
        center.close()
