"""EC2 specifics on moto through the fault proxy: RunInstances parameters, spot, ClientToken, and
capacity errors that botocore would retry on its own but we must not."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from include.providers.base import CapacityError, ProviderError, VmSpec
from include.providers.ec2 import Ec2Cloud
from include.providers.ec2_http import Ec2Credentials
from tests.doubles.moto_ec2 import FaultProxy


@pytest.fixture
def ec2(moto_ec2):
    import boto3

    moto_ec2.reset()
    proxy = FaultProxy(moto_ec2.url).start()
    raw = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=moto_ec2.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    yield Ec2Cloud("aws1", Ec2Credentials("AKIATEST", "test-secret", endpoint_url=proxy.url)), proxy, raw
    proxy.stop()


def spec(ami, **kw):
    return VmSpec(
        **{"group": "g1", "cloud": "aws1", "request_id": "r1", "flavor": "t3.micro", "image": ami, **kw}
    )


def test_run_instances_tags_user_data_key_groups_and_spot(ec2, moto_ami):
    cloud, proxy, raw = ec2
    raw.create_key_pair(KeyName="k1")
    sg = raw.create_security_group(GroupName="workers", Description="w")["GroupId"]
    (r,) = cloud.create_vms(
        spec(
            moto_ami,
            keypair="k1",
            security_groups=(sg,),
            spot_price=0.05,
            user_data=lambda vm_id: b"hello " + vm_id.encode(),
        ),
        1,
    )
    inst = raw.describe_instances(InstanceIds=[r.cloud_vm_id])["Reservations"][0]["Instances"][0]
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert tags["Name"] == "r1-1" and tags["cs_vm_id"] == "r1-1" and tags["cs_request"] == "r1"
    assert inst["KeyName"] == "k1" and [g["GroupId"] for g in inst["SecurityGroups"]] == [sg]
    assert inst["InstanceLifecycle"] == "spot"
    attr = raw.describe_instance_attribute(InstanceId=r.cloud_vm_id, Attribute="userData")
    assert base64.b64decode(attr["UserData"]["Value"]) == b"hello r1-1"
    (vm,) = cloud.list_vms()
    assert vm.spot and vm.vm_id == "r1-1"


@pytest.mark.faults
def test_capacity_error_is_not_retried(ec2, moto_ami):
    cloud, proxy, _ = ec2
    proxy.fail("RunInstances", "InsufficientInstanceCapacity", 500, times=1)
    (r,) = cloud.create_vms(spec(moto_ami), 1)
    assert isinstance(r.error, CapacityError) and proxy.seen.count("RunInstances") == 1


def test_client_token_is_derived_from_the_vm_id(ec2, moto_ami):
    cloud, _, raw = ec2
    long_spec = spec(moto_ami, request_id="x" * 80)
    (r,) = cloud.create_vms(long_spec, 1)
    inst = raw.describe_instances(InstanceIds=[r.cloud_vm_id])["Reservations"][0]["Instances"][0]
    assert len(inst["ClientToken"]) == 64
    (r2,) = cloud.create_vms(spec(moto_ami), 1)
    assert (
        raw.describe_instances(InstanceIds=[r2.cloud_vm_id])["Reservations"][0]["Instances"][0]["ClientToken"]
        == "r1-1"
    )


def test_image_by_name_only_among_the_accounts_own(ec2, moto_ami):
    """A name means one of the account's own (or shared) AMIs; a public AMI must be named by its id,
    because anyone may publish an AMI under any name."""
    cloud, _, raw = ec2
    own = raw.register_image(Name="cernvm-own", RootDeviceName="/dev/sda1", VirtualizationType="hvm")
    (r,) = cloud.create_vms(spec("cernvm-own"), 1)
    assert r.ok
    [reservation] = raw.describe_instances(InstanceIds=[r.cloud_vm_id])["Reservations"]
    assert reservation["Instances"][0]["ImageId"] == own["ImageId"]
    public_name = raw.describe_images(ImageIds=[moto_ami])["Images"][0]["Name"]
    with pytest.raises(ProviderError, match="not found among this account's and shared AMIs"):
        cloud.create_vms(replace(spec(public_name), request_id="r-public"), 1)
    (by_id,) = cloud.create_vms(replace(spec(moto_ami), request_id="r-id"), 1)
    assert by_id.ok


def test_an_account_is_not_capped_by_the_retired_max_instances_attribute(ec2, moto_ami):
    """EC2 answers DescribeAccountAttributes max-instances (moto: 20) but documents that it "is no longer
    supported" and "does not reflect your actual vCPU limit": a site with a raised vCPU quota running
    more than 20 VMs must not be told its cloud is full."""
    cloud, _proxy, raw = ec2
    attrs = raw.describe_account_attributes(AttributeNames=["max-instances"])["AccountAttributes"]
    answered = {a["AttributeName"]: a["AttributeValues"][0]["AttributeValue"] for a in attrs}
    assert answered["max-instances"] == "20"  # what the double answers
    results = cloud.create_vms(replace(spec(moto_ami), request_id="big"), 25)
    assert all(r.ok for r in results)
    limits = cloud.limits()
    assert limits.instances_used == 25 and limits.instances_max == -1


def test_a_launch_whose_reply_was_lost_stays_unknown_when_the_retries_are_refused(ec2, moto_ami, monkeypatch):
    """The first RunInstances reached EC2 but its answer was lost; DescribeInstances does not show the
    instance yet (EC2 is eventually consistent); the retries are refused with 503. The VM may exist, so
    the result must say its fate is unknown (the loop keeps the row for the next poll), not 'not made'
    (the loop would boot another)."""
    cloud, proxy, _raw = ec2
    proxy.lose_reply("RunInstances")
    proxy.fail("RunInstances", "Unavailable", 503, times=50)
    monkeypatch.setattr(cloud, "list_vms", lambda *a, **k: [])
    (r,) = cloud.create_vms(replace(spec(moto_ami), request_id="lost"), 1)
    assert not r.ok
    assert r.error.maybe_acted, r.error
