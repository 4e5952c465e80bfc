"""The planner's inputs and small helpers: tables, policy, the vectorised state, request ids."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from include.config.settings import Settings
from include.scheduler.fleet import derive
from include.scheduler.ids import dns_label, request_id, vm_ids
from include.scheduler.planner import plan
from include.scheduler.policy import Policy
from include.scheduler.states import VmStatus, vm_state
from include.scheduler.tables import JOB_COLUMNS, VM_COLUMNS, jobs_frame, normalized, slots_frame, vms_frame
from tests.scheduler.builders import NOW, POLICY, ago, idle_jobs, snapshot, vm


def test_policy_defaults_are_the_settings_defaults():
    settings = Settings()
    policy = Policy.from_settings(settings)
    for name, value in vars(policy).items():
        expected = getattr(settings, name)
        assert value == (tuple(expected) if isinstance(expected, list) else expected), name
    assert Policy() == policy


def test_policy_is_a_view_of_the_settings():
    policy = Policy.from_settings(replace(Settings(), max_boot_per_cycle=9, timeseries_retention_days=2))
    assert policy.max_boot_per_cycle == 9


def test_missing_optional_columns_get_their_defaults():
    jobs = normalized(
        pd.DataFrame({"group": ["atlas"], "owner": ["a"], "status": [1], "cores": [8]}), JOB_COLUMNS
    )
    assert set(JOB_COLUMNS) <= set(jobs.columns)
    assert np.isnan(jobs["keep_alive"].iat[0]) and jobs["q_date"].isna().iat[0]


def test_naive_or_string_times_become_utc():
    vms = normalized(
        pd.DataFrame(
            {"vm_id": ["v"], "group": ["g"], "cloud": ["c"], "requested_at": ["2026-03-01T11:00:00+00:00"]}
        ),
        VM_COLUMNS,
    )
    assert vms["requested_at"].iat[0] == pd.Timestamp(ago(3600))
    assert str(vms["requested_at"].dtype) == "datetime64[us, UTC]"


def test_frame_refuses_unknown_columns():
    with pytest.raises(ValueError, match="unknown columns: colour"):
        jobs_frame([{"group": "atlas", "colour": "red"}])


@pytest.mark.parametrize(
    "status,manual,retiring,registered,busy",
    list(
        itertools.product(
            [s.value for s in VmStatus], [False, True], [False, True], [False, True], [False, True]
        )
    ),
)
def test_vectorised_state_equals_vm_state(status, manual, retiring, registered, busy):
    """fleet.states is the planner's copy of states.vm_state: they must never drift apart."""
    row = {
        "vm_id": "v",
        "group": "g",
        "cloud": "c",
        "status": status,
        "manual": manual,
        "retire_requested_at": NOW if retiring else None,
    }
    slots = []
    if registered:
        slots.append({"vm_id": "v", "slot_type": "Partitionable", "state": "Unclaimed", "cores": 4})
    if registered and busy:
        slots.append({"vm_id": "v", "slot_type": "Dynamic", "state": "Claimed", "cores": 4})
    fleet = derive(vms_frame([row]), slots_frame(slots))
    expected = vm_state(
        status=status, manual=manual, retiring=retiring, registered=registered, busy=registered and busy
    )
    assert fleet.col("state")[0] == expected.value


def test_request_ids_are_host_name_safe_deterministic_and_short():
    rid = request_id("ATLAS_Prod" * 5, "Cloud.East!" * 4, "c8", NOW, "*/8c", 0)
    assert rid == request_id("ATLAS_Prod" * 5, "Cloud.East!" * 4, "c8", NOW, "*/8c", 0)
    assert rid != request_id("ATLAS_Prod" * 5, "Cloud.East!" * 4, "c8", NOW, "*/8c", 1)
    ids = vm_ids(rid, 12)
    assert ids[0] == f"{rid}-1" and ids[-1] == f"{rid}-12"
    for name in (rid, *ids):
        assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", name) and len(name) <= 63


def test_dns_label_never_empty_or_dashed_at_the_ends():
    assert dns_label("__") == "x"
    assert dns_label("-a--b-") == "a-b"


def test_duplicate_vm_ids_are_refused():
    with pytest.raises(ValueError, match="unique"):
        derive(vms_frame([{"vm_id": "v", "group": "g", "cloud": "c"}] * 2), slots_frame())


def test_the_plan_is_the_same_for_any_string_dtype_and_minimal_tables():
    snap = snapshot(jobs=idle_jobs(3) + idle_jobs(2, cores=4, owner="bob"), vms=[vm("v1", state="idle")])
    expected = plan(snap, POLICY, NOW)
    text = ["group", "owner", "target_alias", "image", "instance_type", "network", "user_data"]
    for dtype in ("category", object):
        assert plan(replace(snap, jobs=snap.jobs.astype(dict.fromkeys(text, dtype))), POLICY, NOW) == expected
    minimal = replace(
        snap, jobs=snap.jobs[["group", "owner", "status", "cores", "ram_mb", "disk_gb", "q_date"]]
    )
    assert plan(minimal, POLICY, NOW) == expected


def test_now_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(snapshot(), POLICY, datetime(2026, 3, 1))
