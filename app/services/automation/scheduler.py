"""Fires schedules: due times from the trigger, the overlap and missed-fire policies, and a
lease per schedule in the database so that two schedulers (the window and `feddeck
scheduler`) never fire the same one. A fire whose edges (by tag) are not online yet waits
for them (outcome `waiting`), tried again each tick up to the template's
`wait_for_edges_s`. The clock is injected; nothing here sleeps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from app.errors import FedDeckError
from app.services.automation import leases
from app.services.automation.flow_engine import StartJob, run_actor
from app.services.automation.job_templates import (
    EdgesNotReady,
    JobNotStarted,
    launch_job,
    parse_template,
)
from app.services.automation.schedules import FireRecord, fire_record
from app.services.automation.triggers import build_trigger, next_fire
from app.services.entities.job_status import TERMINAL
from app.services.security.auth import Actor
from app.storage.models import FlowRun, Job, JobStatus, Schedule, ScheduleFire, utcnow

log = logging.getLogger(__name__)

StartFlow = Callable[[Actor, str, str], int]  # (actor, flow name, trigger) -> flow run id
MAX_DUE_SCAN = 100_000  # a 10 s interval missed for about 11 days


@dataclass
class _Fire:
    fire_time: datetime
    outcome: str
    reason: str = ""
    job_id: int | None = None
    flow_run_id: int | None = None
    queued_id: int | None = None  # an earlier queued or waiting fire this one settles


class Scheduler:
    def __init__(
        self,
        services,
        start_job: StartJob,
        start_flow: StartFlow | None,
        owner: str,
        clock: Callable[[], datetime] = utcnow,
        lease_s: float = 30.0,
        misfire_grace_s: float = 60.0,
    ) -> None:
        self.services, self.start_job, self.start_flow = services, start_job, start_flow
        self.owner, self.clock = owner, clock
        self.lease = timedelta(seconds=lease_s)
        self.grace = timedelta(seconds=misfire_grace_s)

    def claim(self) -> list[int]:
        """Take (or renew) the lease of every enabled schedule nobody else holds."""
        db, enabled = self.services.db, Schedule.enabled.is_(True)
        return leases.claim(db, Schedule, self.owner, self.clock(), self.lease, enabled)

    def release(self) -> None:
        leases.release(self.services.db, Schedule, self.owner)

    def tick(self) -> list[FireRecord]:
        """Handle every due fire of the schedules this scheduler holds."""
        out: list[FireRecord] = []
        for schedule_id in self.claim():
            try:
                out += self._handle(schedule_id)
            except Exception:  # one broken schedule must not stop the others
                log.exception("schedule %s could not fire", schedule_id)
        return out

    # -- one schedule -------------------------------------------------------------------
    def _handle(self, schedule_id: int) -> list[FireRecord]:
        now = self.clock()
        with self.services.db.session() as s:
            row = s.get(Schedule, schedule_id)
            actor = run_actor(s, row.created_by)
            queued = s.scalars(
                select(ScheduleFire)
                .where(ScheduleFire.schedule_id == row.id, ScheduleFire.outcome == "queued")
                .order_by(ScheduleFire.id)
            ).all()
            queued_fires = [(f.id, f.fire_time) for f in queued]
            waiting_fires = [
                (f.id, f.fire_time)
                for f in s.scalars(
                    select(ScheduleFire)
                    .where(ScheduleFire.schedule_id == row.id, ScheduleFire.outcome == "waiting")
                    .order_by(ScheduleFire.id)
                )
            ]
            name, template = row.name, dict(row.template)
            overlap, misfire = row.overlap_policy, row.misfire_policy
            next_at = row.next_fire_at
            anchor = next_at or now
            trigger = build_trigger(row.trigger_kind, row.trigger_expr, row.timezone, anchor)
            previous = self._previous_run(s, row.id)
        fires: list[_Fire] = []
        still_waiting = ""
        for waiting_id, fire_time in waiting_fires:
            fire = self._launch(actor, name, template, fire_time, "its edges came online")
            if fire.outcome == "waiting":
                limit = parse_template(template).wait_for_edges_s
                if now - fire_time < timedelta(seconds=limit):
                    still_waiting = f"the fire of {fire_time:%Y-%m-%d %H:%M} UTC"
                    continue
                why = fire.reason.split(": ", 1)[-1]
                fire = _Fire(fire_time, "failed", f"{why} after waiting {limit:g} s")
            fire.queued_id = waiting_id
            fires.append(fire)
            if fire.outcome == "launched":
                previous = (fire.job_id, fire.flow_run_id)
        # A queued fire goes once the run it waited for has ended (and no fire waits).
        if queued_fires and not still_waiting and not self._busy(previous):
            queued_id, fire_time = queued_fires[0]
            fire = self._launch(actor, name, template, fire_time, "queued fire, previous run ended")
            fire.queued_id = queued_id
            fires.append(fire)
            previous = (fire.job_id, fire.flow_run_id)
        due: list[datetime] = []
        when = next_at
        while when is not None and when <= now and len(due) < MAX_DUE_SCAN:
            due.append(when)
            when = next_fire(trigger, when)
        if when is not None and when <= now:
            when = next_fire(trigger, now)
        on_time = [t for t in due if now - t <= self.grace]
        missed = [t for t in due if now - t > self.grace]
        if missed:
            what = f"missed {len(missed)} fire(s) from {missed[0]:%Y-%m-%d %H:%M} UTC"
            if misfire == "run_once" and not on_time:
                on_time = [missed[-1]]
                note = f"{what} while no scheduler ran; running once"
            else:
                fires.append(_Fire(missed[-1], "skipped", f"{what} while no scheduler ran"))
                note = ""
        else:
            note = ""
        for fire_time in on_time:
            busy = still_waiting or self._busy(previous)
            fire = self._fire(actor, name, template, fire_time, overlap, busy, note)
            fires.append(fire)
            if fire.outcome == "launched":
                previous = (fire.job_id, fire.flow_run_id)
        if not fires and when == next_at:
            return []
        return self._record(schedule_id, name, fires, when if due else next_at)

    def _fire(self, actor, name, template, fire_time, overlap, busy: str, note) -> _Fire:
        if busy and overlap == "skip":
            return _Fire(fire_time, "skipped", f"{busy} is still going")
        if busy and overlap == "queue":
            return _Fire(fire_time, "queued", f"waiting for {busy}")
        return self._launch(actor, name, template, fire_time, note)

    def _launch(self, actor, name, template, fire_time, note) -> _Fire:
        if "flow" in template:
            if self.start_flow is None:
                return _Fire(fire_time, "failed", "this scheduler cannot start flows")
            try:
                flow_run_id = self.start_flow(actor, template["flow"], f"schedule {name}")
            except FedDeckError as exc:
                return _Fire(fire_time, "failed", str(exc))
            return _Fire(fire_time, "launched", note, flow_run_id=flow_run_id)
        try:
            job = launch_job(
                self.services,
                self.start_job,
                actor,
                parse_template(template, f"schedule {name!r}"),
                source=name,
                fired=fire_time,
                extra_tags=("scheduled",),
            )
        except EdgesNotReady as exc:
            limit = parse_template(template).wait_for_edges_s
            if limit <= 0:
                return _Fire(fire_time, "failed", str(exc))
            return _Fire(fire_time, "waiting", f"waiting up to {limit:g} s: {exc}")
        except JobNotStarted as exc:
            return _Fire(fire_time, "failed", str(exc), job_id=exc.job_id)
        except FedDeckError as exc:
            return _Fire(fire_time, "failed", str(exc))
        return _Fire(fire_time, "launched", note, job_id=job.id)

    @staticmethod
    def _previous_run(s, schedule_id: int) -> tuple[int | None, int | None]:
        last = s.scalar(
            select(ScheduleFire)
            .where(ScheduleFire.schedule_id == schedule_id, ScheduleFire.outcome == "launched")
            .order_by(ScheduleFire.id.desc())
            .limit(1)
        )
        return (last.job_id, last.flow_run_id) if last else (None, None)

    def _busy(self, previous: tuple[int | None, int | None]) -> str:
        """'job 7' / 'flow run 3' while the previous launch is still going, else ''."""
        job_id, flow_run_id = previous
        with self.services.db.session() as s:
            if job_id is not None:
                job = s.get(Job, job_id)
                if job is not None and JobStatus(job.status) not in TERMINAL:
                    return f"job {job_id} ({job.status})"
            if flow_run_id is not None:
                run = s.get(FlowRun, flow_run_id)
                if run is not None and run.status == "RUNNING":
                    return f"flow run {flow_run_id}"
        return ""

    def _record(self, schedule_id, name, fires: list[_Fire], next_at) -> list[FireRecord]:
        now = self.clock()
        with self.services.db.session() as s:
            row = s.get(Schedule, schedule_id)
            if row is None:  # deleted while firing; its jobs stand on their own
                return []
            row.next_fire_at = next_at
            out = []
            for fire in fires:
                entry = s.get(ScheduleFire, fire.queued_id) if fire.queued_id else None
                if entry is None:
                    entry = ScheduleFire(schedule_id=schedule_id, fire_time=fire.fire_time)
                    s.add(entry)
                entry.at, entry.outcome, entry.reason = now, fire.outcome, fire.reason[:1000]
                entry.job_id, entry.flow_run_id = fire.job_id, fire.flow_run_id
                s.flush()
                out.append(fire_record(entry, name))
                log.info("schedule %s: %s %s", name, fire.outcome, fire.reason)
        return out
