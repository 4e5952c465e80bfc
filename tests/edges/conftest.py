"""The real-edges tier: a site moving from cloudscheduler v2 meets the loop where it touches real clouds
(the fake Nova and moto over HTTP, real openstacksdk and boto3), real job attributes and real templates.
It reuses the fault tier's mixed site: clouds ``os`` (OpenStack), ``aws`` (EC2) and ``sim``."""

from __future__ import annotations

from tests.faults.conftest import mixed  # noqa: F401 - the fixture
from tests.loop.conftest import state_url, world  # noqa: E402, F401 - the simulated site, both backends
