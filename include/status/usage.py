"""Usage reports from the per-VM records (``vm_usage``): daily totals per group, cloud and flavour,
and the records themselves, for the CLI's ``usage`` command and the plugin's usage page.

A day is a UTC calendar day. A VM's core-seconds are spread over its accounted life (``booted_at`` to
``accounted_at``) evenly: the part of its life inside a day brings that share of its busy and idle
core-seconds, so a VM living across midnight counts in both days, and the days of a range add up to
the records' totals. A VM counts once in each day its life touches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from include.store.models import VmUsage

DAY = timedelta(days=1)
MAX_DAYS = 400  # a range is read record by record: a longer one is refused, naming the limit


def range_problem(first: date, last: date, names: tuple[str, str] = ("--from", "--to")) -> str | None:
    """What is wrong with the range ``first``..``last`` (its options named as ``names``), or None."""
    if last < first:
        return f"{names[1]} {last} is before {names[0]} {first}"
    if last >= date.max - DAY:
        return f"{names[1]} {last} is past any day a VM can have run"
    if (last - first).days >= MAX_DAYS:
        return f"{names[0]}/{names[1]}: at most {MAX_DAYS} days at once"
    return None


@dataclass(frozen=True)
class DailyUsage:
    day: date
    group: str
    cloud: str
    flavor: str
    vms: int
    busy_core_h: float
    idle_core_h: float

    @property
    def total_core_h(self) -> float:
        return self.busy_core_h + self.idle_core_h

    def cells(self) -> tuple:
        """The row as the CLI's table, its CSV and the usage page show it (hours to the hundredth)."""
        hours = (f"{h:.2f}" for h in (self.busy_core_h, self.idle_core_h, self.total_core_h))
        return (self.day.isoformat(), self.group, self.cloud, self.flavor, self.vms, *hours)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def usage_records(session: Session, groups: Iterable[str], first: date, last: date) -> list[VmUsage]:
    """The records of ``groups`` whose life touches the days ``first`` to ``last`` (inclusive), in boot
    order."""
    start, end = day_start(first), day_start(last) + DAY
    query = (
        select(VmUsage)
        .where(
            VmUsage.group_name.in_(list(groups)),
            VmUsage.booted_at < end,
            or_(VmUsage.deleted_at.is_(None), VmUsage.deleted_at >= start),
            VmUsage.accounted_at >= start,
        )
        .order_by(VmUsage.booted_at, VmUsage.vm_id)
    )
    return list(session.scalars(query))


def daily_usage(session: Session, groups: Iterable[str], first: date, last: date) -> list[DailyUsage]:
    """Daily totals per (day, group, cloud, flavour) from ``first`` to ``last`` (inclusive), sorted;
    days without usage are left out."""
    problem = range_problem(first, last)
    if problem:
        raise ValueError(problem)
    sums: dict[tuple[date, str, str, str], list[float]] = {}
    for r in usage_records(session, groups, first, last):
        for day, share in _shares(r.booted_at, r.accounted_at, first, last):
            row = sums.setdefault((day, r.group_name, r.cloud_name, r.flavor), [0, 0.0, 0.0])
            row[0] += 1
            row[1] += r.busy_core_s * share / 3600
            row[2] += r.idle_core_s * share / 3600
    return [
        DailyUsage(day, group, cloud, flavor, int(n), busy, idle)
        for (day, group, cloud, flavor), (n, busy, idle) in sorted(sums.items())
    ]


def _shares(begin: datetime, end: datetime, first: date, last: date) -> list[tuple[date, float]]:
    """The days from ``first`` to ``last`` that [begin, end] touches, with the fraction of it in each. A
    life of no length (not yet accounted) lies wholly in the day it began."""
    life = (end - begin).total_seconds()
    if life <= 0:
        day = begin.astimezone(UTC).date()
        return [(day, 1.0)] if first <= day <= last else []
    out = []
    day = max(begin.astimezone(UTC).date(), first)
    while day <= last and day_start(day) < end:
        overlap = (min(end, day_start(day) + DAY) - max(begin, day_start(day))).total_seconds()
        if overlap > 0:
            out.append((day, overlap / life))
        day += DAY
    return out
