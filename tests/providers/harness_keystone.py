"""The keystone tier's harness: the OpenStack adapter authenticates against the real Keystone 30, reads
images from the real Glance 33, and drives the fake Nova/Neutron that is registered in the real catalog
and checks every token with Keystone."""

from __future__ import annotations

from tests.providers.harness import FakeOpenStackHarness


class KeystoneHarness(FakeOpenStackHarness):
    kind = "openstack-keystone"

    def __init__(self, stack):
        real, fake, _ = stack
        fake.reset()
        self.real = real
        super().__init__(fake, real.user_auth())

    def close(self) -> None:
        pass  # the stack lives for the session
