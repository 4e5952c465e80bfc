"""One transfer, start to end: claim it, make sure the image is cached (fetch.py), put it on the target
(place.py), record the outcome. Never raises for a cloud or data failure: the row says what happened.

A process killed mid-transfer leaves the row claimed; its lease runs out and the next planning run
hands it to a new claim, which resumes the download from the partial file and restarts the upload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from include.alerting import Alert, deliver
from include.images.cache import ImageCache
from include.images.cache_index import CacheFull, touch
from include.images.fetch import ensure_cached
from include.images.hashing import ChecksumMismatch
from include.images.place import place
from include.images.settings import ImageSettings
from include.images.transfers import Heartbeat, Job, LeaseLost, claim, fail, finish, set_unsupported
from include.providers.base import ProviderError, Unsupported
from include.store.db import session_scope
from include.store.models import CloudImage, ImageCacheEntry, ImageTransfer, utcnow


@dataclass
class Context:
    engine: Engine
    cache: ImageCache
    settings: ImageSettings
    stores: Callable[[str, str], object]  # (group, cloud) -> image store
    holder: str  # who claims: the task instance (dag run, map index, try)
    deployment: str = "cs"
    clock: Callable[[], datetime] = field(default=utcnow)


def run_transfer(ctx: Context, transfer_id: int) -> dict:
    job = claim(ctx.engine, transfer_id, ctx.holder, ctx.clock(), ctx.settings.lease_ttl)
    if job is None:
        return {"id": transfer_id, "outcome": "skipped", "why": "not pending, or claimed by a live holder"}
    beat = Heartbeat(ctx.engine, job, ctx.holder, ctx.settings, ctx.clock)
    summary = {"id": job.id, "image": job.name, "cloud": f"{job.group}/{job.cloud}"}
    try:
        target = ctx.stores(job.group, job.cloud)
        path = ensure_cached(ctx, job, beat)
        image_id, placed = place(ctx, job, target, path, beat)
    except Unsupported as err:
        set_unsupported(ctx.engine, job, ctx.holder, ctx.clock(), err.message)
        return {**summary, "outcome": "unsupported", "message": err.message}
    except LeaseLost as err:
        return {**summary, "outcome": "abandoned", "message": str(err)}
    except (ProviderError, ChecksumMismatch, CacheFull, OSError, ValueError) as err:
        message = f"{type(err).__name__}: {err}"
        attempts = fail(ctx.engine, job, ctx.holder, ctx.clock(), message, ctx.settings)
        if attempts is not None and attempts >= ctx.settings.max_attempts:
            _alert_failing(ctx, job, attempts, message)
        return {**summary, "outcome": "error", "message": message, "attempts": attempts}
    if finish(ctx.engine, job, ctx.holder, ctx.clock(), image_id, placed):
        _record_placed(ctx, job, image_id, placed)
    return {**summary, "outcome": "done", "image_id": image_id, "placed": placed}


def _record_placed(ctx: Context, job: Job, image_id: str, placed: bool) -> None:
    """The new image in ``cloud_images`` at once (the next poll confirms it), so the next planning run
    sees it without waiting for the poller."""
    now = ctx.clock()
    with session_scope(ctx.engine) as s:
        entry = s.get(ImageCacheEntry, job.checksum)
        row = s.get(CloudImage, (job.group, job.cloud, image_id)) or CloudImage(
            group_name=job.group,
            cloud_name=job.cloud,
            image_id=image_id,
            created_at=now,
            visibility="private",
        )
        row.name, row.checksum, row.placed_by_us = job.name, job.checksum, placed or row.placed_by_us
        if entry is not None:
            # cloud_images.size is a 32-bit INTEGER on PostgreSQL (the poller's table): no size beyond it
            row.size = entry.size if entry.size < 2**31 else None
            row.disk_format = job.disk_format or entry.disk_format
            row.container_format = job.container_format or entry.container_format
        s.add(row)
        touch(s, job.checksum, now)


def _alert_failing(ctx: Context, job: Job, attempts: int, message: str) -> None:
    deliver(
        Alert(
            key=f"image_transfer_failing:{job.group}/{job.cloud}/{job.name}",
            subject=f"image {job.name} cannot be copied to {job.group}/{job.cloud}",
            body=f"{attempts} attempts failed; the last: {message}\nRetry it with `cloudscheduler image retry -g "
            f"{job.group} -in {job.name} -cn {job.cloud}` once the cause is fixed, or clear it.",
        )
    )
    with session_scope(ctx.engine) as s:
        row = s.get(ImageTransfer, job.id)
        if row is not None:
            row.alerted_at = ctx.clock()
