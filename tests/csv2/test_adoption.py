"""The evening of the move: csv2 is stopped, its VMs still run on the clouds and their startds in the pool,
some busy with jobs, some idle, one still booting for a job that waits. After the import (whose settings
name csv2's host id, see test_import) our loop takes them over: counted as supply, so nothing is booted
twice; the idle ones retired through the pool and deleted; the busy ones left to finish their jobs.

The site is the fault tier's mixed one: the fake Nova (real openstacksdk calls over HTTP) as cloud ``os``,
moto's EC2 server (boto3) as ``aws``, and a simulated pool holding the csv2 VMs' startds as csv2's
template configures them (``cs_host_id``, ``group_name``, ``cloud_name``; no ``cs_vm_id``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from include.condor.classads import RUNNING
from include.condor.pools import pool_key
from include.simulated.negotiator import EXTERNAL
from include.status.tables import group_status
from include.status.vms import vm_rows
from include.store.db import session_scope
from include.store.models import BootRequest, Group, Setting, SimJob, SimStartd, Vm
from tests.faults.conftest import mixed  # noqa: F401 - the fixture

pytestmark = pytest.mark.edges

HOST = "169090600"  # csv2's host id (10.20.30.40)
OTHER_HOST = "3232235777"  # another csv2 instance sharing the project: its VMs are never ours


def _startd(pool: str, machine: str, cloud: str, cores: int, memory_mb: int, since, **attrs) -> SimStartd:
    return SimStartd(pool=pool, machine=machine, instance_id=EXTERNAL + machine, group_name="atlas", cloud_name=cloud,
                     attrs={"cs_host_id": HOST, "group_name": "atlas", "cloud_name": cloud, **attrs}, cores=cores,
                     memory_mb=memory_mb, disk_kb=40 * 1024 * 1024, registered_at=since, state_changed_at=since,
                     next_slot=1)  # fmt: skip


def _run_on(job: SimJob, startd: SimStartd, since) -> None:
    job.status, job.machine, job.slot_id = RUNNING, startd.machine, startd.next_slot
    job.started_at = job.entered_status_at = since
    startd.next_slot += 1
    startd.state_changed_at = since


@pytest.fixture
def csv2_leftovers(mixed):  # noqa: F811 - the fixture above
    """csv2's VMs on both clouds and their startds: busy, idle, booting; and others' VMs beside them."""
    w, nova, ec2 = mixed.world, mixed.nova, mixed.ec2
    nova.add_server(f"atlas--os--{HOST}--1001", flavor_id="2", status="ACTIVE")  # busy (c8.large)
    nova.add_server(f"atlas--os--{HOST}--1002", flavor_id="1", status="ACTIVE")  # idle (m1.small)
    nova.add_server(f"atlas--os--{HOST}--1003", flavor_id="2", status="ACTIVE")  # booting: no startd yet
    nova.add_server(f"atlas--os--{OTHER_HOST}--1004", flavor_id="1", status="ACTIVE")  # another csv2's
    nova.add_server(f"belle2--os--{HOST}--1005", flavor_id="1", status="ACTIVE")  # another group's
    ami = ec2.describe_images(Filters=[{"Name": "name", "Values": ["cvm"]}])["Images"][0]["ImageId"]

    def boot(itype: str, tag: str) -> dict:
        tags = [{"ResourceType": "instance", "Tags": [{"Key": "csv2", "Value": tag}]}]
        return ec2.run_instances(
            ImageId=ami, InstanceType=itype, MinCount=1, MaxCount=1, TagSpecifications=tags
        )["Instances"][0]

    busy_aws = boot("m5.2xlarge", f"atlas--aws--{HOST}")
    idle_aws = boot("t3.small", f"atlas--aws--{HOST}")
    boot("t3.small", f"atlas--aws--{OTHER_HOST}")

    def host(inst: dict) -> str:
        return "ip-" + inst["PrivateIpAddress"].replace(".", "-")

    long_ago = w.now - timedelta(hours=3)
    [running_os] = w.submit(1, cores=8, ram_mb=15000, duration_s=36000, owner="alice")
    [running_aws] = w.submit(1, cores=8, ram_mb=15000, duration_s=36000, owner="alice")
    w.submit(1, cores=8, ram_mb=15000, duration_s=3600, owner="alice")  # waits for the booting VM
    with session_scope(w.engine) as s:
        s.merge(Setting(key="csv2_host_ids", value=[HOST]))  # what the import writes
        g = s.get(Group, "atlas")
        pool = pool_key(g.pool_kind, g.collector)
        startds = {
            "busy_os": _startd(pool, f"atlas--os--{HOST}--1001.cloud.example.org", "os", 8, 16000, long_ago),
            "idle_os": _startd(pool, f"atlas--os--{HOST}--1002.cloud.example.org", "os", 1, 2000, long_ago),
            "busy_aws": _startd(pool, f"{host(busy_aws)}.ec2.internal", "aws", 8, 31000, long_ago),
            "idle_aws": _startd(pool, f"{host(idle_aws)}.ec2.internal", "aws", 2, 1900, long_ago),
        }
        s.add_all(startds.values())
        jobs = {j.cluster_id: j for j in s.scalars(select(SimJob).where(SimJob.pool == pool))}
        first, second = sorted(jobs)[:2]
        _run_on(jobs[first], startds["busy_os"], long_ago + timedelta(minutes=5))
        _run_on(jobs[second], startds["busy_aws"], long_ago + timedelta(minutes=5))
    return {
        "busy": {f"atlas--os--{HOST}--1001", host(busy_aws)},
        "idle": {f"atlas--os--{HOST}--1002", host(idle_aws)},
        "booting": f"atlas--os--{HOST}--1003",
        "running_jobs": {running_os, running_aws},
        "idle_instance": idle_aws["InstanceId"],
        "busy_instance": busy_aws["InstanceId"],
    }


def _vms(w) -> dict[str, Vm]:
    with session_scope(w.engine) as s:
        rows = s.scalars(select(Vm)).all()
        s.expunge_all()
        return {v.vm_id: v for v in rows}


def _boots(w) -> int:
    with session_scope(w.engine) as s:
        return s.scalar(select(func.count()).select_from(BootRequest))


def test_csv2_vms_are_adopted_counted_and_retired_by_our_rules(mixed, csv2_leftovers):  # noqa: F811
    w, left = mixed.world, csv2_leftovers
    w.now += timedelta(seconds=30)
    w.cycle()
    vms = _vms(w)
    adopted = {vm_id for vm_id, v in vms.items() if v.adopted_from == "csv2"}
    assert adopted == left["busy"] | left["idle"] | {left["booting"]}
    assert _boots(w) == 0 and mixed.nova.posts == {}  # the waiting job is covered by the booting VM
    assert {vm_id for vm_id, v in vms.items() if v.retire_requested_at} == left["idle"]
    assert all(vms[b].retire_requested_at is None for b in left["busy"])

    with session_scope(w.engine) as s:  # what the status page and the VM list show
        status = {c.name: c.adopted_vms for g in group_status(s, ["atlas"], w.now) for c in g.clouds}
        listed = {r.vm_id: r.adopted_from for r in vm_rows(s, ["atlas"], detail=True)}
    assert status == {"os": 3, "aws": 2, "sim": 0}
    assert {vm_id for vm_id, source in listed.items() if source == "csv2"} == adopted

    def idle_ones_deleted(_) -> bool:
        live = {i["InstanceId"] for i in mixed.aws_instances()}
        return f"atlas--os--{HOST}--1002" not in mixed.nova.names() and left["idle_instance"] not in live

    took = w.run_until(idle_ones_deleted, limit_s=900) - w.log[0]["at"]
    assert took <= timedelta(minutes=5)  # retire, the startd leaves, delete: a few cycles
    vms = _vms(w)
    assert _boots(w) == 0 and mixed.nova.posts == {}
    servers = set(mixed.nova.names())
    assert f"atlas--os--{HOST}--1002" not in servers  # the idle ones: retired, then deleted
    live_aws = {i["InstanceId"] for i in mixed.aws_instances()}
    assert left["idle_instance"] not in live_aws and left["busy_instance"] in live_aws
    # The busy ones run their jobs, untouched; the booting one is still waited for; others' VMs never ours.
    assert {f"atlas--os--{HOST}--1001", f"atlas--os--{HOST}--1003"} <= servers
    assert {f"atlas--os--{OTHER_HOST}--1004", f"belle2--os--{HOST}--1005"} <= servers
    assert len(live_aws) == 2  # the busy one and the other csv2's
    assert all(vms[i].delete_requested_at or vms[i].status == "gone" for i in left["idle"] if i in vms)
    # Our rules, on what we can see: idle for hours with no job since we know them.
    assert all(vms[i].retire_reason in ("keep_alive", "never_ran_job") for i in left["idle"] if i in vms)
    for vm_id in left["busy"]:
        assert vms[vm_id].retire_requested_at is None and vms[vm_id].kill_requested_at is None
    with session_scope(w.engine) as s:
        running = s.scalars(select(SimJob).where(SimJob.status == RUNNING)).all()
        assert {j.machine.split(".")[0] for j in running} == left["busy"]
