"""Image distribution between two real clouds (tier ``keystone``): Keystone 30 + Glance 33 from PyPI,
twice, side by side. The clouds are read by the real cloud poller; transfers run through the real
openstacksdk session, the real Glance v2 data API and its file store."""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from include.config.settings import load_settings
from include.images import tasks
from include.images.cache import ImageCache
from include.images.copy import run_transfer
from include.images.ticks import tick, untick
from include.loop.cloud_poll import poll_cloud
from include.providers.factory import build_adapter
from include.store.db import session_scope
from include.store.models import Cloud, CloudImage, ImageCacheEntry, ImageTransfer, utcnow
from tests.images.conftest import clouds_doc, configure, secrets_for

pytestmark = [pytest.mark.keystone, pytest.mark.slow]
MIB = 1 << 20


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the transfer catches it, nothing is cleaned up."""


@pytest.fixture
def world(two_glances, sqlite_engine, settings):
    a, b = two_glances
    stacks = {"a": a, "b": b}
    configure(
        sqlite_engine,
        clouds_doc(
            {"auth_url": a.real.auth_url, "project": "htc", "region": "RegionOne"},
            {"auth_url": b.real.auth_url, "project": "htc", "region": "RegionOne"},
        ),
    )
    return World(sqlite_engine, settings, stacks)


class World:
    def __init__(self, engine, settings, stacks):
        self.engine, self.settings, self.stacks = engine, settings, stacks
        self.secrets = secrets_for(stacks)
        self.now = utcnow()

    def poll(self, *clouds: str) -> None:
        for name in clouds or ("a", "b"):
            with session_scope(self.engine) as s:
                row, cfg = s.get(Cloud, ("atlas", name)), load_settings(s)
                s.expunge(row)
            adapter = build_adapter(row, cfg, self.secrets(row))
            assert poll_cloud(self.engine, "atlas", name, adapter, self.now).ok

    def seed(self, cloud: str, name: str, data: bytes) -> str:
        conn = self.stacks[cloud].real.user()
        image = conn.image.create_image(
            name=name, data=data, disk_format="raw", container_format="bare", allow_duplicates=True, wait=True
        )
        return image.id

    def images(self, cloud: str, name: str) -> list:
        return [i for i in self.stacks[cloud].real.user().image.images(name=name)]

    def data(self, cloud: str, image_id: str) -> str:
        """SHA-256 of the image data as the cloud serves it."""
        digest = hashlib.sha256()
        resp = self.stacks[cloud].real.user().image.download_image(image_id, stream=True)
        for chunk in resp.iter_content(MIB):
            digest.update(chunk)
        return digest.hexdigest()

    def plan(self) -> dict:
        return tasks.plan_images(self.now, engine=self.engine, settings=self.settings)

    def copy(self, transfer_id: int, holder: str = "test", stores=None) -> dict:
        ctx = tasks.context(
            holder,
            engine=self.engine,
            settings=self.settings,
            secrets_for=self.secrets,
            clock=lambda: self.now,
        )
        if stores is not None:
            ctx = replace(ctx, stores=stores(ctx.stores))
        return run_transfer(ctx, transfer_id)

    def transfer(self, transfer_id: int) -> ImageTransfer:
        with session_scope(self.engine) as s:
            row = s.get(ImageTransfer, transfer_id)
            s.expunge(row)
            return row

    def tick(self, name: str, *clouds: str) -> None:
        with session_scope(self.engine) as s:
            tick(s, "atlas", name, None, clouds, "test")


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def test_64_mib_image_copied_byte_identical_then_a_second_run_does_nothing(world):
    data = payload(64 * MIB, 1)
    source_id = world.seed("a", "cernvm-64", data)
    world.poll()
    world.tick("cernvm-64", "b")
    work = world.plan()
    assert len(work["copies"]) == 1 and work["removals"] == []
    outcome = world.copy(work["copies"][0])
    assert outcome["outcome"] == "done" and outcome["placed"], outcome
    [copy] = world.images("b", "cernvm-64")
    assert copy.id == outcome["image_id"] and copy.status == "active" and copy.size == len(data)
    assert copy.checksum == hashlib.md5(data).hexdigest() == world.images("a", "cernvm-64")[0].checksum
    assert world.data("b", copy.id) == hashlib.sha256(data).hexdigest() == world.data("a", source_id)
    row = world.transfer(work["copies"][0])
    assert (row.state, row.source_cloud, row.placed, row.bytes_done) == ("done", "a", True, len(data))

    world.poll()  # the real poller sees the copy; our flag survives it
    with session_scope(world.engine) as s:
        assert s.get(CloudImage, ("atlas", "b", copy.id)).placed_by_us
    again = world.plan()
    assert (again["copies"], again["removals"], again["created"], again["changed"]) == ([], [], 0, 0)
    assert len(world.images("b", "cernvm-64")) == 1


def test_corrupt_source_data_is_detected_after_download(world):
    data = payload(3 * MIB, 2)
    source_id = world.seed("a", "rotten", data)
    stored = world.stacks["a"].files / source_id
    with stored.open("r+b") as f:  # bit rot in the source cloud's store: Glance still records the old md5
        f.seek(MIB)
        f.write(b"\xff" * 16)
    world.poll()
    world.tick("rotten", "b")
    [transfer_id] = world.plan()["copies"]
    outcome = world.copy(transfer_id)
    assert outcome["outcome"] == "error" and "after download from cloud atlas/a" in outcome["message"]
    assert "md5" in outcome["message"] and "sha512" in outcome["message"]
    row = world.transfer(transfer_id)
    assert (row.state, row.attempts) == ("error", 1) and row.next_try_at > world.now
    assert world.images("b", "rotten") == []
    cache = ImageCache(world.settings.cache_dir)
    assert not cache.has(row.checksum) and not cache.partial(row.checksum).exists()


def test_corrupt_cache_file_is_detected_after_upload_and_the_retry_downloads_again(world):
    data = payload(2 * MIB, 3)
    world.seed("a", "flipped", data)
    world.poll()
    world.tick("flipped", "b")
    [first] = world.plan()["copies"]
    assert world.copy(first)["outcome"] == "done"
    with session_scope(world.engine) as s:
        untick(s, "atlas", "flipped", ["b"], "test")
    world.poll()
    removal = world.plan()["removals"]
    assert removal == [first]
    assert (
        tasks.remove_image(
            first, "test", engine=world.engine, settings=world.settings, secrets_for=world.secrets
        )["outcome"]
        == "removed"
    )
    assert world.images("b", "flipped") == []
    cache = ImageCache(world.settings.cache_dir)
    checksum = hashlib.md5(data).hexdigest()
    with cache.path(checksum).open("r+b") as f:  # the cached copy rots on our disk
        f.write(b"\0" * 8)

    world.poll()
    world.tick("flipped", "b")
    [second] = world.plan()["copies"]
    outcome = world.copy(second)
    assert outcome["outcome"] == "error" and "after upload to cloud atlas/b" in outcome["message"], outcome
    assert world.images("b", "flipped") == []  # the bad copy was deleted
    assert not cache.has(checksum)  # and so was the cache file: it no longer matches its checksum
    world.now += world.settings.retry_base  # the automatic retry is due
    assert world.plan()["copies"] == [second]
    assert world.copy(second)["outcome"] == "done"
    [good] = world.images("b", "flipped")
    assert good.checksum == checksum and world.data("b", good.id) == hashlib.sha256(data).hexdigest()


def test_download_killed_midway_resumes_from_its_partial_file(world):
    data = payload(24 * MIB, 4)
    world.seed("a", "resumed", data)
    world.poll()
    world.tick("resumed", "b")
    [transfer_id] = world.plan()["copies"]
    offsets = []

    def dying(stores, after=8 * MIB):
        def store(group, cloud):
            return KilledDownload(stores(group, cloud), offsets, after if cloud == "a" else None)

        return store

    with pytest.raises(Killed):
        world.copy(transfer_id, holder="worker-1", stores=dying)
    row = world.transfer(transfer_id)
    assert (row.state, row.claimed_by, row.phase) == ("claimed", "worker-1", "downloading")
    assert world.plan()["copies"] == []  # its lease still runs: nobody else may take it
    world.now += world.settings.lease_ttl + timedelta(seconds=1)
    assert world.plan()["copies"] == [transfer_id]
    outcome = world.copy(transfer_id, holder="worker-2", stores=lambda s: dying(s, after=None))
    assert outcome["outcome"] == "done", outcome
    assert offsets[0] == 0 and offsets[1] >= 8 * MIB  # the second download asked only for the rest
    [copy] = world.images("b", "resumed")
    assert world.data("b", copy.id) == hashlib.sha256(data).hexdigest()


def test_upload_killed_midway_restarts_cleanly_with_one_image_left(world):
    data = payload(16 * MIB, 5)
    world.seed("a", "restarted", data)
    world.poll()
    world.tick("restarted", "b")
    [transfer_id] = world.plan()["copies"]

    def dying(stores):
        return lambda group, cloud: (
            KilledUpload(stores(group, cloud), 4 * MIB) if cloud == "b" else stores(group, cloud)
        )

    with pytest.raises(Killed):
        world.copy(transfer_id, holder="worker-1", stores=dying)
    [half] = world.images("b", "restarted")
    assert half.status != "active" and half.properties["cs_transfer"] == str(transfer_id)
    world.now += world.settings.lease_ttl + timedelta(seconds=1)
    [again] = world.plan()["copies"]
    outcome = world.copy(again, holder="worker-2")
    assert outcome["outcome"] == "done", outcome
    [copy] = world.images("b", "restarted")  # the half-made one is gone, one good image remains
    assert copy.id != half.id and copy.status == "active"
    assert world.data("b", copy.id) == hashlib.sha256(data).hexdigest()
    with session_scope(world.engine) as s:
        assert s.scalars(select(ImageCacheEntry.size)).all() == [len(data)]  # downloaded once


class KilledDownload:
    """A source store whose download dies (Killed) after ``after`` bytes; records each Range offset."""

    def __init__(self, store, offsets: list, after: int | None):
        self.store, self.offsets, self.after = store, offsets, after

    def __getattr__(self, name):
        return getattr(self.store, name)

    def download(self, image_id, offset=0):
        self.offsets.append(offset)
        outer = self

        class Wrapped:
            def __enter__(self):
                self.cm = outer.store.download(image_id, offset)
                stream = self.cm.__enter__()
                stream.chunks = outer._dying(stream.chunks)
                return stream

            def __exit__(self, *exc):
                return self.cm.__exit__(*exc)

        return Wrapped()

    def _dying(self, chunks):
        seen = 0
        for chunk in chunks:
            seen += len(chunk)
            if self.after is not None and seen > self.after:
                raise Killed()
            yield chunk


class KilledUpload:
    def __init__(self, store, after: int):
        self.store, self.after = store, after

    def __getattr__(self, name):
        return getattr(self.store, name)

    def upload(self, image_id, source, size, on_chunk=None):
        sent = [0]

        def dying(chunk):
            sent[0] += len(chunk)
            if sent[0] > self.after:
                raise Killed()
            if on_chunk:
                on_chunk(chunk)

        return self.store.upload(image_id, source, size, on_chunk=dying)
