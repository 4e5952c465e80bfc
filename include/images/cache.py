"""The local image cache on disk: one file per image, named by its MD5 checksum.

Layout: ``<md5>.img`` is a complete, verified image; ``<md5>.part`` a download in progress (kept, so an
interrupted download resumes from where it stopped); ``upload-<random>.part`` an upload being received
(its checksum is known only at the end); ``<md5>.lock`` the lock one download of that image holds, so two
transfers needing the same image download it once (``flock``: released by the kernel if the process
dies). A file becomes ``.img`` only by an atomic rename after its checksums were verified.
The index of complete files (name, size, hashes, last use) is the ``image_cache`` table (cache_index.py).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class CacheFile:
    name: str
    size: int
    mtime: float


class ImageCache:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, checksum: str) -> Path:
        return self.root / f"{_checked(checksum)}.img"

    def partial(self, checksum: str) -> Path:
        return self.root / f"{_checked(checksum)}.part"

    def has(self, checksum: str, size: int | None = None) -> bool:
        path = self.path(checksum)
        return path.is_file() and (size is None or path.stat().st_size == size)

    def upload_partial(self) -> Path:
        return self.root / f"upload-{uuid.uuid4().hex}.part"

    @contextmanager
    def lock(
        self, checksum: str, waiting: Callable[[], None] | None = None, poll_s: float = 1.0
    ) -> Iterator[None]:
        """Exclusive hold on one image's download: waits while another process downloads it, calling
        ``waiting`` every ``poll_s`` (the waiting transfer renews its lease meanwhile)."""
        with (self.root / f"{_checked(checksum)}.lock").open("a") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if waiting:
                        waiting()
                    time.sleep(poll_s)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def publish(self, partial: Path, checksum: str) -> Path:
        """Make a verified partial file the cache's copy of ``checksum`` (atomic rename, durable)."""
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        final = self.path(checksum)
        os.replace(partial, final)
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return final

    def remove(self, checksum: str) -> int:
        """Delete the image and its partial; returns the bytes freed."""
        freed = 0
        for path in (self.path(checksum), self.partial(checksum)):
            try:
                freed += path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                pass
        return freed

    def files(self) -> list[CacheFile]:
        out = []
        for entry in os.scandir(self.root):
            if entry.is_file() and entry.name.endswith((".img", ".part")):
                st = entry.stat()
                out.append(CacheFile(entry.name, st.st_size, st.st_mtime))
        return out

    def used_bytes(self) -> int:
        return sum(f.size for f in self.files())

    def disk_fraction(self) -> float:
        """How full the file system holding the cache is (0..1)."""
        usage = shutil.disk_usage(self.root)
        return usage.used / usage.total if usage.total else 0.0

    def checksum_of(self, file_name: str) -> str | None:
        stem = file_name.split(".", 1)[0]
        return stem if MD5.match(stem) else None


def _checked(checksum: str) -> str:
    """Cache keys are MD5 hex digests: nothing else becomes a path (no traversal through a name)."""
    if not MD5.match(checksum or ""):
        raise ValueError(f"not an MD5 checksum: {checksum!r}")
    return checksum
