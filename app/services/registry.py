"""`Services`: one service per entity on one database, as the window and the CLI use them."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import Settings
from app.services.security.auth import SYSTEM, Actor
from app.storage import Database, open_database

if TYPE_CHECKING:
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

__all__ = ["SYSTEM", "Actor", "Services"]


class Services:
    """Each service is made (and its module imported) when first used, so a command pays
    only for what it touches: the flow and config parsers alone take half a second."""

    def __init__(self, db: Database, data_dir: Path | None = None) -> None:
        self.db, self._data_dir = db, data_dir

    @classmethod
    def for_database(cls, db: Database, data_dir: Path | None = None) -> Services:
        return cls(db, data_dir)

    @classmethod
    def open(cls, settings: Settings) -> Services:
        """Open (and migrate) the settings' database."""
        return cls.for_database(open_database(settings.db_url), settings.data_dir)

    def close(self) -> None:
        self.db.close()

    @cached_property
    def users(self) -> UserService:
        from app.services.entities.users import UserService

        return UserService(self.db)

    @cached_property
    def groups(self) -> GroupService:
        from app.services.entities.groups import GroupService

        return GroupService(self.db)

    @cached_property
    def projects(self) -> ProjectService:
        from app.services.entities.projects import ProjectService

        return ProjectService(self.db)

    @cached_property
    def edges(self) -> EdgeService:
        from app.services.entities.edges import EdgeService

        return EdgeService(self.db)

    @cached_property
    def edge_history(self) -> EdgeHistoryService:
        from app.services.entities.edge_history import EdgeHistoryService

        return EdgeHistoryService(self.db)

    @cached_property
    def configs(self) -> ConfigService:
        from app.services.entities.configs import ConfigService

        return ConfigService(self.db)

    @cached_property
    def jobs(self) -> JobService:
        from app.services.entities.jobs import JobService

        return JobService(self.db)

    @cached_property
    def run_data(self) -> RunDataService:
        from app.services.entities.run_data import RunDataService

        return RunDataService(self.db)

    @cached_property
    def schedules(self) -> ScheduleService:
        from app.services.automation.schedules import ScheduleService

        return ScheduleService(self.db)

    @cached_property
    def flows(self) -> FlowService:
        from app.services.automation.flows import FlowService

        return FlowService(self.db)

    @cached_property
    def tasks(self) -> TaskService:
        from app.services.entities.tasks import TaskService

        return TaskService(self.db, self._data_dir)
