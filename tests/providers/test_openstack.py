"""OpenStack specifics on the fake: request bodies, application credentials, re-authentication, the
handling of ambiguous 5xx on create, and listing without per-server calls."""

from __future__ import annotations

import base64
import gzip
import time

import pytest

from include.providers.base import ProviderError, TransientError, VmSpec
from include.providers.openstack import OpenStackCloud
from include.providers.openstack_http import OpenStackCredentials
from tests.doubles.fake_openstack import Fault


def adapter(fake, **kw):
    creds = {"auth_url": fake.auth_url, "project_name": "htc", "username": "u", "password": "pw", **kw}
    return OpenStackCloud("os1", OpenStackCredentials(**creds))


def spec(**kw):
    base = {"group": "g1", "cloud": "os1", "request_id": "r1", "flavor": "c8.large", "image": "cernvm4"}
    return VmSpec(**{**base, **kw})


def test_server_body_carries_name_metadata_network_keypair_groups_and_user_data(fake_openstack):
    blob = gzip.compress(b"#cloud-config\n")
    adapter(fake_openstack).create_vms(
        spec(
            network="private", keypair="default", security_groups=("default",), user_data=lambda vm_id: blob
        ),
        1,
    )
    (server,) = fake_openstack.servers.values()
    assert server["name"] == "r1-1" and server["_flavor"]["name"] == "c8.large"
    assert server["metadata"] == {
        "cs_vm_id": "r1-1",
        "cs_group": "g1",
        "cs_cloud": "os1",
        "cs_deployment": "cs",
        "cs_request": "r1",
    }
    assert base64.b64decode(server["user_data"]) == blob


def test_boot_volume_is_a_block_device_mapping_from_the_image(fake_openstack):
    adapter(fake_openstack).create_vms(spec(boot_volume_gb=48, boot_volume_type="ssd"), 1)
    (server,) = fake_openstack.servers.values()
    assert server["bdm"] == [
        {
            "boot_index": 0,
            "uuid": "img-1",
            "source_type": "image",
            "destination_type": "volume",
            "volume_size": 48,
            "delete_on_termination": True,
            "volume_type": "ssd",
        }
    ]


def test_application_credential_login(fake_openstack):
    cloud = adapter(
        fake_openstack,
        username=None,
        password=None,
        application_credential_id="ac-1",
        application_credential_secret="ac-secret",
    )
    assert cloud.limits().instances_max == -1


def test_expired_token_is_renewed_without_error(fake_openstack):
    cloud = adapter(fake_openstack)
    cloud.list_vms()
    fake_openstack.expire_tokens()
    cloud.list_vms()
    assert fake_openstack.requests["POST /identity/v3/auth/tokens"] == 2


def test_ambiguous_500_on_create_is_not_repeated_but_503_is(fake_openstack):
    cloud = adapter(fake_openstack)
    fake_openstack.faults.append(Fault("POST", r"/servers$", 500, "oops", times=1))
    (result,) = cloud.create_vms(spec(request_id="a"), 1)
    assert (
        isinstance(result.error, TransientError)
        and fake_openstack.requests["POST /compute/v2.1/servers"] == 1
    )
    fake_openstack.faults.append(Fault("POST", r"/servers$", 503, "busy", times=1))
    (result,) = cloud.create_vms(spec(request_id="b"), 1)
    assert result.ok and fake_openstack.requests["POST /compute/v2.1/servers"] == 3


def test_listing_reads_pages_not_servers(fake_openstack):
    fake_openstack.max_limit = 100
    fake_openstack.seed(250, "vm")
    vms = adapter(fake_openstack).list_vms()
    assert len(vms) == 250 and fake_openstack.requests["GET /compute/v2.1/servers/detail"] == 3
    assert not [k for k in fake_openstack.requests if "{id}" in k]


def test_unknown_flavor_refuses_before_any_create(fake_openstack):
    with pytest.raises(ProviderError, match="flavor 'nope' not found"):
        adapter(fake_openstack).create_vms(spec(flavor="nope"), 2)
    assert fake_openstack.requests["POST /compute/v2.1/servers"] == 0


def test_unreachable_cloud_is_transient():
    cloud = OpenStackCloud(
        "gone", OpenStackCredentials("http://127.0.0.1:9/identity/v3", "p", "u", "pw"), attempts=1
    )
    with pytest.raises(TransientError, match="cloud gone: cannot reach"):
        cloud.list_vms()


@pytest.mark.faults
def test_timeouts_are_retried_for_reads_and_never_repeat_a_create(fake_openstack):
    cloud = adapter(fake_openstack, timeout_s=0.3)
    cloud.list_vms()  # authenticate before the faults
    fake_openstack.faults.append(Fault("GET", r"/servers/detail$", 0, times=1, delay_s=1.0))
    assert cloud.list_vms() == [] and fake_openstack.requests["GET /compute/v2.1/servers/detail"] == 3

    fake_openstack.faults.append(Fault("POST", r"/servers$", 0, times=1, delay_s=1.0))
    (result,) = cloud.create_vms(spec(request_id="slow"), 1)
    assert (
        isinstance(result.error, TransientError)
        and fake_openstack.requests["POST /compute/v2.1/servers"] == 1
    )
    time.sleep(1.2)  # the cloud finished the create after the client gave up
    (again,) = cloud.create_vms(spec(request_id="slow"), 1)
    assert again.existed and fake_openstack.names().count("slow-1") == 1


def test_volume_limits_from_cinder_count_boot_volumes(fake_openstack):
    from include.providers.base import boot_volume_gb

    fake_openstack.volume_quota = {"volumes": 10, "gigabytes": 500}
    size = boot_volume_gb({"gb": 20, "gb_per_core": 5}, cores=8)
    cloud = adapter(fake_openstack)
    cloud.create_vms(spec(boot_volume_gb=size), 2)
    limits = cloud.limits()
    assert size == 60 and (
        limits.volumes_max,
        limits.volumes_used,
        limits.volume_gb_max,
        limits.volume_gb_used,
    ) == (10, 2, 500, 120)


def test_a_same_named_vm_of_another_deployment_is_not_taken_for_ours(fake_openstack):
    fake_openstack.add_server(
        "r1-1", {"cs_vm_id": "r1-1", "cs_group": "g1", "cs_cloud": "os1", "cs_deployment": "other"}
    )
    (result,) = adapter(fake_openstack).create_vms(spec(), 1)
    assert result.ok and not result.existed and fake_openstack.names().count("r1-1") == 2
