"""Shoal, advert to served (issue 19): how long after an agent's first heartbeat a client is sent to the new
cache, through the whole product as ``make run`` ships it.

The embedded stack runs (Airflow's scheduler, triggerer, api-server, LocalExecutor, the demo's loop DAGs
beside Shoal's) with ``CS_SHOAL_ENABLED=true`` and every other Shoal setting at its shipped default
except what points at this machine: the broker is the real RabbitMQ, the cache a real squid in front of a
stub origin, the GeoIP database a small one placing loopback in Victoria. Then ``--adverts`` agents start
one every ``--spacing`` seconds, each publishing shoal-agent 1.0.2's heartbeat through RabbitMQ and then
every 30 s as the agent does, except the first ``--silent``, which publish once and go quiet.

Measured through the public API as a client sees it (``/nearest/100`` asked every 0.1 s from loopback):
advert to served (the cache listed verified) per agent, p50 / p95 / max; and for the silent ones, last
advert to gone (target: the expiry time, 180 s). Also printed: the load average, and ``cs_shoal_verify``
runs by what started them (asset events from the triggerer, or the 30 s timetable).

Target (issue 19): p95 <= 10 s. Prints ``name: value unit`` lines; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from bench.cycle_airflow import p95  # noqa: E402
from bench.stack import embedded_stack, wait_for  # noqa: E402
from include.shoal import amqp  # noqa: E402
from include.shoal.settings import ShoalSettings  # noqa: E402
from tests.shoal import doubles  # noqa: E402
from tests.shoal.conftest import CLIENT_URLS  # noqa: E402
from tests.shoal.test_events import shoal_runs  # noqa: E402
from tests.shoal.test_live import agent_102_message  # noqa: E402

HEARTBEAT_S = 30  # shoal-agent's interval
TARGET_P95_S = 10.0


def served(port: int) -> dict[str, bool]:
    """hostname -> verified, of every cache /nearest/100 gives a client on loopback."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/cloudscheduler/shoal/nearest/100", timeout=5) as r:
        body = json.load(r)
    return {c["hostname"]: c["verified"] for c in (body or {}).values()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adverts", type=int, default=50)
    ap.add_argument("--spacing", type=float, default=3.0, help="seconds between two agents' first adverts")
    ap.add_argument("--silent", type=int, default=3, help="agents that advertise once, to time the expiry")
    ap.add_argument("--port", type=int, default=8796)
    ap.add_argument(
        "--ingest",
        choices=("events", "schedule"),
        default="events",
        help="CS_SHOAL_INGEST (default: shipped)",
    )
    args = ap.parse_args()
    logging.getLogger("pika").setLevel(logging.WARNING)  # a line per connection otherwise
    environ = dict(os.environ)
    work = Path(tempfile.mkdtemp(prefix="cs-bench-shoal-events-"))
    tag = uuid.uuid4().hex[:8]
    geoip = doubles.write_geoip(work / "city.mmdb")
    origin = doubles.start_origin()
    squid = doubles.Squid(origin.port, ip="127.0.0.2")
    shoal_env = {
        "CS_SHOAL_ENABLED": "true",
        "CS_SHOAL_INGEST": args.ingest,
        "CS_SHOAL_EXCHANGE": f"shoal-bench-{tag}",
        "CS_SHOAL_QUEUE": f"cs-shoal-bench-{tag}",
        "CS_SHOAL_GEOIP_DB": str(geoip),
        "CS_SHOAL_VERIFY_URLS": " ".join(CLIENT_URLS),
        "CS_SHOAL_REVERSE_DNS": "false",  # no DNS server on this machine answers for loopback's PTRs
    }
    settings = ShoalSettings.from_env(shoal_env)
    inactive = settings.inactive_time
    try:
        with embedded_stack(work, args.port, shoal_env) as stack:
            print(f"stack up: {stack['ui_s']:.0f} s")
            if args.ingest == "events" and not wait_for(
                lambda: amqp.consumers(settings), timeout=300, step=1
            ):
                print("the triggerer never started consuming the agents' queue", file=sys.stderr)
                return 1
            connection = amqp._connect(settings)  # as the first ingest run leaves the broker (schedule mode)
            amqp.declare(connection.channel(), settings)
            connection.close()
            load_before = os.getloadavg()
            first_advert: dict[str, float] = {}
            last_advert: dict[str, float] = {}
            seen: dict[str, float] = {}
            gone: dict[str, float] = {}
            agents = [(uuid.uuid4().hex, f"cache{i:02d}.bench.example.org") for i in range(args.adverts)]
            silent = {host for _, host in agents[: args.silent]}
            done = threading.Event()

            def watch():
                while not done.is_set():
                    try:
                        now_served = served(args.port)
                    except OSError:
                        time.sleep(0.1)
                        continue
                    now = time.monotonic()
                    for host, verified in now_served.items():
                        if verified and host in first_advert:
                            seen.setdefault(host, now)
                    for host in silent:
                        if host in seen and host not in now_served:
                            gone.setdefault(host, now)
                    time.sleep(0.1)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            began = time.monotonic()
            next_start = began
            started = 0
            end_at = began + args.spacing * args.adverts + inactive + 15
            while time.monotonic() < end_at and not (len(gone) == len(silent) and len(seen) == len(agents)):
                now = time.monotonic()
                if started < len(agents) and now >= next_start:
                    agent_id, host = agents[started]
                    amqp.publish(settings, agent_102_message(agent_id, host, "127.0.0.2", squid.port))
                    first_advert[host] = last_advert[host] = time.monotonic()
                    started += 1
                    next_start += args.spacing
                for agent_id, host in agents[:started]:
                    if host not in silent and now - last_advert[host] >= HEARTBEAT_S:
                        amqp.publish(settings, agent_102_message(agent_id, host, "127.0.0.2", squid.port))
                        last_advert[host] = time.monotonic()
                time.sleep(0.05)
            done.set()
            watcher.join(timeout=10)
            load_after = os.getloadavg()
            runs = shoal_runs(work / "airflow" / "airflow.db")
    finally:
        squid.stop()
        origin.stop()
        os.environ.clear()
        os.environ.update(environ)

    latencies = [seen[h] - first_advert[h] for h in first_advert if h in seen]
    print(f"ingest: {args.ingest}")
    print(f"adverts: {len(first_advert)}")
    print(f"served: {len(latencies)} of {len(first_advert)}")
    ok = len(latencies) == len(first_advert) and latencies
    if latencies:
        print(f"advert_to_served_p50: {statistics.median(latencies):.2f} s")
        print(f"advert_to_served_p95: {p95(latencies):.2f} s (target {TARGET_P95_S:.0f} s)")
        print(f"advert_to_served_max: {max(latencies):.2f} s")
        ok = ok and p95(latencies) <= TARGET_P95_S
    for host in sorted(silent):
        if host in gone:
            print(f"silent_gone_after: {gone[host] - last_advert[host]:.1f} s ({host}; expiry {inactive} s)")
        else:
            print(f"silent_gone_after: never ({host})")
            ok = False
    print(f"load_average_1m: {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    for key, count in sorted(runs.items()):
        print(f"dag_runs {key}: {count}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
