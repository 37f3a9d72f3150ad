"""Schedules: a job template (or a flow) with a trigger, policies, and a fire history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.services.automation.job_templates import check_references, parse_template
from app.services.automation.triggers import (
    KINDS,
    build_trigger,
    describe,
    fire_times,
    next_fire,
    parse_timezone,
)
from app.services.entities.records import Record
from app.services.security.auth import Actor, require, user_name, validate_name
from app.storage import Database
from app.storage.models import Flow, Role, Schedule, ScheduleFire, utcnow

OVERLAP_POLICIES = ("skip", "queue", "parallel")  # when the previous run is still going
MISFIRE_POLICIES = ("skip", "run_once")  # for fires missed while no scheduler ran
PREVIEW_COUNT = 5


@dataclass(frozen=True)
class ScheduleRecord(Record):
    id: int
    name: str
    template: dict[str, Any]
    trigger_kind: str
    trigger_expr: str
    timezone: str
    trigger: str  # readable: "cron 0 3 * * * (Europe/Paris)"
    enabled: bool
    overlap_policy: str
    misfire_policy: str
    next_fire_at: datetime | None
    lease_owner: str | None
    created_by: str | None
    created_at: datetime
    next_fires: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FireRecord(Record):
    id: int
    schedule: str
    fire_time: datetime
    at: datetime
    outcome: str
    reason: str
    job_id: int | None
    flow_run_id: int | None


def _record(s: Session, row: Schedule, now: datetime) -> ScheduleRecord:
    creator = user_name(s, row.created_by)
    upcoming: list[str] = []
    if row.enabled and row.next_fire_at is not None:
        first = row.next_fire_at
        trigger = build_trigger(row.trigger_kind, row.trigger_expr, row.timezone, first)
        local = parse_timezone(row.timezone)
        upcoming = [
            t.astimezone(local).isoformat()
            for t in [first, *fire_times(trigger, first, PREVIEW_COUNT - 1)]
        ]
    return ScheduleRecord(
        id=row.id,
        name=row.name,
        template=dict(row.template),
        trigger_kind=row.trigger_kind,
        trigger_expr=row.trigger_expr,
        timezone=row.timezone,
        trigger=describe(row.trigger_kind, row.trigger_expr, row.timezone),
        enabled=row.enabled,
        overlap_policy=row.overlap_policy,
        misfire_policy=row.misfire_policy,
        next_fire_at=row.next_fire_at,
        lease_owner=row.lease_owner,
        created_by=creator,
        created_at=row.created_at,
        next_fires=upcoming,
    )


def fire_record(row: ScheduleFire, schedule: str) -> FireRecord:
    return FireRecord(
        id=row.id,
        schedule=schedule,
        fire_time=row.fire_time,
        at=row.at,
        outcome=row.outcome,
        reason=row.reason,
        job_id=row.job_id,
        flow_run_id=row.flow_run_id,
    )


def _choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"unknown {what} {value!r}: use one of {', '.join(allowed)}")
    return value


def _load(s: Session, name: str) -> Schedule:
    row = s.scalar(select(Schedule).where(Schedule.name == name))
    if row is None:
        raise NotFound(f"no schedule named {name!r}")
    return row


def preview(
    kind: str, expr: str, timezone: str, now: datetime | None = None, count: int = PREVIEW_COUNT
) -> list[datetime]:
    """The next fire times of a trigger that is not saved yet (for editors and --dry-run),
    in the trigger's time zone."""
    now = now or utcnow()
    local = parse_timezone(timezone)
    trigger = build_trigger(kind, expr, timezone, now)
    return [t.astimezone(local) for t in fire_times(trigger, now, count)]


