"""The OpenStack adapter against the real Keystone 30 and Glance 33 (fake Nova in the real catalog)."""

from __future__ import annotations

import pytest

from include.providers.base import AuthError, VmSpec
from include.providers.openstack import OpenStackCloud
from include.providers.openstack_http import OpenStackCredentials

pytestmark = pytest.mark.keystone


def test_application_credential_from_real_keystone(real_openstack):
    real, fake, _ = real_openstack
    fake.reset()
    cred_id, secret = real.create_application_credential("cs-app-1")
    auth = real.user_auth()
    creds = OpenStackCredentials(
        auth_url=auth["auth_url"],
        application_credential_id=cred_id,
        application_credential_secret=secret,
        region_name="RegionOne",
    )
    cloud = OpenStackCloud("c1", creds)
    assert cloud.list_vms() == []
    bad = OpenStackCloud(
        "c1",
        OpenStackCredentials(
            auth["auth_url"], application_credential_id=cred_id, application_credential_secret="not-" + secret
        ),
    )
    with pytest.raises(AuthError, match="cloud c1: authentication failed") as info:
        bad.list_vms()
    assert secret not in str(info.value)


def test_revoked_token_is_renewed(real_openstack):
    real, fake, image_id = real_openstack
    fake.reset()
    cloud = OpenStackCloud("c1", OpenStackCredentials(**real.user_auth()))
    cloud.list_vms()
    token = cloud.http.conn.session.get_token()
    real.admin().identity.delete("/auth/tokens", headers={"X-Subject-Token": token})  # revoke it
    real._tokens.clear()  # the fake's validation cache, as keystonemiddleware's would expire
    spec = VmSpec(group="g1", cloud="c1", request_id="rv", flavor="m1.small", image="cernvm4")
    (result,) = cloud.create_vms(spec, 1)
    assert result.ok and cloud.http.conn.session.get_token() != token


def test_images_come_from_the_real_glance(real_openstack):
    real, _, image_id = real_openstack
    images = {i.image_id: i for i in OpenStackCloud("c1", OpenStackCredentials(**real.user_auth())).images()}
    assert images[image_id].name == "cernvm4" and images[image_id].size == 4096 and images[image_id].checksum
