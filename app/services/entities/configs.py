"""Training configs: validated, versioned (every edit is a new version), TOML in and out."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.fl_config import FLConfig, config_from_toml, config_to_toml, parse_config
from app.errors import InvalidInput, NotFound
from app.services.entities.records import ConfigRecord
from app.services.entities.tasks import resolve_task
from app.services.entities.versions import latest_of, next_version, pick_version
from app.services.security.auth import Actor, require
from app.storage import Database
from app.storage.models import Config, Role


def _record(c: Config) -> ConfigRecord:
    return ConfigRecord(
        id=c.id, name=c.name, version=c.version, body=dict(c.body), created_at=c.created_at
    )


def get_config(s: Session, name: str, version: int | None = None) -> Config:
    config = pick_version(s, Config, name, version)
    if config is None:
        which = f"{name!r}" if version is None else f"{name!r} version {version}"
        raise NotFound(f"no config {which}")
    return config


class ConfigService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, actor: Actor, config: FLConfig) -> ConfigRecord:
        """Store `config` as the next version of its name (version 1 if new)."""
        require(actor, Role.OPERATOR, "save configs")
        body = config.model_dump(mode="json")

        def write() -> ConfigRecord:
            with self._db.session() as s:
                try:
                    resolve_task(s, config.task_name, config.task.version)
                except (NotFound, InvalidInput) as exc:
                    raise InvalidInput(f"config {config.name!r}: {exc}") from None
                latest = s.scalar(
                    select(func.max(Config.version)).where(Config.name == config.name)
                )
                row = Config(
                    name=config.name, version=(latest or 0) + 1, body=body, created_by=actor.id
                )
                s.add(row)
                s.flush()
                return _record(row)

        return next_version(write)

    def save_dict(self, actor: Actor, data: dict) -> ConfigRecord:
        return self.save(actor, parse_config(data))

    def import_toml(self, actor: Actor, path: str | Path) -> ConfigRecord:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read config file {file}: {exc}") from exc
        return self.save(actor, config_from_toml(text, source=str(file)))

    def list(self, actor: Actor, all_versions: bool = False) -> list[ConfigRecord]:
        require(actor, Role.VIEWER, "list configs")
        with self._db.session() as s:
            rows = s.scalars(select(Config).order_by(Config.name, Config.version)).all()
            records = [_record(c) for c in rows]
        return records if all_versions else latest_of(records)

    def history(self, actor: Actor, name: str) -> list[ConfigRecord]:
        records = [c for c in self.list(actor, all_versions=True) if c.name == name]
        if not records:
            raise NotFound(f"no config {name!r}")
        return records

    def latest_version(self, actor: Actor, name: str) -> int | None:
        """The newest version stored under `name`, or None if no config has that name."""
        require(actor, Role.VIEWER, "view configs")
        with self._db.session() as s:
            return s.scalar(select(func.max(Config.version)).where(Config.name == name))

    def get(self, actor: Actor, name: str, version: int | None = None) -> ConfigRecord:
        require(actor, Role.VIEWER, "view configs")
        with self._db.session() as s:
            return _record(get_config(s, name, version))

    def export_toml(self, actor: Actor, name: str, version: int | None = None) -> str:
        record = self.get(actor, name, version)
        return config_to_toml(FLConfig.model_validate(record.body))
