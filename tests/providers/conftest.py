"""Fixtures of the provider tests: the doubles (session-wide where starting them costs), and the
``harness`` fixture that runs each contract test against every adapter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.providers.harness import Ec2Harness, FakeOpenStackHarness, SimHarness


@pytest.fixture(scope="session")
def moto_ami(moto_ec2) -> str:
    """An AMI that moto ships (validation is on, so a made-up id would be refused)."""
    import boto3

    ec2 = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=moto_ec2.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    return sorted(i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"])[0]


@pytest.fixture
def fake_openstack() -> Iterator:
    from tests.doubles.fake_openstack import FakeOpenStack

    fake = FakeOpenStack().start()
    yield fake
    fake.stop()


def pytest_collection_modifyitems(items):
    # openstacksdk warns about its own internal calls on every request; the adapter silences them too.
    for item in items:
        if "tests/providers/" in str(item.fspath):
            item.add_marker(pytest.mark.filterwarnings(r"ignore::Warning:openstack\..*"))


# Kinds with a project account: a quota, an API rate limit and credentials to refuse. A hypervisor farm
# (libvirt) has none of the three; what it has instead (hosts that are down, hosts that are full) is in
# tests/providers/test_libvirt.py.
ACCOUNT_KINDS = [
    "simulated",
    "openstack-fake",
    "ec2-moto",
    pytest.param("openstack-keystone", marks=pytest.mark.keystone),
]
KINDS = [*ACCOUNT_KINDS, "libvirt-test", pytest.param("libvirtd", marks=pytest.mark.libvirtd)]


def _make(kind: str, request, sqlite_engine, tmp_path):
    if kind == "simulated":
        return SimHarness(sqlite_engine)
    if kind == "openstack-fake":
        return FakeOpenStackHarness()
    if kind == "ec2-moto":
        return Ec2Harness(request.getfixturevalue("moto_ec2"), request.getfixturevalue("moto_ami"))
    if kind == "libvirt-test":
        from tests.providers.harness_libvirt import LibvirtTestHarness

        return LibvirtTestHarness(tmp_path)
    if kind == "libvirtd":
        from tests.providers.harness_libvirt import LibvirtdHarness

        return LibvirtdHarness(request.getfixturevalue("libvirtd"))
    from tests.providers.harness_keystone import KeystoneHarness

    return KeystoneHarness(request.getfixturevalue("real_openstack"))


@pytest.fixture(params=KINDS)
def harness(request, sqlite_engine, tmp_path):
    h = _make(request.param, request, sqlite_engine, tmp_path)
    yield h
    h.close()


@pytest.fixture(params=ACCOUNT_KINDS)
def account_harness(request, sqlite_engine, tmp_path):
    h = _make(request.param, request, sqlite_engine, tmp_path)
    yield h
    h.close()


@pytest.fixture(scope="session")
def libvirtd() -> Iterator:
    """A real libvirtd with the QEMU driver on a private socket, once per session."""
    from tests.doubles.libvirtd import Libvirtd

    daemon = Libvirtd()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def real_openstack(tmp_path_factory) -> Iterator:
    """Real Keystone + Glance (tests/doubles/openstack_real.py), a fake Nova/Neutron registered in their
    catalog that validates tokens with Keystone, and an image ``cernvm4`` in Glance."""
    from tests.doubles.fake_openstack import FakeOpenStack
    from tests.doubles.openstack_real import RealOpenStack

    real = RealOpenStack(tmp_path_factory.mktemp("openstack")).start()
    fake = FakeOpenStack(token_check=real.validate_token).start()
    try:
        real.register_service("compute", "nova", f"{fake.url}/compute/v2.1")
        real.register_service("network", "neutron", f"{fake.url}/network")
        image = real.user().image.create_image(
            name="cernvm4", data=b"\0" * 4096, disk_format="raw", container_format="bare", wait=True
        )
        fake.images = {image.id: {"id": image.id, "name": "cernvm4"}}  # what Nova would find in Glance
        yield real, fake, image.id
    finally:
        fake.stop()
        real.stop()
