"""Same-domain caches without the commercial GeoIP2-Domain database: the requester's and the cache's
addresses are looked up in reverse DNS, as the original server did, and their registrable domains
compared. A real DNS server (Debian's dnsmasq, started here on a spare port) answers the PTR queries."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from include.shoal import registry
from include.shoal.geo import ReverseDns
from include.shoal.service import ShoalService

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
PTR = {
    "127.0.0.5": "wn12.phys.uvic.ca",  # a worker node of the University of Victoria
    "127.0.0.6": "squid.uvic.ca",  # its site cache: local only (servelocal)
    "127.0.0.7": "squid.gridpp.rl.ac.uk",  # another site (ac.uk is a public suffix: the domain is rl.ac.uk)
}

SPOOFED = {"127.0.0.8": "squid-lookalike.uvic.ca"}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dns_server(tmp_path_factory):
    """``host:port`` of a dnsmasq answering the records above and nothing else."""
    port = free_udp_port()
    folder = tmp_path_factory.mktemp("dnsmasq")
    records = [f"--host-record={name},{ip}" for ip, name in PTR.items()]  # PTR and A: forward-confirmed
    records += [  # a PTR its address's holder wrote, which uvic.ca's own records do not confirm
        f"--ptr-record={'.'.join(reversed(ip.split('.')))}.in-addr.arpa,{name}"
        for ip, name in SPOOFED.items()
    ]
    proc = subprocess.Popen(
        [DNSMASQ, "--keep-in-foreground", f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
         "--no-resolv", "--no-hosts", "--conf-file=/dev/null", f"--pid-file={folder / 'pid'}", "--log-facility=-",
         *records],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while ReverseDns(server, timeout=0.2, ttl=0).domain("127.0.0.6") is None:
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline, "dnsmasq did not answer"
        time.sleep(0.1)
    yield server
    proc.terminate()
    proc.wait(timeout=10)


def test_registrable_domains_from_ptr_names(dns_server):
    rdns = ReverseDns(dns_server)
    assert rdns.domain("127.0.0.5") == "uvic.ca"
    assert rdns.domain("127.0.0.6") == "uvic.ca"
    assert rdns.domain("127.0.0.7") == "rl.ac.uk", "the Public Suffix List, not the last two labels"
    assert rdns.domain("127.0.0.9") is None, "no PTR record: no domain"
    assert rdns.domain("127.0.0.8") is None, "a PTR the name's own records do not confirm: no domain"


def test_a_dns_server_that_never_answers_costs_one_timeout_then_nothing():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never read: queries go unanswered
    silent.bind(("127.0.0.1", 0))
    rdns = ReverseDns(f"127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)
    began = time.monotonic()
    assert rdns.domain("127.0.0.5") is None
    assert time.monotonic() - began < 1.5
    began = time.monotonic()
    assert rdns.domain("127.0.0.5") is None and time.monotonic() - began < 0.05, "the failure is remembered"
    silent.close()


def heartbeat(uuid: str, ip: str, *, servelocal: bool) -> bytes:
    """A 0.9.x agent's heartbeat; ``servelocal``: the agent restricts the cache to its own domain."""
    return json.dumps(
        {
            "uuid": uuid, "hostname": f"{uuid}.example.org", "squid_port": "3128", "public_ip": ip,
            "private_ip": None, "load": 10, "timestamp": time.time(), "verified": False,
            "global_access": "False" if servelocal else "True", "domain_access": "True",
        }
    ).encode()  # fmt: skip


def test_a_local_only_cache_is_served_to_its_own_site_found_by_reverse_dns(
    sqlite_engine, make_settings, serve_api, dns_server
):
    settings = make_settings(reverse_dns=True, dns_server=dns_server, trusted_proxies=("127.0.0.1/32",))
    with Session(sqlite_engine) as session, session.begin():
        registry.ingest(
            session, [heartbeat("uvic-local", "127.0.0.6", servelocal=True)], settings.locator(),
            datetime.now(UTC), 180,
        )  # fmt: skip
    base = serve_api(ShoalService(settings, engine=lambda: sqlite_engine))

    def nearest(client_ip: str):
        request = urllib.request.Request(base + "/nearest", headers={"X-Forwarded-For": client_ip})
        with urllib.request.urlopen(request) as resp:
            return json.loads(resp.read())

    served = nearest("127.0.0.5")  # wn12.phys.uvic.ca
    assert served and [(c["hostname"], c["local"]) for c in served.values()] == [
        ("uvic-local.example.org", True)
    ]
    assert nearest("127.0.0.7") is None, "another site's client is not given a local-only cache"
    assert nearest("127.0.0.9") is None, "nor is a client without a PTR record"

    without = make_settings(trusted_proxies=("127.0.0.1/32",))  # reverse DNS off: no domain known
    base = serve_api(ShoalService(without, engine=lambda: sqlite_engine))
    with Session(sqlite_engine) as session, session.begin():
        registry.ingest(
            session, [heartbeat("uvic-local", "127.0.0.6", servelocal=True)], without.locator(),
            datetime.now(UTC), 180,
        )  # fmt: skip
    assert nearest("127.0.0.5") is None, "without reverse DNS (and no domain database) it was never served"
