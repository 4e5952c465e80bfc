"""The cloud poller writes a safe snapshot: adoption, gone after two cycles, stale on failure, foreign
usage, and never touches the control loop's bookkeeping. On SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from include.loop.cloud_poll import poll_cloud
from include.providers.base import (
    CloudVm,
    Flavor,
    Image,
    Keypair,
    Limits,
    Network,
    SecurityGroup,
    TransientError,
    VmStatus,
)
from include.store.models import (
    CloudFlavor,
    CloudImage,
    CloudLimits,
    CloudNetwork,
    CloudSecurityGroup,
    PollStatus,
    Setting,
    Vm,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def ours(vm_id: str, status=VmStatus.ACTIVE, group="g1", cloud="c1", deployment="cs", **kw) -> CloudVm:
    tags = {
        "cs_vm_id": vm_id,
        "cs_group": group,
        "cs_cloud": cloud,
        "cs_deployment": deployment,
        "cs_request": vm_id.rsplit("-", 1)[0],
    }
    return CloudVm(
        cloud_vm_id=f"id-{vm_id}",
        name=vm_id,
        status=status,
        cloud_status=str(status).upper(),
        flavor="m1",
        cores=2,
        ram_mb=4096,
        tags=tags,
        created_at=NOW - timedelta(hours=1),
        **kw,
    )


def foreign(name: str, cores=4, status=VmStatus.ACTIVE) -> CloudVm:
    return CloudVm(
        cloud_vm_id=f"id-{name}", name=name, status=status, cloud_status="ACTIVE", cores=cores, ram_mb=1000
    )


@dataclass
class StubCloud:
    name: str = "c1"
    vms: list = field(default_factory=list)
    fail: Exception | None = None

    def list_vms(self):
        if self.fail:
            raise self.fail
        return list(self.vms)

    def flavors(self):
        return [Flavor("m1", "f1", 2, 4096), Flavor("m1", "f1", 2, 4096)]  # a duplicate name, as clouds do

    def images(self, also=()):
        return [Image("img-1", "cernvm4"), Image("img-2", "other")]

    def keypairs(self):
        return [Keypair("k1", "aa")]

    def networks(self):
        return [Network("n1", "private")]

    def security_groups(self):
        return [SecurityGroup("sg1", "default")]

    def limits(self):
        return Limits(cores_max=100, cores_used=14, instances_max=10, instances_used=4)


def vm_rows(session) -> dict[str, Vm]:
    session.expire_all()
    return {v.vm_id: v for v in session.scalars(select(Vm))}


def test_snapshot_adopts_our_vms_and_counts_foreign_usage(session):
    cloud = StubCloud(
        vms=[
            ours("r1-1"),
            ours("r1-2", VmStatus.BUILDING),
            foreign("outsider"),
            ours("x-1", deployment="other"),
            ours("y-1", group="g2"),
            foreign("dead", status=VmStatus.GONE),
        ]
    )
    result = poll_cloud(session, "g1", "c1", cloud, NOW)
    session.commit()
    assert result.ok and result.adopted == 2 and result.foreign == 3
    rows = vm_rows(session)
    assert set(rows) == {"r1-1", "r1-2"}
    assert (
        rows["r1-1"].status == "active"
        and rows["r1-1"].request_id == "r1"
        and rows["r1-1"].cloud_vm_id == "id-r1-1"
    )
    assert rows["r1-2"].status == "building" and rows["r1-2"].last_seen_at == NOW
    limits = session.get(CloudLimits, ("g1", "c1"))
    assert (limits.foreign_vms, limits.foreign_cores, limits.foreign_ram_mb) == (
        3,
        4 + 2 + 2,
        1000 + 4096 * 2,
    )
    assert (limits.cores_max, limits.cores_used, limits.instances_max) == (100, 14, 10)
    assert session.scalars(select(CloudFlavor.name)).all() == ["m1"]
    assert len(session.scalars(select(CloudImage)).all()) == 2
    assert session.scalars(select(CloudNetwork.name)).all() == ["private"]
    assert session.scalars(select(CloudSecurityGroup.name)).all() == ["default"]
    status = session.get(PollStatus, "cloud/g1/c1")
    assert status.ok and status.kind == "cloud" and status.last_success == NOW


def test_unlisted_vm_becomes_gone_unless_young_and_bookkeeping_is_kept(session):
    session.add_all(
        [
            Vm(
                vm_id="old-1",
                group_name="g1",
                cloud_name="c1",
                status="active",
                requested_at=NOW - timedelta(minutes=10),
                retire_requested_at=NOW - timedelta(minutes=1),
                retire_count=2,
                manual=True,
            ),
            Vm(
                vm_id="new-1",
                group_name="g1",
                cloud_name="c1",
                status="requested",
                requested_at=NOW - timedelta(seconds=90),
            ),
            Vm(
                vm_id="other-1",
                group_name="g1",
                cloud_name="c2",
                status="active",
                requested_at=NOW - timedelta(hours=1),
            ),
        ]
    )
    session.commit()
    result = poll_cloud(session, "g1", "c1", StubCloud(), NOW)
    session.commit()
    rows = vm_rows(session)
    assert result.gone == 1
    assert rows["old-1"].status == "gone" and rows["old-1"].status_changed_at == NOW
    assert (
        rows["old-1"].retire_count == 2
        and rows["old-1"].manual
        and rows["old-1"].retire_requested_at is not None
    )
    assert rows["new-1"].status == "requested"  # younger than two cycles (2 x 60 s)
    assert rows["other-1"].status == "active"  # another cloud's row


def test_status_change_updates_row_and_timestamp(session):
    cloud = StubCloud(vms=[ours("r1-1", VmStatus.BUILDING)])
    poll_cloud(session, "g1", "c1", cloud, NOW)
    session.get(Vm, "r1-1").kill_requested_at = NOW  # the control loop's column
    session.commit()
    cloud.vms = [ours("r1-1", VmStatus.ERROR, error="No valid host was found.")]
    later = NOW + timedelta(seconds=60)
    poll_cloud(session, "g1", "c1", cloud, later)
    session.commit()
    row = vm_rows(session)["r1-1"]
    assert (row.status, row.cloud_status, row.error) == ("error", "ERROR", "No valid host was found.")
    assert row.status_changed_at == later and row.last_seen_at == later and row.kill_requested_at == NOW
    poll_cloud(session, "g1", "c1", cloud, later + timedelta(seconds=60))
    session.commit()
    row = vm_rows(session)["r1-1"]
    assert row.status_changed_at == later and row.last_seen_at == later, "unchanged: no rewrite a minute on"
    poll_cloud(session, "g1", "c1", cloud, later + timedelta(minutes=10))
    session.commit()
    row = vm_rows(session)["r1-1"]
    assert row.status_changed_at == later and row.last_seen_at == later + timedelta(minutes=10)


def test_a_poll_of_unchanged_vms_rewrites_no_row(store_engine):
    """At 10,000 VMs a cloud, rewriting every listed row on every poll made 10,000 dead row versions a
    minute (P10); an unchanged VM is written again only when its last_seen_at is 10 minutes old."""
    cloud = StubCloud(vms=[ours(f"r1-{i}") for i in range(50)])
    poll_cloud(store_engine, "g1", "c1", cloud, NOW)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE VMS"):
            statements.append(statement)

    event.listen(store_engine, "before_cursor_execute", count)
    try:
        poll_cloud(store_engine, "g1", "c1", cloud, NOW + timedelta(seconds=60))
        assert statements == []
        poll_cloud(store_engine, "g1", "c1", cloud, NOW + timedelta(minutes=11))
        assert len(statements) == 1, "one statement for the 50 rows"
    finally:
        event.remove(store_engine, "before_cursor_execute", count)


@pytest.mark.faults
def test_failed_poll_keeps_rows_and_marks_the_source_stale(session):
    cloud = StubCloud(vms=[ours("r1-1")])
    poll_cloud(session, "g1", "c1", cloud, NOW)
    session.commit()
    cloud.fail = TransientError("c1", "cannot reach the cloud: ConnectFailure")
    for i in (1, 2):
        result = poll_cloud(session, "g1", "c1", cloud, NOW + timedelta(minutes=10 * i))
        session.commit()
        assert not result.ok and "cloud c1" in result.error
    rows = vm_rows(session)
    assert rows["r1-1"].status == "active"
    status = session.get(PollStatus, "cloud/g1/c1")
    assert not status.ok and status.consecutive_failures == 2 and status.last_success == NOW
    assert session.get(CloudLimits, ("g1", "c1")).polled_at == NOW


@pytest.mark.faults
def test_one_cloud_failing_does_not_touch_another(session):
    poll_cloud(session, "g1", "c2", StubCloud(name="c2", vms=[ours("z-1", cloud="c2")]), NOW)
    poll_cloud(session, "g1", "c1", StubCloud(fail=RuntimeError("boom")), NOW)
    session.commit()
    assert session.get(PollStatus, "cloud/g1/c2").ok and not session.get(PollStatus, "cloud/g1/c1").ok
    assert vm_rows(session)["z-1"].status == "active"


def test_deployment_id_setting_decides_what_is_ours(session):
    session.add(Setting(key="deployment_id", value="prod"))
    session.commit()
    poll_cloud(session, "g1", "c1", StubCloud(vms=[ours("a-1", deployment="prod"), ours("b-1")]), NOW)
    session.commit()
    assert set(vm_rows(session)) == {"a-1"}


def test_images_we_placed_stay_marked(session):
    session.add(
        CloudImage(group_name="g1", cloud_name="c1", image_id="img-1", name="cernvm4", placed_by_us=True)
    )
    session.commit()
    poll_cloud(session, "g1", "c1", StubCloud(), NOW)
    session.commit()
    placed = dict(session.execute(select(CloudImage.image_id, CloudImage.placed_by_us)).all())
    assert placed == {"img-1": True, "img-2": False}


def test_poll_against_the_fake_openstack_end_to_end(store_engine, fake_openstack):
    from include.providers.openstack import OpenStackCloud
    from include.providers.openstack_http import OpenStackCredentials
    from include.store.db import session_scope

    fake_openstack.seed(
        30,
        "r7",
        metadata=lambda n: {"cs_vm_id": n, "cs_group": "g1", "cs_cloud": "c1", "cs_deployment": "cs"},
    )
    fake_openstack.seed(5, "alien", flavor_id="2")
    adapter = OpenStackCloud("c1", OpenStackCredentials(fake_openstack.auth_url, "htc", "u", "pw"))
    result = poll_cloud(store_engine, "g1", "c1", adapter, NOW)
    assert result.ok and result.adopted == 30 and result.foreign == 5
    with session_scope(store_engine) as s:
        assert s.get(CloudLimits, ("g1", "c1")).foreign_cores == 40
        assert len(s.scalars(select(Vm)).all()) == 30
    assert not [k for k in fake_openstack.requests if "/servers/{id}" in k]  # no per-server calls


def test_intent_create_poll_cycle_on_the_simulated_cloud(store_engine):
    """The control loop's order: intent rows first, then create, then the poller confirms them."""
    from include.providers.base import VmSpec
    from include.simulated.cloud import SimulatedCloud
    from include.store.db import session_scope

    clock = {"now": NOW}
    sim = SimulatedCloud(
        "c1",
        "g1",
        store_engine,
        {"boot_delay_s": 60, "flavors": [{"name": "m1", "cores": 2, "ram_mb": 4000}]},
        clock=lambda: clock["now"],
    )
    spec = VmSpec(group="g1", cloud="c1", request_id="r9", flavor="m1", image="img")
    with session_scope(store_engine) as s:
        s.add_all(
            [
                Vm(vm_id=v, group_name="g1", cloud_name="c1", request_id="r9", requested_at=NOW)
                for v in spec.vm_ids(2)
            ]
        )
    results = sim.create_vms(spec, 2)
    assert poll_cloud(store_engine, "g1", "c1", sim, NOW + timedelta(seconds=5)).ok
    with session_scope(store_engine) as s:
        rows = {v.vm_id: v for v in s.scalars(select(Vm))}
        assert {v.status for v in rows.values()} == {"building"}
        assert {v.cloud_vm_id for v in rows.values()} == {r.cloud_vm_id for r in results}
    clock["now"] = NOW + timedelta(seconds=61)
    assert poll_cloud(store_engine, "g1", "c1", sim, clock["now"]).ok
    with session_scope(store_engine) as s:
        assert set(s.scalars(select(Vm.status))) == {"active"}
        assert s.get(CloudLimits, ("g1", "c1")).cores_used == 4
