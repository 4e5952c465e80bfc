"""The simulated pool, on SQLite and PostgreSQL: the whole life of a job and of a startd, as seen through
the poller (the store's ``jobs`` and ``machines`` tables), each call a fresh adapter as in Airflow tasks."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from include.condor.records import MachineNotFound, RetireHow
from include.loop.pool_poll import current_specs, poll_one
from include.pools import connect_pool
from include.simulated.negotiator import advance
from include.simulated.pool import lock_pool, set_outage, submit_jobs
from include.store.db import session_scope
from include.store.models import Job, Machine, PollStatus, SimInstance, SimJob, SimStartd
from tests.condor.builders import T0, at, delete_vm, group, sim_instance

pytestmark = pytest.mark.usefixtures("store_engine")


def poll(engine, now):
    (spec,) = current_specs(engine)
    return poll_one(engine, spec, now)


def adapter(engine, now):
    (spec,) = current_specs(engine)
    return connect_pool(spec, engine, now)


def jobs(engine) -> dict:
    with session_scope(engine) as s:
        return {j.global_job_id.split("#")[1]: j for j in s.scalars(select(Job))}


def machines(engine) -> dict:
    with session_scope(engine) as s:
        return {m.name: m for m in s.scalars(select(Machine))}


def test_life_of_a_job_and_a_startd(store_engine):
    e = store_engine
    group(e)
    submit_jobs(
        e,
        "atlas",
        2,
        cores=4,
        ram_mb=8000,
        duration_s=600,
        owner="alice",
        now=T0,
        attrs={"VMImage": "cernvm", "VMKeepAlive": 300},
    )
    poll(e, at(1))
    j = jobs(e)
    assert sorted(j) == ["1.0", "1.1"] and {x.status for x in j.values()} == {1}
    assert (j["1.0"].group_name, j["1.0"].cores, j["1.0"].ram_mb, j["1.0"].owner) == (
        "atlas",
        4,
        8000,
        "alice",
    )
    assert (j["1.0"].image, j["1.0"].keep_alive, j["1.0"].q_date) == ("cernvm", 300, T0)
    assert machines(e) == {}

    sim_instance(e, "vm-1", active_at=at(60))  # booted at +60 s; its startd registers 15 s later
    poll(e, at(70))
    assert machines(e) == {}  # booting VMs are not in the pool
    poll(e, at(80))  # registered at +75, matched at the +80 negotiation cycle
    m = machines(e)
    assert sorted(m) == ["slot1@vm-1", "slot1_1@vm-1", "slot1_2@vm-1"]
    p = m["slot1@vm-1"]
    assert (p.slot_type, p.vm_id, p.group_name, p.cores, p.memory_mb, p.total_cores) == (
        "Partitionable",
        "vm-1",
        "atlas",
        0,
        16000,
        8,
    )
    assert m["slot1_1@vm-1"].state == "Claimed" and m["slot1_1@vm-1"].entered_state_at == at(80)
    j = jobs(e)
    assert {x.status for x in j.values()} == {2} and {x.vm_id for x in j.values()} == {"vm-1"}
    assert {x.remote_host for x in j.values()} == {"slot1_1@vm-1", "slot1_2@vm-1"}
    assert {x.entered_status_at for x in j.values()} == {at(80)}

    poll(e, at(679))
    assert {x.status for x in jobs(e).values()} == {2}  # honest run time: not done a second early
    poll(e, at(700))
    assert {(x.status, x.entered_status_at) for x in jobs(e).values()} == {(4, at(680))}
    m = machines(e)
    assert sorted(m) == ["slot1@vm-1"] and m["slot1@vm-1"].cores == 8  # idle startd
    assert m["slot1@vm-1"].entered_state_at == at(680)  # age counts from the last slot change

    result = adapter(e, at(710)).retire("vm-1")
    assert result.sent == RetireHow.PEACEFUL
    poll(e, at(711))
    assert machines(e) == {}  # an idle startd leaves at once
    poll(e, at(2000))
    assert machines(e) == {}  # and does not come back while its VM still runs
    with session_scope(e) as s:
        sd = s.get(SimStartd, ("simulated", "vm-1"))
        assert (sd.left_at, sd.left_reason) == (at(710), "retired")
    assert jobs(e) == {}  # completed jobs left the queue after the retention (600 s)
    with pytest.raises(MachineNotFound):
        adapter(e, at(2001)).retire("vm-1")


def test_busy_startd_finishes_its_job_before_leaving(store_engine):
    e = store_engine
    group(e)
    sim_instance(e, "vm-1", active_at=T0)
    submit_jobs(e, "atlas", 1, cores=8, ram_mb=1000, duration_s=300, now=T0)
    poll(e, at(20))  # registered +15, matched +20
    adapter(e, at(30)).retire("vm-1", RetireHow.DRAIN)
    submit_jobs(e, "atlas", 1, cores=1, ram_mb=1000, duration_s=60, now=at(31))
    poll(e, at(100))
    m = machines(e)
    assert (
        m["slot1@vm-1"].retiring and m["slot1_1@vm-1"].retiring and m["slot1_1@vm-1"].activity == "Retiring"
    )
    poll(e, at(400))
    j = jobs(e)
    assert (j["1.0"].status, j["2.0"].status) == (4, 1)  # the first finished; none started on a retiring VM
    assert machines(e) == {}
    with session_scope(e) as s:
        assert s.get(SimStartd, ("simulated", "vm-1")).left_at == at(320)


def test_deleted_vm_evicts_its_job(store_engine):
    e = store_engine
    group(e)
    sim_instance(e, "vm-1", active_at=T0)
    submit_jobs(e, "atlas", 1, cores=2, duration_s=3600, now=T0)
    poll(e, at(20))
    assert jobs(e)["1.0"].status == 2
    delete_vm(e, "vm-1", at(50))
    poll(e, at(60))
    job = jobs(e)["1.0"]
    assert (job.status, job.entered_status_at, job.vm_id, job.remote_host) == (1, at(50), None, None)
    assert machines(e) == {}
    with session_scope(e) as s:
        assert s.scalars(select(SimJob)).one().evictions == 1


def test_requirements_and_resources_are_honoured(store_engine):
    e = store_engine
    group(e, "atlas")
    group(e, "belle2", cloud="melbourne")
    sim_instance(e, "atlas-west", active_at=T0, alias="ca-west")
    sim_instance(e, "belle-1", group="belle2", cloud="melbourne", active_at=T0, cores=2, ram_mb=4000)
    submit_jobs(e, "atlas", 1, cores=1, duration_s=600, target_alias="ca-east", now=T0)  # 1.0: no such alias
    submit_jobs(e, "atlas", 1, cores=4, duration_s=600, target_alias="ca-west", now=T0)  # 2.0
    submit_jobs(e, "belle2", 2, cores=2, ram_mb=2000, duration_s=600, now=T0)  # 3.x: only one fits belle-1
    submit_jobs(e, "atlas", 1, cores=16, duration_s=600, now=T0)  # 4.0: bigger than any VM
    poll(e, at(40))
    j = jobs(e)
    status = {k: (v.status, v.vm_id) for k, v in j.items()}
    assert status == {
        "1.0": (1, None),
        "2.0": (2, "atlas-west"),
        "3.0": (2, "belle-1"),
        "3.1": (1, None),
        "4.0": (1, None),
    }
    assert (j["3.0"].group_name, j["2.0"].target_alias) == ("belle2", "ca-west")


def _packing(engine, how: str) -> None:
    with session_scope(engine) as s:
        lock_pool(s, "simulated").packing = how


def _placed(engine) -> dict[str, str | None]:
    return {k: v.vm_id for k, v in jobs(engine).items()}


@pytest.mark.parametrize("how", ["depth_first", "default"])
def test_new_work_goes_to_the_fullest_vm(store_engine, how):
    """An operator following the README (depth-first) and one with a pool as HTCondor ships both see a
    new job start on the VM that is already busy, not on the empty one: HTCondor's default pre-job rank
    is best fit (fewest free cores first), so the empty VM can retire at its keep-alive."""
    e = store_engine
    group(e)
    _packing(e, how)
    sim_instance(e, "vm-old", active_at=T0)
    submit_jobs(e, "atlas", 1, cores=4, duration_s=100, now=T0)  # on vm-old from +20 to +120
    sim_instance(e, "vm-new", active_at=at(25))  # registers at +40
    submit_jobs(e, "atlas", 1, cores=6, duration_s=3600, now=at(50))  # fits only vm-new
    poll(e, at(140))  # vm-old is empty again, vm-new has 2 cores free
    submit_jobs(e, "atlas", 1, cores=2, duration_s=3600, now=at(150))
    poll(e, at(170))
    assert _placed(e) == {"1.0": "vm-old", "2.0": "vm-new", "3.0": "vm-new"}  # not the older, empty VM


@pytest.mark.parametrize("how, used", [("depth_first", {"vm-a"}), ("default", {"vm-a", "vm-b"})])
def test_depth_first_packs_requests_onto_one_vm_a_default_pool_spreads_them_in_a_cycle(
    store_engine, how, used
):
    """Two different requests in one negotiation cycle: with NEGOTIATOR_DEPTH_FIRST (the README's
    configuration) both land on one VM; a default pool matches each startd once per cycle, so the
    second request takes the other VM (the claim's leftovers go only to jobs of the same request)."""
    e = store_engine
    group(e)
    _packing(e, how)
    sim_instance(e, "vm-a", active_at=T0)
    sim_instance(e, "vm-b", active_at=at(1))
    submit_jobs(e, "atlas", 2, cores=2, duration_s=3600, now=at(30))
    submit_jobs(e, "atlas", 2, cores=1, ram_mb=1000, duration_s=3600, now=at(30))
    advance(e, "simulated", at(40))
    with session_scope(e) as s:
        running = [j.machine for j in s.scalars(select(SimJob)) if j.status == 2]
    assert (len(running), set(running)) == (4, used)


def test_a_pool_with_an_unknown_packing_is_refused_by_name(store_engine):
    e = store_engine
    group(e)
    _packing(e, "breadth")
    with pytest.raises(ValueError, match="sim_pools.packing: 'breadth'"):
        advance(e, "simulated", at(40))


def test_history_does_not_depend_on_how_often_it_is_advanced(store_engine):
    e = store_engine
    group(e)
    sim_instance(e, "vm-1", active_at=at(45))
    sim_instance(e, "vm-2", active_at=at(200), cores=4, ram_mb=16000)
    for i, dur in enumerate([100, 250, 400, 90]):
        submit_jobs(e, "atlas", 2, cores=3, ram_mb=4000, duration_s=dur, now=at(10 * i))
    fine = _replay(e, range(0, 3001, 7))  # a poller every 7 s ...
    coarse = _replay(e, [0, 3000])  # ... or once after a long pause
    assert coarse == fine
    assert all(j[2] == 4 for j in fine) and len({j[5] for j in fine}) == 2


def test_vms_that_never_register_or_fail_never_join(store_engine):
    e = store_engine
    group(e)
    sim_instance(e, "silent", active_at=T0, never_register=True)
    sim_instance(e, "broken", active_at=T0, fault="Instance failed to spawn")
    sim_instance(e, "no-condor-config", active_at=T0)
    with session_scope(e) as s:
        s.get(SimInstance, "id-no-condor-config").startd_attrs = {}
    poll(e, at(100))
    assert machines(e) == {}


def test_outages_make_parts_stale_and_keep_rows(store_engine):
    e = store_engine
    group(e)
    sim_instance(e, "vm-1", active_at=T0)
    submit_jobs(e, "atlas", 1, duration_s=3600, now=T0)
    poll(e, at(20))
    before_jobs, before_machines = jobs(e), machines(e)
    set_outage(e, "simulated", ["collector"])
    report = poll(e, at(40))
    assert set(report.stale) == {"collector", "schedd:*"}  # schedds are located through the collector
    assert machines(e).keys() == before_machines.keys() and jobs(e).keys() == before_jobs.keys()
    with session_scope(e) as s:
        status = {
            p.source: (p.ok, p.consecutive_failures, p.last_success) for p in s.scalars(select(PollStatus))
        }
    assert status["condor/atlas/collector"] == (False, 1, at(20))
    assert status["condor/atlas/schedd:sim-schedd"] == (False, 1, at(20))
    with pytest.raises(Exception, match="simulated outage"):
        adapter(e, at(41)).retire("vm-1")
    set_outage(e, "simulated", [])
    poll(e, at(60))
    with session_scope(e) as s:
        status = {p.source: p.ok for p in s.scalars(select(PollStatus))}
    assert status == {"condor/atlas/collector": True, "condor/atlas/schedd:sim-schedd": True}


def test_submit_validates(store_engine):
    e = store_engine
    group(e, "real", kind="htcondor", collector="cm.example.org")
    with pytest.raises(ValueError, match="no simulated pool"):
        submit_jobs(e, "real", 1, now=T0)
    with pytest.raises(ValueError, match="no simulated pool"):
        submit_jobs(e, "nosuch", 1, now=T0)
    group(e, "atlas")
    with pytest.raises(ValueError, match="positive"):
        submit_jobs(e, "atlas", 0, now=T0)
    held = submit_jobs(e, "atlas", 1, held=True, now=T0)
    assert held == [f"sim-schedd#1.0#{int(T0.timestamp())}"]


def test_a_vm_booted_by_the_simulated_cloud_joins_with_the_demo_template(store_engine):
    """The contract with the simulated cloud: the demo's condor template, rendered into a VM's user-data,
    is what its startd advertises, and the pool joins it to the VM by ``cs_vm_id``."""
    import yaml

    from include.providers.base import VmSpec
    from include.simulated.cloud import SimulatedCloud
    from include.store.models import Cloud
    from include.userdata.builder import MetadataPart, UserDataBuilder
    from tests.conftest import ROOT

    e = store_engine
    group(e)
    demo = yaml.safe_load((ROOT / "demo" / "config.yaml").read_text())
    (template,) = demo["groups"][0]["metadata"]
    with session_scope(e) as s:
        variables = {
            "cs_group_name": "atlas",
            "cs_cloud_name": "arbutus",
            "cs_flavor": "c8",
            "cs_cloud_alias": "ca-west",
            "cs_deployment": "cs",
            "cs_condor_host": "cm.example.org",
        }
        user_data = UserDataBuilder("arbutus", [MetadataPart(template["name"], template["text"])], variables)
        sim = s.get(Cloud, ("atlas", "arbutus")).simulation
    clock = [T0]
    cloud = SimulatedCloud("arbutus", "atlas", e, sim, clock=lambda: clock[0])
    spec = VmSpec(
        group="atlas", cloud="arbutus", request_id="req7", flavor="c8", image="cernvm", user_data=user_data
    )
    (created,) = cloud.create_vms(spec, 1)
    assert created.ok
    submit_jobs(e, "atlas", 1, cores=2, duration_s=600, target_alias="ca-west", now=T0)
    poll(e, at(60 + 15 - 1))
    assert machines(e) == {}  # boot delay 60 s + registration 15 s
    poll(e, at(80))
    slot = machines(e)["slot1@req7-1"]
    assert (slot.vm_id, slot.group_name, slot.cloud_name, slot.flavor, slot.target_alias) == (
        "req7-1",
        "atlas",
        "arbutus",
        "c8",
        "ca-west",
    )
    assert jobs(e)["1.0"].vm_id == "req7-1"


@pytest.mark.parametrize("whole", [0, 8])
def test_condor_defrag_gathers_the_cores_a_multi_core_job_waits_for(store_engine, whole):
    """A site with 1-core jobs arriving all the time and one 8-core job: each core that frees goes to
    the next 1-core job (the 8-core one does not fit, so the negotiator moves on), and the 8-core job
    waits for good. With condor_defrag configured as the README says (``whole`` = 8), the VM is drained
    (no new job, its ad Drained with the daemon's reason), its cores gather, the drain is cancelled and
    the 8-core job, the oldest in the queue, starts there."""
    e = store_engine
    group(e)
    with session_scope(e) as s:
        lock_pool(s, "simulated").defrag_whole_cores = whole
    sim_instance(e, "vm-a", active_at=T0)
    for i in range(8):
        submit_jobs(e, "atlas", 1, cores=1, ram_mb=2000, duration_s=300 + 100 * i, now=T0)
    submit_jobs(e, "atlas", 1, cores=8, ram_mb=16000, duration_s=3600, now=at(10))  # cluster 9
    for t in range(100, 6000, 100):
        submit_jobs(e, "atlas", 1, cores=1, ram_mb=2000, duration_s=2000, now=at(t))
    drained = []  # per poll: does the pool report vm-a drained?
    for t in range(0, 6001, 60):
        poll(e, at(t))
        drained.append(any(m.retiring and m.state == "Drained" for m in machines(e).values()))
    with session_scope(e) as s:
        multi = s.scalars(select(SimJob).where(SimJob.cluster_id == 9)).one()
        started, machine = multi.started_at, multi.machine
    if not whole:
        assert started is None and not any(drained)  # starved behind the 1-core backfill
        return
    assert started is not None and machine == "vm-a"
    # condor_defrag drains at the first poll of the hour (2 an hour at a 600 s interval: T0 is on the
    # hour, before vm-a registers), its jobs end within 2,000 s, it resumes, the next negotiation
    assert started <= at(3600 + 2000 + 20)
    first = drained.index(True)
    assert not all(drained[first:])  # the drain ended once the cores were free


def _replay(engine, times) -> list[tuple]:
    """Clear the pool's history, advance it at ``times``, return every job's history."""
    with session_scope(engine) as s:
        s.query(SimJob).update(
            {
                "status": 1,
                "started_at": None,
                "finished_at": None,
                "machine": None,
                "slot_id": None,
                "entered_status_at": SimJob.q_date,
            }
        )
        s.query(SimStartd).delete()
        state = lock_pool(s, "simulated")
        state.advanced_at, state.completed_retention_s = None, 10**6
    for t in times:
        advance(engine, "simulated", at(t))
    with session_scope(engine) as s:
        return sorted(
            (j.cluster_id, j.proc_id, j.status, j.started_at, j.finished_at, j.machine)
            for j in s.scalars(select(SimJob))
        )


def test_condor_defrag_gives_the_same_history_however_often_the_pool_is_advanced(store_engine):
    """A 16-core VM full of 1-core jobs, an 8-core job waiting, condor_defrag gathering 8 cores: drains
    start at the hour, end when 8 cores are free (while other jobs still run), the 8-core job starts.
    A poller every 7 s and one long pause give the same history."""
    e = store_engine
    group(e)
    with session_scope(e) as s:
        lock_pool(s, "simulated").defrag_whole_cores = 8
    sim_instance(e, "vm-a", active_at=T0, cores=16, ram_mb=64000)
    for i in range(16):
        submit_jobs(e, "atlas", 1, cores=1, ram_mb=2000, duration_s=300 + 150 * i, now=T0)
    submit_jobs(e, "atlas", 1, cores=8, ram_mb=16000, duration_s=900, now=at(10))  # cluster 17
    for t in range(100, 7000, 100):
        submit_jobs(e, "atlas", 1, cores=1, ram_mb=2000, duration_s=2000, now=at(t))
    fine = _replay(e, range(0, 7201, 7))
    coarse = _replay(e, [0, 7200])
    assert coarse == fine
    multi = next(j for j in fine if j[0] == 17)
    assert multi[3] is not None and at(3600) < multi[3] < at(3600 + 2400)  # started thanks to the drain


def test_a_drain_for_room_holds_new_work_off_and_ends_on_cancel_or_when_the_jobs_are_done(store_engine):
    """Our drain, as a real startd takes ``drainJobs(Graceful, on_completion=Resume, reason)``: its jobs
    run on, no new job starts there, the ads say Drained with our DrainReason; a repeat is refused
    without harm; cancelling it (ours only) lets the next negotiation use the cores; a drain left alone
    resumes by itself once the last job ended."""
    e = store_engine
    group(e)
    sim_instance(e, "vm-1", active_at=T0)
    submit_jobs(e, "atlas", 4, cores=1, ram_mb=1000, duration_s=600, now=T0)
    poll(e, at(20))
    reason = "cloudscheduler: room for 8-core jobs"
    assert adapter(e, at(30)).drain("vm-1", reason) is True
    assert adapter(e, at(31)).drain("vm-1", reason) is False  # already draining
    assert adapter(e, at(32)).undrain("vm-1", "Defrag") is False  # not condor_defrag's drain
    submit_jobs(e, "atlas", 2, cores=1, ram_mb=1000, duration_s=60, now=at(40))
    poll(e, at(100))
    pslot = machines(e)["slot1@vm-1"]
    assert (pslot.state, pslot.retiring, pslot.drain_reason) == ("Drained", True, reason)
    assert sorted(j.status for j in jobs(e).values()) == [1, 1, 2, 2, 2, 2]  # running on, none new
    assert adapter(e, at(110)).undrain("vm-1", "cloudscheduler: room for") is True
    poll(e, at(140))
    assert sorted(j.status for j in jobs(e).values()) == [2] * 6  # the next negotiation used the cores
    assert machines(e)["slot1@vm-1"].state == "Unclaimed"

    adapter(e, at(150)).drain("vm-1", reason)
    poll(e, at(700))  # every job ended at 620 and 200: the drain completed and resumed
    pslot = machines(e)["slot1@vm-1"]
    assert (pslot.state, pslot.retiring, pslot.drain_reason) == ("Unclaimed", False, None)
    with pytest.raises(MachineNotFound):
        adapter(e, at(710)).drain("vm-2", reason)


@pytest.mark.parametrize("multicore_first", [False, True], ids=["queue-order", "multicore-first"])
def test_freed_cores_go_to_the_multi_core_job_when_it_is_negotiated_first(store_engine, multicore_first):
    """Eight cores come free on a VM at once; an older 1-core job and a younger 8-core one wait. In queue
    order the 1-core job is matched first and the 8-core job no longer fits; with the README's schedd
    transform (a user's multi-core jobs negotiated before their 1-core ones) the 8-core job gets them."""
    e = store_engine
    group(e)
    with session_scope(e) as s:
        lock_pool(s, "simulated").multicore_first = multicore_first
    sim_instance(e, "vm-1", active_at=T0)
    submit_jobs(e, "atlas", 1, cores=8, ram_mb=8000, duration_s=600, now=T0)  # 1.0 holds the VM
    poll(e, at(30))
    submit_jobs(e, "atlas", 1, cores=1, ram_mb=1000, duration_s=600, now=at(100))  # 2.0, older
    submit_jobs(e, "atlas", 1, cores=8, ram_mb=8000, duration_s=600, now=at(200))  # 3.0
    poll(e, at(700))  # 1.0 ended at 620
    j = jobs(e)
    started = {k for k in ("2.0", "3.0") if j[k].status == 2}
    assert started == ({"3.0"} if multicore_first else {"2.0"})


def test_the_pool_act_drains_and_undrains_and_a_refused_drain_is_an_error_not_a_crash(store_engine):
    """The act step's side (``loop.pool.drain_vms``) on the simulated pool: a planned drain reaches the
    startd once (a repeat is not counted again), an undrain ends it, and a startd that refuses (the real
    adapter's DrainRefused: no retirement time) is reported in the errors while the others go on."""
    from include.condor.records import DrainRefused
    from include.loop.pool import PoolOutcome, drain_vms
    from include.store.models import Vm

    e = store_engine
    group(e)
    for name in ("vm-1", "vm-2"):
        sim_instance(e, name, active_at=T0)
    with session_scope(e) as s:
        s.add_all(Vm(vm_id=n, group_name="atlas", cloud_name="arbutus") for n in ("vm-1", "vm-2"))
    submit_jobs(e, "atlas", 2, cores=1, ram_mb=1000, duration_s=3600, now=T0)
    poll(e, at(30))
    pool, reason, ours = (
        adapter(e, at(40)),
        "cloudscheduler: room for 8-core jobs",
        "cloudscheduler: room for",
    )
    out = drain_vms(e, pool, {"vm-1": reason, "vm-2": reason}, [], ours, PoolOutcome("simulated"))
    assert (out.drained, out.errors) == (["vm-1", "vm-2"], [])
    out = drain_vms(e, pool, {"vm-1": reason}, ["vm-2"], ours, PoolOutcome("simulated"))
    assert (out.drained, out.undrained) == ([], ["vm-2"])  # vm-1 already drains: nothing sent

    class Refusing(type(pool)):
        def drain(self, machine, reason):
            raise DrainRefused("simulated", f"machine:{machine}", "no MAXJOBRETIREMENTTIME")

    refusing = Refusing(pool.spec, e, at(50))
    out = drain_vms(e, refusing, {"vm-2": reason}, ["vm-1"], ours, PoolOutcome("simulated"))
    assert out.undrained == ["vm-1"] and out.drained == []
    assert len(out.errors) == 1 and "drain vm-2" in out.errors[0] and "MAXJOBRETIREMENTTIME" in out.errors[0]
