"""What the Shoal DAG tasks run: one call each, with settings from the environment and the store.

Each returns a small JSON-able summary (it becomes the task's XCom and shows in the run's log).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime

from sqlalchemy import Engine

from include.shoal import amqp, registry, verify
from include.shoal.settings import ShoalSettings
from include.store.db import get_engine, session_scope

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def ingest(
    settings: ShoalSettings | None = None, engine: Engine | None = None, broker: dict | None = None
) -> dict:
    """Drain the agents' queue into the registry. ``broker``: what ``airflow_glue.amqp_connection`` gives;
    by default read from the Airflow Connection ``settings.amqp_connection`` names, if it names one."""
    settings = settings or ShoalSettings.from_env()
    engine = engine or get_engine()
    if broker is None and settings.amqp_connection:
        from include.airflow_glue import amqp_connection  # at run time, in the task: never at parse

        broker = amqp_connection(settings.amqp_connection)
    locator = settings.locator()  # fails loudly when misconfigured
    totals: dict[str, int] = {}

    def apply(bodies) -> None:
        with session_scope(engine) as session:
            counts = registry.ingest(session, bodies, locator, _now(), settings.inactive_time)
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value

    try:
        stats = amqp.drain(settings, apply, broker=broker)
    finally:
        locator.close()
    rejected = {k: v for k, v in totals.items() if k.startswith("rejected:")}
    if rejected:
        log.info("rejected heartbeats: %s", rejected)
    return {**asdict(stats), **totals}


def verify_caches(
    settings: ShoalSettings | None = None, engine: Engine | None = None, uuid: str | None = None
) -> dict:
    """Function-test the caches that are due (or the one ``uuid``); returns what changed."""
    settings = settings or ShoalSettings.from_env()
    engine = engine or get_engine()
    with session_scope(engine) as session:
        targets = verify.due(
            session,
            _now(),
            settings.verify_interval,
            settings.recheck_interval,
            settings.verify_batch,
            uuid=uuid or None,
        )
    outcomes = verify.check_all(
        targets,
        settings.verify_urls,
        settings.verify_timeout,
        settings.verify_max_bad,
        settings.verify_workers,
        {"cvmfs": settings.varnish_cvmfs_path, "frontier": settings.varnish_frontier_path},
    )
    with session_scope(engine) as session:
        changes = verify.record(session, outcomes, _now())
    for change in changes["went_unverified"]:
        log.warning(
            "cache %s (%s:%s) went unverified: %s", change.hostname, change.address, change.port, change.error
        )
    return {key: [asdict(c) for c in value] for key, value in changes.items()} | {"checked": len(outcomes)}


def expire(settings: ShoalSettings | None = None, engine: Engine | None = None) -> dict:
    """Delete caches silent for ``inactive_time``."""
    settings = settings or ShoalSettings.from_env()
    with session_scope(engine or get_engine()) as session:
        gone = registry.expire(session, _now(), settings.inactive_time)
    return {"expired": gone}
