"""A site with many clouds: cs_poll_clouds runs at most 8 mapped tasks, each polling a batch of clouds in
threads (one task process per cloud cost most of a 2-core machine at 50 clouds: P10). Every cloud is
polled once per run, on both backends (threads share the state database's engine)."""

from __future__ import annotations

import copy

from sqlalchemy import select

from include.loop import cycle
from include.store.db import session_scope
from include.store.models import PollStatus, SimInstance
from tests.loop.world import SITE, World


def many_clouds(n: int) -> dict:
    doc = copy.deepcopy(SITE)
    template = doc["groups"][0]["clouds"][0]
    doc["groups"][0]["clouds"] = [{**copy.deepcopy(template), "name": f"c{i:02d}"} for i in range(n)]
    return doc


def test_twenty_clouds_are_polled_by_eight_tasks_each_cloud_once(state_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    w = World.create(state_url, many_clouds(20))
    w.submit(3)
    w.run(120)  # the loop boots VMs on some of the clouds, so the polls have inventory to list
    batches = cycle.cloud_batches()
    assert len(batches) == 8
    flat = [(c["group"], c["cloud"]) for b in batches for c in b]
    assert flat == [("atlas", f"c{i:02d}") for i in range(20)], "every cloud once, in order"
    assert sorted(map(len, batches)) == [2, 2, 2, 2, 3, 3, 3, 3], "as even as can be"

    results = [r for b in batches for r in cycle.poll_batch(b, deadline_s=60, now=w.now)]
    assert [r["cloud"] for r in results] == [f"c{i:02d}" for i in range(20)]
    assert all(r["ok"] for r in results)
    with session_scope(w.engine) as s:
        polled = {p.source: (p.ok, p.last_success) for p in s.scalars(select(PollStatus))}
        booted = s.scalars(select(SimInstance.cloud_name)).all()
    assert booted, "the loop booted VMs"
    for i in range(20):
        ok, at = polled[f"cloud/atlas/c{i:02d}"]
        assert ok and at.replace(tzinfo=None) == w.now.replace(tzinfo=None)


def test_a_small_site_keeps_one_task_per_cloud(world):
    assert cycle.cloud_batches() == [
        [{"group": "atlas", "cloud": "east"}],
        [{"group": "atlas", "cloud": "west"}],
    ]
