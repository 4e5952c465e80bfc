"""Choosing a cloud, an image and a flavor for each demand shape (F4), one rule per test."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from include.scheduler.model import BootVolume, Flavor, Limits, Quota, VmSettings
from include.scheduler.planner import plan
from include.scheduler.reasons import SkipReason as S
from tests.scheduler.builders import (
    FLAVORS,
    IMAGE,
    NOW,
    POLICY,
    backoff,
    booted,
    cloud,
    demand_skip,
    group,
    idle_jobs,
    snapshot,
)

JOBS = idle_jobs(2, cores=8)


@pytest.mark.parametrize(
    "changes,reason",
    [
        ({"enabled": False}, S.CLOUD_DISABLED),
        ({"paused": True}, S.CLOUD_PAUSED),
        ({"stale": True}, S.CLOUD_STALE),
        ({"credential_expiry": NOW + timedelta(days=3)}, S.CREDENTIAL_EXPIRING),
        ({"images": ()}, S.IMAGE_MISSING),
        ({"image": None}, S.IMAGE_MISSING),
        ({"flavors": FLAVORS[:2]}, S.NO_FLAVOR_FITS),
        ({"flavor_exclusions": frozenset({"c8", "c16"})}, S.NO_FLAVOR_FITS),
        ({"flavor": "c99"}, S.FLAVOR_MISSING),
        ({"flavor": "c8", "flavor_exclusions": frozenset({"c8"})}, S.FLAVOR_EXCLUDED),
        ({"flavor": "c4"}, S.NO_FLAVOR_FITS),
    ],
    ids=[
        "disabled",
        "paused",
        "stale",
        "credential-expiring",
        "image-not-on-cloud",
        "no-image-named",
        "no-flavor-big-enough",
        "fitting-flavors-excluded",
        "default-flavor-missing",
        "default-flavor-excluded",
        "default-flavor-too-small",
    ],
)
def test_a_cloud_that_cannot_serve_says_why(changes, reason):
    result = plan(snapshot(clouds=[cloud(**changes)], jobs=JOBS), POLICY, NOW)
    assert not result.boots
    skip = demand_skip(result)
    assert (skip.reason, skip.cloud, skip.jobs) == (reason, "c1", 2)


def test_credentials_expiring_later_than_the_window_do_not_block():
    result = plan(
        snapshot(clouds=[cloud(credential_expiry=NOW + timedelta(days=30))], jobs=JOBS), POLICY, NOW
    )
    assert booted(result) == {"c1": ("c8", 2)}


@pytest.mark.parametrize(
    "cores,ram,flavor",
    [(8, 16000, "c8"), (5, 1000, "c8"), (1, 500, "c2"), (4, 9000, "c8"), (16, 1000, "c16")],
)
def test_the_smallest_fitting_flavor_is_chosen(cores, ram, flavor):
    result = plan(snapshot(jobs=idle_jobs(1, cores=cores, ram_mb=ram)), POLICY, NOW)
    assert booted(result) == {"c1": (flavor, 1)}


ONE_CORE = idle_jobs(8, cores=1, ram_mb=2000)  # 2 per c2, 4 per c4, 8 per c8


def test_an_instance_quota_takes_the_smallest_larger_flavor_that_holds_the_jobs():
    """An OpenStack project allowed 2 instances and cores to spare: 2 c2 VMs would hold 4 of 8 jobs and
    leave the rest waiting beside unused cores; 2 c4 VMs hold them all (a c8 would hold no more)."""
    snap = snapshot(clouds=[cloud(quota=Quota(instances_max=2))], jobs=ONE_CORE)
    result = plan(snap, POLICY, NOW)
    assert booted(result) == {"c1": ("c4", 2)}
    assert sum(s.jobs for s in result.boots[0].serves) == 8 and not result.skips


@pytest.mark.parametrize(
    "why,clouds,policy",
    [
        ("the cloud's flavour", [cloud(flavor="c2", quota=Quota(instances_max=2))], POLICY),
        ("cores bind too", [cloud(limits=Limits(cores_ctl=4), quota=Quota(instances_max=2))], POLICY),
        ("the cycle cap paces", [cloud()], replace(POLICY, max_boot_per_cycle=2)),
        ("the throttle paces", [cloud()], replace(POLICY, new_vms_throttle=2)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_the_smallest_flavor_stays_when_no_vm_count_limit_is_what_stops_it(why, clouds, policy):
    """A flavour the site named is kept; so is the smallest one where cores bind as well (a larger VM
    would hold no more jobs) or where only a pace (cycle cap, new-VM throttle) stops boots: the next
    cycle boots more, and a larger VM would drain a longer tail."""
    assert booted(plan(snapshot(clouds=clouds, jobs=ONE_CORE), policy, NOW)) == {"c1": ("c2", 2)}


def test_a_larger_flavor_never_breaks_the_jobs_price_cap():
    """A submitter caps VMMaximumPrice at 0.5: where an instance quota would take a larger flavour, one
    over the cap is never booted (c8 and c16 cost 2.0); the cheaper c4 that still fits is."""
    prices = {"c2": 0.1, "c4": 0.2, "c8": 2.0, "c16": 2.0}
    flavors = tuple(Flavor(f.name, f.cores, f.ram_mb, f.disk_gb, price=prices[f.name]) for f in FLAVORS)
    jobs = idle_jobs(16, cores=1, ram_mb=2000, max_price=0.5)  # 8 c2, 4 c4 or 2 c8 VMs would hold them
    snap = snapshot(clouds=[cloud(flavors=flavors, quota=Quota(instances_max=2))], jobs=jobs)
    result = plan(snap, POLICY, NOW)
    assert booted(result) == {"c1": ("c4", 2)}
    assert demand_skip(result).jobs == 8


def test_clouds_of_one_tier_that_together_hold_the_jobs_keep_the_smallest_flavor():
    clouds = [cloud(name, quota=Quota(instances_max=2)) for name in ("east", "west")]
    assert booted(plan(snapshot(clouds=clouds, jobs=ONE_CORE), POLICY, NOW)) == {
        "east": ("c2", 2),
        "west": ("c2", 2),
    }


@pytest.mark.parametrize(
    "disk,swap,flavor", [(45, 0, "small"), (50, 2, "swappy"), (100, 2, "huge"), (600, 0, None)]
)
def test_disk_counts_root_plus_ephemeral_and_swap_must_fit(disk, swap, flavor):
    flavors = (
        Flavor("small", 8, 16000, disk_gb=10, ephemeral_gb=40, swap_gb=0),
        Flavor("swappy", 8, 16000, disk_gb=60, swap_gb=4),
        Flavor("huge", 8, 16000, disk_gb=500, swap_gb=8),
    )
    snap = snapshot(clouds=[cloud(flavors=flavors)], jobs=idle_jobs(1, disk_gb=disk, swap_gb=swap))
    assert booted(plan(snap, POLICY, NOW)) == ({"c1": (flavor, 1)} if flavor else {})


def test_a_boot_volume_is_the_disk_of_every_flavor():
    snap = snapshot(
        clouds=[cloud(boot_volume=BootVolume(gb=20, gb_per_core=10))], jobs=idle_jobs(1, disk_gb=90)
    )
    assert booted(plan(snap, POLICY, NOW)) == {"c1": ("c8", 1)}  # 20 + 10 x 8 = 100 GB >= 90


def test_excluded_flavors_are_skipped_for_the_next_fitting_one():
    snap = snapshot(clouds=[cloud(flavor_exclusions=frozenset({"c8"}))], jobs=idle_jobs(2, cores=8))
    assert booted(plan(snap, POLICY, NOW)) == {"c1": ("c16", 1)}  # one 16-core VM holds both jobs


@pytest.mark.parametrize(
    "instance_type,flavor,vms",
    [
        ("c1:c16", "c16", 1),
        ("default:c16", "c16", 1),
        ("c16", "c16", 1),
        ("c2:c4,default:c16", "c16", 1),
        ("c2:c4", "c8", 2),
    ],
    ids=["for-this-cloud", "default-entry", "bare-name", "other-cloud-then-default", "other-cloud-only"],
)
def test_a_job_may_name_its_flavor_per_cloud(instance_type, flavor, vms):
    snap = snapshot(jobs=idle_jobs(2, cores=8, instance_type=instance_type))
    assert booted(plan(snap, POLICY, NOW)) == {"c1": (flavor, vms)}


def test_the_cloud_default_flavor_is_used_and_hosts_several_jobs():
    snap = snapshot(clouds=[cloud(flavor="c16")], jobs=idle_jobs(4, cores=8))
    assert booted(plan(snap, POLICY, NOW)) == {"c1": ("c16", 2)}


def test_the_group_default_flavor_applies_when_the_cloud_sets_none():
    snap = snapshot(groups=[group(vm=VmSettings(flavor="c16", keep_alive=300))], jobs=idle_jobs(2, cores=8))
    assert booted(plan(snap, POLICY, NOW)) == {"c1": ("c16", 1)}


@pytest.mark.parametrize(
    "image,cloud_images,booted_image",
    [
        (None, {IMAGE}, IMAGE),
        ("alma9", {IMAGE, "alma9"}, "alma9"),
        ("c1:alma9,default:x", {"alma9"}, "alma9"),
        ("c2:alma9,default:cernvm", {IMAGE}, IMAGE),
    ],
    ids=["cloud-default", "job-image", "job-image-for-this-cloud", "job-default-entry"],
)
def test_the_image_is_the_jobs_for_this_cloud_else_the_default(image, cloud_images, booted_image):
    snap = snapshot(clouds=[cloud(images=cloud_images)], jobs=idle_jobs(1, image=image))
    (boot,) = plan(snap, POLICY, NOW).boots
    assert boot.image == booted_image


def test_the_group_default_image_applies_when_the_cloud_sets_none():
    snap = snapshot(
        groups=[group(vm=VmSettings(image=IMAGE, keep_alive=300))], clouds=[cloud(image=None)], jobs=JOBS
    )
    assert [b.image for b in plan(snap, POLICY, NOW).boots] == [IMAGE]


def test_aliases_match_exactly_not_as_substrings():
    clouds = [cloud("a"), cloud("abc", aliases={"x"})]
    result = plan(snapshot(clouds=clouds, jobs=idle_jobs(2, target_alias="x")), POLICY, NOW)
    assert booted(result) == {"abc": ("c8", 2)}
    assert all(b.target_alias == "x" for b in result.boots)


def test_an_alias_no_cloud_has_is_reported():
    result = plan(snapshot(jobs=idle_jobs(3, target_alias="nowhere")), POLICY, NOW)
    skip = demand_skip(result)
    assert (skip.reason, skip.jobs, skip.cloud) == (S.ALIAS_UNKNOWN, 3, None)


def test_clouds_outside_the_alias_say_not_in_alias():
    clouds = [cloud("c1"), cloud("c2", aliases={"west"}, enabled=False)]
    result = plan(snapshot(clouds=clouds, jobs=idle_jobs(1, target_alias="west")), POLICY, NOW)
    skip = demand_skip(result)
    assert (skip.reason, skip.cloud) == (S.CLOUD_DISABLED, "c2")
    assert "not_in_alias: c1" in skip.detail


@pytest.mark.parametrize(
    "prices,max_price,outcome",
    [
        ({"c8": 1.0, "c16": 0.4}, 0.5, ("c16", 1)),
        ({"c8": 1.0, "c16": 2.0}, 0.5, S.PRICE_TOO_HIGH),
        ({"c8": 1.0, "c16": 2.0}, None, ("c8", 2)),
        ({}, 0.1, ("c8", 2)),
    ],
    ids=["cheapest-fitting-within-price", "all-too-dear", "no-maximum", "unpriced-private-cloud"],
)
def test_vm_maximum_price_is_honoured(prices, max_price, outcome):
    flavors = tuple(Flavor(f.name, f.cores, f.ram_mb, f.disk_gb, price=prices.get(f.name)) for f in FLAVORS)
    snap = snapshot(clouds=[cloud(flavors=flavors)], jobs=idle_jobs(2, cores=8, max_price=max_price))
    result = plan(snap, POLICY, NOW)
    if isinstance(outcome, S):
        assert not result.boots and demand_skip(result).reason == outcome
    else:
        assert booted(result) == {"c1": outcome}


@pytest.mark.parametrize("spot,max_price,boots", [(0.3, 0.5, True), (0.8, 0.5, False), (0.8, None, True)])
def test_a_spot_bid_is_the_price_and_is_passed_on(spot, max_price, boots):
    snap = snapshot(clouds=[cloud(spot_price=spot)], jobs=idle_jobs(1, max_price=max_price))
    result = plan(snap, POLICY, NOW)
    assert [b.spot_price for b in result.boots] == ([spot] if boots else [])


@pytest.mark.parametrize(
    "b,outcome",
    [
        (backoff(until=NOW + timedelta(minutes=5)), S.BACKOFF),
        (backoff(until=NOW - timedelta(seconds=1)), ("c8", 2)),
        (backoff(disabled=True), S.BOOT_DISABLED),
        (backoff(flavor="c8", until=NOW + timedelta(minutes=5)), S.BACKOFF),
        (backoff(flavor="c8", disabled=True), ("c16", 1)),
        (backoff(flavor="c16", disabled=True), ("c8", 2)),
    ],
    ids=[
        "cloud-backed-off",
        "back-off-over",
        "cloud-disabled-after-failures",
        "flavor-backed-off-waits-rather-than-enlarge",
        "flavor-disabled-next-fits",
        "other-flavor-disabled",
    ],
)
def test_back_off_blocks_a_cloud_or_a_flavor(b, outcome):
    result = plan(snapshot(jobs=JOBS, backoffs=[b]), POLICY, NOW)
    if isinstance(outcome, S):
        assert not result.boots and demand_skip(result).reason == outcome
    else:
        assert booted(result) == {"c1": outcome}


def test_a_requested_flavor_that_is_backed_off_is_not_swapped():
    snap = snapshot(jobs=idle_jobs(1, instance_type="c8"), backoffs=[backoff(flavor="c8", disabled=True)])
    result = plan(snap, POLICY, NOW)
    assert not result.boots and demand_skip(result).reason == S.BOOT_DISABLED


def test_a_stale_pool_means_no_boots_for_its_group():
    result = plan(snapshot(groups=[group(pool_stale=True)], jobs=JOBS), POLICY, NOW)
    assert not result.boots and demand_skip(result).reason == S.POOL_STALE


def test_a_group_without_clouds_says_so():
    result = plan(snapshot(clouds=[], jobs=JOBS), POLICY, NOW)
    assert demand_skip(result).reason == S.NO_CLOUDS


def test_boots_carry_what_the_act_step_needs():
    g = group(
        vm=VmSettings(
            image=IMAGE, keyname="ops", network="net0", security_groups=("default", "condor"), keep_alive=300
        )
    )
    snap = snapshot(
        groups=[g],
        jobs=idle_jobs(
            3,
            cores=8,
            keep_alive=900.0,
            user_data="/srv/parts/extra.yaml:cloud-config",
            network="c1:private",
            owner="bob",
        ),
    )
    (boot,) = plan(snap, replace(POLICY, job_user_data_places=("/srv/parts/",)), NOW).boots
    assert (boot.keyname, boot.network, boot.security_groups) == ("ops", "private", ("default", "condor"))
    assert (boot.keep_alive, boot.user_data, boot.owners, boot.cores, boot.ram_mb) == (
        900,
        "/srv/parts/extra.yaml:cloud-config",
        ("bob",),
        8,
        16000,
    )
    assert boot.vm_ids == tuple(f"{boot.request_id}-{i}" for i in (1, 2, 3))
    assert [(s.shape, s.jobs) for s in boot.serves] == [
        ("*/8c/16000mb/10gb/0sw/net=c1:private/ud=/srv/parts/extra.yaml:cloud-config/ka=900", 3)
    ]


def test_the_plan_says_why_nothing_booted():
    clouds = [
        cloud("c1", enabled=False),
        cloud("c2", paused=True, priority=1),
        cloud("c3", images=(), priority=2),
    ]
    snap = snapshot(clouds=clouds, jobs=idle_jobs(4) + idle_jobs(2, cores=2, ram_mb=2000, owner="bob"))
    result = plan(snap, POLICY, NOW)
    (first, second) = result.why_not_booted("atlas")
    assert (first.jobs, second.jobs) == (4, 2)
    assert first.reason == S.CLOUD_DISABLED and first.cloud == "c1"
    assert first.detail == "cloud_disabled: c1; cloud_paused: c2; image_missing: c3"
    summary = result.summary()
    assert summary["boots"] == 0 and summary["unserved_jobs"] == {"cloud_disabled": 6}
    assert summary["idle_jobs"] == 6 and summary["skips"] == {"cloud_disabled": 2}


@pytest.mark.parametrize(
    "user_data",
    [
        "extra.yaml:cloud-config",
        "/etc/shadow:text/x-shellscript",
        "/srv/parts/../../etc/shadow",
        "https://evil.example/x:cloud-config",
    ],
)
def test_user_data_from_a_place_the_site_does_not_allow_is_refused(user_data):
    snap = snapshot(jobs=idle_jobs(2, cores=8, user_data=user_data))
    result = plan(snap, replace(POLICY, job_user_data_places=("/srv/parts/", "https://parts.example/")), NOW)
    assert result.boots == ()
    [skip] = result.skips
    assert skip.reason == S.USER_DATA_REFUSED and skip.jobs == 2 and "job_user_data_places" in skip.detail


def test_an_image_is_found_by_id_and_an_ambiguous_name_names_both_ids():
    by_id = snapshot(
        clouds=[cloud("c1", images=("cernvm4", "ami-0abc"))], jobs=idle_jobs(1, cores=8, image="ami-0abc")
    )
    (boot,) = plan(by_id, POLICY, NOW).boots
    assert boot.image == "ami-0abc"
    twice = replace(
        cloud("c1", images=("cernvm4", "img-1", "img-2")), ambiguous_images=(("cernvm4", ("img-1", "img-2")),)
    )
    result = plan(snapshot(clouds=[twice], jobs=idle_jobs(1, cores=8, image="cernvm4")), POLICY, NOW)
    [skip] = [s for s in result.skips if s.jobs]
    assert skip.reason == S.IMAGE_AMBIGUOUS and "img-1 and img-2" in skip.detail


def test_a_flavour_backed_off_for_a_minute_is_waited_for_not_enlarged():
    """The flaky cloud's 8-core flavour just failed a boot (capacity, a one-minute back-off). Its three
    8-core jobs wait for it rather than take 16-core VMs, whose jobs, ending apart, would leave 8 cores
    idle for hours; once the back-off is over they get 8-core VMs."""
    jobs = idle_jobs(3, cores=8)
    soon = backoff(flavor="c8", until=NOW + timedelta(minutes=1))
    result = plan(snapshot(jobs=jobs, backoffs=[soon]), POLICY, NOW)
    assert not result.boots and demand_skip(result).reason == S.BACKOFF
    later = plan(snapshot(jobs=jobs, backoffs=[soon]), POLICY, NOW + timedelta(minutes=2))
    assert booted(later) == {"c1": ("c8", 3)}


def test_a_cloud_whose_right_size_is_disabled_waits_behind_one_that_offers_it():
    """Two clouds of one tier; east's 8-core flavour failed too often and is disabled, so east offers
    16-core VMs. Three 8-core jobs go to west's 8-core VMs, not to a 16-core VM on east that would hold
    one job's cores idle once the other ends."""
    clouds = [cloud("east"), cloud("west")]
    snap = snapshot(
        clouds=clouds,
        jobs=idle_jobs(3, cores=8),
        backoffs=[backoff(cloud="east", flavor="c8", disabled=True)],
    )
    assert booted(plan(snap, POLICY, NOW)) == {"west": ("c8", 3)}


def test_the_larger_flavour_still_serves_what_the_right_sized_clouds_cannot():
    """West may take only one more VM: with east's 8-core flavour disabled (not coming back by itself),
    the other two 8-core jobs go to east's 16-core flavour rather than wait for an operator."""
    clouds = [cloud("east"), cloud("west", quota=Quota(instances_max=1))]
    snap = snapshot(
        clouds=clouds,
        jobs=idle_jobs(3, cores=8),
        backoffs=[backoff(cloud="east", flavor="c8", disabled=True)],
    )
    assert booted(plan(snap, POLICY, NOW)) == {"west": ("c8", 1), "east": ("c16", 1)}


def test_without_a_back_off_clouds_of_one_tier_still_fill_evenly():
    snap = snapshot(clouds=[cloud("east"), cloud("west")], jobs=idle_jobs(4, cores=8))
    assert booted(plan(snap, POLICY, NOW)) == {"east": ("c8", 2), "west": ("c8", 2)}
