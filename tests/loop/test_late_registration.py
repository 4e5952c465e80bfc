"""A site operator's cloud where a VM never registers (a bad hypervisor, a broken contextualisation):
its job must not wait the 2 hours of ``vm_come_alive``. Once the VM is late (twice the cloud's usual
request-to-registration time, at least ``vm_register_late``: 600 s), it stops counting as coming capacity
and the job gets a VM elsewhere; the late VM itself is still deleted by the come-alive rule, not sooner."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from include.store.db import session_scope
from include.store.models import Job, Vm
from tests.loop.world import World, site


def stuck_east() -> dict:
    doc = site()
    east = doc["groups"][0]["clouds"][0]["simulation"]
    east["quota_cores"] = 8  # room for one VM
    east["failures"] = {"never_register_rate": 1.0}
    return doc


def running_jobs(w: World) -> int:
    with session_scope(w.engine) as s:
        return len(s.scalars(select(Job.global_job_id).where(Job.status == 2)).all())


def vms(w: World) -> dict[str, list[Vm]]:
    with session_scope(w.engine) as s:
        out: dict[str, list[Vm]] = {}
        for v in s.scalars(select(Vm).where(Vm.status != "gone")):
            out.setdefault(v.cloud_name, []).append(v)
        return out


def test_a_vm_that_never_registers_stops_holding_its_job_after_the_late_time(
    state_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    w = World.create(state_url, stuck_east())
    began = w.now
    w.submit(1, duration_s=20000)
    w.run(540)
    assert [v.cloud_name for vs in vms(w).values() for v in vs] == ["east"], "booted on east, waiting for it"
    assert running_jobs(w) == 0
    assert w.log[-1]["plan"]["summary"]["vms_late_to_register"] == 0

    started = w.run_until(lambda w: running_jobs(w) == 1, limit_s=900)
    assert started - began < timedelta(seconds=600 + 40 + 15 + 4 * 30 + 60), "a VM on west took the job"
    assert len(vms(w)["west"]) == 1
    assert len(vms(w)["east"]) == 1, "the late VM is kept: only the come-alive rule deletes it"
    assert w.log[-1]["plan"]["summary"]["vms_late_to_register"] == 1

    w.run(7200 - (w.now - began).total_seconds() + 120, step=60)
    assert "east" not in vms(w), "deleted by the come-alive rule after vm_come_alive"
    assert running_jobs(w) == 1 and len(vms(w)["west"]) == 1, "no second replacement, the job kept running"
