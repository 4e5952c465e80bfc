"""Push each cycle's figures to InfluxDB 1.x under csv2's measurement and tag names (csv2 6.3), so a
site's Grafana dashboards built on csv2's ``csv2_timeseries`` database keep working unchanged.

The points, as csv2's ``timeseriesPoller`` wrote them (``value`` an integer field, ``precision=s``):

- per cloud, tags ``cloud`` and ``group``: ``VMs``, ``VMs_idle``, ..., ``cores_native``, ``ram_native``,
  ``slot_count``, ``Foreign_VMs``, ``cores_limit``, ``cores_quota``, ... (a -1 "no limit" is left out);
- per group, tag ``group``: the same names with ``_total``, and ``jobs_total``, ``jobs_idle_total``, ...,
  ``jobs_foreign_total``, and ``jobs_idle_<N>core_total`` per core count of idle jobs;
- per target alias, tags ``cloud=<alias>`` and ``group``: ``jobs``, ``jobs_idle``, ... (zeros for an
  alias with no jobs, as csv2's view gave).

On when ``CS_INFLUXDB_URL`` is set (``http[s]://[user:password@]host:8086``); the database is
``CS_INFLUXDB_DB`` (default ``csv2_timeseries``). A push that fails is logged and returned, never raised:
a monitoring database that is down must not stop the scheduling run that calls it.
"""

from __future__ import annotations

import base64
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from include.loop.timeseries import cloud_values, count_values, job_values
from include.status.tables import GroupStatus, JobCounts, group_status
from include.store.models import AliasCloud

log = logging.getLogger(__name__)
URL_ENV, DB_ENV, DEFAULT_DB = "CS_INFLUXDB_URL", "CS_INFLUXDB_DB", "csv2_timeseries"
TIMEOUT_S = 5.0


def configured() -> bool:
    return bool(os.environ.get(URL_ENV, "").strip())


def lines(session: Session, groups: list[str], now: datetime) -> list[str]:
    """This cycle's points in line protocol, every group's."""
    ts = int(now.timestamp())
    aliases: dict[str, set[str]] = {}
    for group, alias in session.execute(
        select(AliasCloud.group_name, AliasCloud.alias).where(AliasCloud.group_name.in_(groups))
    ):
        aliases.setdefault(group, set()).add(alias)
    out: list[str] = []
    for g in group_status(session, groups, now):
        out += _group_lines(g, aliases.get(g.name, set()), ts)
    return out


def _group_lines(g: GroupStatus, aliases: set[str], ts: int) -> list[str]:
    out = []
    for c in g.clouds:
        out += [_point(m, v, ts, cloud=c.name, group=g.name) for m, v in cloud_values(c).items()]
    out += [_point(f"{m}_total", v, ts, group=g.name) for m, v in cloud_values(g.total).items()]
    out += [_point(f"{m}_total", v, ts, group=g.name) for m, v in job_values(g).items()]
    total = g.jobs[0]
    out += [
        _point(f"jobs_idle_{cores}core_total", n, ts, group=g.name)
        for cores, n in sorted(total.idle_by_cores.items())
    ]
    by_alias = {j.alias: j for j in g.jobs[1:]}
    for alias in sorted(aliases | set(by_alias)):
        values = count_values(by_alias.get(alias) or JobCounts(alias))
        out += [_point(m, v, ts, cloud=alias, group=g.name) for m, v in values.items()]
    return [line for line in out if line]


def _point(measurement: str, value: int, ts: int, **tags: str) -> str:
    if value is None or value < 0:  # csv2 left "no limit" (-1) and unknowns out
        return ""
    tag_text = "".join(f",{k}={_escape(v)}" for k, v in tags.items() if v)
    return f"{_escape(measurement)}{tag_text} value={int(value)}i {ts}"


def _escape(text: str) -> str:
    """Line protocol: commas, spaces and equals signs in names and tag values are backslash-escaped."""
    return str(text).replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")


def push(points: list[str], url: str | None = None, database: str | None = None) -> str | None:
    """POST the points; None when written, else why not (logged)."""
    if not points:
        return None
    url = url or os.environ[URL_ENV]
    parts = urllib.parse.urlsplit(url.strip())
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = urllib.parse.urlencode({"db": database or os.environ.get(DB_ENV, DEFAULT_DB), "precision": "s"})
    target = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/write", query, ""))
    request = urllib.request.Request(target, data="\n".join(points).encode(), method="POST")
    if parts.username:  # InfluxDB 1.x takes HTTP basic auth; the URL's user:password stays out of logs
        secret = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        request.add_header("Authorization", "Basic " + base64.b64encode(secret.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 - the site's URL
            response.read()
        return None
    except urllib.error.HTTPError as exc:
        why = (
            f"InfluxDB at {netloc} refused the points: {exc.code} {exc.read()[:300].decode(errors='replace')}"
        )
    except (OSError, ValueError) as exc:
        why = f"InfluxDB at {netloc} not reached: {exc}"
    log.warning("%s", why)
    return why
