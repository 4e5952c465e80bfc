"""The published shoal-client 1.0.4 (from PyPI, in its own venv) against our server: it requests
``/nearest/7/``, parses our JSON with its regexes, re-tests each cache through the cache, and prints them."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from include.shoal import registry, tasks
from include.shoal.geo import Locator
from include.shoal.service import ShoalService

pytestmark = [pytest.mark.squid, pytest.mark.slow]
CLIENT = "shoal-client==1.0.4"
CACHE = Path(os.environ.get("CS_TEST_CACHE", Path.home() / ".cache" / "cloudscheduler"))


def client_venv() -> Path:
    """A venv holding the published client, built once per machine; a lock keeps parallel runs apart
    (a venv cannot be renamed into place: its scripts name their interpreter by absolute path)."""
    home = CACHE / CLIENT.replace("==", "-")
    script = home / "bin" / "shoal-client"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{home.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not script.exists():
            shutil.rmtree(home, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
            subprocess.run([str(home / "bin" / "pip"), "install", "-q", CLIENT], check=True, timeout=300)
    return script


def run_client(script: Path, server: str, home: Path, *args: str) -> subprocess.CompletedProcess:
    (home / ".shoal").mkdir(parents=True, exist_ok=True)
    (home / ".shoal" / "shoal_client.conf").write_text(
        "[general]\nshoal_server_url = http://127.0.0.1:1/nearest\n"
        "default_squid_proxy = http://fallback.example.org:3128;DIRECT\n"
    )
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()} | {"HOME": str(home)}
    return subprocess.run(
        [str(script), "-s", server, *args], env=env, capture_output=True, text=True, timeout=120
    )


def beat(uuid: str, ip: str, port: int) -> bytes:
    return json.dumps(
        {
            "uuid": uuid,
            "hostname": f"{uuid}.example.org",
            "squid_port": str(port),
            "verified": False,
            "max_load": -112,
            "public_ip": ip,
            "timestamp": time.time(),
            "load": 0.0,
        }
    ).encode()


def test_published_client_prints_our_caches(
    sqlite_engine, make_settings, squids, serve_api, geoip_db, tmp_path
):
    script = client_venv()
    settings = make_settings()
    first, second = squids("127.0.0.6"), squids("127.0.0.7")
    with Session(sqlite_engine) as session, session.begin():
        registry.ingest(
            session,
            [
                beat("first", "127.0.0.6", first.port),
                beat("second", "127.0.0.7", second.port),
                beat("deadport", "127.0.0.8", 9),
            ],
            Locator(geoip_db),
            datetime.now(UTC),
            180,
        )
    assert len(tasks.verify_caches(settings, sqlite_engine)["verified"]) == 2
    base = serve_api(ShoalService(settings, engine=lambda: sqlite_engine))

    result = run_client(script, base + "/nearest", tmp_path, "-d", "-k")
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip()
    assert printed.startswith('"') and printed.endswith('"'), printed
    proxies = printed.strip('"').split(";")
    assert set(proxies[:2]) == {f"http://127.0.0.6:{first.port}", f"http://127.0.0.7:{second.port}"}
    assert proxies[2:] == ["http://fallback.example.org:3128", "DIRECT"]

    frontier = run_client(script, base + "/nearest/", tmp_path, "-f", "-k", "-n", "1")
    assert frontier.returncode == 0, frontier.stderr
    assert (
        "(proxyurl=http://127.0.0.6:" in frontier.stdout or "(proxyurl=http://127.0.0.7:" in frontier.stdout
    )

    # No cache to offer: the client falls back to its defaults without complaint.
    first.kill(), second.kill()
    tasks.verify_caches(make_settings(verify_interval=0), sqlite_engine)
    empty = run_client(script, base + "/nearest", tmp_path, "-d", "-k")
    assert empty.stdout.strip() == '"http://fallback.example.org:3128;DIRECT"'


def test_a_client_geoip_cannot_place_falls_back_to_its_own_defaults_as_with_the_original(
    sqlite_engine, make_settings, squids, serve_api, geoip_db, tmp_path
):
    """The original answered ``null`` (and ``DIRECT`` in WPAD) to a requester it could not place, so the
    client used its configured proxies. Here the server's GeoIP data lacks loopback, where the client
    asks from; the caches themselves are placed and verified."""
    import urllib.request

    from tests.shoal import doubles

    script = client_venv()
    first = squids("127.0.0.6")
    with Session(sqlite_engine) as session, session.begin():
        registry.ingest(
            session, [beat("first", "127.0.0.6", first.port)], Locator(geoip_db), datetime.now(UTC), 180
        )
    assert len(tasks.verify_caches(make_settings(), sqlite_engine)["verified"]) == 1
    elsewhere = {k: v for k, v in doubles.PLACES.items() if k != "victoria"}
    blind_db = str(doubles.write_geoip(tmp_path / "no-loopback.mmdb", elsewhere))

    base = serve_api(ShoalService(make_settings(geoip_db=blind_db), engine=lambda: sqlite_engine))
    with urllib.request.urlopen(base + "/nearest") as resp:
        assert resp.read() == b"null"
    with urllib.request.urlopen(base + "/wpad.dat") as resp:
        assert 'return "DIRECT";' in resp.read().decode()
    printed = run_client(script, base + "/nearest", tmp_path, "-d", "-k")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip() == '"http://fallback.example.org:3128;DIRECT"'

    by_load = make_settings(geoip_db=blind_db, rank_unplaced_by_load=True)
    base = serve_api(ShoalService(by_load, engine=lambda: sqlite_engine))
    printed = run_client(script, base + "/nearest", tmp_path, "-d", "-k")
    assert (
        printed.stdout.strip() == f'"http://127.0.0.6:{first.port};http://fallback.example.org:3128;DIRECT"'
    )
