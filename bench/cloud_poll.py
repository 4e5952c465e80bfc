"""P5: cloud poll cost. 10,000 of our VMs on one OpenStack cloud (the fake Nova in its own process);
the poller fetches every page through openstacksdk's session, translates, and writes the snapshot (VMs,
inventory, limits, poll status) to the store. The floor: fetching and decoding the same JSON pages with
plain HTTP (http.client + json), no SDK, no store.

Target: poll <= 3 x floor, for the first poll (10,000 rows inserted: adoption) and a steady-state poll
(rows compared, last_seen_at updated), on SQLite (the embedded default) and, with --pg URL, PostgreSQL.

    .venv/bin/python bench/cloud_poll.py [--vms 10000] [--pg postgresql+psycopg2://postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.doubles.procs import spawn  # noqa: E402

TARGET = 3.0
TAGS = {
    "cs_vm_id": "{name}",
    "cs_group": "g1",
    "cs_cloud": "c1",
    "cs_deployment": "cs",
    "cs_request": "bench",
}


def post(port: int, path: str, body: dict) -> tuple[dict, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    return json.loads(resp.read() or b"{}"), dict(resp.getheaders())


def plain_fetch(port: int, token: str) -> int:
    """The floor: every page of /servers/detail over one keep-alive connection, decoded."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    marker, count = None, 0
    while True:
        url = "/compute/v2.1/servers/detail?limit=1000" + (f"&marker={marker}" if marker else "")
        conn.request("GET", url, headers={"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.47"})
        page = json.loads(conn.getresponse().read())
        count += len(page["servers"])
        if not page.get("servers_links"):
            return count
        marker = page["servers"][-1]["id"]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_store(url: str, label: str, port: int, token: str, vms: int) -> bool:
    from include.loop.cloud_poll import poll_cloud
    from include.providers.openstack import OpenStackCloud
    from include.providers.openstack_http import OpenStackCredentials
    from include.store import migrate
    from include.store.db import make_engine
    from include.store.models import Vm

    migrate.upgrade(url)
    engine = make_engine(url)
    adapter = OpenStackCloud(
        "c1", OpenStackCredentials(f"http://127.0.0.1:{port}/identity/v3", "htc", "u", "pw")
    )
    adapter.limits()  # authenticate and discover once, as a long-lived task would have
    now = datetime.now(UTC)
    floors, first, steady = [], [], []
    for rep in range(3):  # medians of three: the machine is shared and noisy
        with engine.begin() as conn:  # a fresh store for the first poll: every VM is adopted
            conn.execute(delete(Vm))
        for kind, times in (("first", first), ("steady", steady)):
            floors.append(timed(lambda: plain_fetch(port, token)))
            at = now + timedelta(minutes=rep, seconds=30 * len(times))
            start = time.perf_counter()
            result = poll_cloud(engine, "g1", "c1", adapter, at)
            times.append(time.perf_counter() - start)
            assert result.ok and result.listed == vms and result.adopted == (vms if kind == "first" else 0), (
                result
            )
    floor = statistics.median(floors)
    first, steady = statistics.median(first), statistics.median(steady)
    floor = statistics.median(floors)
    ok = True
    for name, value in (("first", first), ("steady", steady)):
        ratio = value / floor
        ok &= ratio <= TARGET
        print(f"p5_{label}_{name}_poll: {value:.3f} s ({ratio:.2f} x floor, target <= {TARGET:g})")
    print(f"p5_{label}_floor_plain_http_json: {floor:.3f} s")
    engine.dispose()
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vms", type=int, default=10000)
    ap.add_argument("--pg", help="PostgreSQL server URL (a scratch database is created and dropped)")
    args = ap.parse_args()
    ok = True
    with spawn("tests.doubles.fake_openstack") as port:
        post(port, "/_fake/seed", {"count": args.vms, "prefix": "bench", "metadata": TAGS})
        auth = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": "u", "password": "pw", "domain": {"name": "Default"}}},
                }
            }
        }
        _, headers = post(port, "/identity/v3/auth/tokens", auth)
        token = headers["X-Subject-Token"]
        print(f"p5_vms: {plain_fetch(port, token)} VMs")
        with tempfile.TemporaryDirectory() as tmp:
            ok &= bench_store(f"sqlite:///{tmp}/state.db", "sqlite", port, token, args.vms)
        if args.pg:
            from tests.conftest import create_pg_database, drop_pg_database

            url = create_pg_database("cs_bench")
            try:
                ok &= bench_store(url, "postgres", port, token, args.vms)
            finally:
                drop_pg_database(url)
    print("p5_target: " + ("met" if ok else "MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
