"""The planner-quality bench's own arithmetic, checked by hand-sized cases: a maintainer reading P8's
table must be able to trust that the floor is a floor an online planner faces and that a wait behind a
full cloud is told apart from a wait the planner caused."""

from __future__ import annotations

import pytest

from bench.quality_figures import JobRun, StartdRun, VmRun, boots_beside_idle, packing_floor, waits_with_room


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
