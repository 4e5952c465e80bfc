"""The fault tier (`-m faults`): one site with three clouds of the three kinds, driven by the real loop
functions on a test clock:

- ``os``: the OpenStack adapter (openstacksdk) against the fake Nova/Keystone over HTTP,
- ``aws``: the EC2 adapter (boto3) against moto's server, behind the fault-injecting proxy,
- ``sim``: a simulated cloud (its VMs register in the group's simulated pool).

Jobs choose a cloud through aliases of the same names. Credentials reach the adapters the production
way, as Airflow Connections (here in ``AIRFLOW_CONN_*`` variables). The real clouds' VMs never join the
simulated pool, which is what several faults need anyway.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest

from include.store.db import get_engine, session_scope
from include.store.models import AliasCloud, Cloud
from tests.loop.world import World, site

pytestmark = pytest.mark.faults


@dataclass
class Mixed:
    world: World
    nova: object  # tests.doubles.fake_openstack.FakeOpenStack
    proxy: object  # tests.doubles.moto_ec2.FaultProxy
    ec2: object  # a raw boto3 client on moto (behind no proxy), to look at what really exists

    def aws_instances(self) -> list[dict]:
        out = []
        for r in self.ec2.describe_instances()["Reservations"]:
            out += [i for i in r["Instances"] if i["State"]["Name"] not in ("terminated", "shutting-down")]
        return out

    def nova_servers(self) -> list[str]:
        return self.nova.names()


@pytest.fixture
def mixed(tmp_path, monkeypatch, moto_ec2) -> Iterator[Mixed]:
    with mixed_site(f"sqlite:///{tmp_path / 'state.db'}", tmp_path, monkeypatch, moto_ec2) as site:
        yield site


@contextlib.contextmanager
def mixed_site(url: str, tmp_path, monkeypatch, moto_server) -> Iterator[Mixed]:
    """The mixed site on the state database ``url`` (migrated and configured here)."""
    from tests.doubles.fake_openstack import FakeOpenStack
    from tests.doubles.moto_ec2 import FaultProxy

    moto_server.reset()
    nova = FakeOpenStack().start()
    proxy = FaultProxy(moto_server.url).start()
    ec2 = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=moto_server.url,
        aws_access_key_id="AKIATEST",
        aws_secret_access_key="test-secret",
    )
    ami = ec2.register_image(Name="cvm", RootDeviceName="/dev/sda1", VirtualizationType="hvm")["ImageId"]
    assert ami
    monkeypatch.setenv(
        "AIRFLOW_CONN_CS_FAULT_OS",
        json.dumps(
            {"conn_type": "generic", "login": "u", "password": "pw", "extra": {"project_name": "htc"}}
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_CS_FAULT_AWS",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "AKIATEST",
                "password": "test-secret",
                "extra": {"region_name": "us-east-1"},
            }
        ),
    )
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    monkeypatch.setenv("CLOUDSCHEDULER_DB_URL", url)
    get_engine.cache_clear()
    doc = site(groups__0__clouds=[site()["groups"][0]["clouds"][0]])
    doc["groups"][0]["clouds"][0]["name"] = "sim"
    doc["groups"][0]["vm_defaults"]["image"] = "cvm"
    doc["groups"][0]["clouds"][0]["simulation"]["images"] = ["cvm"]
    # the jobs target aliases: the startds advertise theirs, as a site's template must for such jobs
    doc["groups"][0]["metadata"][0]["text"] += '    target_alias = "{{ cs_cloud_alias }}"\n'
    site_world = World.create(url, doc)
    with session_scope(site_world.engine) as s:
        # Real clouds in a group with a simulated pool: a test-only mix the configuration refuses.
        s.add(
            Cloud(
                group_name="atlas",
                name="os",
                cloud_type="openstack",
                auth_url=nova.auth_url,
                project="htc",
                connection_id="cs_fault_os",
                vm_image="cernvm4",
                rate_per_second=50,
                rate_burst=50,
                priority=2,
            )
        )
        s.add(
            Cloud(
                group_name="atlas",
                name="aws",
                cloud_type="amazon",
                region="us-east-1",
                auth_url=proxy.url,
                connection_id="cs_fault_aws",
                vm_image="cvm",
                rate_per_second=50,
                rate_burst=50,
                priority=2,
            )
        )
        s.flush()
        for name in ("os", "aws", "sim"):
            s.add(AliasCloud(group_name="atlas", alias=f"to-{name}", cloud_name=name))
    try:
        yield Mixed(site_world, nova, proxy, ec2)
    finally:
        proxy.stop()
        nova.stop()
        get_engine(url).dispose()
        get_engine.cache_clear()


def alerts(tmp_path) -> list[dict]:
    sink = tmp_path / "alerts.jsonl"
    return [json.loads(line) for line in sink.read_text().splitlines()] if sink.exists() else []


from tests.loop.conftest import state_url, world  # noqa: E402, F401 - the simulated-site fixtures, shared
