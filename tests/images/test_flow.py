"""The distribution flow on the store (SQLite and PostgreSQL) with in-memory image stores: what is
wanted (ticks and default images), copies, one download per image, uploads, removal of our copies only,
failures, alerts, the manual "distribute now"."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from include.images import tasks
from include.images.cache import ImageCache
from include.images.copy import Context, run_transfer
from include.images.planning import load_wants
from include.images.ticks import tick
from include.images.upload import ingest
from include.providers.base import Unsupported
from include.providers.kinds import kind_of
from include.store.db import session_scope
from include.store.models import CloudImage, ImageTransfer, utcnow
from tests.images.conftest import configure
from tests.images.fakes import MemoryGlance

DATA = b"cernvm " * 50_000


def doc(images=None, group_image=None, cloud_b_image=None, b_enabled=True) -> dict:
    return {
        "groups": [
            {
                "name": "atlas",
                "pool": {"kind": "htcondor", "collector": "cm"},
                "images": images or [],
                "vm_defaults": {"image": group_image},
                "clouds": [
                    {"name": "a", "type": "openstack", "auth_url": "http://a/v3", "connection_id": "os_a"},
                    {
                        "name": "b",
                        "type": "openstack",
                        "auth_url": "http://b/v3",
                        "connection_id": "os_b",
                        "enabled": b_enabled,
                        "vm": {"image": cloud_b_image},
                    },
                    {"name": "c", "type": "openstack", "auth_url": "http://c/v3", "connection_id": "os_c"},
                    {"name": "aws", "type": "amazon", "region": "us-east-1", "connection_id": "aws"},
                ],
            }
        ]
    }


class Flow:
    def __init__(self, engine, settings):
        self.engine, self.settings, self.now = engine, settings, utcnow()
        self.glance = {c: MemoryGlance(c) for c in ("a", "b", "c")}

    def stores(self, group, cloud):
        if cloud not in self.glance:
            raise Unsupported(cloud, kind_of("amazon").images_unsupported)
        return self.glance[cloud]

    def observe(self) -> None:
        """What the cloud poller writes into cloud_images."""
        with session_scope(self.engine) as s:
            for row in s.scalars(select(CloudImage)):
                s.delete(row)
            s.flush()
            for cloud, glance in self.glance.items():
                for i in glance.images.values():
                    if i["status"] == "active":
                        s.add(
                            CloudImage(
                                group_name="atlas",
                                cloud_name=cloud,
                                image_id=i["id"],
                                name=i["name"],
                                checksum=i["checksum"],
                                size=i["size"],
                                created_at=self.now,
                            )
                        )

    def plan(self) -> dict:
        return tasks.plan_images(self.now, engine=self.engine, settings=self.settings)

    def copy(self, transfer_id, holder="t") -> dict:
        ctx = Context(
            self.engine,
            ImageCache(self.settings.cache_dir),
            self.settings,
            self.stores,
            holder,
            "cs",
            lambda: self.now,
        )
        return run_transfer(ctx, transfer_id)

    def run(self) -> list[dict]:
        """One cs_images run: observe, plan, copy everything."""
        self.observe()
        return [self.copy(i) for i in self.plan()["copies"]]

    def rows(self) -> list[ImageTransfer]:
        with session_scope(self.engine) as s:
            rows = list(s.scalars(select(ImageTransfer).order_by(ImageTransfer.cloud_name)))
            s.expunge_all()
            return rows


@pytest.fixture
def flow(store_engine, settings):
    configure(store_engine, doc())
    return Flow(store_engine, settings)


def test_wanted_are_the_ticks_and_each_openstack_clouds_default_image(flow):
    configure(
        flow.engine,
        doc(
            images=[{"name": "sl7", "clouds": ["aws", "c"]}],
            group_image="cvm",
            cloud_b_image="0c5a3e4e-3bd5-4e5e-9d52-6d3b3c1d1f00",
        ),
    )
    with session_scope(flow.engine) as s:
        wants = {(w.cloud, w.name, w.reason) for w in load_wants(s)}
    # b names an image id (one cloud's copy: not replicable); EC2 takes no copies
    assert wants == {
        ("aws", "sl7", "matrix"),
        ("c", "sl7", "matrix"),
        ("a", "cvm", "default"),
        ("c", "cvm", "default"),
    }


def test_copies_once_then_steady_and_untick_removes_only_our_copy(flow):
    flow.glance["a"].add("cvm", DATA)
    flow.glance["c"].add("cvm", DATA)  # someone else's copy on c
    configure(flow.engine, doc(images=[{"name": "cvm", "clouds": ["b", "c"]}]))
    [done] = flow.run()
    assert done["outcome"] == "done" and done["placed"] and done["cloud"] == "atlas/b"
    assert flow.run() == []  # the second run does nothing
    assert [c for c in flow.glance["b"].calls if not c.startswith("find")] == [
        "create cvm",
        f"upload {done['image_id']}",
    ]
    configure(flow.engine, doc())
    flow.observe()
    work = flow.plan()
    assert work["removals"] == [done["id"]] and work["copies"] == []
    ctx = tasks.context("t", engine=flow.engine, settings=flow.settings)
    ctx.stores = flow.stores
    from include.images.removal import remove_placed

    assert remove_placed(ctx, done["id"])["outcome"] == "removed"
    assert flow.glance["b"].find("cvm") == [] and len(flow.glance["c"].find("cvm")) == 1  # not ours: kept
    assert flow.rows() == []


def test_two_targets_share_one_download(flow):
    flow.glance["a"].add("cvm", DATA)
    configure(flow.engine, doc(images=[{"name": "cvm", "clouds": ["b", "c"]}]))
    assert [o["outcome"] for o in flow.run()] == ["done", "done"]
    assert [c for c in flow.glance["a"].calls if c.startswith("download")] == [
        f"download {next(iter(flow.glance['a'].images))} from 0"
    ]


def test_an_uploaded_file_is_distributed_from_the_cache(flow):
    cache = ImageCache(flow.settings.cache_dir)
    up = ingest(
        flow.engine,
        cache,
        flow.settings,
        io.BytesIO(b"QFI\xfb" + DATA),
        group="atlas",
        name="mine",
        actor="alice",
        now=flow.now,
    )
    assert up.disk_format == "qcow2" and up.checksum == hashlib.md5(b"QFI\xfb" + DATA).hexdigest()
    with session_scope(flow.engine) as s:
        tick(s, "atlas", "mine", up.checksum, ["b", "c"], "alice")
    outcomes = flow.run()
    assert [o["outcome"] for o in outcomes] == ["done", "done"]
    assert all(r.source_cloud is None and r.disk_format == "qcow2" for r in flow.rows())
    [image] = flow.glance["b"].find("mine")
    assert image.checksum == up.checksum and image.disk_format == "qcow2"


def test_an_image_no_cloud_holds_is_reported_and_ec2_is_unsupported(flow):
    configure(flow.engine, doc(images=[{"name": "ghost", "clouds": ["b", "aws"]}]))
    assert flow.run() == []
    aws, b = flow.rows()
    assert (aws.state, b.state) == ("unsupported", "no_source")
    assert "S3" in aws.message and "ghost" in b.message
    flow.glance["a"].add("ghost", DATA)  # it turns up on a
    outcomes = flow.run()
    assert [o["outcome"] for o in outcomes] == ["done"]
    assert {r.cloud_name: r.state for r in flow.rows()} == {"aws": "unsupported", "b": "done"}


def test_a_transfer_that_keeps_failing_alerts_once_and_waits_for_an_operator(flow, tmp_path, monkeypatch):
    sink = tmp_path / "alerts.jsonl"
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(sink))
    flow.glance["a"].add("cvm", DATA)
    configure(flow.engine, doc(images=[{"name": "cvm", "clouds": ["b"]}]))
    for attempt in range(1, 4):
        flow.glance["b"].fail_upload = "HTTP 413 storage full"
        [outcome] = flow.run()
        assert outcome["outcome"] == "error" and outcome["attempts"] == attempt
        flow.now += flow.settings.retry_base * 2 ** (attempt - 1)
    assert flow.run() == []  # attempts spent: no more automatic retries
    alerts = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [a["key"] for a in alerts] == ["image_transfer_failing:atlas/b/cvm"]
    assert "413" in alerts[0]["body"]
    assert flow.glance["b"].find("cvm") == []  # each failed upload cleaned its half-made image
    from include.images.transfers import retry

    with session_scope(flow.engine) as s:
        assert retry(s, "atlas", "cvm", "b", flow.now) == 1
    assert [o["outcome"] for o in flow.run()] == ["done"]


def test_distribute_now_ticks_audited_and_returns_only_the_chosen_clouds(flow):
    flow.glance["a"].add("cvm", DATA)
    flow.observe()
    ids = tasks.distribute_now(
        "atlas", "cvm", None, ["b"], "airflow:bob", flow.now, engine=flow.engine, settings=flow.settings
    )
    [row] = flow.rows()
    assert ids == [row.id] and row.cloud_name == "b" and row.reason == "matrix"
    from include.store.models import AuditEntry

    with session_scope(flow.engine) as s:
        assert "airflow:bob" in {a.actor for a in s.scalars(select(AuditEntry))}
    assert flow.copy(ids[0])["outcome"] == "done"


def test_default_images_replicate_every_six_hours(flow):
    flow.glance["a"].add("cvm", DATA)
    flow.observe()
    configure(flow.engine, doc(group_image="cvm"))
    assert flow.plan()["defaults_replicated"] is True
    assert {r.cloud_name for r in flow.rows()} == {"b", "c"}
    with session_scope(flow.engine) as s:  # an operator clears them; a new default appears meanwhile
        for r in s.scalars(select(ImageTransfer)):
            s.delete(r)
    flow.now += timedelta(hours=1)
    assert flow.plan()["defaults_replicated"] is False and flow.rows() == []
    flow.now += timedelta(hours=5, seconds=1)
    assert flow.plan()["defaults_replicated"] is True and len(flow.rows()) == 2


def test_a_disabled_target_gets_nothing_new(flow):
    flow.glance["a"].add("cvm", DATA)
    configure(flow.engine, doc(images=[{"name": "cvm", "clouds": ["b"]}], b_enabled=False))
    assert flow.run() == [] and flow.rows() == []


def test_concurrent_transfers_of_one_image_download_it_once(flow):
    import threading
    import time

    flow.glance["a"].add("cvm", DATA)
    configure(flow.engine, doc(images=[{"name": "cvm", "clouds": ["b", "c"]}]))
    flow.observe()
    ids = flow.plan()["copies"]
    source, downloads = flow.glance["a"], []
    real = source.download

    def slow(image_id, offset=0):  # the first download holds the lock for a while
        downloads.append(threading.current_thread().name)
        time.sleep(0.3)
        return real(image_id, offset)

    source.download = slow
    results = {}
    threads = [
        threading.Thread(target=lambda i=i: results.update({i: flow.copy(i, holder=f"w{i}")}), name=f"w{i}")
        for i in ids
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r["outcome"] for r in results.values()] == ["done", "done"]
    assert len(downloads) == 1
