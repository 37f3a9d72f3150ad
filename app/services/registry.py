"""`Services`: one service per entity on one database, as the window and the CLI use them."""

from __future__ import annotations

import importlib
import threading
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
    """One service per entity on one database. Each is made (and its module imported) when
    first used, so a command pays only for what it touches: the flow and config parsers
    alone take half a second."""

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

    _MADE_BY = {  # attribute: (module, class), each taking the database
        "users": ("entities.users", "UserService"),
        "groups": ("entities.groups", "GroupService"),
        "projects": ("entities.projects", "ProjectService"),
        "edges": ("entities.edges", "EdgeService"),
        "edge_history": ("entities.edge_history", "EdgeHistoryService"),
        "configs": ("entities.configs", "ConfigService"),
        "jobs": ("entities.jobs", "JobService"),
        "run_data": ("entities.run_data", "RunDataService"),
        "schedules": ("automation.schedules", "ScheduleService"),
        "flows": ("automation.flows", "FlowService"),
        "tasks": ("entities.tasks", "TaskService"),  # and the data folder
    }

    def __init__(self, db: Database, data_dir: Path | None = None) -> None:
        self.db, self._data_dir = db, data_dir
        self._making = threading.Lock()

    @classmethod
    def for_database(cls, db: Database, data_dir: Path | None = None) -> Services:
        return cls(db, data_dir)

    @classmethod
    def open(cls, settings: Settings) -> Services:
        """Open (and migrate) the settings' database."""
        return cls.for_database(open_database(settings.db_url), settings.data_dir)

    def close(self) -> None:
        self.db.close()

    def __getattr__(self, name: str):  # only for what the instance does not hold yet
        made_by = self._MADE_BY.get(name)
        if made_by is None:
            raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")
        with self._making:
            if name not in self.__dict__:
                module, cls = made_by
                kind = getattr(importlib.import_module(f"app.services.{module}"), cls)
                extra = (self._data_dir,) if name == "tasks" else ()
                self.__dict__[name] = kind(self.db, *extra)
        return self.__dict__[name]
