"""Cron expressions in a time zone.

Occurrences are computed in the schedule's zone with cronsim, which treats DST as Debian's cron
does: a wall time skipped by the spring change runs at the first minute after the gap, a daily
time repeated by the autumn change runs once, and interval expressions (``*/30``) run in both
folds. Everything is stored and compared in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .model import ScheduleError


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Berlin``), or a clear error."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ScheduleError(
            f"unknown time zone {name!r}: use an IANA name like Europe/Berlin"
        ) from e


def check(expr: str, tz: str) -> str:
    """The expression, normalised, if cron understands it; else one line saying what is wrong."""
    expr = " ".join(expr.split())
    if len(expr.split(" ")) != 5:
        raise ScheduleError(
            f"cron expression {expr!r} needs 5 fields: minute hour day-of-month month day-of-week"
        )
    try:
        CronSim(expr, datetime.now(zone(tz)))
    except CronSimError as e:
        raise ScheduleError(f"cron expression {expr!r}: {str(e).lower()}") from None
    return expr


def occurrences(expr: str, tz: str, after: datetime) -> Iterator[datetime]:
    """Due times strictly after ``after``, in UTC, in order (an endless iterator)."""
    start = after.astimezone(zone(tz))
    for moment in CronSim(expr, start):
        due = moment.astimezone(UTC)
        if due > after:
            yield due


def next_due(expr: str, tz: str, after: datetime) -> datetime:
    return next(occurrences(expr, tz, after))


def due_between(
    expr: str, tz: str, after: datetime, until: datetime, *, limit: int
) -> list[datetime]:
    """Occurrences in (after, until], at most ``limit`` (the newest ones if there are more)."""
    found: list[datetime] = []
    for due in occurrences(expr, tz, after):
        if due > until:
            break
        found.append(due)
        if len(found) > limit:
            found.pop(0)
    return found


def describe(expr: str) -> str:
    """Cron in words ("At 08:00 on Monday"), for listings."""
    try:
        return str(CronSim(expr, datetime.now(UTC)).explain())
    except (CronSimError, AttributeError):
        return expr


GRACE = timedelta(minutes=2)  # a "skip" schedule still runs an occurrence this late
