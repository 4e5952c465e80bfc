"""One harness per cloud kind, so that ONE contract suite runs against every adapter.

A harness owns a live double (or the real services), an adapter pointed at it, and the cloud-side ways
to make trouble (capacity, quota, throttling, bad credentials) and to see ground truth (how many VMs of
a name the cloud really holds, the user-data it received), bypassing the adapter under test.
"""

from __future__ import annotations

import base64
import uuid

from include.providers.base import VmSpec

SIM_FLAVORS = [
    {"name": "m1.small", "cores": 1, "ram_mb": 2048},
    {"name": "c8.large", "cores": 8, "ram_mb": 16384},
]


class Harness:
    kind = ""
    capacity_is_async = False  # Nova reports capacity as an ERROR server, not as a failed create
    image = "cernvm4"
    flavor = "m1.small"
    cloud = "c1"

    def spec(self, request_id: str | None = None, **kw) -> VmSpec:
        rid = request_id or f"r{uuid.uuid4().hex[:8]}"
        return VmSpec(
            group="g1",
            cloud=self.cloud,
            request_id=rid,
            flavor=self.flavor,
            image=self.image,
            user_data=lambda vm_id: f'cs_vm_id = "{vm_id}"'.encode(),
            **kw,
        )


class SimHarness(Harness):
    kind = "simulated"

    def __init__(self, engine):
        from include.simulated.cloud import SimulatedCloud

        self.engine = engine
        self.simulation = {"boot_delay_s": 0, "flavors": SIM_FLAVORS, "images": [self.image]}
        self.adapter = SimulatedCloud(self.cloud, "g1", engine, self.simulation)

    def _set(self, **failures) -> None:
        self.adapter.sim = self.adapter.sim.model_copy(update=failures)

    def capacity(self) -> None:
        self._set(failures=self.adapter.sim.failures.model_copy(update={"capacity_error_rate": 1.0}))

    def quota(self, instances: int) -> None:
        self._set(quota_instances=instances)

    def throttle(self, times: int) -> None:
        self.adapter.throttle_next = times

    def throttles_left(self) -> int:
        return self.adapter.throttle_next

    def bad_auth(self):
        from include.simulated.cloud import SimulatedCloud

        bad = SimulatedCloud(self.cloud, "g1", self.engine, self.simulation)
        bad.reject_auth = True
        return bad

    def count_named(self, name: str) -> int:
        return sum(1 for v in self.adapter.list_vms() if v.name == name)

    def user_data_attrs(self, vm_id: str) -> dict:
        from sqlalchemy import select

        from include.store.db import session_scope
        from include.store.models import SimInstance

        with session_scope(self.engine) as s:
            return s.scalars(select(SimInstance.startd_attrs).where(SimInstance.name == vm_id)).one()

    def seed(self, n: int, prefix: str) -> None:
        self.quota(-1)
        self.adapter.create_vms(
            VmSpec(group="g1", cloud=self.cloud, request_id=prefix, flavor=self.flavor, image=self.image), n
        )

    def close(self) -> None:
        pass


class FakeOpenStackHarness(Harness):
    kind = "openstack-fake"
    capacity_is_async = True

    def __init__(self, fake=None, creds_kw=None):
        from include.providers.openstack import OpenStackCloud
        from include.providers.openstack_http import OpenStackCredentials
        from tests.doubles.fake_openstack import FakeOpenStack

        self.fake = fake or FakeOpenStack().start()
        self.creds_kw = creds_kw or {
            "auth_url": self.fake.auth_url,
            "project_name": "htc",
            "username": "u",
            "password": "pw",
        }
        self.adapter = OpenStackCloud(self.cloud, OpenStackCredentials(**self.creds_kw))

    def capacity(self) -> None:
        self.fake.capacity_cores = 0

    def quota(self, instances: int) -> None:
        self.fake.quota["instances"] = instances

    def throttle(self, times: int) -> None:
        from tests.doubles.fake_openstack import Fault

        self.fake.faults.append(
            Fault("POST", r"/servers$", 429, "Rate limit exceeded", times, {"Retry-After": "0"})
        )

    def throttles_left(self) -> int:
        return sum(f.times for f in self.fake.faults)

    def bad_auth(self):
        from include.providers.openstack import OpenStackCloud
        from include.providers.openstack_http import OpenStackCredentials

        return OpenStackCloud(
            self.cloud, OpenStackCredentials(**{**self.creds_kw, "password": "wrong-s3cret"})
        )

    def count_named(self, name: str) -> int:
        return self.fake.names().count(name)

    def user_data_attrs(self, vm_id: str) -> dict:
        from include.simulated.cloud import startd_attrs

        (server,) = [s for s in self.fake.servers.values() if s["name"] == vm_id]
        return startd_attrs(base64.b64decode(server["user_data"]))

    def seed(self, n: int, prefix: str) -> None:
        self.fake.seed(n, prefix)

    def close(self) -> None:
        self.fake.stop()


class Ec2Harness(Harness):
    kind = "ec2-moto"
    flavor = "t3.micro"

    def __init__(self, moto, ami: str):
        import boto3

        from include.providers.ec2 import Ec2Cloud
        from include.providers.ec2_http import Ec2Credentials
        from tests.doubles.moto_ec2 import FaultProxy

        moto.reset()
        self.image = ami
        self.proxy = FaultProxy(moto.url).start()
        self.raw = boto3.client(
            "ec2",
            region_name="us-east-1",
            endpoint_url=moto.url,
            aws_access_key_id="AKIATEST",
            aws_secret_access_key="test-secret",
        )
        self.creds = Ec2Credentials("AKIATEST", "test-secret", "us-east-1", endpoint_url=self.proxy.url)
        self.adapter = Ec2Cloud(self.cloud, self.creds)

    def capacity(self) -> None:
        self.proxy.fail("RunInstances", "InsufficientInstanceCapacity", 500, times=1000)

    def quota(self, instances: int) -> None:
        self.proxy.instance_quota = instances

    def throttle(self, times: int) -> None:
        self.proxy.fail("RunInstances", "RequestLimitExceeded", 503, times)

    def throttles_left(self) -> int:
        return sum(r.times for r in self.proxy.rules)

    def bad_auth(self):
        from include.providers.ec2 import Ec2Cloud

        # moto accepts any key; the proxy answers as EC2 does for a bad one.
        for action in ("DescribeInstances", "RunInstances", "TerminateInstances"):
            self.proxy.fail(action, "AuthFailure", 401, times=1000)
        return Ec2Cloud(self.cloud, self.creds)

    def count_named(self, name: str) -> int:
        pages = self.raw.get_paginator("describe_instances").paginate(
            Filters=[
                {"Name": "tag:Name", "Values": [name]},
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
            ]
        )
        return sum(len(r["Instances"]) for p in pages for r in p["Reservations"])

    def user_data_attrs(self, vm_id: str) -> dict:
        from include.simulated.cloud import startd_attrs

        (vm,) = [v for v in self.adapter.list_vms() if v.name == vm_id]
        attr = self.raw.describe_instance_attribute(InstanceId=vm.cloud_vm_id, Attribute="userData")
        return startd_attrs(base64.b64decode(attr["UserData"]["Value"]))

    def seed(self, n: int, prefix: str) -> None:
        for start in range(0, n, 250):
            k = min(250, n - start)
            self.raw.run_instances(
                ImageId=self.image,
                InstanceType=self.flavor,
                MinCount=k,
                MaxCount=k,
                TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "seed", "Value": prefix}]}],
            )

    def close(self) -> None:
        self.proxy.stop()
