"""The operator's numbered actions: kill N, retire N, retain N (least valuable first)."""

from __future__ import annotations

import pytest

from include.scheduler.operator_actions import kill_n, retain_n, retire_n
from tests.scheduler.builders import ago, cloud, group, snapshot, vm

FLEET = [
    vm("busy-long", state="running", busy_for=9000),
    vm("busy-short", state="running", busy_for=60),
    vm("idle-long", state="idle", idle_for=900),
    vm("idle-short", state="idle", idle_for=10),
    vm("booting-new", state="starting", age=100),
    vm("booting-old", state="starting", age=500),
    vm("manual", state="idle", idle_for=9999, manual=True),
    vm("retiring", state="idle", idle_for=9999, retire_requested_at=ago(5)),
    vm("other-cloud", state="idle", idle_for=5000, cloud="c2"),
]
SNAP = snapshot(clouds=[cloud("c1"), cloud("c2")], vms=FLEET)
ORDER = ["booting-new", "booting-old", "idle-long", "idle-short", "busy-short", "busy-long"]


KILL_ORDER = ORDER[:2] + ["retiring"] + ORDER[2:]  # a retiring VM may still be killed


@pytest.mark.parametrize("n,expected", [(0, []), (2, KILL_ORDER[:2]), (4, KILL_ORDER[:4]), (99, KILL_ORDER)])
def test_kill_n_picks_the_least_valuable(n, expected):
    assert kill_n(SNAP, n, group="atlas", cloud="c1") == expected


def test_kill_n_includes_retiring_vms_but_never_manual_ones():
    picked = kill_n(SNAP, 99, group="atlas")
    assert "manual" not in picked and "retiring" in picked and "other-cloud" in picked


def test_retire_n_picks_registered_vms_not_already_retiring():
    assert retire_n(SNAP, 3, group="atlas", cloud="c1") == ["idle-long", "idle-short", "busy-short"]


@pytest.mark.parametrize("n,expected", [(6, []), (4, ORDER[:2]), (1, ORDER[:5]), (0, ORDER)])
def test_retain_n_retires_all_but_the_n_most_valuable(n, expected):
    assert retain_n(SNAP, n, group="atlas", cloud="c1") == expected


def test_numbered_actions_skip_frozen_clouds_and_other_groups():
    snap = snapshot(
        groups=[group(), group("belle")],
        clouds=[cloud("c1", stale=True), cloud("c2"), cloud("c1", "belle")],
        vms=FLEET + [vm("theirs", group="belle", state="idle")],
    )
    assert kill_n(snap, 99, group="atlas") == ["other-cloud"]
