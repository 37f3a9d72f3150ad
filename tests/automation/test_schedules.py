"""Schedules: triggers, policies and the lease, on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.errors import Conflict, InvalidInput, PermissionDenied
from app.services.automation.scheduler import Scheduler
from app.services.automation.schedules import preview
from app.services.automation.triggers import parse_interval
from tests.automation.conftest import TEMPLATE


def scheduler(lab, starter, clock, owner="a", **kw) -> Scheduler:
    return Scheduler(lab[0], starter, None, owner, clock=clock, **kw)


def test_cron_preview_follows_the_time_zone_and_daylight_saving():
    march = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # Paris leaves winter time on the 29th
    fires = preview("cron", "0 3 * * *", "Europe/Paris", now=march, count=4)
    assert [f.isoformat() for f in fires] == [
        "2026-03-28T03:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T03:00:00+02:00",
        "2026-03-31T03:00:00+02:00",
    ]
    assert [f.hour for f in (t.astimezone(UTC) for t in fires)] == [2, 1, 1, 1]


@pytest.mark.parametrize(
    ("kind", "expr", "tz", "error"),
    [
        ("cron", "0 3 * *", "UTC", "five fields"),
        ("cron", "61 * * * *", "UTC", "cron expression"),
        ("interval", "5x", "UTC", "not like 90s"),
        ("interval", "5s", "UTC", "shorter than 10 seconds"),
        ("once", "tomorrow", "UTC", "not ISO 8601"),
        ("cron", "0 3 * * *", "Mars/Olympus", "unknown time zone"),
        ("cron", "0 3 * * *", "Europe", "unknown time zone 'Europe'"),  # a folder of zones
        ("weekly", "x", "UTC", "unknown trigger kind"),
    ],
)
def test_bad_triggers_are_refused_with_the_reason(lab, kind, expr, tz, error):
    services, operator = lab
    with pytest.raises(InvalidInput, match=error):
        services.schedules.create(operator, "s", TEMPLATE, kind, expr, timezone=tz)
    assert services.schedules.list(operator) == []


def test_intervals_parse():
    assert parse_interval("1h30m").total_seconds() == 5400
    assert parse_interval("2d").total_seconds() == 172800


def test_schedule_crud_and_template_checks(lab, clock):
    services, operator = lab
    rec = services.schedules.create(
        operator, "nightly", TEMPLATE, "cron", "0 3 * * *", "Europe/Paris", now=clock()
    )
    assert rec.next_fire_at == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    assert rec.next_fires[0] == "2026-11-29T03:00:00+01:00" and len(rec.next_fires) == 5
    with pytest.raises(Conflict):
        services.schedules.create(operator, "nightly", TEMPLATE, "cron", "0 3 * * *")
    for bad, error in [
        ({**TEMPLATE, "project": "nope"}, "no project named 'nope'"),
        ({**TEMPLATE, "config": "nope"}, "no config 'nope'"),
        ({"project": "proj", "config": "digits-mlp"}, "give one of edges"),
        ({**TEMPLATE, "name": "{bogus}"}, "name pattern"),
        ({"flow": "nope"}, "no flow named"),
    ]:
        with pytest.raises(InvalidInput, match=error):
            services.schedules.create(operator, "other", bad, "interval", "1h")
    with pytest.raises(InvalidInput, match="never fires"):
        services.schedules.create(operator, "past", TEMPLATE, "once", "2020-01-01T00:00")
    off = services.schedules.set_enabled(operator, "nightly", False)
    assert not off.enabled and off.next_fires == []
    edited = services.schedules.update(operator, "nightly", kind="interval", expr="6h", now=clock())
    assert edited.next_fire_at == datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    viewer_like = type(operator)(None, "v", type(operator.role)("viewer"))
    with pytest.raises(PermissionDenied):
        services.schedules.delete(viewer_like, "nightly")
    services.schedules.delete(operator, "nightly")
    assert services.schedules.list(operator) == []


def test_cron_fires_at_its_time_and_plans_the_next(lab, starter, clock):
    services, operator = lab
    services.schedules.create(operator, "hourly", TEMPLATE, "cron", "0 * * * *", now=clock())
    sched = scheduler(lab, starter, clock)
    assert sched.tick() == []  # 08:00:00 exactly was not after creation; 09:00 is next
    clock.advance(minutes=59, seconds=59)
    assert sched.tick() == [] and starter.started == []
    clock.advance(seconds=2)
    [fire] = sched.tick()
    assert fire.outcome == "launched" and starter.started == [fire.job_id]
    job = services.jobs.get(operator, fire.job_id)
    assert job.name == "hourly 2026-11-28 09:00" and "scheduled" in job.tags
    assert sorted(job.edges) == ["e1", "e2"] and job.created_by == "olga"
    assert services.schedules.get(operator, "hourly").next_fire_at == datetime(
        2026, 11, 28, 10, 0, tzinfo=UTC
    )
    assert sched.tick() == []  # no double fire


def test_overlap_skip_queue_parallel(lab, starter, clock):
    services, operator = lab
    for policy in ("skip", "queue", "parallel"):
        services.schedules.create(
            operator, policy, TEMPLATE, "interval", "10m", overlap_policy=policy, now=clock()
        )
    sched = scheduler(lab, starter, clock)
    clock.advance(minutes=10, seconds=1)
    first = {f.schedule: f for f in sched.tick()}
    assert {f.outcome for f in first.values()} == {"launched"}
    clock.advance(minutes=10)
    second = {f.schedule: f for f in sched.tick()}  # every first run still RUNNING
    assert second["skip"].outcome == "skipped" and "still going" in second["skip"].reason
    assert second["queue"].outcome == "queued"
    assert second["parallel"].outcome == "launched"
    starter.finish(first["queue"].job_id)
    clock.advance(seconds=5)
    [dequeued] = sched.tick()
    assert dequeued.schedule == "queue" and dequeued.outcome == "launched"
    assert dequeued.id == second["queue"].id  # the queued entry itself became the launch
    history = services.schedules.history(operator, "queue")
    assert [h.outcome for h in history] == ["launched", "launched"]


def test_missed_fires_skip_or_run_once(lab, starter, clock):
    services, operator = lab
    services.schedules.create(operator, "skipper", TEMPLATE, "interval", "1h", now=clock())
    services.schedules.create(
        operator, "catcher", TEMPLATE, "interval", "1h", misfire_policy="run_once", now=clock()
    )
    clock.advance(hours=5, minutes=30)  # nothing ran for five fires
    fires = {f.schedule: f for f in scheduler(lab, starter, clock).tick()}
    assert fires["skipper"].outcome == "skipped" and "missed 5 fire(s)" in fires["skipper"].reason
    assert fires["catcher"].outcome == "launched" and "running once" in fires["catcher"].reason
    assert len(starter.started) == 1
    for name in ("skipper", "catcher"):  # and the next fire is the next one in the future
        assert services.schedules.get(operator, name).next_fire_at == datetime(
            2026, 11, 28, 14, 0, tzinfo=UTC
        )


@pytest.mark.parametrize("lab", ["sqlite", "postgresql"], indirect=True)
def test_the_lease_keeps_a_second_scheduler_out_until_it_expires(lab, starter, clock):
    services, operator = lab
    services.schedules.create(operator, "s", TEMPLATE, "interval", "10m", now=clock())
    window = scheduler(lab, starter, clock, owner="window", lease_s=30)
    headless = scheduler(lab, starter, clock, owner="headless", lease_s=30)
    assert window.claim() and headless.claim() == []
    clock.advance(minutes=10, seconds=1)
    window.claim()  # renewed
    assert headless.tick() == [] and len(window.tick()) == 1
    assert len(starter.started) == 1
    clock.advance(seconds=31)  # the window died: its lease runs out
    assert headless.claim() and window.claim() == []
    window.release()
    assert services.schedules.get(operator, "s").lease_owner == "headless"


def test_a_fire_without_idle_edges_waits_for_them(lab, starter, clock):
    services, operator = lab
    template = {**TEMPLATE, "wait_for_edges_s": 120}
    services.schedules.create(operator, "s", template, "interval", "10m", now=clock())
    for name in ("e1", "e2"):
        services.edges.set_status(operator, name, "OFFLINE")
    sched = scheduler(lab, starter, clock)
    clock.advance(minutes=10, seconds=1)
    [fire] = sched.tick()
    assert fire.outcome == "waiting"
    assert fire.reason == "waiting up to 120 s: no idle edge is tagged 'lab'"
    clock.advance(seconds=60)
    assert sched.tick() == [] and starter.started == []  # still waiting, nothing new
    services.edges.set_status(operator, "e2", "IDLE")  # its heartbeat was recorded
    assert sched.tick() == []  # one edge; the config's min_clients is 2
    services.edges.set_status(operator, "e1", "IDLE")
    [launched] = sched.tick()
    assert launched.outcome == "launched" and launched.id == fire.id  # the same entry
    assert sorted(services.jobs.get(operator, launched.job_id).edges) == ["e1", "e2"]
    assert [h.outcome for h in services.schedules.history(operator, "s")] == ["launched"]


def test_a_fire_whose_edges_never_come_fails_after_the_wait(lab, starter, clock):
    services, operator = lab
    template = {**TEMPLATE, "wait_for_edges_s": 120}
    services.schedules.create(operator, "s", template, "interval", "1h", now=clock())
    services.schedules.create(
        operator, "now", {**TEMPLATE, "wait_for_edges_s": 0}, "interval", "1h", now=clock()
    )
    for name in ("e1", "e2"):
        services.edges.set_status(operator, name, "OFFLINE")
    sched = scheduler(lab, starter, clock)
    clock.advance(hours=1, seconds=1)
    fires = {f.schedule: f for f in sched.tick()}
    assert fires["s"].outcome == "waiting"
    assert fires["now"].outcome == "failed"  # a zero wait fails at once, as it used to
    assert fires["now"].reason == "no idle edge is tagged 'lab'"
    clock.advance(seconds=121)
    [failed] = sched.tick()
    assert failed.outcome == "failed" and failed.id == fires["s"].id
    assert failed.reason == "no idle edge is tagged 'lab' after waiting 120 s"
    assert starter.started == []


def test_a_once_schedule_fires_once(lab, starter, clock):
    services, operator = lab
    services.schedules.create(
        operator, "once", TEMPLATE, "once", "2026-11-28T10:00", "Europe/Paris", now=clock()
    )
    sched = scheduler(lab, starter, clock)
    clock.advance(hours=1, seconds=1)  # 10:00 Paris is 09:00 UTC
    assert [f.outcome for f in sched.tick()] == ["launched"]
    clock.advance(days=2)
    assert sched.tick() == []
    assert services.schedules.get(operator, "once").next_fire_at is None
