"""Ranking reproduces the original's formula and figures; access rules decide who sees what."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from include.shoal.ranking import HALF_CIRCUMFERENCE_KM, Ranker, Requester, Weights, haversine_km, private16
from tests.shoal.builders import COORDS, cache

VICTORIA = Requester("127.0.0.1", *COORDS["victoria"])
NOW, INACTIVE = 1100.0, 180


def rank(caches, requester=VICTORIA, count=10, **kw):
    return Ranker(caches).nearest(requester, count, now=NOW, inactive_time=INACTIVE, **kw)


def test_the_observed_scores_of_the_original():
    # Reference 3.4: a Geneva cache seen from Victoria scored 0.2101; a Victoria cache with load
    # 50000 KiB/s scored 0.2049.
    ((geneva, score_g, _),) = rank([cache("g", "geneva")])
    ((victoria, score_v, _),) = rank([cache("v", "victoria", load=50_000)])
    assert round(score_g, 4) == 0.2101
    assert round(score_v, 4) == 0.2049


@pytest.mark.properties
@settings(deadline=None)
@given(
    st.floats(-89, 89), st.floats(-179, 179), st.floats(-89, 89), st.floats(-179, 179), st.floats(0, 300_000)
)
def test_vectorised_score_equals_the_scalar_formula(rlat, rlon, clat, clon, load):
    c = cache("c", latitude=clat, longitude=clon, load=load)
    w = Weights()
    expected = haversine_km(rlat, rlon, clat, clon) / HALF_CIRCUMFERENCE_KM * w.distload_weight + (
        load / w.max_load
    ) ** w.load_constant * (1 - w.distload_weight)
    got = Ranker([c]).scores(Requester("192.0.2.1", rlat, rlon))[0]
    assert got == pytest.approx(expected, abs=1e-9)


def test_order_by_distance_then_load_and_count():
    caches = [
        cache("tokyo", "tokyo"),
        cache("geneva", "geneva"),
        cache("chicago", "chicago"),
        cache("busy-local", "victoria", load=122_000),
        cache("local", "victoria"),
    ]
    assert [c.uuid for c, _, _ in rank(caches)] == ["local", "chicago", "tokyo", "geneva", "busy-local"]
    assert [c.uuid for c, _, _ in rank(caches, count=2)] == ["local", "chicago"]
    assert rank(caches, count=0) == []


def test_ties_keep_registration_order():
    caches = [cache(f"c{i}", "geneva") for i in range(5)]
    assert [c.uuid for c, _, _ in rank(caches)] == ["c0", "c1", "c2", "c3", "c4"]


def test_unverified_restricted_and_silent_caches_are_not_served_globally():
    caches = [
        cache("ok"),
        cache("unverified", verified=False),
        cache("servelocal", global_access=False),
        cache("silent", last_active=NOW - INACTIVE - 1),
        cache("varnish", cache_type="varnish"),
    ]
    assert [c.uuid for c, _, _ in rank(caches)] == ["ok"]
    assert [c.uuid for c, _, _ in rank(caches, kind="cvmfs")] == ["ok", "varnish"]


def test_an_unplaceable_requester_gets_its_local_caches_only_as_the_original_answered_null():
    """The original answered ``null`` to a requester GeoIP could not place, so its client fell back to
    its own configured proxies; caches anywhere in the world ranked by load would be a worse guess.
    A cache it may use locally (same private /16) is still the right answer."""
    far, near = cache("far-idle", "tokyo", load=10), cache("near-busy", "victoria", load=5000)
    site = cache("site", "victoria", load=900, private_ip="10.9.0.5")
    assert rank([far, near], requester=Requester("10.9.9.9")) == []
    assert [(c.uuid, local) for c, _, local in rank([far, near, site], requester=Requester("10.9.9.9"))] == [
        ("site", True)
    ]
    by_load = Ranker([far, near], Weights(rank_unplaced_by_load=True))
    ranked = by_load.nearest(Requester("10.9.9.9"), 10, now=NOW, inactive_time=INACTIVE)
    assert [c.uuid for c, _, _ in ranked] == ["far-idle", "near-busy"], "the setting keeps ranking by load"


def test_same_domain_serves_unverified_caches_as_local():
    caches = [
        cache("site", verified=False, domain="cern.example"),
        cache("other", verified=False, domain="x.org"),
    ]
    ranked = rank(caches, requester=Requester("192.0.2.5", *COORDS["geneva"], domain="cern.example"))
    assert [(c.uuid, local) for c, _, local in ranked] == [("site", True)]
    assert (
        rank(
            caches,
            requester=Requester("192.0.2.5", *COORDS["geneva"], domain="cern.example"),
            verified_only=True,
        )
        == []
    )


def test_private_network_and_nat_rules():
    behind_nat = cache("nat", verified=False, private_ip="10.1.0.5", external_ip="198.51.100.7")
    opted_out = cache("private09", verified=False, private_ip="10.1.0.6", domain_access=False)
    same_16 = Requester("10.1.200.1")
    other_16 = Requester("10.2.0.1")
    from_nat = Requester("198.51.100.7", *COORDS["chicago"])
    assert [(c.uuid, local) for c, _, local in rank([behind_nat, opted_out], requester=same_16)] == [
        ("nat", True)
    ]
    assert rank([behind_nat, opted_out], requester=other_16) == []
    assert [c.uuid for c, _, _ in rank([behind_nat], requester=from_nat)] == ["nat"]


def test_a_verified_cache_at_the_requesters_site_is_local():
    site = cache("site", private_ip="10.1.0.5")
    assert [(c.uuid, local) for c, _, local in rank([site], requester=Requester("10.1.3.3"))] == [
        ("site", True)
    ]
    assert [(c.uuid, local) for c, _, local in rank([site])] == [("site", False)]


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("10.1.2.3", "10.1"),
        ("172.20.1.1", "172.20"),
        ("192.168.7.1", "192.168"),
        ("172.32.0.1", None),
        ("127.0.0.1", None),
        ("::1", None),
        ("junk", None),
        (None, None),
    ],
)
def test_private16(ip, key):
    assert private16(ip) == key
