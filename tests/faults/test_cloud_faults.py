"""Faults table of the reliability spec, cloud rows: API errors, capacity and quota, credentials, and a
boot task killed after the cloud accepted. Each test injects the fault into a real protocol double and
asserts the outcome through the loop."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from include.loop import cycle
from include.store.db import session_scope
from include.store.models import Backoff, BootRequest, PollStatus, Vm
from tests.faults.conftest import alerts

pytestmark = pytest.mark.faults
JOB = {"cores": 1, "ram_mb": 900, "duration_s": 3600}


def vms_on(world, cloud: str) -> list[Vm]:
    with session_scope(world.engine) as s:
        return list(s.scalars(select(Vm).where(Vm.cloud_name == cloud, Vm.status != "gone")))


def poll_ok(world, cloud: str) -> bool:
    with session_scope(world.engine) as s:
        return s.get(PollStatus, f"cloud/atlas/{cloud}").ok


def test_500_timeouts_and_throttling_degrade_one_cloud_and_the_others_go_on(mixed):
    from tests.doubles.fake_openstack import Fault

    w = mixed.world
    mixed.nova.faults.append(Fault("GET", r"/servers/detail", 500, "nova is broken", times=10**6))
    mixed.proxy.fail("RunInstances", "RequestLimitExceeded", 503, times=2)  # throttled twice, then fine
    w.submit(2, target_alias="to-os", **JOB)
    w.submit(2, target_alias="to-aws", **JOB)
    w.submit(2, target_alias="to-sim", **JOB)
    w.run(90)
    assert not poll_ok(w, "os"), "the failing cloud is marked degraded (stale)"
    assert poll_ok(w, "aws") and poll_ok(w, "sim")
    assert vms_on(w, "os") == [], "a frozen cloud gets no boots"
    assert len(vms_on(w, "aws")) == 2 and len(mixed.aws_instances()) == 2, "throttling retried, no duplicate"
    assert vms_on(w, "sim"), "an 8-core simulated VM takes both 1-core jobs"
    with session_scope(w.engine) as s:
        assert "nova is broken" in s.get(PollStatus, "cloud/atlas/os").error


def test_a_hung_endpoint_times_out_and_does_not_hold_the_others(mixed, monkeypatch):
    from tests.doubles.fake_openstack import Fault

    # The per-request timeout from the connection (default 60 s), short here to keep the tier fast.
    monkeypatch.setenv(
        "AIRFLOW_CONN_CS_FAULT_OS",
        json.dumps(
            {
                "conn_type": "generic",
                "login": "u",
                "password": "pw",
                "extra": {"project_name": "htc", "timeout": 5},
            }
        ),
    )
    w = mixed.world
    w.run(30)  # first polls: every cloud known and fresh
    mixed.nova.faults.append(Fault("POST", r"/servers$", 0, times=10**6, delay_s=120))
    w.submit(1, target_alias="to-os", **JOB)
    w.submit(1, target_alias="to-sim", **JOB)
    w.now += timedelta(seconds=15)
    record = w.cycle()
    outcome = {a["cloud"]: a for a in record["acts"] if "cloud" in a}
    assert outcome["sim"]["created"], "the simulated cloud booted in the same cycle"
    assert outcome["os"]["errors"] or outcome["os"]["failed"], "the hung create ended as an error, not a hang"


def test_a_poll_that_hangs_is_given_up_at_the_deadline_and_the_batch_writes_the_others(mixed):
    """Beyond 8 clouds, one cs_poll_clouds task polls several clouds in threads: a hung one must not
    hold back the others' snapshots nor run into the task's own timeout (which would lose them all)."""
    import time

    from tests.doubles.fake_openstack import Fault

    w = mixed.world
    w.run(30)  # every cloud known and fresh
    mixed.nova.faults.append(Fault("GET", r"/servers/detail", 0, times=10**6, delay_s=40))
    w.now += timedelta(seconds=60)
    began = time.monotonic()
    with pytest.raises(cycle.CloudPollsFailed, match=r"atlas/os: poll did not finish within 15 s") as raised:
        cycle.poll_batch(cycle.clouds_to_poll(), deadline_s=15, now=w.now)  # moto's poll: ~5 s
    assert time.monotonic() - began < 25, "given up at the deadline, not at the hang's end"
    assert "aws" not in str(raised.value) and "sim" not in str(raised.value)
    with session_scope(w.engine) as s:
        status = {c: s.get(PollStatus, f"cloud/atlas/{c}") for c in ("os", "aws", "sim")}
        assert status["aws"].ok and status["sim"].ok
        assert status["aws"].last_success.replace(tzinfo=None) == w.now.replace(tzinfo=None)
        assert not status["os"].ok and "did not finish" in status["os"].error
    mixed.nova.faults.clear()


def test_capacity_errors_back_off_growing_then_stop_and_alert_and_demand_moves(mixed, tmp_path):
    w = mixed.world
    with session_scope(w.engine) as s:
        s.execute(Backoff.__table__.delete())
    mixed.proxy.fail("RunInstances", "InsufficientInstanceCapacity", 500, times=10**6)
    # EC2 capacity is per instance type: the job names its type, so the back-off of that type is seen
    # (without it the planner moves on to the next fitting type, as it should).
    w.submit(1, target_alias="to-aws", attrs={"VMInstanceType": "aws:t3.micro"}, **JOB)
    w.run(900)
    with session_scope(w.engine) as s:
        rows = s.scalars(select(Backoff).where(Backoff.cloud_name == "aws", Backoff.flavor != "")).all()
        attempts = s.scalars(select(BootRequest).where(BootRequest.cloud_name == "aws")).all()
    [row] = rows
    assert row.disabled and row.failures == 3
    assert len(attempts) == 3, "60 s, 120 s, then disabled: no retry storm"
    assert mixed.aws_instances() == []
    assert any(a["key"].startswith("boot_disabled:atlas/aws/") for a in alerts(tmp_path))
    w.submit(1, **JOB)  # no alias: the same demand shape goes to another cloud
    w.run(60)
    assert vms_on(w, "sim") or vms_on(w, "os")


def test_nova_quota_refusal_backs_the_flavour_and_the_cloud_off(mixed):
    """The polled limits said there was room, but Nova refuses the create (another tenant of the
    project took it meanwhile): a 403 "Quota exceeded" is a QuotaError, an outcome, not a crash."""
    from tests.doubles.fake_openstack import Fault

    w = mixed.world
    mixed.nova.faults.append(
        Fault(
            "POST",
            r"/servers$",
            403,
            "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances",
            times=10**6,
            wrapper="forbidden",
        )
    )
    w.submit(1, target_alias="to-os", **JOB)
    w.run(60)  # an attempt at 30 s; at 60 s the 60 s back-off still holds
    with session_scope(w.engine) as s:
        rows = {b.flavor: b for b in s.scalars(select(Backoff).where(Backoff.cloud_name == "os"))}
        requests = s.scalars(select(BootRequest).where(BootRequest.cloud_name == "os")).all()
    assert set(rows) == {"m1.small", ""}, "the flavour, and the whole project (quotas are per project)"
    assert all(r.failures == 1 and "QuotaError" in r.last_error for r in rows.values())
    assert len(requests) == 1 and requests[0].state == "failed", "backed off: not asked again at once"
    assert mixed.nova_servers() == []


def test_rejected_credentials_name_the_cloud_keep_the_secret_and_do_not_storm(mixed, monkeypatch):
    import json

    w = mixed.world
    monkeypatch.setenv(
        "AIRFLOW_CONN_CS_FAULT_OS",
        json.dumps(
            {
                "conn_type": "generic",
                "login": "u",
                "password": "wrong-s3cret",
                "extra": {"project_name": "htc"},
            }
        ),
    )
    w.submit(1, target_alias="to-os", **JOB)
    w.run(600)
    with session_scope(w.engine) as s:
        status = s.get(PollStatus, "cloud/atlas/os")
    assert not status.ok and "os" in status.error and "wrong-s3cret" not in status.error
    auths = sum(
        n for key, n in mixed.nova.requests.items() if key.startswith("POST /identity/v3/auth/tokens")
    )
    polls = 600 // 60
    assert auths <= polls + 1, (
        f"{auths} authentication attempts for {polls} polls: a rejected credential is retried"
    )
    assert mixed.nova_servers() == []


def test_an_expired_token_is_renewed_mid_run(mixed):
    w = mixed.world
    w.submit(1, target_alias="to-os", **JOB)
    w.run(60)
    mixed.nova.expire_tokens()
    w.submit(1, target_alias="to-os", **JOB)
    w.run(60)
    assert len(mixed.nova_servers()) == 2 and poll_ok(w, "os")


@pytest.mark.parametrize("cloud", ["os", "aws"])
def test_boot_task_killed_after_the_cloud_accepted_gives_one_vm(mixed, cloud):
    from include.loop.act import build_spec

    w = mixed.world
    w.run(30)
    w.submit(2, target_alias=f"to-{cloud}", **JOB)
    w.now += timedelta(seconds=15)
    cycle.poll_pools(w.now)
    planned = cycle.plan_cycle(now=w.now)
    [work] = [x for x in cycle.work_items(planned) if x.get("cloud") == cloud]
    adapter, _ = cycle.cloud_adapter("atlas", cloud, w.engine, w.now)
    with session_scope(w.engine) as s:
        request = s.scalars(select(BootRequest).where(BootRequest.cloud_name == cloud)).one()
        made = adapter.create_vms(
            build_spec(s, request, cycle.settings_now()), request.count
        )  # then "killed"
    assert all(r.ok for r in made)
    outcome = cycle.act_on(work, w.now)  # Airflow's retry of the task
    cycle.release_run(planned["lease"])
    assert sorted(outcome["existed"]) == sorted(r.vm_id for r in made)
    w.run(120)
    live = mixed.nova_servers() if cloud == "os" else [i["InstanceId"] for i in mixed.aws_instances()]
    assert len(live) == 2
    assert {v.cloud_vm_id for v in vms_on(w, cloud)} == {r.cloud_vm_id for r in made}


@pytest.mark.parametrize("cloud", ["os", "aws"])
def test_a_create_whose_reply_was_lost_gives_one_vm(mixed, cloud):
    """The cloud accepted the create and made the VM; the answer never came back (a network cut). The
    adapter must not launch a second VM: EC2 retries after looking for it by its tag; Nova's create is
    not retried, the next poll finds the VM by its name."""
    from tests.doubles.fake_openstack import LOSE_REPLY, Fault

    w = mixed.world
    if cloud == "os":
        mixed.nova.faults.append(Fault("POST", r"/servers$", LOSE_REPLY))
    else:
        mixed.proxy.lose_reply("RunInstances")
    w.submit(1, target_alias=f"to-{cloud}", **JOB)
    w.run(300)
    live = mixed.nova_servers() if cloud == "os" else [i["InstanceId"] for i in mixed.aws_instances()]
    assert len(live) == 1
    [vm] = vms_on(w, cloud)
    assert vm.cloud_vm_id in (live if cloud == "aws" else {s["id"] for s in mixed.nova.servers.values()})
    if cloud == "os":
        assert mixed.nova.posts and sum(mixed.nova.posts.values()) == 1  # one POST, the lost one
    else:
        assert mixed.proxy.seen.count("RunInstances") == 1  # found by its tag: not sent again


def test_demand_a_cloud_cannot_take_moves_to_the_next_in_priority(mixed):
    """The best cloud (EC2, priority 0) is out of capacity for good; the job's alias allows a worse one
    (Nova, priority 5): after the back-offs the same job is booted there, once."""
    from include.store.models import AliasCloud, Cloud

    w = mixed.world
    with session_scope(w.engine) as s:
        s.execute(Backoff.__table__.delete())
        s.get(Cloud, ("atlas", "aws")).priority = 0
        s.get(Cloud, ("atlas", "os")).priority = 5
        s.add_all(
            [AliasCloud(group_name="atlas", alias="ec2-then-nova", cloud_name=c) for c in ("aws", "os")]
        )
    mixed.proxy.fail("RunInstances", "InsufficientInstanceCapacity", 500, times=10**6)
    w.submit(1, target_alias="ec2-then-nova", **JOB)
    w.run_until(lambda _: len(mixed.nova_servers()) == 1, limit_s=1800)
    w.run(120)
    assert len(mixed.nova_servers()) == 1 and mixed.aws_instances() == []
    with session_scope(w.engine) as s:
        tried = s.scalars(select(BootRequest).where(BootRequest.cloud_name == "aws")).all()
    assert tried, "the better cloud was tried first"
