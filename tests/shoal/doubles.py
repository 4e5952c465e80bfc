"""Test peers for Shoal: a GeoIP database written with mmdb-writer, a stub CVMFS/Frontier origin, real
Debian squid processes in front of it, and our API under uvicorn. Everything binds loopback."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# name, network, (lat, lon), country code, country name, continent
PLACES = {
    "victoria": ("127.0.0.0/8", (48.4284, -123.3656), "CA", "Canada", "NA"),
    "geneva": ("192.0.2.0/24", (46.2044, 6.1432), "CH", "Switzerland", "EU"),
    "chicago": ("198.51.100.0/24", (41.8781, -87.6298), "US", "United States", "NA"),
    "tokyo": ("203.0.113.0/24", (35.6762, 139.6503), "JP", "Japan", "AS"),
}
DOMAINS = {
    "192.0.2.0/25": "cern.example",
    "192.0.2.128/25": "other.example",
    "198.51.100.0/24": "cern.example",
}


def write_geoip(path: Path, places: dict | None = None) -> Path:
    """A GeoIP2-City database covering loopback (Victoria) and the three TEST-NETs (or ``places``)."""
    from mmdb_writer import MmdbF64, MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(
        ip_version=4, database_type="GeoIP2-City", languages=["en"], description="shoal tests"
    )
    for city, (network, (lat, lon), iso, country, continent) in (places or PLACES).items():
        writer.insert_network(
            IPSet([network]),
            {
                "city": {"names": {"en": city.title()}},
                "country": {"iso_code": iso, "names": {"en": country}},
                "continent": {"code": continent},
                "location": {"latitude": MmdbF64(lat), "longitude": MmdbF64(lon), "time_zone": "UTC"},
            },
        )
    writer.to_db_file(str(path))
    return path


def write_domains(path: Path) -> Path:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=4, database_type="GeoIP2-Domain", languages=["en"], description="domains")
    for network, domain in DOMAINS.items():
        writer.insert_network(IPSet([network]), {"domain": domain})
    writer.to_db_file(str(path))
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port}")


class _OriginHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's hook name
        self.server.hits.append((self.headers.get("Host"), self.path))
        parts = self.path.split("/")
        if len(parts) > 3 and parts[1] == "cvmfs":
            repo = parts[2]
            body = f"20260101000000\nE20990101000000\nN{repo}\nIfingerprint\n--\n0123abcd\n".encode()
            self._answer(200, body)
        elif self.path.startswith("/atlr"):
            self._answer(200, b"<frontier/>")
        else:
            self._answer(404, b"no such path\n")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=0")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


@dataclass
class Origin:
    server: ThreadingHTTPServer
    port: int
    hits: list = field(default_factory=list)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_origin() -> Origin:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OriginHandler)
    server.daemon_threads = True
    server.hits = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Origin(server=server, port=server.server_address[1], hits=server.hits)


SQUID_CONF = """\
http_port {ip}:{port}
pid_filename {dir}/squid.pid
cache_log {dir}/cache.log
access_log stdio:{dir}/access.log squid
cache_store_log none
coredump_dir {dir}
cache_mem 8 MB
pinger_enable off
cache_peer 127.0.0.1 parent {origin} 0 no-query no-digest originserver name=origin
never_direct allow all
acl loopback src 127.0.0.0/8
http_access allow loopback
http_access deny all
shutdown_lifetime 0 seconds
"""


class Squid:
    """A real squid on ``ip:port`` whose only parent is the stub origin (every URL goes there)."""

    def __init__(self, origin_port: int, ip: str = "127.0.0.1", port: int | None = None):
        # Squid drops root for "proxy" before writing its logs: the directory and every parent must be
        # reachable for that user, which pytest's 0700 tmp_path is not.
        workdir = Path(tempfile.mkdtemp(prefix="cs-squid-"))
        os.chmod(workdir, 0o777)
        self.ip, self.port, self.dir = ip, port or free_port(ip), workdir
        conf = workdir / "squid.conf"
        conf.write_text(SQUID_CONF.format(ip=ip, port=self.port, dir=workdir, origin=origin_port))
        binary = shutil.which("squid") or "/usr/sbin/squid"
        self.process = subprocess.Popen(
            [binary, "-f", str(conf), "-N"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_port(ip, self.port)
        except TimeoutError:
            self.kill()
            log = workdir / "cache.log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"squid did not start: {detail}") from None

    def kill(self) -> None:
        """Dies at once, as a crashed squid would (SIGKILL to the PID we started)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
