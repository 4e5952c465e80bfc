"""Registration, refresh and expiry rules against the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from include.shoal import registry
from include.shoal.geo import GeoIPMissing, Locator
from include.store.models import ShoalCache

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def beat(uuid="u1", ts=None, **fields) -> bytes:
    body = {
        "uuid": uuid,
        "hostname": f"{uuid}.example.org",
        "squid_port": "3128",
        "verified": False,
        "max_load": -112,
        "public_ip": "192.0.2.2",
        "timestamp": (ts or NOW).timestamp(),
        "load": 0.0,
    }
    return json.dumps(body | fields).encode()


@pytest.fixture(scope="module")
def locator(tmp_path_factory):
    from tests.shoal import doubles

    path = doubles.write_geoip(tmp_path_factory.mktemp("geo") / "city.mmdb")
    loc = Locator(str(path))
    yield loc
    loc.close()


def ingest(engine, bodies, locator, now=NOW):
    with Session(engine) as session, session.begin():
        return registry.ingest(session, bodies, locator, now, 180)


def rows(engine) -> dict[str, ShoalCache]:
    with Session(engine) as session:
        return {r.uuid: r for r in session.scalars(select(ShoalCache))}


def test_new_caches_are_registered_with_geo_data(store_engine, locator):
    counts = ingest(store_engine, [beat("u1"), beat("u2", public_ip="203.0.113.9", load="55.5")], locator)
    assert counts == {"registered": 2}
    got = rows(store_engine)
    assert got["u1"].geo["city"] == "Geneva" and got["u1"].port == 3128 and got["u1"].max_load == -112
    assert got["u2"].geo["country_code"] == "JP" and got["u2"].load == 55.5
    assert got["u1"].created == NOW and got["u1"].last_active == NOW and got["u1"].verified is False


def test_known_uuid_refreshes_load_and_time_only(store_engine, locator):
    ingest(store_engine, [beat("u1")], locator)
    later = NOW + timedelta(seconds=30)
    counts = ingest(
        store_engine,
        [beat("u1", ts=later, load=900.0, public_ip="203.0.113.1", squid_port=9999)],
        locator,
        now=later,
    )
    assert counts == {"refreshed": 1}
    row = rows(store_engine)["u1"]
    assert (row.load, row.last_active, row.public_ip, row.port) == (900.0, later, "192.0.2.2", 3128)


def test_rejections(store_engine, locator):
    bodies = [
        beat("stale", ts=NOW - timedelta(seconds=180)),
        beat("private", public_ip=None, private_ip="10.0.0.1"),
        beat("nowhere", public_ip="8.8.8.8"),
        beat("none", public_ip=None),
        b"{not json",
        json.dumps({"uuid": "x", "hostname": "h", "timestamp": 1, "squid_port": 1}).encode(),
    ]
    counts = ingest(store_engine, bodies, locator)
    assert counts == {
        "rejected:stale": 1,
        "rejected:private_only": 1,
        "rejected:not_located": 1,
        "rejected:no_address": 1,
        "rejected:not_json": 1,
        "rejected:missing:load": 1,
    }
    assert rows(store_engine) == {}


def test_drifted_clock_is_accepted_and_recorded(store_engine, locator):
    counts = ingest(
        store_engine,
        [beat("drift", ts=NOW - timedelta(seconds=60)), beat("ahead", ts=NOW + timedelta(hours=2))],
        locator,
    )
    assert counts == {"registered": 2}
    got = rows(store_engine)
    assert got["drift"].drift_seconds == pytest.approx(60) and got["ahead"].drift_seconds == pytest.approx(
        -7200
    )
    assert got["ahead"].last_active == NOW  # a clock running ahead cannot keep a cache alive


def test_external_ip_locates_a_natted_cache_and_same_batch_repeats_refresh(store_engine, locator):
    counts = ingest(
        store_engine,
        [
            beat("nat", public_ip=None, private_ip="10.1.0.5", external_ip="198.51.100.7"),
            beat("nat", load=5.0),
        ],
        locator,
    )
    assert counts == {"registered": 1, "refreshed": 1}
    assert rows(store_engine)["nat"].geo["city"] == "Chicago" and rows(store_engine)["nat"].load == 5.0


def test_expiry_after_inactive_time(store_engine, locator):
    ingest(store_engine, [beat("u1"), beat("u2")], locator)
    ingest(
        store_engine, [beat("u2", ts=NOW + timedelta(seconds=100))], locator, now=NOW + timedelta(seconds=100)
    )
    with Session(store_engine) as session, session.begin():
        assert registry.expire(session, NOW + timedelta(seconds=180), 180) == []
        assert [v.uuid for v in registry.live_views(session, NOW + timedelta(seconds=180), 180)] == [
            "u1",
            "u2",
        ]
        assert registry.expire(session, NOW + timedelta(seconds=181), 180) == ["u1"]
    assert list(rows(store_engine)) == ["u2"]


def test_missing_geoip_database_fails_loudly(tmp_path):
    with pytest.raises(GeoIPMissing, match="CS_SHOAL_GEOIP_DB"):
        Locator(str(tmp_path / "absent.mmdb"))
    (tmp_path / "junk.mmdb").write_bytes(b"not a database")
    with pytest.raises(GeoIPMissing, match="unreadable"):
        Locator(str(tmp_path / "junk.mmdb"))
