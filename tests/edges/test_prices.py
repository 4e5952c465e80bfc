"""A job's ``VMMaximumPrice`` is compared with what a VM costs on each cloud: an EC2 spot cloud's current
spot price (DescribeSpotPriceHistory; moto quotes 0.00001 an hour for every type), or the price the site
configured per flavour; a job whose maximum is below every cloud's price waits with a reason."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from include.store.db import session_scope
from include.store.models import BootRequest, Cloud, PlanSkip

pytestmark = pytest.mark.edges
JOB = {"cores": 1, "ram_mb": 900, "duration_s": 3600}


def skips(world, reason: str) -> list[PlanSkip]:
    with session_scope(world.engine) as s:
        return s.scalars(select(PlanSkip).where(PlanSkip.reason == reason)).all()


def test_a_spot_cloud_is_compared_at_its_current_spot_price_not_our_bid(mixed):
    w = mixed.world
    with session_scope(w.engine) as s:
        s.execute(update(Cloud).where(Cloud.name == "aws").values(spot_price=0.05))  # our bid
    w.submit(
        1, target_alias="to-aws", attrs={"VMMaximumPrice": 0.01}, **JOB
    )  # below the bid, above the market
    w.run(60)
    [instance] = mixed.aws_instances()
    assert instance.get("InstanceLifecycle") == "spot"
    w.submit(1, target_alias="to-aws", attrs={"VMMaximumPrice": 0.000001}, **JOB)  # below the market
    w.run(60)
    assert len(mixed.aws_instances()) == 1
    assert skips(w, "price_too_high")


@pytest.mark.parametrize("maximum", [0.01, 0.05])
def test_configured_flavour_prices_meet_the_jobs_maximum(mixed, maximum):
    w = mixed.world
    with session_scope(w.engine) as s:
        s.execute(
            update(Cloud).where(Cloud.name == "os").values(flavor_prices={"m1.small": 0.02, "c8.large": 0.16})
        )
    w.submit(1, target_alias="to-os", attrs={"VMMaximumPrice": maximum}, **JOB)
    w.run(60)
    if maximum < 0.02:
        assert mixed.nova.servers == {} and skips(w, "price_too_high")
        return
    with session_scope(w.engine) as s:
        flavors = [r.flavor for r in s.scalars(select(BootRequest).where(BootRequest.cloud_name == "os"))]
    assert flavors == ["m1.small"] and len(mixed.nova.servers) == 1
