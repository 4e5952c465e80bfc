"""P7: the Shoal client API, ``/nearest`` with 1,000 registered caches.

Target (performance.md): >= 2x the requests/s of the original Python 3 shoal-server under the same load
tool, and p99 latency <= 50 ms.

The original cannot be run here: PyPI's shoal-server 0.7.6 is Python 2 only (its setup.py does not even
parse under Python 3), the Python 3 server exists only in git and was never released, and the reference
records no throughput figure for it. So the baseline is a *model of its request path* as the reference
describes it (section 3.4): per request, one GeoIP lookup of the requester, a pure-Python loop computing
the haversine score of every cache, a sort of all of them, ``json.dumps`` of the top N. It is served by
the same uvicorn and FastAPI as ours, so the comparison isolates the per-request work; the original's
web.py stack and its per-request MariaDB GeoIP query would only make it slower.

Both servers run in their own process (one each, one core); the load tool is an asyncio HTTP/1.1
keep-alive client in this process. Then ours again on a busy machine (issue: p99 <= 50 ms at twice the
cores in load average): as many busy-looping processes as twice the cores are started, the 1-minute load
average is awaited (up to 3 minutes), and the load average over the measurement is printed beside p99.
Prints ``name: value unit`` lines; exits 1 if a target is missed. ``--no-busy`` skips the second part.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from fastapi import Request  # module level: FastAPI resolves the string annotations here

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

CACHES = 1000
CONNECTIONS = 16
SECONDS = 6.0
WARMUP = 1.0
PATH = "/cloudscheduler/shoal/nearest/7/"


def build_inputs(workdir: Path) -> tuple[str, str]:
    """A GeoIP database (loopback = Victoria) and a store holding 1,000 verified caches worldwide."""
    from mmdb_writer import MmdbF64, MMDBWriter
    from netaddr import IPSet
    from sqlalchemy.orm import Session

    from include.store.db import make_engine
    from include.store.models import Base, ShoalCache

    writer = MMDBWriter(ip_version=4, database_type="GeoIP2-City", languages=["en"], description="bench")
    writer.insert_network(
        IPSet(["127.0.0.0/8"]),
        {
            "city": {"names": {"en": "Victoria"}},
            "location": {"latitude": MmdbF64(48.4284), "longitude": MmdbF64(-123.3656)},
        },
    )
    geoip = str(workdir / "city.mmdb")
    writer.to_db_file(geoip)
    url = f"sqlite:///{workdir / 'state.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    rng, now = random.Random(7), datetime.now(UTC)
    with Session(engine) as session, session.begin():
        for i in range(CACHES):
            lat, lon = rng.uniform(-60, 70), rng.uniform(-180, 180)
            geo = {"city": f"City{i}", "latitude": lat, "longitude": lon, "country_code": "XX"}
            session.add(
                ShoalCache(
                    uuid=f"{i:032x}",
                    hostname=f"squid{i}.example.org",
                    port=3128,
                    public_ip=f"10.{i // 250}.{i % 250}.1",
                    cache_type="squid",
                    upstream="both",
                    agent_version="1.0",
                    load=rng.uniform(0, 50_000),
                    max_load=-112.0,
                    latitude=lat,
                    longitude=lon,
                    geo=geo,
                    created=now,
                    last_active=now,
                    sent_at=now,
                    drift_seconds=0.0,
                    verified=True,
                    verify_failures=0,
                )
            )
    engine.dispose()
    return geoip, url


# -- the servers ---------------------------------------------------------------------------------------
def ours_app():
    from cloudscheduler import shoal_api
    from fastapi import FastAPI

    plugin = FastAPI()
    plugin.include_router(shoal_api.router, prefix="/shoal")
    app = FastAPI()
    app.mount("/cloudscheduler", plugin)
    shoal_api.service().snapshot()  # warm: the first request would otherwise load the registry
    return app


def original_model_app():
    """The original's per-request work (reference 3.4), written from its description."""
    import geoip2.database
    from fastapi import FastAPI, Response
    from sqlalchemy.orm import Session

    from include.shoal import registry
    from include.shoal.wire import cache_object
    from include.store.db import make_engine

    with Session(make_engine(os.environ["CLOUDSCHEDULER_DB_URL"])) as session:
        caches = registry.live_views(session, datetime.now(UTC), 10**9)
    reader = geoip2.database.Reader(os.environ["CS_SHOAL_GEOIP_DB"])

    def haversine(lat1, lon1, lat2, lon2):
        lon1, lat1, lon2, lat2 = map(math.radians, [lon1, lat1, lon2, lat2])
        a = (
            math.sin((lat2 - lat1) / 2) ** 2
            + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
        )
        return round(6378 * 2 * math.asin(math.sqrt(a)), 2)

    app = FastAPI()

    @app.get("/cloudscheduler/shoal/nearest/{count}/")
    def nearest(count: int, request: Request):
        place = reader.city(request.client.host).location
        scored = []
        for squid in caches:
            if squid.verified and squid.global_access is not False:
                d = haversine(place.latitude, place.longitude, squid.latitude, squid.longitude)
                cost = d / (6378 * 3.14159265359) * 0.5 + (squid.load / 122000.0) ** 1 * 0.5
                scored.append((squid, cost))
        scored = sorted(scored, key=lambda k: k[1])[:count]
        body = {i: cache_object(s) | {"distance": cost} for i, (s, cost) in enumerate(scored)}
        return Response(json.dumps(body) if body else "null", media_type="application/json")

    return app


