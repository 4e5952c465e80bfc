"""The bodies of the image DAGs' tasks (cs_images, cs_ops_image); the DAG files only wire these.

Everything returns small JSON-able summaries (ids and counts) for XCom. ``engine`` and ``secrets_for``
are for tests; in Airflow the store is CLOUDSCHEDULER_DB_URL and secrets come from the clouds'
Connections at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from include.alerting import Alert, deliver
from include.clouds import SecretsFor, image_stores
from include.config.settings import load_settings
from include.images.cache import ImageCache
from include.images.cache_index import tidy
from include.images.copy import Context, run_transfer
from include.images.planning import plan_transfers, runnable
from include.images.removal import remove_placed
from include.images.settings import ImageSettings, image_settings
from include.images.ticks import tick
from include.store.db import get_engine, session_scope
from include.store.locks import try_acquire
from include.store.models import ImageTransfer, utcnow

DEFAULTS_LEASE = "images/default-replication"  # held for 6 h by the run that replicated default images
DISK_ALERT_LEASE = "images/cache-disk-alert"  # a full disk alerts once a day, not every run
DISK_ALERT_QUIET = timedelta(hours=24)


def _setup(engine: Engine | None, settings: ImageSettings | None) -> tuple[Engine, ImageSettings, ImageCache]:
    settings = settings or image_settings()
    return engine or get_engine(), settings, ImageCache(settings.cache_dir)


def context(
    holder: str,
    *,
    engine: Engine | None = None,
    settings: ImageSettings | None = None,
    secrets_for: SecretsFor | None = None,
    clock=utcnow,
) -> Context:
    engine, settings, cache = _setup(engine, settings)
    with session_scope(engine) as s:
        deployment = load_settings(s).deployment_id
    return Context(engine, cache, settings, image_stores(engine, secrets_for), holder, deployment, clock)


def plan_images(
    now: datetime | None = None, *, engine: Engine | None = None, settings: ImageSettings | None = None
) -> dict:
    """Diff the matrix against the clouds; returns the transfers to run and the placed images to remove."""
    now = now or utcnow()
    engine, settings, cache = _setup(engine, settings)
    due = try_acquire(engine, DEFAULTS_LEASE, f"cs_images@{now.isoformat()}", settings.defaults_interval, now)
    with session_scope(engine) as s:
        work = plan_transfers(s, cache, settings, now, defaults_due=due)
    return {
        "copies": work.copies,
        "removals": work.removals,
        "created": work.created,
        "changed": work.changed,
        "dropped": work.dropped,
        "defaults_replicated": due,
    }


def copy_image(transfer_id: int, holder: str, **kw) -> dict:
    return run_transfer(context(holder, **kw), transfer_id)


def remove_image(transfer_id: int, holder: str, **kw) -> dict:
    return remove_placed(context(holder, **kw), transfer_id)


def tidy_cache(
    now: datetime | None = None, *, engine: Engine | None = None, settings: ImageSettings | None = None
) -> dict:
    """Expire, evict and reconcile the cache; warn (once a day) when its disk is over 80 % full."""
    now = now or utcnow()
    engine, settings, cache = _setup(engine, settings)
    with session_scope(engine) as s:
        report = tidy(s, cache, settings, now)
    warned = False
    if report.disk_fraction > settings.disk_warn_fraction and try_acquire(
        engine, DISK_ALERT_LEASE, f"cs_images@{now.isoformat()}", DISK_ALERT_QUIET, now
    ):
        deliver(
            Alert(
                key="image_cache_disk",
                subject=f"image cache disk {report.disk_fraction:.0%} full",
                body=f"{cache.root} is on a file system {report.disk_fraction:.0%} full (warning above "
                f"{settings.disk_warn_fraction:.0%}); the cache holds {report.used_bytes / 1e9:.1f} GB. "
                "Lower CLOUDSCHEDULER_IMAGE_CACHE_MAX_GB or give the cache more room.",
            )
        )
        warned = True
    return {**vars(report), "disk_warning": warned}


def distribute_now(
    group: str,
    image: str,
    checksum: str | None,
    clouds: Sequence[str],
    actor: str,
    now: datetime | None = None,
    *,
    engine: Engine | None = None,
    settings: ImageSettings | None = None,
) -> list[int]:
    """Tick (group, image, checksum) for ``clouds`` (audited as ``actor``) and plan at once; returns the
    transfers to run for those clouds now (the others are left to cs_images)."""
    now = now or utcnow()
    engine, settings, cache = _setup(engine, settings)
    with session_scope(engine) as s:
        tick(s, group, image, checksum, clouds, actor)
    with session_scope(engine) as s:
        plan_transfers(s, cache, settings, now, defaults_due=False)
        ids = set(runnable(s, now))
        mine = s.scalars(
            select(ImageTransfer.id).where(
                ImageTransfer.group_name == group,
                ImageTransfer.image_name == image,
                ImageTransfer.cloud_name.in_(list(clouds)),
            )
        ).all()
    return sorted(i for i in mine if i in ids)