class ScheduleService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _check_template(self, template: dict[str, Any], source: str) -> dict[str, Any]:
        if set(template) == {"flow"}:
            with self._db.session() as s:
                if s.scalar(select(Flow.id).where(Flow.name == template["flow"])) is None:
                    raise InvalidInput(f"{source}: no flow named {template['flow']!r}")
            return {"flow": template["flow"]}
        parsed = parse_template(template, source)
        check_references(self._db, parsed, source)
        return parsed.model_dump(exclude_defaults=True)

    def create(
        self,
        actor: Actor,
        name: str,
        template: dict[str, Any],
        kind: str,
        expr: str,
        timezone: str = "UTC",
        overlap_policy: str = "skip",
        misfire_policy: str = "skip",
        enabled: bool = True,
        now: datetime | None = None,
    ) -> ScheduleRecord:
        require(actor, Role.OPERATOR, "create schedules")
        validate_name("schedule", name)
        now = now or utcnow()
        clean = self._check_template(template, f"schedule {name!r}")
        first = self._first_fire(kind, expr, timezone, now)
        row = Schedule(
            name=name,
            template=clean,
            trigger_kind=kind,
            trigger_expr=expr.strip(),
            timezone=timezone,
            enabled=enabled,
            overlap_policy=_choice(overlap_policy, OVERLAP_POLICIES, "overlap policy"),
            misfire_policy=_choice(misfire_policy, MISFIRE_POLICIES, "missed-fire policy"),
            next_fire_at=first,
            created_by=actor.id,
            created_at=now,
        )
        with self._db.session() as s:
            if s.scalar(select(Schedule.id).where(Schedule.name == name)) is not None:
                raise Conflict(f"a schedule named {name!r} exists already")
            s.add(row)
            s.flush()
            return _record(s, row, now)

    @staticmethod
    def _first_fire(kind: str, expr: str, timezone: str, now: datetime) -> datetime:
        _choice(kind, KINDS, "trigger kind")
        first = next_fire(build_trigger(kind, expr, timezone, now), now)
        if first is None:
            raise InvalidInput(f"trigger {describe(kind, expr, timezone)} never fires after {now}")
        return first

    def update(
        self,
        actor: Actor,
        name: str,
        *,
        template: dict[str, Any] | None = None,
        kind: str | None = None,
        expr: str | None = None,
        timezone: str | None = None,
        overlap_policy: str | None = None,
        misfire_policy: str | None = None,
        enabled: bool | None = None,
        now: datetime | None = None,
    ) -> ScheduleRecord:
        """Edit a schedule; a changed trigger, or enabling it, plans the next fire from now."""
        require(actor, Role.OPERATOR, "edit schedules")
        now = now or utcnow()
        clean = self._check_template(template, f"schedule {name!r}") if template else None
        with self._db.session() as s:
            row = _load(s, name)
            new_kind, new_expr = kind or row.trigger_kind, (expr or row.trigger_expr).strip()
            new_tz = timezone or row.timezone
            old = (row.trigger_kind, row.trigger_expr, row.timezone)
            replan = (new_kind, new_expr, new_tz) != old
            if enabled is True and not row.enabled:
                replan = True
            if replan:
                row.next_fire_at = self._first_fire(new_kind, new_expr, new_tz, now)
                row.trigger_kind, row.trigger_expr, row.timezone = new_kind, new_expr, new_tz
            if clean is not None:
                row.template = clean
            if overlap_policy is not None:
                row.overlap_policy = _choice(overlap_policy, OVERLAP_POLICIES, "overlap policy")
            if misfire_policy is not None:
                row.misfire_policy = _choice(misfire_policy, MISFIRE_POLICIES, "missed-fire policy")
            if enabled is not None:
                row.enabled = enabled
            return _record(s, row, now)

    def set_enabled(self, actor: Actor, name: str, enabled: bool) -> ScheduleRecord:
        return self.update(actor, name, enabled=enabled)

    def delete(self, actor: Actor, name: str) -> None:
        require(actor, Role.OPERATOR, "delete schedules")
        with self._db.session() as s:
            s.delete(_load(s, name))

    def get(self, actor: Actor, name: str) -> ScheduleRecord:
        require(actor, Role.VIEWER, "view schedules")
        with self._db.session() as s:
            return _record(s, _load(s, name), utcnow())

    def list(self, actor: Actor) -> list[ScheduleRecord]:
        require(actor, Role.VIEWER, "list schedules")
        now = utcnow()
        with self._db.session() as s:
            rows = s.scalars(select(Schedule).order_by(Schedule.name)).all()
            return [_record(s, r, now) for r in rows]

    def history(self, actor: Actor, name: str, limit: int = 100) -> list[FireRecord]:
        """Newest first: what each fire launched, or why it was skipped."""
        require(actor, Role.VIEWER, "view schedules")
        with self._db.session() as s:
            row = _load(s, name)
            fires = s.scalars(
                select(ScheduleFire)
                .where(ScheduleFire.schedule_id == row.id)
                .order_by(ScheduleFire.id.desc())
                .limit(limit)
            ).all()
            return [fire_record(f, name) for f in fires]
