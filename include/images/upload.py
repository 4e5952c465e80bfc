"""Uploads: an image file (from the CLI or the plugin's upload endpoint) streamed into the cache while
hashed, then handed to distribution by ticking the matrix for the chosen clouds.

The checksum is known only once the last byte is in, so the file is received as ``upload-<random>.part``
and renamed to ``<md5>.img`` at the end (a file already cached under that checksum is kept, the new
copy dropped). The disk format, when not given, is read from the file's magic bytes, as the original's
upload page did; Glance refuses a declared format that does not match the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from sqlalchemy import Engine

from include.config.strict_input import bad_character
from include.images.cache import ImageCache
from include.images.cache_index import make_room, record
from include.images.hashing import Digest
from include.images.settings import ImageSettings
from include.store.db import session_scope

CHUNK = 1 << 20
HEAD = 64 * 1024  # enough for every magic number below (an ISO's is at 32 KiB)
DISK_FORMATS = ("raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx", "iso", "ploop", "ami", "ari", "aki")
CONTAINER_FORMATS = ("bare", "ovf", "ova", "aki", "ari", "ami", "docker", "compressed")


class UploadError(ValueError):
    """The upload is refused (bad name or format, empty file); the message says why."""


@dataclass(frozen=True)
class Uploaded:
    checksum: str
    size: int
    name: str
    disk_format: str
    container_format: str
    already_cached: bool


def detect_disk_format(head: bytes) -> str:
    if head.startswith(b"QFI\xfb"):
        return "qcow2"
    if head.startswith((b"KDMV", b"# Disk DescriptorFile")):
        return "vmdk"
    if head[64:68] == b"\x7f\x10\xda\xbe":
        return "vdi"
    if head.startswith(b"vhdxfile"):
        return "vhdx"
    if head[0x8001:0x8006] == b"CD001":
        return "iso"
    return "raw"


def check_request(name: str, disk_format: str | None, container_format: str) -> None:
    if not name or len(name) > 255 or name != name.strip():
        raise UploadError("the image name must be 1-255 characters without leading or trailing spaces")
    if bad := bad_character(name, multiline=False):
        raise UploadError(f"the image name contains {bad}")
    if disk_format is not None and disk_format not in DISK_FORMATS:
        raise UploadError(f"disk format must be one of {', '.join(DISK_FORMATS)}")
    if container_format not in CONTAINER_FORMATS:
        raise UploadError(f"container format must be one of {', '.join(CONTAINER_FORMATS)}")


def ingest(
    engine: Engine,
    cache: ImageCache,
    settings: ImageSettings,
    stream: BinaryIO,
    *,
    group: str,
    name: str,
    actor: str,
    now: datetime,
    disk_format: str | None = None,
    container_format: str = "bare",
) -> Uploaded:
    """Receive ``stream`` into the cache and index it for ``group``; never holds the file in memory."""
    check_request(name, disk_format, container_format)
    tmp, digest, head = cache.upload_partial(), Digest(), b""
    try:
        with tmp.open("wb") as out:
            while chunk := stream.read(CHUNK):
                if len(head) < HEAD:
                    head += chunk[: HEAD - len(head)]
                out.write(chunk)
                digest.update(chunk)
        if digest.size == 0:
            raise UploadError("the file is empty")
        disk_format = disk_format or detect_disk_format(head)
        with cache.lock(digest.checksum):
            cached = cache.has(digest.checksum, digest.size)
            with session_scope(engine) as s:
                if not cached:  # the received file is in the cache directory already: it needs no more room
                    make_room(s, cache, settings, 0, now, keep=frozenset({digest.checksum}))
                    cache.publish(tmp, digest.checksum)
                record(
                    s,
                    digest,
                    name=name,
                    disk_format=disk_format,
                    container_format=container_format,
                    origin=f"upload by {actor}",
                    group=group,
                    now=now,
                )
    finally:
        tmp.unlink(missing_ok=True)
    return Uploaded(digest.checksum, digest.size, name, disk_format, container_format, cached)
