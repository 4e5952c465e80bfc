"""Faults table of the reliability spec, pool and loop rows: an unreachable pool, a database or worker
restart mid-cycle, lost state, VMs that never register or whose startd dies, lost retires, and two
scheduling runs at once."""

from __future__ import annotations

import json
import socket
import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text

from include.loop import cycle
from include.store.db import get_engine, session_scope
from include.store.models import Backoff, Cloud, Group, SimInstance, SimStartd, Vm
from tests.conftest import create_pg_database, drop_pg_database
from tests.faults.conftest import alerts
from tests.loop.world import World, site

pytestmark = pytest.mark.faults


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def live_vms(world) -> list[Vm]:
    with session_scope(world.engine) as s:
        return list(s.scalars(select(Vm).where(Vm.status != "gone").order_by(Vm.vm_id)))


def test_unreachable_collector_and_schedds_freeze_the_group(mixed):
    """A real htcondor2 pool at a closed port: that part of the snapshot is stale, and nothing is booted,
    retired or deleted because of the missing data (VMs that never registered are kept, not deleted)."""
    w = mixed.world
    w.submit(2, target_alias="to-os", cores=1, ram_mb=900, duration_s=3600)
    w.run(60)
    assert len(mixed.nova_servers()) == 2
    with session_scope(w.engine) as s:  # the group's pool becomes a real one nobody answers at
        g = s.get(Group, "atlas")
        g.pool_kind, g.collector = "htcondor", f"127.0.0.1:{closed_port()}"
        s.add(Backoff(group_name="atlas", cloud_name="x", flavor=""))  # noise that must not matter
        s.execute(delete(Backoff))
    for _ in range(8):
        w.now += timedelta(hours=1)  # far past every registration and keep-alive timeout
        record = w.cycle()
        summary = record["plan"]["summary"]
        assert summary["vms_booted"] == 0 and summary["retires"] == {} and summary["deletes"] == {}
    assert "pool_stale" in summary["skips"]
    assert len(mixed.nova_servers()) == 2 and len(live_vms(w)) >= 2


@pytest.fixture
def pg_world(tmp_path, monkeypatch):
    url = create_pg_database("cs_fault")
    monkeypatch.setenv("CLOUDSCHEDULER_DB_URL", url)
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    get_engine.cache_clear()
    yield World.create(url)
    get_engine(url).dispose()
    get_engine.cache_clear()
    drop_pg_database(url)


@pytest.mark.postgres
def test_database_connections_dropped_mid_cycle_then_the_next_cycle_reconciles(pg_world):
    w = pg_world
    w.submit(4)
    w.now += timedelta(seconds=30)
    cycle.poll_pools(w.now)
    for c in cycle.clouds_to_poll():
        cycle.poll_cloud(c["group"], c["cloud"], w.now)
    planned = cycle.plan_cycle(now=w.now)  # intents recorded ...
    name = w.url.rsplit("/", 1)[-1]
    with get_engine(
        w.url.rsplit("/", 1)[0] + "/postgres"
    ).connect() as admin:  # ... then the server "restarts"
        admin.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
        )
        admin.commit()
    for work in cycle.work_items(planned):
        cycle.act_on(work, w.now)  # pool_pre_ping reconnects
    cycle.release_run(planned["lease"])
    w.run(300)
    with session_scope(w.engine) as s:
        instances = s.scalars(select(SimInstance).where(SimInstance.status != "deleted")).all()
    assert len(instances) == 4 and len({i.name for i in instances}) == 4
    assert {v.vm_id for v in live_vms(w)} == {i.name for i in instances}


