"""A lab in a database: a project, a config, two idle edges, an operator; and a job
starter that plays the FL server's part by moving the job along, so that scheduling and
flow logic can be tested with an injected clock and without training."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.fl_config import FLConfig
from app.services import Services
from app.services.security.auth import SYSTEM
from app.storage import open_database
from app.storage.models import ModelArtifact, Role, RoundMetric
from tests.helpers import SAMPLE_CONFIG


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class JobStarter:
    """Starts jobs the way the launcher does (QUEUED -> STARTING), then lets a test end
    them with a chosen status and results, as the FL server would report them."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.started: list[int] = []

    def __call__(self, actor, job_id: int) -> None:
        self.services.jobs.transition(actor, job_id, "STARTING", "started")
        self.services.jobs.transition(actor, job_id, "RUNNING")
        self.started.append(job_id)

    def finish(self, job_id: int, status: str = "FINISHED", accuracy: float = 0.9) -> None:
        with self.services.db.session() as s:
            s.add(
                RoundMetric(
                    job_id=job_id, round=1, node="aggregate", name="test_accuracy", value=accuracy
                )
            )
            s.add(
                RoundMetric(
                    job_id=job_id, round=1, node="aggregate", name="test_loss", value=1 - accuracy
                )
            )
            s.add(
                ModelArtifact(
                    job_id=job_id,
                    round=1,
                    path=f"/models/{job_id}.safetensors",
                    sha256="ab" * 32,
                    bytes=10,
                )
            )
        self.services.jobs.settle(SYSTEM, job_id, status, "" if status == "FINISHED" else "boom", 1)


@pytest.fixture(params=["sqlite"])
def lab(request, tmp_path):
    """On SQLite; a test parametrizes `lab` indirectly with "postgresql" to run on that too."""
    if request.param == "postgresql":
        url = request.getfixturevalue("fresh_postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'lab.db'}"
    services = Services.for_database(open_database(url))
    services.users.create_first_admin("root", "rootpass123")
    admin = services.users.login("root", "rootpass123")
    services.users.add(admin, "olga", "olgapass123", Role.OPERATOR.value)
    operator = services.users.login("olga", "olgapass123")
    services.groups.add(admin, "team", "")
    services.projects.create(operator, "proj", "team", "")
    services.configs.save(operator, FLConfig.model_validate(SAMPLE_CONFIG))
    for name in ("e1", "e2"):
        services.edges.register(operator, name, tags=["lab"])
        services.edges.set_status(operator, name, "IDLE")
    yield services, operator
    services.close()


@pytest.fixture
def clock():
    return Clock(datetime(2026, 11, 28, 8, 0, tzinfo=UTC))


@pytest.fixture
def starter(lab):
    return JobStarter(lab[0])


TEMPLATE = {"project": "proj", "config": "digits-mlp", "edge_tag": "lab"}
