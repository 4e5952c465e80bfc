"""Fixtures for the Shoal tests: GeoIP databases, settings with unique broker names, the stub origin,
real squids, and our API served by uvicorn exactly as the plugin mounts it."""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from include.shoal.settings import ShoalSettings
from tests.shoal import doubles

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:  # Airflow puts the plugins folder on sys.path; so do we
    sys.path.insert(0, str(ROOT / "plugins"))

# The four URLs the published client checks (its config.paths), one per stratum-1 host.
CLIENT_URLS = (
    "http://cvmfs-stratum-one.cern.ch/cvmfs/atlas-condb.cern.ch/.cvmfswhitelist",
    "http://cernvmfs.gridpp.rl.ac.uk/cvmfs/sft.cern.ch/.cvmfswhitelist",
    "http://cvmfs.racf.bnl.gov/cvmfs/atlas.cern.ch/.cvmfswhitelist",
    "http://cvmfs.fnal.gov/cvmfs/grid.cern.ch/.cvmfswhitelist",
)


@pytest.fixture(scope="session")
def geoip_db(tmp_path_factory) -> str:
    return str(doubles.write_geoip(tmp_path_factory.mktemp("geoip") / "city.mmdb"))


@pytest.fixture(scope="session")
def domain_db(tmp_path_factory) -> str:
    return str(doubles.write_domains(tmp_path_factory.mktemp("geoip") / "domain.mmdb"))


@pytest.fixture
def make_settings(geoip_db):
    """Settings for one test: unique exchange and queue names so parallel runs share the broker safely."""
    tag = uuid.uuid4().hex[:10]

    def make(**overrides) -> ShoalSettings:
        values = {
            "geoip_db": geoip_db,
            "exchange": f"shoal-test-{tag}",
            "queue": f"cs-shoal-test-{tag}",
            "verify_urls": CLIENT_URLS,
            "verify_timeout": 2.0,
            "snapshot_ttl": 0.0,
            # Reverse DNS asks a DNS server for every address; the tests of it start their own (dnsmasq).
            "reverse_dns": False,
        }
        return ShoalSettings(**(values | overrides))

    return make


@pytest.fixture
def origin() -> Iterator[doubles.Origin]:
    server = doubles.start_origin()
    yield server
    server.stop()


@pytest.fixture
def squids(origin) -> Iterator:
    """``squids(ip)`` starts a real squid on ``ip`` in front of the origin; all stop at teardown."""
    started: list[doubles.Squid] = []

    def start(ip: str = "127.0.0.1", port: int | None = None) -> doubles.Squid:
        squid = doubles.Squid(origin.port, ip=ip, port=port)
        started.append(squid)
        return squid

    yield start
    for squid in started:
        squid.stop()


@pytest.fixture
def serve_api(monkeypatch):
    """``serve_api(service)`` serves the plugin's Shoal router with ``service`` behind it, mounted as
    Airflow mounts plugin apps (``app.mount("/cloudscheduler", create_app-like app)``); returns the
    base URL of the Shoal API, e.g. ``http://127.0.0.1:PORT/cloudscheduler/shoal``."""
    import socket

    import uvicorn
    from cloudscheduler import shoal_api
    from fastapi import FastAPI

    servers = []

    def serve(service) -> str:
        monkeypatch.setattr(shoal_api, "service", lambda: service)
        plugin_app = FastAPI()
        plugin_app.include_router(shoal_api.router, prefix="/shoal")
        root = FastAPI()
        root.mount("/cloudscheduler", plugin_app)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(root, log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        doubles.wait_port("127.0.0.1", sock.getsockname()[1])
        servers.append((server, thread, sock))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/cloudscheduler/shoal"

    yield serve
    for server, thread, sock in servers:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
