"""Application logic shared by the window and the CLI. No Qt here."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.services.auth import SYSTEM, Actor
from app.services.configs import ConfigService
from app.services.edges import EdgeService
from app.services.flows import FlowService
from app.services.groups import GroupService
from app.services.jobs import JobService
from app.services.projects import ProjectService
from app.services.run_data import RunDataService
from app.services.schedules import ScheduleService
from app.services.users import UserService
from app.storage import Database, open_database

__all__ = ["SYSTEM", "Actor", "Services"]


@dataclass
class Services:
    db: Database
    users: UserService
    groups: GroupService
    projects: ProjectService
    edges: EdgeService
    configs: ConfigService
    jobs: JobService
    run_data: RunDataService
    schedules: ScheduleService
    flows: FlowService

    @classmethod
    def for_database(cls, db: Database) -> Services:
        return cls(
            db=db,
            users=UserService(db),
            groups=GroupService(db),
            projects=ProjectService(db),
            edges=EdgeService(db),
            configs=ConfigService(db),
            jobs=JobService(db),
            run_data=RunDataService(db),
            schedules=ScheduleService(db),
            flows=FlowService(db),
        )

    @classmethod
    def open(cls, settings: Settings) -> Services:
        """Open (and migrate) the settings' database."""
        return cls.for_database(open_database(settings.db_url))

    def close(self) -> None:
        self.db.close()
