"""Sites name images by id as often as by name: an EC2 cloud by the id of a public AMI (nobody owns a
copy), an OpenStack cloud by a Glance UUID. Both boot; a name is looked up only among the account's own
and shared images, and a name two images share is a skip reason that names both ids."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update

from include.store.db import session_scope
from include.store.models import BootRequest, Cloud, PlanSkip

pytestmark = pytest.mark.edges
JOB = {"cores": 1, "ram_mb": 900, "duration_s": 3600}


def set_image(world, cloud: str, image: str) -> None:
    with session_scope(world.engine) as s:
        s.execute(update(Cloud).where(Cloud.name == cloud).values(vm_image=image))


def request_of(world, cloud: str) -> BootRequest:
    with session_scope(world.engine) as s:
        [request] = s.scalars(select(BootRequest).where(BootRequest.cloud_name == cloud)).all()
        return request


def public_ami(ec2) -> dict:
    return sorted(ec2.describe_images(Owners=["amazon"])["Images"], key=lambda i: i["ImageId"])[0]


def test_ec2_boots_a_public_ami_named_by_its_id(mixed):
    ami = public_ami(mixed.ec2)
    assert (
        ami["Public"] and ami["OwnerId"] != mixed.ec2.describe_images(Owners=["self"])["Images"][0]["OwnerId"]
    )
    set_image(mixed.world, "aws", ami["ImageId"])
    mixed.world.submit(1, target_alias="to-aws", **JOB)
    mixed.world.run(60)
    assert request_of(mixed.world, "aws").state == "done"
    [instance] = mixed.aws_instances()
    assert instance["ImageId"] == ami["ImageId"]


def test_a_job_may_ask_for_a_public_ami_by_id(mixed):
    ami = public_ami(mixed.ec2)
    mixed.world.submit(1, target_alias="to-aws", attrs={"VMImage": f"aws:{ami['ImageId']}"}, **JOB)
    mixed.world.run(90)  # the next cloud poll looks the job's id up; then the boot
    [instance] = mixed.aws_instances()
    assert instance["ImageId"] == ami["ImageId"]


def test_a_public_ami_is_never_found_by_its_name(mixed):
    set_image(mixed.world, "aws", public_ami(mixed.ec2)["Name"])  # anyone may publish an AMI of any name
    mixed.world.submit(1, target_alias="to-aws", **JOB)
    record = mixed.world.run(60) or mixed.world.log[-1]
    assert mixed.aws_instances() == []
    assert record["plan"]["summary"]["skips"].get("image_missing") == 1


def test_openstack_boots_a_glance_uuid_and_refuses_an_ambiguous_name(mixed):
    image_id = str(uuid.uuid4())
    twin_id = str(uuid.uuid4())
    base = dict(
        status="active",
        visibility="public",
        checksum="1" * 32,
        size=1024,
        disk_format="qcow2",
        container_format="bare",
        created_at="2024-01-01T00:00:00Z",
    )
    mixed.nova.images[image_id] = dict(id=image_id, name="cernvm5", **base)
    mixed.nova.images[twin_id] = dict(id=twin_id, name="cernvm5", **base)
    set_image(mixed.world, "os", image_id)
    mixed.world.submit(1, target_alias="to-os", **JOB)
    mixed.world.run(60)
    assert request_of(mixed.world, "os").state == "done"
    [server] = mixed.nova.servers.values()
    assert server["image"]["id"] == image_id

    set_image(mixed.world, "os", "cernvm5")
    mixed.world.submit(1, target_alias="to-os", **JOB)
    mixed.world.run(60)
    with session_scope(mixed.world.engine) as s:
        skip = s.scalars(select(PlanSkip).where(PlanSkip.reason == "image_ambiguous")).first()
    assert skip is not None and image_id in skip.detail and twin_id in skip.detail
    assert len(mixed.nova.servers) == 1
