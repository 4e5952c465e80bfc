"""Step 1 of a transfer: make sure the image is in the cache, downloading it once from its source cloud.

The download streams into ``<md5>.part`` while hashing; an interrupted download resumes with a
``Range`` request (the part already on disk is hashed again first), or restarts if the server ignores
the range. Size, MD5 and the source's multihash are compared with what the source records before the
file becomes the cache's ``<md5>.img``. A per-image file lock makes two transfers of one image share a
single download.
"""

from __future__ import annotations

from pathlib import Path

from include.images.cache_index import make_room, ready_entry, record, touch
from include.images.hashing import ChecksumMismatch, Digest, mismatches
from include.images.transfers import Heartbeat, Job
from include.providers.base import ProviderError
from include.store.db import session_scope


def ensure_cached(ctx, job: Job, beat: Heartbeat) -> Path:
    """The cached file of ``job``'s image, downloaded and verified if it was not there."""
    if path := _ready(ctx, job):
        return path
    if job.source_cloud is None:
        raise ProviderError(
            job.cloud,
            f"image {job.name!r} ({job.checksum}) was an upload and is no longer in "
            "the cache (removed or evicted): upload it again",
        )
    beat.start("waiting")  # for another transfer's download of the same image, if there is one
    with ctx.cache.lock(job.checksum, waiting=lambda: beat.beat(0)):
        if path := _ready(ctx, job):  # another transfer downloaded it while we waited for the lock
            return path
        source = ctx.stores(job.group, job.source_cloud)
        meta = source.get(job.source_image_id)
        where = f"cloud {job.group}/{job.source_cloud} image {job.source_image_id}"
        if meta is None or meta.status != "active":
            raise ProviderError(
                job.source_cloud,
                f"source image {job.source_image_id} is {'gone' if meta is None else meta.status}",
            )
        if meta.checksum != job.checksum:
            raise ChecksumMismatch(f"{where} now records checksum {meta.checksum}, not {job.checksum}")
        partial = ctx.cache.partial(job.checksum)
        have = partial.stat().st_size if partial.exists() else 0  # a part being resumed is counted already
        with session_scope(ctx.engine) as s:
            make_room(
                s,
                ctx.cache,
                ctx.settings,
                max(0, (meta.size or 0) - have),
                ctx.clock(),
                keep=frozenset({job.checksum}),
            )
        digest = download(source, meta.image_id, partial, beat, meta.hash_algo)
        problems = mismatches(
            digest,
            size=meta.size,
            checksum=job.checksum,
            hash_algo=meta.hash_algo,
            hash_value=meta.hash_value,
        )
        if problems:
            partial.unlink(missing_ok=True)  # a corrupt part must not be resumed
            raise ChecksumMismatch(f"after download from {where}: {', '.join(problems)}")
        path = ctx.cache.publish(partial, job.checksum)
        with session_scope(ctx.engine) as s:
            record(
                s,
                digest,
                name=job.name,
                disk_format=meta.disk_format,
                container_format=meta.container_format,
                origin=where,
                group=job.group,
                now=ctx.clock(),
            )
        return path


def _ready(ctx, job: Job) -> Path | None:
    with session_scope(ctx.engine) as s:
        if ready_entry(s, ctx.cache, job.checksum) is None:
            return None
        touch(s, job.checksum, ctx.clock())
    return ctx.cache.path(job.checksum)


def download(source, image_id: str, partial: Path, beat: Heartbeat, extra_algo: str | None = None) -> Digest:
    """Stream ``image_id`` into ``partial``, resuming after the bytes already there; returns the digest
    of the whole file."""
    offset = partial.stat().st_size if partial.exists() else 0
    digest = Digest(extra_algo)
    with source.download(image_id, offset) as stream:
        start = stream.start  # 0 when the server ignored the range: start over
        if start:
            digest.update_from_file(partial, start)
        beat.start("downloading", start)
        with partial.open("r+b" if partial.exists() else "wb") as out:
            out.truncate(start)
            out.seek(start)
            for chunk in stream.chunks:
                out.write(chunk)
                digest.update(chunk)
                beat.beat(len(chunk))
    return digest
