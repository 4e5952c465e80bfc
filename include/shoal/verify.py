"""Function test of each cache, through the cache itself (reference section 3.3), and its bookkeeping.

A squid is asked for each configured URL as an HTTP proxy at ``http://<address>:<port>``. A varnish is a
reverse proxy in front of one kind of server, so it is probed as the original server probes it, per its
upstream: a CVMFS one for ``/cvmfs/oasis.opensciencegrid.org/.cvmfspublished``, a Frontier one for
``/atlr`` with ``X-frontier-id`` and ``Cache-Control: max-age=0`` (a Frontier-only varnish has no CVMFS
path to answer); one serving both passes on either. A CVMFS URL passes when a line of the body starts
with ``N`` and names the repository; any other URL (Frontier) passes on HTTP 200. ``ERR_ACCESS_DENIED``
fails at once ("local access only"). As in the original, the test gives up when ``max_bad`` fetches
failed with errors or ``max_bad`` returned the wrong content, so one dead stratum-1 does not fail
every cache. Unlike the original, unverified caches are checked again every ``recheck_interval``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from include.store.models import ShoalCache

_REPO = re.compile(r"cvmfs/(.+?)(/|\.)")  # the original's: "atlas.cern.ch" -> "atlas"


@dataclass(frozen=True)
class Target:
    uuid: str
    hostname: str
    address: str
    port: int
    cache_type: str
    upstream: str


@dataclass(frozen=True)
class Outcome:
    uuid: str
    ok: bool
    error: str | None
    seconds: float


# What a varnish is asked for, per upstream (the original's paths; settings varnish_*_path change them).
VARNISH_PROBES = {"cvmfs": "/cvmfs/oasis.opensciencegrid.org/.cvmfspublished", "frontier": "/atlr"}


def urls_for(target: Target, urls: Sequence[str], varnish: dict[str, str] | None = None) -> list[str]:
    """The URLs that apply to a cache's upstream (a cvmfs-only cache is not asked for Frontier); a
    varnish's are the paths of its upstream's probes."""
    if target.cache_type == "varnish":
        probes = VARNISH_PROBES | (varnish or {})
        kinds = ("cvmfs", "frontier") if target.upstream not in ("cvmfs", "frontier") else (target.upstream,)
        return [probes[k] for k in kinds]
    if target.upstream == "cvmfs":
        wanted = [u for u in urls if "/cvmfs/" in u]
    elif target.upstream == "frontier":
        wanted = [u for u in urls if "/cvmfs/" not in u]
    else:
        wanted = list(urls)
    return wanted or list(urls)


def check(target: Target, urls: Sequence[str], timeout: float, max_bad: int) -> Outcome:
    """Fetch ``urls`` through ``target``; never raises."""
    import requests

    began = time.monotonic()
    session = requests.Session()
    session.trust_env = False  # NO_PROXY or HTTP_PROXY in our environment must not bypass the cache
    proxy = f"http://{_host(target.address)}:{target.port}"
    bad_fetch = bad_content = 0
    limit = max(1, min(max_bad, len(urls)))
    try:
        for url in urls:
            try:
                body, status = _fetch(session, target, url, proxy, timeout)
            except requests.RequestException as exc:
                bad_fetch += 1
                error = f"{url}: {type(exc).__name__}"
            else:
                if "ERR_ACCESS_DENIED" in body:
                    return Outcome(
                        target.uuid, False, f"access denied on {url} (local access only)", _since(began)
                    )
                if _content_ok(url, body, status):
                    continue
                bad_content += 1
                error = f"{url}: unexpected content (HTTP {status})"
            if bad_fetch >= limit or bad_content >= limit:
                return Outcome(
                    target.uuid,
                    False,
                    f"{bad_fetch} fetch errors, {bad_content} bad answers; last: {error}",
                    _since(began),
                )
    finally:
        session.close()
    return Outcome(target.uuid, True, None, _since(began))


def _fetch(session, target: Target, url: str, proxy: str, timeout: float) -> tuple[str, int]:
    if target.cache_type == "varnish":
        parts = urlsplit(url)
        direct = f"http://{_host(target.address)}:{target.port}{parts.path}" + (
            f"?{parts.query}" if parts.query else ""
        )
        # The original's Frontier probe headers: who asks, and no answer from the cache's memory.
        headers = {"X-frontier-id": "cloudscheduler-shoal", "Cache-Control": "max-age=0"}
        response = session.get(direct, timeout=timeout, headers=headers)
    else:
        response = session.get(url, proxies={"http": proxy, "https": proxy}, timeout=timeout)
    with response:
        return response.content[:1_000_000].decode("utf-8", "replace"), response.status_code


def _content_ok(url: str, body: str, status: int) -> bool:
    match = _REPO.search(url)
    if match is None:
        return status == 200
    repo = match.group(1)
    return status == 200 and any(line.startswith("N") and repo in line for line in body.splitlines())


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _since(began: float) -> float:
    return round(time.monotonic() - began, 3)


def due(
    session: Session,
    now: datetime,
    verify_interval: float,
    recheck_interval: float,
    limit: int,
    uuid: str | None = None,
) -> list[Target]:
    """Caches to check now: never checked, verified ones after ``verify_interval``, unverified ones after
    ``recheck_interval``; oldest check first. With ``uuid``, that cache whatever its schedule."""
    query = select(ShoalCache)
    if uuid:
        query = query.where(ShoalCache.uuid == uuid)
    else:
        query = query.where(
            or_(
                ShoalCache.verify_attempted.is_(None),
                and_(
                    ShoalCache.verified.is_(True),
                    ShoalCache.verify_attempted <= now - timedelta(seconds=verify_interval),
                ),
                and_(
                    ShoalCache.verified.is_(False),
                    ShoalCache.verify_attempted <= now - timedelta(seconds=recheck_interval),
                ),
            )
        )
    query = query.order_by(ShoalCache.verify_attempted.is_not(None), ShoalCache.verify_attempted).limit(limit)
    return [
        Target(
            r.uuid, r.hostname, r.public_ip or r.external_ip or r.private_ip, r.port, r.cache_type, r.upstream
        )
        for r in session.scalars(query)
    ]


def check_all(
    targets: Sequence[Target],
    urls: Sequence[str],
    timeout: float,
    max_bad: int,
    workers: int,
    varnish: dict[str, str] | None = None,
) -> list[Outcome]:
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets)))) as pool:
        return list(pool.map(lambda t: check(t, urls_for(t, urls, varnish), timeout, max_bad), targets))


@dataclass(frozen=True)
class Change:
    uuid: str
    hostname: str
    address: str | None
    port: int
    error: str | None


def record(session: Session, outcomes: Sequence[Outcome], now: datetime) -> dict[str, list[Change]]:
    """Store outcomes; returns the caches that went from verified to unverified (``went_unverified``) and
    back (``recovered``). Caches expired meanwhile are skipped."""
    rows = {
        r.uuid: r
        for r in session.scalars(select(ShoalCache).where(ShoalCache.uuid.in_([o.uuid for o in outcomes])))
    }
    changes: dict[str, list[Change]] = {"went_unverified": [], "recovered": [], "verified": [], "failed": []}
    for outcome in outcomes:
        row = rows.get(outcome.uuid)
        if row is None:
            continue
        was_verified, ever_verified = row.verified, row.verified_at is not None
        row.verify_attempted = now
        row.verified = outcome.ok
        row.verify_error = outcome.error
        row.verify_failures = 0 if outcome.ok else row.verify_failures + 1
        if outcome.ok:
            row.verified_at = now
        change = Change(row.uuid, row.hostname, row.public_ip or row.external_ip, row.port, outcome.error)
        changes["verified" if outcome.ok else "failed"].append(change)
        if was_verified and not outcome.ok:
            changes["went_unverified"].append(change)
        elif outcome.ok and not was_verified and ever_verified:
            changes["recovered"].append(change)
    return changes
