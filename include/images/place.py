"""Step 2 of a transfer: put the cached image on the target cloud and check what the cloud stored.

Idempotent: an active copy with the same name and checksum already there is adopted (ours when it
carries our ``cs_*`` properties); a half-made copy an interrupted attempt of this transfer left behind
(same ``cs_transfer`` property, not active) is deleted first. Glance has no resumable upload, so an
upload restarts from the first byte. After the upload, size, MD5 and multihash as Glance recorded them
must equal the cache's; otherwise the new image is deleted, and the cache entry too if the file itself
no longer matches its checksum (the next attempt then downloads again).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from include.images.hashing import ChecksumMismatch, file_digest, mismatches
from include.images.transfers import Heartbeat, Job
from include.providers.base import ProviderError
from include.store.db import session_scope
from include.store.models import ImageCacheEntry


def properties(ctx, job: Job) -> dict[str, str]:
    return {"cs_deployment": ctx.deployment, "cs_group": job.group, "cs_transfer": str(job.id)}


def place(ctx, job: Job, target, path: Path, beat: Heartbeat) -> tuple[str, bool]:
    """Returns (target image id, placed by us)."""
    with session_scope(ctx.engine) as s:
        entry = s.get(ImageCacheEntry, job.checksum)
        s.expunge(entry)
    ours = properties(ctx, job)
    for img in target.find(job.name):
        if img.checksum == job.checksum and img.status == "active":
            mine = all(img.properties.get(k) == ours[k] for k in ("cs_deployment", "cs_group"))
            return img.image_id, mine
        if img.properties.get("cs_transfer") == ours["cs_transfer"] and img.status != "active":
            target.delete(img.image_id)
    disk_format = job.disk_format or entry.disk_format or "raw"
    container_format = job.container_format or entry.container_format or "bare"
    made = target.create(job.name, disk_format, container_format, ours)
    try:
        beat.start("uploading")
        with path.open("rb") as data:
            target.upload(made.image_id, data, entry.size, on_chunk=lambda chunk: beat.beat(len(chunk)))
        beat.start("verifying", entry.size)
        problems = verify_stored(target.get(made.image_id), entry)
        if problems:
            _drop_cache_entry(ctx, job.checksum)
            raise ChecksumMismatch(f"after upload to cloud {job.group}/{job.cloud}: {', '.join(problems)}")
    except Exception:
        with contextlib.suppress(ProviderError):  # best effort: a leftover is also found by the next attempt
            target.delete(made.image_id)
        raise
    return made.image_id, True


def verify_stored(stored, entry: ImageCacheEntry) -> list[str]:
    """What differs between the image as the cloud recorded it and the cached file."""
    if stored is None:
        return ["the new image vanished"]
    problems = [] if stored.status == "active" else [f"status {stored.status}"]
    if stored.size != entry.size:
        problems.append(f"size {stored.size} != {entry.size}")
    if stored.checksum != entry.checksum:
        problems.append(f"md5 {stored.checksum} != {entry.checksum}")
    if stored.hash_algo == entry.hash_algo and stored.hash_value != entry.hash_value:
        problems.append(
            f"{entry.hash_algo} {(stored.hash_value or '')[:16]}... != {entry.hash_value[:16]}..."
        )
    return problems


def _drop_cache_entry(ctx, checksum: str) -> None:
    """After a bad upload: drop the cached file if it no longer hashes to its checksum (else the fault
    was on the way or in the cloud, and the file is kept for the next attempt)."""
    path = ctx.cache.path(checksum)
    if path.exists() and not mismatches(file_digest(path), size=None, checksum=checksum):
        return
    with session_scope(ctx.engine) as s:
        row = s.get(ImageCacheEntry, checksum)
        if row is not None:
            s.delete(row)
    ctx.cache.remove(checksum)