def test_lost_state_is_rebuilt_by_adoption_no_vm_is_forgotten(mixed):
    """The state database is restored from a backup taken before the VMs were booted: every VM that
    carries our tags is adopted by the next cloud poll and managed again (retired when idle)."""
    from include.store.models import PollStatus, Setting

    w = mixed.world
    with session_scope(w.engine) as s:
        s.add(Setting(key="vm_come_alive", value=900))
        # An adopted VM's history is lost: an idle one is retired by the never-ran-a-job rule.
        s.add(Setting(key="vm_job_alive", value=600))
    backup_at = w.now
    w.submit(1, target_alias="to-os", cores=1, ram_mb=900, duration_s=60)
    w.submit(1, target_alias="to-aws", cores=1, ram_mb=900, duration_s=60)
    w.submit(1, target_alias="to-sim", cores=1, ram_mb=900, duration_s=600)  # runs past the backup
    w.run(300)
    before = {v.vm_id for v in live_vms(w)}
    assert len(before) == 3
    with session_scope(w.engine) as s:  # what the backup holds: no VM rows, polls as of the backup
        s.execute(delete(Vm))
        s.execute(PollStatus.__table__.update().values(last_success=backup_at))
    w.run(60)
    assert {v.vm_id for v in live_vms(w)} == before, "every tagged VM adopted, none booted twice"
    w.run(900 + 120)  # adopted VMs are managed again: each is deleted or retired by the usual rules
    names = set(mixed.nova_servers()) | {
        t["Value"] for i in mixed.aws_instances() for t in i.get("Tags", []) if t["Key"] == "cs_vm_id"
    }
    assert not names & before, "the adopted VMs that never registered were deleted after vm_come_alive"
    with session_scope(w.engine) as s:
        sim = s.scalars(select(SimInstance).where(SimInstance.name.in_(before))).one()
    assert sim.status == "deleted", "the adopted simulated VM ran its job, was retired and deleted"


def test_a_startd_that_dies_gets_its_vm_deleted_and_counted(world, tmp_path):
    world.submit(1, duration_s=36000)
    world.run_until(lambda w: w.counts()["jobs"].get(2) == 1, limit_s=300)
    [vm] = live_vms(world)
    with session_scope(world.engine) as s:  # the startd crashes and never comes back
        s.execute(delete(SimStartd).where(SimStartd.machine == vm.vm_id))
        s.execute(
            SimInstance.__table__.update().where(SimInstance.name == vm.vm_id).values(never_register=True)
        )
    world.run(3 * 3600)
    with session_scope(world.engine) as s:
        inst = s.scalars(select(SimInstance).where(SimInstance.name == vm.vm_id)).one()
        failures = s.get(Backoff, ("atlas", "east", "c8"))
    assert inst.status == "deleted"
    assert failures is not None and failures.last_error and "startd_left" in failures.last_error


def test_lost_retires_are_resent_then_the_vm_is_deleted_when_idle(state_url, tmp_path, monkeypatch):
    from include.simulated.pool import SimulatedPool

    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    doc = site()
    doc["settings"].update(retire_interval=60, retire_max_sends=3)
    world = World.create(state_url, doc)
    sent = []
    monkeypatch.setattr(SimulatedPool, "retire", lambda self, machine, how=None: sent.append(machine))  # lost
    world.submit(1, duration_s=60)
    world.run_until(lambda w: bool(sent), limit_s=900)
    [vm] = live_vms(world)
    world.run(300)
    assert sent.count(vm.vm_id) == 3, "re-sent every retire_interval, at most retire_max_sends times"
    world.run(300)
    with session_scope(world.engine) as s:
        inst = s.scalars(select(SimInstance).where(SimInstance.name == vm.vm_id)).one()
    assert inst.status == "deleted", "nothing ran on it: deleted after the last unanswered retire"
    assert any(a["key"] == f"unanswered:{vm.vm_id}" for a in alerts(tmp_path))


