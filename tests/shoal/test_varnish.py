"""Varnish caches, as sites run them: a reverse proxy in front of one kind of server. A real Varnish
(Debian's varnishd, started here) fronts either a CVMFS stratum or a Frontier server (small origins
started here); each is verified by the probe the original server uses for its upstream, so a
Frontier-only varnish, which has no CVMFS path to answer, is verified too."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from include.shoal import registry, tasks
from include.store.models import ShoalCache
from tests.shoal import doubles

pytestmark = pytest.mark.slow
VARNISHD = shutil.which("varnishd") or "/usr/sbin/varnishd"
PUBLISHED = "C0123456789abcdef\nB1234\nRcafe\nD240\nS42\nNoasis.opensciencegrid.org\nX0123\n--\n"


class Origin(ThreadingHTTPServer):
    """A CVMFS stratum (serves .cvmfspublished) or a Frontier server (answers /atlr); 404 otherwise.
    Remembers the headers of each request it got."""

    daemon_threads = True

    def __init__(self, kind: str):
        self.kind, self.seen = kind, []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append((self.path, dict(self.headers)))
        if self.server.kind == "cvmfs" and self.path.endswith("/.cvmfspublished"):
            body = PUBLISHED.encode()
        elif self.server.kind == "frontier" and self.path.startswith("/atlr"):
            body = b'<?xml version="1.0"?><frontier version="3.22"/>'
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def varnish(tmp_path):
    """``varnish(origin)`` starts a varnishd in front of ``origin``; returns its port. All stop at the end."""
    started = []

    def start(origin: Origin) -> int:
        port = doubles.free_port()
        folder = tmp_path / f"varnish-{port}"
        folder.mkdir()
        vcl = folder / "default.vcl"
        vcl.write_text(
            f'vcl 4.1;\nbackend default {{ .host = "127.0.0.1"; .port = "{origin.server_address[1]}"; }}\n'
        )
        proc = subprocess.Popen(
            [VARNISHD, "-F", "-j", "none", "-a", f"127.0.0.1:{port}", "-f", str(vcl), "-n", str(folder / "work"),
             "-s", "malloc,16m"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started.append(proc)
        doubles.wait_port("127.0.0.1", port, timeout=30)
        return port

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=30)


def heartbeat(uuid: str, port: int, upstream: str) -> bytes:
    """A git-master agent's heartbeat for a varnish."""
    return json.dumps(
        {
            "uuid": uuid, "hostname": f"{uuid}.example.org", "cache_port": port, "public_ip": "127.0.0.1",
            "timestamp": time.time(), "load": 1, "cache_type": "varnish", "upstream": upstream,
            "verified": False, "max_load": 1000,
        }
    ).encode()  # fmt: skip


def test_a_cvmfs_varnish_and_a_frontier_only_varnish_are_each_verified_by_their_own_probe(
    sqlite_engine, make_settings, varnish
):
    stratum, frontier = Origin("cvmfs"), Origin("frontier")
    cvmfs_port, frontier_port = varnish(stratum), varnish(frontier)
    settings = make_settings()
    beats = [
        heartbeat("cvmfs-varnish", cvmfs_port, "cvmfs"),
        heartbeat("frontier-varnish", frontier_port, "frontier"),
        heartbeat("mislabelled", frontier_port, "cvmfs"),  # a Frontier varnish announced as CVMFS
    ]
    with Session(sqlite_engine) as session, session.begin():
        registry.ingest(session, beats, settings.locator(), datetime.now(UTC), 180)
    tasks.verify_caches(settings, sqlite_engine)

    with Session(sqlite_engine) as session:
        rows = {c.uuid: c for c in session.scalars(select(ShoalCache))}
    assert rows["cvmfs-varnish"].verified, rows["cvmfs-varnish"].verify_error
    assert rows["frontier-varnish"].verified, rows["frontier-varnish"].verify_error
    assert not rows["mislabelled"].verified
    assert (
        ".cvmfspublished" in rows["mislabelled"].verify_error
        and "HTTP 404" in rows["mislabelled"].verify_error
    )

    ((path, headers),) = [(p, h) for p, h in frontier.seen if not p.startswith("/cvmfs/")]
    assert path == "/atlr"
    assert headers.get("X-frontier-id") == "cloudscheduler-shoal", "the Frontier server learns who asks"
    assert [p for p, _ in stratum.seen] == ["/cvmfs/oasis.opensciencegrid.org/.cvmfspublished"]
    stratum.shutdown(), frontier.shutdown()
