"""The cloud contract: every adapter (simulated, OpenStack on the fake and on real Keystone/Glance, EC2 on
moto over HTTP) must pass the same tests."""

from __future__ import annotations

import pytest

from include.providers.base import (
    AuthError,
    CapacityError,
    CloudAdapter,
    ErrorKind,
    QuotaError,
    VmStatus,
    classify_fault,
)


def test_adapter_implements_the_protocol(harness):
    assert isinstance(harness.adapter, CloudAdapter)


def test_create_list_delete(harness):
    spec = harness.spec()
    results = harness.adapter.create_vms(spec, 3)
    assert [r.vm_id for r in results] == spec.vm_ids(3)
    assert all(r.ok and not r.existed for r in results)
    assert len({r.cloud_vm_id for r in results}) == 3

    listed = {v.vm_id: v for v in harness.adapter.list_vms() if v.vm_id}
    for r in results:
        vm = listed[r.vm_id]
        assert vm.cloud_vm_id == r.cloud_vm_id and vm.name == r.vm_id
        assert vm.status in (VmStatus.BUILDING, VmStatus.ACTIVE)
        assert vm.tags["cs_request"] == spec.request_id and vm.tags["cs_group"] == "g1"
        assert vm.flavor == harness.flavor and vm.cores >= 1 and vm.ram_mb > 0

    harness.adapter.delete_vm(results[0].vm_id, results[0].cloud_vm_id)
    harness.adapter.delete_vm(results[1].vm_id)  # by name only
    harness.adapter.delete_vm(results[0].vm_id, results[0].cloud_vm_id)  # already gone: success
    harness.adapter.delete_vm("never-existed-1")
    live = {v.vm_id for v in harness.adapter.list_vms() if v.vm_id and v.status != VmStatus.GONE}
    assert live == {results[2].vm_id}


@pytest.mark.faults
def test_retry_after_kill_between_request_and_record_makes_one_vm(harness):
    spec = harness.spec()
    first = harness.adapter.create_vms(spec, 1)  # the cloud accepted; the task died before recording
    again = harness.adapter.create_vms(spec, 2)  # the retried task asks for the whole request again
    assert again[0].existed and again[0].cloud_vm_id == first[0].cloud_vm_id
    assert again[1].ok and not again[1].existed
    assert harness.count_named(spec.vm_ids(1)[0]) == 1
    assert harness.count_named(spec.vm_ids(2)[1]) == 1


def test_each_vm_gets_its_own_user_data(harness):
    spec = harness.spec()
    results = harness.adapter.create_vms(spec, 2)
    for r in results:
        assert harness.user_data_attrs(r.vm_id) == {"cs_vm_id": r.vm_id}


@pytest.mark.faults
def test_capacity_shortage_is_a_capacity_error(harness):
    harness.capacity()
    results = harness.adapter.create_vms(harness.spec(), 2)
    if harness.capacity_is_async:  # Nova: accepted, then ERROR with "No valid host"
        listed = {v.vm_id: v for v in harness.adapter.list_vms()}
        for r in results:
            vm = listed[r.vm_id]
            assert vm.status == VmStatus.ERROR and classify_fault(vm.error) == ErrorKind.CAPACITY
    else:
        assert all(isinstance(r.error, CapacityError) and r.error.cloud == harness.cloud for r in results)


@pytest.mark.faults
def test_quota_refusal_is_reported_per_vm(account_harness):
    account_harness.quota(2)
    results = account_harness.adapter.create_vms(account_harness.spec(), 4)
    assert [r.ok for r in results].count(True) == 2
    refused = [r for r in results if not r.ok]
    assert len(refused) == 2 and all(isinstance(r.error, QuotaError) for r in refused)
    assert all(account_harness.cloud in str(r.error) for r in refused)


@pytest.mark.faults
def test_throttling_is_retried(account_harness):
    account_harness.throttle(2)
    results = account_harness.adapter.create_vms(account_harness.spec(), 1)
    assert results[0].ok
    assert (
        account_harness.throttles_left() == 0
    )  # both throttled answers were met, then the call went through


@pytest.mark.faults
def test_auth_failure_names_the_cloud_and_not_the_secret(account_harness):
    bad = account_harness.bad_auth()
    with pytest.raises(AuthError) as info:
        bad.list_vms()
    assert info.value.cloud == account_harness.cloud and f"cloud {account_harness.cloud}:" in str(info.value)
    assert "s3cret" not in str(info.value) and "test-secret" not in str(info.value)


def test_inventory_and_limits(harness):
    harness.adapter.create_vms(harness.spec(), 2)
    assert harness.flavor in {f.name for f in harness.adapter.flavors()}
    assert all(f.cores > 0 and f.ram_mb > 0 for f in harness.adapter.flavors())
    limits = harness.adapter.limits()
    assert limits.instances_used >= 2 and limits.cores_used >= 2
    assert harness.adapter.networks()
    if not harness.kind.startswith("libvirt"):  # a hypervisor's firewall is not libvirt's to list
        assert harness.adapter.security_groups()
    harness.adapter.images()
    harness.adapter.keypairs()


@pytest.mark.slow
def test_listing_pages_through_2500_vms(harness):
    """Nova pages by 1,000, EC2 by NextToken; moto needs ~30 s to describe 2,500 instances."""
    harness.seed(2500, "bulk")
    mine = harness.adapter.create_vms(harness.spec(), 2)
    vms = harness.adapter.list_vms()
    assert len(vms) == 2502
    assert len({v.cloud_vm_id for v in vms}) == 2502
    assert {r.vm_id for r in mine} <= {v.vm_id for v in vms}