def serve(which: str, port: int) -> None:
    import uvicorn

    app = ours_app() if which == "ours" else original_model_app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- the load tool -------------------------------------------------------------------------------------
async def _worker(port: int, stop_at: float, record_from: float, latencies: list[float], errors: list[int]):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    try:
        while (began := time.perf_counter()) < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(1)
            if began >= record_from:
                latencies.append(time.perf_counter() - began)
    finally:
        writer.close()


async def _load(port: int) -> tuple[float, float, int]:
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    record_from, stop_at = start + WARMUP, start + WARMUP + SECONDS
    await asyncio.gather(
        *(_worker(port, stop_at, record_from, latencies, errors) for _ in range(CONNECTIONS))
    )
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("inf")
    return len(latencies) / SECONDS, p99 * 1000, len(errors)


def measure(which: str, env: dict[str, str]) -> tuple[float, float, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "serve", which, str(port)], env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{which} server did not start") from None
                time.sleep(0.2)
        sample = _fetch(port)
        rps, p99, errors = asyncio.run(_load(port))
        if errors:
            raise RuntimeError(f"{which}: {errors} non-200 answers")
        return rps, p99, sample
    finally:
        server.terminate()
        server.wait(timeout=30)


def _fetch(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{PATH}", timeout=30) as response:
        return response.read().decode()


def main(busy: bool = True) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="cs-bench-shoal-"))
    geoip, url = build_inputs(workdir)
    env = os.environ | {
        "CLOUDSCHEDULER_DB_URL": url,
        "CS_SHOAL_GEOIP_DB": geoip,
        "CS_SHOAL_SNAPSHOT_TTL": "2",
    }
    ours_rps, ours_p99, ours_body = measure("ours", env)
    base_rps, base_p99, base_body = measure("original", env)
    same = [c["hostname"] for c in json.loads(ours_body).values()] == [
        c["hostname"] for c in json.loads(base_body).values()
    ]
    print(f"shoal_nearest_caches: {CACHES} caches")
    print(f"shoal_nearest_rps: {ours_rps:.0f} req/s")
    print(f"shoal_nearest_p99: {ours_p99:.1f} ms")
    print(f"shoal_original_model_rps: {base_rps:.0f} req/s")
    print(f"shoal_original_model_p99: {base_p99:.1f} ms")
    print(f"shoal_speedup: {ours_rps / base_rps:.2f} x")
    print(f"shoal_same_ranking: {int(same)} bool")
    ok = same and ours_rps >= 2 * base_rps and ours_p99 <= 50
    if not ok:
        print("P7 target missed: need >= 2x the original's requests/s, p99 <= 50 ms, identical ranking")
    if busy:
        cores = os.cpu_count() or 1
        with busy_machine(2 * cores) as reached:
            load_rps, load_p99, _ = measure("ours", env)
            load_now = os.getloadavg()[0]
        print(f"shoal_busy_load_average: {reached:.2f} before, {load_now:.2f} after ({cores} cores)")
        print(f"shoal_busy_nearest_rps: {load_rps:.0f} req/s")
        print(f"shoal_busy_nearest_p99: {load_p99:.1f} ms")
        if load_p99 > 50:
            ok = False
            print("P7 target missed on a busy machine: p99 <= 50 ms at twice the cores in load average")
    return 0 if ok else 1


@contextlib.contextmanager
def busy_machine(processes: int):
    """``processes`` busy loops until the 1-minute load average reaches ``processes`` (at most 3 minutes);
    yields the load average reached."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        deadline = time.monotonic() + 180
        while os.getloadavg()[0] < processes and time.monotonic() < deadline:
            time.sleep(5)
        yield os.getloadavg()[0]
    finally:
        for b in burners:
            b.kill()
            b.wait()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--no-busy", action="store_true", help="skip the measurement on a busy machine")
        sys.exit(main(busy=not parser.parse_args().no_busy))
