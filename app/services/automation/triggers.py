"""When a schedule fires: cron expressions, intervals and one-off date-times, in a time zone.

Fire-time arithmetic comes from APScheduler's triggers (cron parsing, DST, day-of-week
names); FedDeck keeps the schedule state itself, in the database, so that firing survives
restarts and two schedulers can share the work through a lease.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from app.errors import InvalidInput

KINDS = ("cron", "interval", "once")
_INTERVAL_PART = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MIN_INTERVAL_S = 10


def parse_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder
        raise InvalidInput(
            f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Paris"
        ) from None


def parse_interval(expr: str) -> timedelta:
    """'90s', '15m', '1h30m', '2d', '1w' -> timedelta."""
    text = expr.strip().lower().replace(" ", "")
    parts = _INTERVAL_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InvalidInput(
            f"interval {expr!r} is not like 90s, 15m, 1h30m, 2d or 1w (units s, m, h, d, w)"
        )
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds < MIN_INTERVAL_S:
        raise InvalidInput(f"interval {expr!r} is shorter than {MIN_INTERVAL_S} seconds")
    return timedelta(seconds=seconds)


def parse_local_datetime(expr: str, tz: ZoneInfo) -> datetime:
    try:
        when = datetime.fromisoformat(expr.strip())
    except ValueError:
        raise InvalidInput(
            f"date-time {expr!r} is not ISO 8601, e.g. 2026-12-01T09:00 or 2026-12-01 09:00"
        ) from None
    return when.replace(tzinfo=tz) if when.tzinfo is None else when


def build_trigger(kind: str, expr: str, timezone: str, anchor: datetime) -> BaseTrigger:
    """The trigger for a schedule; `anchor` is where intervals count from (its creation)."""
    tz = parse_timezone(timezone)
    if kind == "cron":
        try:
            return CronTrigger.from_crontab(expr.strip(), timezone=tz)
        except ValueError as exc:
            raise InvalidInput(
                f"cron expression {expr!r}: {exc} (five fields: minute hour day month weekday)"
            ) from None
    if kind == "interval":
        return IntervalTrigger(seconds=parse_interval(expr).total_seconds(), start_date=anchor)
    if kind == "once":
        return DateTrigger(run_date=parse_local_datetime(expr, tz), timezone=tz)
    raise InvalidInput(f"unknown trigger kind {kind!r}: use one of {', '.join(KINDS)}")


def next_fire(trigger: BaseTrigger, after: datetime) -> datetime | None:
    """The first fire time strictly after `after`, in UTC; None when it never fires again."""
    probe = after + timedelta(microseconds=1)
    when = trigger.get_next_fire_time(None, probe)
    if when is not None and when <= after:  # DateTrigger returns its date regardless of now
        return None
    return when.astimezone(UTC) if when else None


def fire_times(trigger: BaseTrigger, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `after` (fewer if the trigger ends)."""
    out: list[datetime] = []
    when = after
    while len(out) < count:
        nxt = next_fire(trigger, when)
        if nxt is None:
            break
        out.append(nxt)
        when = nxt
    return out


def describe(kind: str, expr: str, timezone: str) -> str:
    what = {"cron": f"cron {expr}", "interval": f"every {expr}", "once": f"once at {expr}"}
    return f"{what.get(kind, expr)} ({timezone})"
