"""The image cache: keyed by checksum, bounded with LRU eviction that spares images still being
distributed, a month's retention, reconciliation of index and directory, uploads streamed in."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from include.images.cache import ImageCache
from include.images.cache_index import CacheFull, make_room, record, tidy
from include.images.hashing import Digest
from include.images.upload import UploadError, detect_disk_format, ingest
from include.store.db import session_scope
from include.store.models import ImageCacheEntry, ImageTransfer
from tests.images.conftest import clouds_doc, configure

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def put(engine, cache: ImageCache, data: bytes, used: datetime, name: str = "img") -> str:
    digest = Digest()
    digest.update(data)
    part = cache.partial(digest.checksum)
    part.write_bytes(data)
    cache.publish(part, digest.checksum)
    with session_scope(engine) as s:
        record(
            s,
            digest,
            name=name,
            disk_format="raw",
            container_format="bare",
            origin="test",
            group="atlas",
            now=used,
        )
    return digest.checksum


def cached(engine) -> set[str]:
    with session_scope(engine) as s:
        return set(s.scalars(select(ImageCacheEntry.checksum)))


@pytest.fixture
def cache(settings):
    return ImageCache(settings.cache_dir)


def test_eviction_is_least_recently_used_and_spares_images_being_distributed(store_engine, cache, settings):
    configure(store_engine, clouds_doc({"auth_url": "http://a/v3"}, {"auth_url": "http://b/v3"}))
    settings = replace(settings, cache_max_bytes=3000, min_age=timedelta(minutes=5))
    oldest = put(store_engine, cache, b"1" * 1000, NOW - timedelta(days=3))
    pinned = put(store_engine, cache, b"2" * 1000, NOW - timedelta(days=4))
    newer = put(store_engine, cache, b"3" * 1000, NOW - timedelta(days=1))
    with session_scope(store_engine) as s:
        s.add(
            ImageTransfer(
                group_name="atlas", cloud_name="b", image_name="x", checksum=pinned, state="claimed"
            )
        )
    with session_scope(store_engine) as s:
        assert make_room(s, cache, settings, 1000, NOW) == 1
    assert cached(store_engine) == {pinned, newer} and not cache.has(oldest)
    young = put(store_engine, cache, b"4" * 1000, NOW - timedelta(minutes=1))
    with (
        session_scope(store_engine) as s,
        pytest.raises(CacheFull, match="CLOUDSCHEDULER_IMAGE_CACHE_MAX_GB"),
    ):
        make_room(s, cache, settings, 2000, NOW, keep=frozenset({newer}))
    assert cached(store_engine) == {pinned, newer, young}  # nothing evictable: nothing evicted


def test_tidy_expires_a_month_reconciles_and_bounds(sqlite_engine, cache, settings):
    settings = replace(settings, cache_max_bytes=10_000)
    old = put(sqlite_engine, cache, b"o" * 100, NOW - timedelta(days=31))
    fresh = put(sqlite_engine, cache, b"f" * 100, NOW - timedelta(days=2))
    vanished = put(sqlite_engine, cache, b"v" * 100, NOW)
    cache.path(vanished).unlink()
    orphan = cache.root / f"{hashlib.md5(b'x').hexdigest()}.img"
    orphan.write_bytes(b"x")
    os.utime(orphan, (NOW.timestamp() - 3600,) * 2)  # a publish whose record was lost an hour ago
    stale_upload = cache.upload_partial()
    stale_upload.write_bytes(b"half")
    os.utime(stale_upload, (NOW.timestamp() - 2 * 86400,) * 2)
    with session_scope(sqlite_engine) as s:
        report = tidy(s, cache, settings, NOW)
    assert (report.expired, report.forgotten, report.orphans, report.evicted) == (1, 1, 2, 0)
    assert cached(sqlite_engine) == {fresh} and not cache.has(old)
    assert sorted(f.name for f in cache.files()) == [f"{fresh}.img"]
    assert report.used_bytes == 100 and 0 < report.disk_fraction < 1


def test_cache_paths_are_checksums_only(cache):
    for bad in ("../etc/passwd", "", "ABC", "0" * 31, "0" * 32 + "/x"):
        with pytest.raises(ValueError):
            cache.path(bad)


def test_an_upload_streams_into_the_cache_detects_its_format_and_is_stored_once(
    sqlite_engine, cache, settings
):
    configure(sqlite_engine, clouds_doc({"auth_url": "http://a/v3"}, {"auth_url": "http://b/v3"}))
    iso = bytearray(64 * 1024)
    iso[0x8001:0x8006] = b"CD001"
    assert [detect_disk_format(h) for h in (b"QFI\xfb..", b"KDMV", bytes(iso), b"\0" * 100)] == [
        "qcow2",
        "vmdk",
        "iso",
        "raw",
    ]
    data = bytes(iso) + os.urandom(3 << 20)
    first = ingest(
        sqlite_engine, cache, settings, io.BytesIO(data), group="atlas", name="boot.iso", actor="bob", now=NOW
    )
    again = ingest(
        sqlite_engine, cache, settings, io.BytesIO(data), group="atlas", name="boot.iso", actor="bob", now=NOW
    )
    assert (first.disk_format, first.size, first.already_cached, again.already_cached) == (
        "iso",
        len(data),
        False,
        True,
    )
    assert cache.path(first.checksum).read_bytes() == data
    assert [f.name for f in cache.files()] == [f"{first.checksum}.img"]  # no upload-*.part left behind
    with session_scope(sqlite_engine) as s:
        row = s.get(ImageCacheEntry, first.checksum)
        assert (row.origin, row.group_name, row.hash_value) == (
            "upload by bob",
            "atlas",
            hashlib.sha512(data).hexdigest(),
        )


@pytest.mark.parametrize(
    ("name", "disk", "container", "data"),
    [
        ("", None, "bare", b"x"),
        (" padded", None, "bare", b"x"),
        ("ok", "exe", "bare", b"x"),
        ("ok", None, "zip", b"x"),
        ("ok", None, "bare", b""),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(sqlite_engine, cache, settings, name, disk, container, data):
    with pytest.raises(UploadError):
        ingest(
            sqlite_engine,
            cache,
            settings,
            io.BytesIO(data),
            group="atlas",
            name=name,
            actor="bob",
            now=NOW,
            disk_format=disk,
            container_format=container,
        )
    assert cache.files() == []


def test_a_full_cache_disk_warns_once_a_day(sqlite_engine, settings, tmp_path, monkeypatch):
    import json

    from include.images import tasks

    sink = tmp_path / "alerts.jsonl"
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(sink))
    monkeypatch.setattr(ImageCache, "disk_fraction", lambda self: 0.91)
    first = tasks.tidy_cache(NOW, engine=sqlite_engine, settings=settings)
    again = tasks.tidy_cache(NOW + timedelta(hours=1), engine=sqlite_engine, settings=settings)
    later = tasks.tidy_cache(NOW + timedelta(hours=25), engine=sqlite_engine, settings=settings)
    assert (first["disk_warning"], again["disk_warning"], later["disk_warning"]) == (True, False, True)
    alerts = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [a["key"] for a in alerts] == ["image_cache_disk"] * 2 and "91%" in alerts[0]["subject"]
    monkeypatch.setattr(ImageCache, "disk_fraction", lambda self: 0.5)
    assert (
        tasks.tidy_cache(NOW + timedelta(days=3), engine=sqlite_engine, settings=settings)["disk_warning"]
        is False
    )
