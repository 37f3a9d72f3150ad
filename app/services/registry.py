"""`Services`: one service per entity on one database, as the window and the CLI use them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.config import Settings
from app.services.automation.flows import FlowService
from app.services.automation.schedules import ScheduleService
from app.services.entities.configs import ConfigService
from app.services.entities.edge_history import EdgeHistoryService
from app.services.entities.edges import EdgeService
from app.services.entities.groups import GroupService
from app.services.entities.jobs import JobService
from app.services.entities.projects import ProjectService
from app.services.entities.run_data import RunDataService
from app.services.entities.tasks import TaskService
from app.services.entities.users import UserService
from app.services.security.auth import SYSTEM, Actor
from app.storage import Database, open_database

__all__ = ["SYSTEM", "Actor", "Services"]


@dataclass
class Services:
    db: Database
    users: UserService
    groups: GroupService
    projects: ProjectService
    edges: EdgeService
    edge_history: EdgeHistoryService
    configs: ConfigService
    jobs: JobService
    run_data: RunDataService
    schedules: ScheduleService
    flows: FlowService
    tasks: TaskService

    @classmethod
    def for_database(cls, db: Database, data_dir: Path | None = None) -> Services:
        return cls(
            db=db,
            users=UserService(db),
            groups=GroupService(db),
            projects=ProjectService(db),
            edges=EdgeService(db),
            edge_history=EdgeHistoryService(db),
            configs=ConfigService(db),
            jobs=JobService(db),
            run_data=RunDataService(db),
            schedules=ScheduleService(db),
            flows=FlowService(db),
            tasks=TaskService(db, data_dir),
        )

    @classmethod
    def open(cls, settings: Settings) -> Services:
        """Open (and migrate) the settings' database."""
        return cls.for_database(open_database(settings.db_url), settings.data_dir)

    def close(self) -> None:
        self.db.close()
