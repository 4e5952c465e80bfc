"""A cloud short of capacity on a second flavour is backed off as a whole, so its demand moves to the
next cloud now: whether the first flavour was refused at create (EC2's InsufficientInstanceCapacity)
or reported later by the cloud (Nova's server in ERROR with "No valid host")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from include.config.settings import load_settings
from include.loop.act import _back_off
from include.providers.base import CapacityError
from include.store.models import Backoff, BootRequest, Group

pytestmark = pytest.mark.postgres

T = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "first_failure",
    [
        "CapacityError: InsufficientInstanceCapacity",
        "capacity: No valid host was found. There are not enough hosts",
    ],
)
def test_a_second_flavour_out_of_capacity_backs_the_whole_cloud_off(session, first_failure):
    session.add(Group(name="atlas", pool_kind="simulated"))
    session.add(
        Backoff(
            group_name="atlas",
            cloud_name="east",
            flavor="c16",
            failures=1,
            last_failure_at=T - timedelta(seconds=60),
            until=T + timedelta(seconds=240),
            last_error=first_failure,
        )
    )
    request = BootRequest(
        request_id="r2",
        group_name="atlas",
        cloud_name="east",
        flavor="c8",
        image="cvm",
        count=1,
        created_at=T,
    )
    session.add(request)
    session.flush()

    _back_off(session, request, T, load_settings(session), CapacityError("east", "no capacity for c8"))

    rows = {b.flavor: b for b in session.scalars(select(Backoff).where(Backoff.cloud_name == "east"))}
    assert rows["c8"].failures == 1
    assert "" in rows, "the whole cloud backs off"
    assert rows[""].until > T and not rows[""].disabled


def test_capacity_back_offs_do_not_bring_a_later_quota_error_closer_to_disabling_the_cloud(session):
    """Two cloud-wide capacity back-offs, then a quota error: the cloud backs off but stays enabled;
    only a run of failures that can disable it (three by default) does."""
    from include.providers.base import QuotaError

    session.add(Group(name="atlas", pool_kind="simulated"))
    settings = load_settings(session)
    session.flush()
    for i, flavor in enumerate(("c16", "c8", "c32")):
        request = BootRequest(
            request_id=f"cap{i}", group_name="atlas", cloud_name="east", flavor=flavor, image="cvm", count=1
        )
        session.add(request)
        session.flush()
        _back_off(session, request, T + timedelta(seconds=i), settings, CapacityError("east", "no capacity"))
    whole = session.get(Backoff, ("atlas", "east", ""))
    assert whole.failures == 2 and not whole.disabled

    for i in range(settings.boot_failure_threshold):
        request = BootRequest(
            request_id=f"quota{i}", group_name="atlas", cloud_name="east", flavor="c8", image="cvm", count=1
        )
        session.add(request)
        session.flush()
        _back_off(
            session, request, T + timedelta(minutes=i + 1), settings, QuotaError("east", "Quota exceeded")
        )
        session.refresh(whole)
        assert whole.disabled == (i + 1 >= settings.boot_failure_threshold), i
