"""Plot series from the ``timeseries`` table: one sample per (group, cloud) per cycle, cloud '' being
the group total (the original's measurement names, semantics.md).

Every range is averaged into fixed buckets in SQL (about 120-340 points), so a week of 30-second
samples of 50 clouds (a million rows) leaves the database as a few thousand numbers. The bucket
arithmetic is portable: epoch seconds (``strftime('%s')`` on SQLite, ``EXTRACT(EPOCH ...)`` on
PostgreSQL), integer-divided by the bucket width.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from include.store.models import TimeseriesSample

RANGES = {"1h": (3600, 30), "1d": (86400, 300), "1w": (7 * 86400, 1800)}  # span, bucket width (seconds)
PANELS = {
    "jobs": ("Jobs", ("jobs_idle", "jobs_running", "jobs_held")),
    "vms": (
        "VMs by state",
        (
            "VMs_starting",
            "VMs_unregistered",
            "VMs_idle",
            "VMs_running",
            "VMs_retiring",
            "VMs_manual",
            "VMs_in_error",
        ),
    ),
    "cores": ("Cores by cloud", ("cores_native",)),  # one line per cloud
}


class epoch_seconds(FunctionElement):  # noqa: N801 - a SQL function, named like one
    """Seconds since 1970 of a UTC timestamp column, as an integer."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_pg(element, compiler, **kw):
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS BIGINT)"


@dataclass(frozen=True)
class Series:
    """Aligned columns, the shape chart libraries take: ``t`` in epoch seconds, one list per line;
    ``names`` keeps the lines' order (JSON objects do not)."""

    title: str
    t: list[int]
    lines: dict[str, list[float | None]]
    names: list[str]


def bucket_of(column, width: int) -> ColumnElement:
    return (epoch_seconds(column) // width) * width


def panel(session: Session, group: str, name: str, range_key: str, now: datetime) -> Series:
    span, width = RANGES[range_key]
    title, measurements = PANELS[name]
    t = TimeseriesSample
    bucket = bucket_of(t.ts, width).label("bucket")
    where = [t.group_name == group, t.ts > now - timedelta(seconds=span), t.ts <= now]
    if name == "cores":
        query = (
            select(bucket, t.cloud_name, func.avg(t.cores_native))
            .where(*where, t.cloud_name != "")
            .group_by(bucket, t.cloud_name)
            .order_by(bucket)
        )
        rows = [(b, cloud, v) for b, cloud, v in session.execute(query)]
        clouds = sorted({cloud for _, cloud, _ in rows})
        return _align(title, clouds, ((b, cloud, v) for b, cloud, v in rows))
    cols = [func.avg(getattr(t, m)) for m in measurements]
    query = select(bucket, *cols).where(*where, t.cloud_name == "").group_by(bucket).order_by(bucket)
    triples = (
        (row[0], m, v) for row in session.execute(query) for m, v in zip(measurements, row[1:], strict=True)
    )
    return _align(title, list(measurements), triples)


def _align(title: str, names: list[str], triples) -> Series:
    by_bucket: dict[int, dict[str, float]] = {}
    for b, name, value in triples:
        by_bucket.setdefault(int(b), {})[name] = None if value is None else round(float(value), 2)
    t = sorted(by_bucket)
    return Series(title, t, {n: [by_bucket[b].get(n) for b in t] for n in names}, list(names))


def panels(session: Session, group: str, range_key: str, now: datetime) -> dict[str, Series]:
    return {name: panel(session, group, name, range_key, now) for name in PANELS}