def test_two_scheduling_runs_at_once_plan_each_group_once(world):
    world.submit(6)
    world.now += timedelta(seconds=30)
    cycle.poll_pools(world.now)
    for c in cycle.clouds_to_poll():
        cycle.poll_cloud(c["group"], c["cloud"], world.now)
    results, barrier = [], threading.Barrier(2)

    def run(holder):
        barrier.wait()
        results.append(cycle.plan_cycle(now=world.now, holder=holder))

    threads = [threading.Thread(target=run, args=(h,)) for h in ("run-a", "run-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    planned = sorted(r["groups"] for r in results)
    assert planned in ([[], ["atlas"]], [["atlas"], ["atlas"]])
    booted = sum(r["summary"]["vms_booted"] for r in results)
    assert len(live_vms(world)) == booted == 6, "one plan's worth of VMs, never two"
    with session_scope(world.engine) as s:
        assert s.get(Cloud, ("atlas", "east")) is not None
    json.dumps(results, default=str)


@pytest.fixture(scope="module")
def private_pg():
    """One server of our own for the crash tests (they kill it; the shared one stays up)."""
    import shutil
    import tempfile
    from pathlib import Path

    from tests.faults.private_pg import PrivatePostgres

    base = Path(tempfile.mkdtemp(prefix="cs-private-pg-"))  # under /tmp: the postgres user can reach it
    base.chmod(0o755)
    pg = PrivatePostgres(base / "cluster")
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def crashable(private_pg, tmp_path, monkeypatch, moto_ec2):
    import uuid

    from tests.faults.conftest import mixed_site

    url = private_pg.create_database(f"cs_crash_{uuid.uuid4().hex[:8]}")
    with mixed_site(url, tmp_path, monkeypatch, moto_ec2) as site:
        yield site, private_pg


def _one_server_per_vm(mixed) -> None:
    names = mixed.nova_servers()
    assert len(names) == len(set(names)), f"a VM booted twice: {sorted(names)}"
    live = {v.vm_id: v for v in live_vms(mixed.world) if v.cloud_name == "os"}
    assert set(live) == set(names), "every server the cloud holds has its row, and every row its server"


@pytest.mark.postgres
def test_the_database_server_killed_in_the_plan_transaction_loses_nothing_and_boots_nothing_twice(
    crashable, monkeypatch
):
    """SIGKILL to PostgreSQL while the plan's intents are written but not committed: the run fails, the
    server restarts (crash recovery), later runs plan again and boot each VM once."""
    from include.loop import planning
    from include.loop.record import record_plan

    mixed, pg = crashable
    w = mixed.world
    w.submit(3, target_alias="to-os", cores=1, ram_mb=900, duration_s=3600)
    killed = []

    def record_then_crash(session, *args, **kw):
        run_id = record_plan(session, *args, **kw)
        session.flush()  # the intents are in the server, inside the open transaction
        killed.append(pg.crash())
        return run_id

    monkeypatch.setattr(planning, "record_plan", record_then_crash)
    w.now += timedelta(seconds=30)
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a dead server
        w.cycle()
    assert killed and killed[0] >= 2  # the postmaster and at least our backend
    monkeypatch.setattr(planning, "record_plan", record_plan)
    pg.start()
    get_engine(w.url).dispose()  # the pool's connections died with the server
    assert mixed.nova_servers() == []  # nothing was acted on: the intents never committed
    w.run(420)  # past the lease the dead run held
    assert len(mixed.nova_servers()) == 3
    _one_server_per_vm(mixed)


@pytest.mark.postgres
def test_the_database_server_killed_during_the_act_loses_no_vm_and_the_retry_boots_none_twice(
    crashable, monkeypatch
):
    """SIGKILL to PostgreSQL after the cloud accepted the first of three creates, before the act wrote
    what came back: the act task fails; the server restarts; Airflow's retry of the task finds what
    exists and makes only what is missing."""
    mixed, pg = crashable
    w = mixed.world
    w.submit(3, target_alias="to-os", cores=1, ram_mb=900, duration_s=3600)
    w.now += timedelta(seconds=30)
    cycle.poll_pools(w.now)
    for c in cycle.clouds_to_poll():
        cycle.poll_cloud(c["group"], c["cloud"], w.now)
    planned = cycle.plan_cycle(now=w.now)
    [work] = [x for x in cycle.work_items(planned) if x.get("cloud") == "os"]
    create = mixed.nova.create

    def create_then_crash(body):
        out = create(body)
        if not getattr(create_then_crash, "done", False):
            create_then_crash.done = True
            pg.crash()
        return out

    mixed.nova.create = create_then_crash
    with pytest.raises(Exception):  # noqa: B017 - the act's next write meets a dead server
        cycle.act_on(work, w.now)
    mixed.nova.create = create
    made_before_retry = set(mixed.nova_servers())
    assert 1 <= len(made_before_retry) <= 3
    pg.start()
    get_engine(w.url).dispose()
    outcome = cycle.act_on(work, w.now)  # Airflow's retry of the task
    cycle.release_run(planned["lease"])
    assert set(outcome["existed"]) >= made_before_retry
    w.run(300)
    assert len(mixed.nova_servers()) == 3
    _one_server_per_vm(mixed)
