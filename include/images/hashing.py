"""Streaming digests of image data and the comparison with what a cloud recorded.

Glance records the MD5 ``checksum`` (the image identity here, as in the original) and a multihash
(``os_hash_algo``/``os_hash_value``, SHA-512 by default). Both are checked after every download and
every upload; the original checked neither (csv2 #345).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

READ = 1 << 20


class ChecksumMismatch(Exception):
    """The data is not the image it claims to be (corrupt source, truncated or altered copy)."""


class Digest:
    """MD5 + SHA-512 (+ the source's multihash algorithm, where it is another one) of a byte stream."""

    def __init__(self, extra_algo: str | None = None):
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha512 = hashlib.sha512()
        self._extra = None
        if extra_algo and extra_algo not in ("md5", "sha512") and extra_algo in hashlib.algorithms_available:
            self._extra = (extra_algo, hashlib.new(extra_algo))

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._md5.update(chunk)
        self._sha512.update(chunk)
        if self._extra:
            self._extra[1].update(chunk)

    def update_from_file(self, path: Path, limit: int | None = None) -> None:
        """Hash the first ``limit`` bytes of ``path`` (a partial download being resumed)."""
        left = path.stat().st_size if limit is None else limit
        with path.open("rb") as f:
            while left > 0 and (chunk := f.read(min(READ, left))):
                self.update(chunk)
                left -= len(chunk)

    @property
    def checksum(self) -> str:
        return self._md5.hexdigest()

    @property
    def sha512(self) -> str:
        return self._sha512.hexdigest()

    def value(self, algo: str) -> str | None:
        if algo == "md5":
            return self.checksum
        if algo == "sha512":
            return self.sha512
        return self._extra[1].hexdigest() if self._extra and self._extra[0] == algo else None


def mismatches(
    digest: Digest,
    *,
    size: int | None,
    checksum: str | None,
    hash_algo: str | None = None,
    hash_value: str | None = None,
) -> list[str]:
    """What differs between the bytes seen (``digest``) and what was expected; empty when they agree."""
    problems = []
    if size is not None and digest.size != size:
        problems.append(f"size {digest.size} != {size}")
    if checksum and digest.checksum != checksum:
        problems.append(f"md5 {digest.checksum} != {checksum}")
    if hash_algo and hash_value:
        seen = digest.value(hash_algo)
        if seen is not None and seen != hash_value:
            problems.append(f"{hash_algo} {seen[:16]}... != {hash_value[:16]}...")
    return problems


def file_digest(path: Path, extra_algo: str | None = None) -> Digest:
    digest = Digest(extra_algo)
    digest.update_from_file(path)
    return digest
