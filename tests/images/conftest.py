"""Fixtures of the image tests: a store with a group of two OpenStack clouds, the image settings on a
temporary cache, and (tier ``keystone``) two real Keystone 30 + Glance 33 stacks side by side, each with
a fake Nova/Neutron in its catalog so the real cloud poller can run against it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from include.config import apply_config, parse_document
from include.images.settings import image_settings
from include.providers.factory import ConnectionSecrets
from include.store.db import session_scope


def clouds_doc(a: dict, b: dict, images: list | None = None, group: dict | None = None) -> dict:
    return {
        "groups": [
            {
                "name": "atlas",
                "pool": {"kind": "htcondor", "collector": "cm.example.org"},
                "images": images or [],
                **(group or {}),
                "clouds": [
                    {"name": "a", "type": "openstack", "connection_id": "os_a", **a},
                    {"name": "b", "type": "openstack", "connection_id": "os_b", **b},
                ],
            }
        ]
    }


def configure(engine, doc: dict) -> None:
    with session_scope(engine) as s:
        apply_config(s, parse_document(doc), actor="test")


@pytest.fixture
def settings(tmp_path):
    return replace(image_settings({}), cache_dir=tmp_path / "cache", min_age=timedelta(0))


@dataclass
class Stack:
    real: object  # tests.doubles.openstack_real.RealOpenStack
    nova: object  # tests.doubles.fake_openstack.FakeOpenStack

    @property
    def files(self) -> Path:
        return self.real.workdir / "images"  # Glance's file store: one file per image id


@pytest.fixture(scope="session")
def two_glances(tmp_path_factory) -> Iterator[tuple[Stack, Stack]]:
    """Two independent clouds: real Keystone + Glance each, on their own ports and work directories."""
    from tests.doubles.fake_openstack import FakeOpenStack
    from tests.doubles.openstack_real import RealOpenStack

    stacks = []
    try:
        for name in ("a", "b"):
            real = RealOpenStack(tmp_path_factory.mktemp(f"glance-{name}")).start()
            nova = FakeOpenStack(token_check=real.validate_token).start()
            stacks.append(Stack(real, nova))
            real.register_service("compute", "nova", f"{nova.url}/compute/v2.1")
            real.register_service("network", "neutron", f"{nova.url}/network")
        yield stacks[0], stacks[1]
    finally:
        for stack in stacks:
            stack.nova.stop()
            stack.real.stop()


def secrets_for(stacks: dict[str, Stack]):
    """The Connection secrets of each cloud (connection id os_<cloud>), as airflow_glue would give them."""

    def lookup(cloud_row) -> ConnectionSecrets:
        auth = stacks[cloud_row.name].real.user_auth()
        return ConnectionSecrets(login=auth["username"], password=auth["password"])

    return lookup


def pytest_collection_modifyitems(items):
    # openstacksdk warns about its own internal calls on every request; the adapter silences them too.
    for item in items:
        if "tests/images/" in str(item.fspath):
            item.add_marker(pytest.mark.filterwarnings(r"ignore::Warning:openstack\..*"))
