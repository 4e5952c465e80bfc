"""A zombie try of ``plan`` and Airflow's retry of it, two runs at once, a run that outlived its lease:
through the production path (``plan_cycle`` and ``act_on`` with the holders they make themselves), one
plan's worth of VMs is booted, never two, and a run that lost its lease calls no cloud."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from include.loop import cycle
from include.store.db import session_scope
from include.store.models import SimInstance

pytestmark = pytest.mark.edges


def instances(world) -> list[str]:
    with session_scope(world.engine) as s:
        return sorted(i.name for i in s.scalars(select(SimInstance).where(SimInstance.status != "deleted")))


def polled(world, seconds: int = 30) -> None:
    world.now += timedelta(seconds=seconds)
    cycle.poll_pools(world.now)
    for c in cycle.clouds_to_poll():
        cycle.poll_cloud(c["group"], c["cloud"], world.now)


def test_a_retry_does_not_plan_while_the_zombie_try_holds_the_lease(world):
    world.submit(6)
    polled(world)
    zombie = cycle.plan_cycle(now=world.now)  # try 1: intents recorded, then its worker goes silent
    assert zombie["groups"] == ["atlas"] and zombie["clouds"]
    world.now += timedelta(seconds=5)
    retry = cycle.plan_cycle(now=world.now)  # Airflow's retry, seconds later: another holder
    assert retry["groups"] == [] and retry["busy_groups"] == ["atlas"] and retry["clouds"] == []

    world.now += cycle.lease_ttl(cycle.settings_now()) + timedelta(seconds=1)  # the zombie's lease runs out
    cycle.poll_pools(world.now)
    fresh = cycle.plan_cycle(now=world.now)
    assert fresh["groups"] == ["atlas"]
    for work in cycle.work_items(fresh):  # the new run sends the zombie's open requests (level-triggered)
        cycle.act_on(work, world.now)
    cycle.release_run(fresh["lease"])
    booted = instances(world)
    late = [cycle.act_on(work, world.now) for work in cycle.work_items(zombie)]  # the zombie wakes up
    assert late and all(out.get("fenced") for out in late), late
    assert instances(world) == booted and len(booted) == zombie["summary"]["vms_booted"]


def test_two_runs_at_once_plan_and_act_once(world):
    world.submit(6)
    polled(world)
    results, barrier = [], threading.Barrier(2)

    def run():
        barrier.wait()
        planned = cycle.plan_cycle(now=world.now)
        results.append((planned, [cycle.act_on(w, world.now) for w in cycle.work_items(planned)]))
        cycle.release_run(planned["lease"])

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(planned["groups"]) for planned, _ in results) == [0, 1]
    booted = sum(planned["summary"]["vms_booted"] for planned, _ in results)
    assert booted > 0 and len(instances(world)) == booted


def test_an_act_that_loses_its_lease_midway_stops_before_the_next_call(world):
    world.submit(12)  # more than one cloud's worth: east and west both get a boot request
    polled(world)
    planned = cycle.plan_cycle(now=world.now)
    work = cycle.work_items(planned)
    assert len(work) >= 2
    first = cycle.act_on(work[0], world.now)
    assert first["created"]
    world.now += cycle.lease_ttl(cycle.settings_now()) + timedelta(seconds=1)
    cycle.poll_pools(world.now)
    newer = cycle.plan_cycle(now=world.now)  # took the lease over: the old fence is void
    assert newer["groups"] == ["atlas"]
    second = cycle.act_on(work[1], world.now)
    assert second.get("fenced") and not second.get("created")
    cycle.release_run(newer["lease"])
