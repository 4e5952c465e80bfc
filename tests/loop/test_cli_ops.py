"""The operator CLI (`cloudscheduler vm ...`, `cloudscheduler cloud ...`) on a running simulated site:
what it lists, and the intents it records for the next scheduling run."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from include.cli.main import main
from include.store.db import session_scope
from include.store.models import AuditEntry, Cloud, Vm


@pytest.fixture
def busy_world(world):
    world.submit(3, duration_s=3600)
    world.run_until(lambda w: w.counts()["jobs"].get(2) == 3, limit_s=300)
    return world


def test_vm_list_shows_states_and_filters(busy_world, capsys):
    assert main(["vm", "list", "-g", "atlas"]) == 0
    out = capsys.readouterr().out
    assert out.count(" running ") == 3 and out.strip().endswith("3 VM(s)")
    assert main(["vm", "list", "-g", "atlas", "--vm-status", "idle"]) == 0
    assert capsys.readouterr().out.strip().endswith("0 VM(s)")


def test_vm_update_records_intents_and_audits(busy_world, capsys):
    with session_scope(busy_world.engine) as s:
        first = sorted(s.scalars(select(Vm.vm_id)))[0]
    assert (
        main(
            [
                "vm",
                "update",
                "-g",
                "atlas",
                "--vm-option",
                "retire",
                "--vm-hosts",
                first,
                "--actor",
                "cli:bob",
            ]
        )
        == 0
    )
    assert f"retire {first}" in capsys.readouterr().out
    assert main(["vm", "update", "-g", "atlas", "-vo", "retain", "-vh", "1"]) == 0
    assert "1 VM(s) marked" in capsys.readouterr().out, "one already retiring, one kept: one more"
    with session_scope(busy_world.engine) as s:
        retiring = {v.vm_id for v in s.scalars(select(Vm).where(Vm.retire_requested_at.is_not(None)))}
        audited = {
            (a.actor, a.object_key)
            for a in s.scalars(select(AuditEntry).where(AuditEntry.action == "vm.retire"))
        }
    assert len(retiring) == 2 and first in retiring, "retain 1 keeps one VM: the most valuable"
    assert ("cli:bob", first) in audited


def test_vm_update_refuses_unknown_ids_and_changes_nothing(busy_world, capsys):
    assert main(["vm", "update", "-g", "atlas", "-vo", "kill", "-vh", "nope-1"]) == 1
    assert "no such VM: nope-1" in capsys.readouterr().err
    with session_scope(busy_world.engine) as s:
        assert s.scalars(select(Vm).where(Vm.kill_requested_at.is_not(None))).all() == []


def test_cloud_update_and_status(busy_world, capsys):
    assert main(["cloud", "update", "-g", "atlas", "-cn", "west", "--paused", "yes"]) == 0
    assert main(["cloud", "update", "-g", "atlas", "-cn", "east", "--enabled", "no"]) == 0
    with session_scope(busy_world.engine) as s:
        assert (s.get(Cloud, ("atlas", "east")).enabled, s.get(Cloud, ("atlas", "west")).paused) == (
            False,
            True,
        )
    capsys.readouterr()
    assert main(["cloud", "list"]) == 0
    listed = capsys.readouterr().out
    assert "east" in listed and "ok " in listed
    assert main(["cloud", "status", "-g", "atlas"]) == 0
    status = capsys.readouterr().out
    assert "== atlas: jobs 3 (idle 0, running 3" in status
    busy_world.run(60)  # the drained cloud's VMs are retired by the next runs
    with session_scope(busy_world.engine) as s:
        east = s.scalars(select(Vm).where(Vm.cloud_name == "east")).all()
    assert east and all(v.retire_requested_at is not None for v in east)
    assert main(["cloud", "update", "-g", "atlas", "-cn", "nowhere", "--enabled", "no"]) == 1
