"""The public HTTP API as the plugin serves it: routes, shapes, odd input (never a 500), status page."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy.orm import Session

from include.shoal import registry
from include.shoal.geo import Locator
from include.shoal.service import ShoalService


def beat(uuid, ip="192.0.2.2", **fields) -> bytes:
    body = {
        "uuid": uuid,
        "hostname": f"{uuid}.example.org",
        "squid_port": 3128,
        "public_ip": ip,
        "timestamp": time.time(),
        "load": 0.0,
    }
    return json.dumps(body | fields).encode()


@pytest.fixture
def api(sqlite_engine, make_settings, serve_api, geoip_db):
    settings = make_settings()
    locator = Locator(geoip_db)
    bodies = [
        beat("geneva"),
        beat("tokyo", "203.0.113.5"),
        beat("chicago", "198.51.100.5"),
        beat("fresh", "198.51.100.6", hostname="<b>x</b>"),
    ]  # the last is rejected: bad hostname
    with Session(sqlite_engine) as session, session.begin():
        for body in bodies:  # one batch each, so registration times differ
            registry.ingest(session, [body], locator, datetime.now(UTC), 180)
        for row in session.scalars(registry.select(registry.ShoalCache)):
            row.verified = row.uuid != "tokyo"
            row.verify_attempted = datetime.now(UTC)
            row.verify_error = "<script>alert(1)</script>" if row.uuid == "tokyo" else None
    service = ShoalService(settings, engine=lambda: sqlite_engine)
    return serve_api(service)


def get(url, **kw):
    session = requests.Session()
    session.trust_env = False
    return session.get(url, timeout=10, **kw)


def test_nearest_shapes_and_counts(api):
    for path in ("/nearest", "/nearest/", "/nearest/7", "/nearest/7/", "/nearestverified/2/"):
        response = get(api + path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "application/json"
    data = get(api + "/nearest").json()  # requester 127.0.0.1 = Victoria in the test GeoIP data
    assert [d["hostname"] for d in data.values()] == ["chicago.example.org", "geneva.example.org"]
    assert list(get(api + "/nearest/1/").json()) == ["0"]
    assert get(api + "/nearest/0").text == "null"
    assert get(api + "/nearestcvmfs/3").json()["0"]["hostname"] == "chicago.example.org"
    assert len(get(api + "/nearestconditions").json()) == 2


def test_all_lists_every_live_cache_in_registration_order(api):
    data = get(api + "/all").json()
    assert [d["hostname"] for d in data.values()] == [
        "geneva.example.org",
        "tokyo.example.org",
        "chicago.example.org",
    ]
    assert get(api + "/all/3/").json() == data


def test_wpad(api):
    response = get(api + "/wpad.dat")
    assert response.headers["content-type"] == "application/x-ns-proxy-autoconfig"
    assert int(response.headers["content-length"]) == len(response.content)
    assert (
        "PROXY http://chicago.example.org:3128;PROXY http://geneva.example.org:3128; DIRECT" in response.text
    )


@pytest.mark.parametrize(
    "path",
    [
        "/nearest/abc",
        "/nearest/-1",
        "/nearest/1.5",
        "/nearest/%00",
        "/nearest/7/x",
        "/all/x",
        "/nope",
        "/nearest/\u0661",
        "/..%2f..%2fetc/passwd",
    ],
)
def test_odd_paths_are_404_not_500(api, path):
    response = get(api + path)
    assert response.status_code == 404
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/nearest/" + "9" * 5000,
        "/nearest?count=abc&x=%ff",
        "/all?page=-5",
        "/?page=99999999999999999999",
        "/?page=abc",
        "/0",
        "/3?page=2",
    ],
)
def test_odd_numbers_and_params_are_answered(api, path):
    response = get(api + path)
    assert response.status_code == 200, response.text


def test_status_page_lists_caches_and_escapes(api):
    html = get(api + "/").text
    assert "geneva.example.org" in html and "Tokyo" in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Private" in html and "Global" in html  # tokyo failed its check; the others passed
    assert get(api + "/1?page=2").text.count("example.org</td>") == 1


def test_registry_failure_is_a_503_without_traceback(sqlite_engine, make_settings, serve_api):
    def broken():
        raise RuntimeError("database is on fire")

    base = serve_api(ShoalService(make_settings(), engine=broken))
    for path in ("/nearest", "/all", "/wpad.dat", "/"):
        response = get(base + path)
        assert (
            response.status_code == 503 and "fire" not in response.text and "Traceback" not in response.text
        )


def test_forwarded_for_is_believed_only_from_trusted_proxies(make_settings):
    trusting = ShoalService(make_settings(trusted_proxies=("127.0.0.0/8",)))
    plain = ShoalService(make_settings())
    assert trusting.client_ip("127.0.0.1", "203.0.113.9, 127.0.0.5") == "203.0.113.9"
    assert trusting.client_ip("198.51.100.1", "203.0.113.9") == "198.51.100.1"
    assert trusting.client_ip("127.0.0.1", "garbage") == "127.0.0.1"
    assert plain.client_ip("127.0.0.1", "203.0.113.9") == "127.0.0.1"


def test_the_plugin_app_serves_these_routes():
    from cloudscheduler.app import URL_PREFIX, create_app

    paths = {route.path for route in create_app().routes}
    assert URL_PREFIX == "/cloudscheduler"
    for path in (
        "/shoal/nearest",
        "/shoal/nearest/{n}/",
        "/shoal/nearestverified/{n}",
        "/shoal/all",
        "/shoal/wpad.dat",
        "/shoal/",
        "/shoal/{size}",
    ):
        assert path in paths
