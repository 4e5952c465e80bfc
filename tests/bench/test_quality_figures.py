"""The planner-quality bench's own arithmetic, checked by hand-sized cases: a maintainer reading P8's
table must be able to trust that the floor is a floor an online planner faces and that a wait behind a
full cloud is told apart from a wait the planner caused."""

from __future__ import annotations

import pytest

from bench.quality_figures import (
    JobRun,
    StartdRun,
    VmRun,
    boots_after_idle_retire,
    boots_beside_idle,
    idle_retires,
    packing_floor,
    retires_then_booted,
    waits_with_room,
)


def job(cores: int, submitted: float, started: float | None, finished: float | None) -> JobRun:
    return JobRun("g", cores, submitted, started, finished, "m" if started is not None else None, 0)


def test_a_wait_counts_only_while_a_cloud_had_room_for_the_job():
    # ticks every 15 s; the group could boot for 8-core jobs only during (0, 45], and for 1-core always
    room = [(float(t), {"g": frozenset({1, 8} if t <= 45 else {1})}) for t in range(15, 301, 15)]
    eight, one = job(8, 10.0, 100.0, 500.0), job(1, 10.0, 100.0, 500.0)
    assert waits_with_room([eight, one], 1000.0, room, 15) == [35.0, 90.0]
    assert waits_with_room([eight, one], 1000.0, room, 15, multicore=True) == [35.0]


def test_a_job_never_started_waits_until_the_end():
    room = [(float(t), {"g": frozenset({1})}) for t in range(15, 301, 15)]
    assert waits_with_room([job(1, 0.0, None, None)], 300.0, room, 15) == [300.0]


@pytest.mark.parametrize("clairvoyant,idle", [(False, 1200.0), (True, 0.0)])
def test_jobs_that_start_together_are_packed_in_queue_order_unless_clairvoyant(clairvoyant, idle):
    """Four 1-core jobs start at one negotiation cycle on 2-core VMs: in queue order a short and a long
    one share each VM (each VM idles a core for 600 s); knowing run times, the two short ones share one
    VM and the two long ones the other, and nothing idles. No keep-alive, no start cost."""
    queue = [
        job(1, 0.0, 0.0, 600.0),
        job(1, 0.0, 0.0, 1200.0),
        job(1, 1.0, 0.0, 600.0),
        job(1, 1.0, 0.0, 1200.0),
    ]
    floor = packing_floor(queue, "g", 2, 0.0, 0, 5000.0, clairvoyant=clairvoyant)
    assert floor == pytest.approx(idle)


@pytest.mark.parametrize("idle_vm_next_job_at,counted", [(1010.0, 0), (None, 1), (2000.0, 1)])
def test_a_boot_beside_an_idle_vm_counts_only_if_the_idle_vm_is_passed_over(idle_vm_next_job_at, counted):
    """A VM idle since t=600 when a new one boots at t=1000: reused at the next negotiation (10 s later),
    the boot was for work beyond it; left idle, the boot went around it."""
    idle = StartdRun("old", "g", 100.0, None, None)
    runs = {"old": [(100.0, 600.0, 8)]}
    if idle_vm_next_job_at is not None:
        runs["old"].append((idle_vm_next_job_at, idle_vm_next_job_at + 600, 8))
    new = VmRun("new", "g", "c", 8, 1000.0, None)
    assert boots_beside_idle([new], {"old": idle}, runs, grace_s=50.0) == counted


def test_a_burst_after_one_idle_retire_is_one_retired_vm_rebooted_not_twenty():
    """One idle 8-core VM is retired at t=1000 (its job ended at 600, keep-alive 300); a burst boots
    twenty 8-core VMs at t=1100 and a 16-core one at 1150. Had the retired VM lived on, it would have
    spared one 8-core boot: the retire-centred figure says 1, the boot-centred one counts the burst."""
    startds = {"old": StartdRun("old", "g", 100.0, 1000.0, 1005.0)}
    runs = {"old": [(100.0, 600.0, 8)]}
    vms = [VmRun("old", "g", "c", 8, 40.0, 1010.0)]
    vms += [VmRun(f"new{i}", "g", "c", 8, 1100.0, None) for i in range(20)]
    vms += [VmRun("big", "g", "c", 16, 1150.0, None)]
    retires = idle_retires(startds, runs)
    assert retires == [("g", 1000.0, "old")]
    assert retires_then_booted(vms, retires, keep_alive=300) == 1
    assert boots_after_idle_retire(vms, retires, keep_alive=300) == 21


@pytest.mark.parametrize(
    "boot,cores,group,counted",
    [(1299.0, 8, "g", 1), (1301.0, 8, "g", 0), (1100.0, 16, "g", 0), (1100.0, 8, "h", 0)],
)
def test_a_retire_counts_as_churn_only_if_its_own_shape_boots_within_the_keep_alive(
    boot, cores, group, counted
):
    startds = {"old": StartdRun("old", "g", 100.0, 1000.0, 1005.0)}
    vms = [VmRun("old", "g", "c", 8, 40.0, 1010.0), VmRun("new", group, "c", cores, boot, None)]
    retires = idle_retires(startds, {"old": [(100.0, 600.0, 8)]})
    assert retires_then_booted(vms, retires, keep_alive=300) == counted


def test_two_retires_and_one_boot_are_one_churn_and_a_busy_vm_retired_is_none():
    """Two idle VMs retired, one boot after them: one retired VM could have served it. A VM retired while
    its job still ran (consolidation) is no idle retire."""
    startds = {
        "a": StartdRun("a", "g", 0.0, 1000.0, 1005.0),
        "b": StartdRun("b", "g", 0.0, 1010.0, 1015.0),
        "busy": StartdRun("busy", "g", 0.0, 1020.0, None),
    }
    runs = {"a": [(0.0, 600.0, 8)], "b": [(0.0, 600.0, 8)], "busy": [(0.0, 3000.0, 8)]}
    vms = [VmRun(n, "g", "c", 8, 0.0, None) for n in ("a", "b", "busy")] + [
        VmRun("new", "g", "c", 8, 1200.0, None)
    ]
    retires = idle_retires(startds, runs)
    assert sorted(m for _, _, m in retires) == ["a", "b"]
    assert retires_then_booted(vms, retires, keep_alive=300) == 1
