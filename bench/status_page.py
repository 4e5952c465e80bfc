"""The operator UI's status page at today's scale: 50 clouds, 10,000 VMs (with their startd slots) and
100,000 jobs in two groups, on SQLite and on PostgreSQL.

Times the whole page (HTTP request through the plugin app: queries, VM states, template) and the floor:
plain SQL reading what the page summarises (every VM row, every slot row, jobs counted by group and
status). Prints ``name: value unit`` lines; exits 1 if the page costs more than MAX_RATIO x the floor.
No target for this page in performance.md; the ratio guards against a regression to per-VM queries.

With ``--plots`` it also fills a week of 30-second timeseries samples for the 50 clouds (about a
million rows) and times the plots' data for 1 h, 1 day and 1 week (bucketed in SQL).

    ./.venv/bin/python bench/status_page.py [--no-postgres] [--plots]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="cs-bench-airflow-"))

from sqlalchemy import Engine, insert, text  # noqa: E402

from include.store.db import make_engine  # noqa: E402
from include.store.models import (  # noqa: E402
    Backoff,
    Base,
    Cloud,
    CloudLimits,
    Group,
    Job,
    Machine,
    PlanRun,
    PlanSkip,
    PollStatus,
    TimeseriesSample,
    Vm,
)

CLOUDS, VMS, JOBS, GROUPS = 50, 10_000, 100_000, ("atlas", "belle2")
MAX_RATIO = 8.0
RUNS = 5
NOW = datetime.now(UTC)


def build(engine: Engine) -> None:
    rnd = random.Random(7)
    Base.metadata.create_all(engine)
    clouds = [(GROUPS[i % 2], f"cloud{i:02d}") for i in range(CLOUDS)]
    states = (
        ["running"] * 70
        + ["idle"] * 12
        + ["starting"] * 6
        + ["unregistered"] * 4
        + ["retiring"] * 5
        + ["manual", "error", "error"]
    )
    vms, slots = [], []
    for i in range(VMS):
        group, cloud = clouds[i % CLOUDS]
        state = rnd.choice(states)
        vm_id = f"cs-{cloud}-{i:06d}"
        vms.append(
            {
                "vm_id": vm_id,
                "group_name": group,
                "cloud_name": cloud,
                "flavor": "c8",
                "cores": 8,
                "ram_mb": 32000,
                "status": {"starting": "building", "error": "error"}.get(state, "active"),
                "manual": state == "manual",
                "requested_at": NOW - timedelta(hours=2),
                "ips": ["10.0.0.1"],
                "retire_requested_at": NOW if state == "retiring" else None,
                "status_changed_at": NOW - timedelta(hours=1),
            }
        )
        if state in ("running", "idle", "retiring", "manual"):
            busy = state == "running"
            slots.append(_slot(vm_id, group, cloud, "Partitionable", 0 if busy else 8, "Unclaimed", 1))
            if busy:
                slots.append(_slot(vm_id, group, cloud, "Dynamic", 8, "Claimed", 2))
    jobs = [
        {
            "pool": GROUPS[i % 2],
            "global_job_id": f"sched#{i}.0#1",
            "group_name": GROUPS[i % 2] if i % 50 else None,
            "target_alias": None if i % 7 else "fast",
            "status": rnd.choice([1, 1, 1, 2, 2, 5, 4]),
            "cores": rnd.choice([1, 8]),
            "ram_mb": 2000,
        }
        for i in range(JOBS)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Group), [{"name": g, "pool_kind": "simulated"} for g in GROUPS])
        conn.execute(
            insert(Cloud),
            [
                {"group_name": g, "name": c, "cloud_type": "simulated", "priority": i % 5, "cores_ctl": 2000}
                for i, (g, c) in enumerate(clouds)
            ],
        )
        conn.execute(
            insert(CloudLimits),
            [
                {
                    "group_name": g,
                    "cloud_name": c,
                    "cores_max": 4000,
                    "ram_max_mb": 10**7,
                    "foreign_cores": 100,
                    "polled_at": NOW,
                }
                for g, c in clouds
            ],
        )
        conn.execute(
            insert(PollStatus),
            [
                {
                    "source": f"cloud/{g}/{c}",
                    "kind": "cloud",
                    "group_name": g,
                    "cloud_name": c,
                    "ok": True,
                    "last_success": NOW,
                    "last_attempt": NOW,
                }
                for g, c in clouds
            ],
        )
        conn.execute(
            insert(Backoff),
            [
                {
                    "group_name": g,
                    "cloud_name": c,
                    "flavor": "c16",
                    "failures": 2,
                    "until": NOW + timedelta(minutes=5),
                }
                for g, c in clouds[::5]
            ],
        )
        conn.execute(insert(Vm), vms)
        conn.execute(insert(Machine), slots)
        for start in range(0, JOBS, 20_000):
            conn.execute(insert(Job), jobs[start : start + 20_000])
        for g in GROUPS:
            run_id = conn.execute(
                insert(PlanRun).values(at=NOW, group_name=g).returning(PlanRun.id)
            ).scalar_one()
            conn.execute(
                insert(PlanSkip),
                [
                    {
                        "run_id": run_id,
                        "group_name": g,
                        "cloud_name": c,
                        "subject": f"s{k}",
                        "reason": "quota",
                        "jobs": 10,
                        "detail": "cores",
                    }
                    for k, (grp, c) in enumerate(clouds)
                    if grp == g
                ],
            )


def _slot(vm_id, group, cloud, slot_type, cores, state, n) -> dict:
    return {
        "pool": group,
        "name": f"slot{n}@{vm_id}",
        "machine": vm_id,
        "vm_id": vm_id,
        "group_name": group,
        "cloud_name": cloud,
        "slot_type": slot_type,
        "state": state,
        "cores": cores,
        "total_cores": 8,
        "entered_state_at": NOW - timedelta(minutes=3),
    }


def floor_s(engine: Engine) -> float:
    def once() -> None:
        with engine.connect() as conn:
            conn.execute(
                text("SELECT vm_id, group_name, cloud_name, status, manual, cores, ram_mb FROM vms")
            ).all()
            conn.execute(text("SELECT vm_id, slot_type, state, cores FROM machines")).all()
            conn.execute(
                text("SELECT group_name, status, count(*) FROM jobs GROUP BY group_name, status")
            ).all()

    return best(once)


def page_s(engine: Engine) -> tuple[float, int]:
    from cloudscheduler.app import create_app
    from cloudscheduler.auth import Principal, principal
    from fastapi.testclient import TestClient

    app = create_app(engine=engine)
    app.dependency_overrides[principal] = lambda: Principal("bench", True, True, {})
    client = TestClient(app)
    size = 0

    def once() -> None:
        nonlocal size
        response = client.get("/status")
        assert response.status_code == 200 and "cloud49" in response.text, response.status_code
        size = len(response.content)

    return best(once), size


def best(fn) -> float:
    times = []
    for _ in range(RUNS):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times) if len(times) < 3 else statistics.median(sorted(times)[: RUNS - 1])


def fill_week(engine: Engine) -> int:
    """A sample per (group total, cloud) every 30 s for 7 days."""
    clouds = [(GROUPS[i % 2], f"cloud{i:02d}") for i in range(CLOUDS)] + [(g, "") for g in GROUPS]
    rows, steps = 0, 7 * 86400 // 30
    with engine.begin() as conn:
        for start in range(0, steps, 400):
            batch = [
                {
                    "ts": NOW - timedelta(seconds=30 * k),
                    "group_name": g,
                    "cloud_name": c,
                    "jobs_idle": k % 300,
                    "jobs_running": 500,
                    "VMs_running": 90,
                    "cores_native": 720,
                }
                for k in range(start, min(steps, start + 400))
                for g, c in clouds
            ]
            conn.execute(insert(TimeseriesSample), batch)
            rows += len(batch)
    return rows


def measure_plots(name: str, engine: Engine) -> None:
    from sqlalchemy.orm import Session

    from include.status.series import RANGES, panels

    began = time.perf_counter()
    rows = fill_week(engine)
    print(f"plots_{name}_build: {rows} rows in {time.perf_counter() - began:.1f} s", flush=True)
    with Session(engine) as s:
        for key in RANGES:
            points = 0

            def once(key=key) -> None:
                nonlocal points
                points = sum(len(p.t) * len(p.lines) for p in panels(s, "atlas", key, NOW).values())

            print(f"plots_{name}_{key}: {best(once) * 1000:.0f} ms ({points} points)")


def measure(name: str, engine: Engine, plots: bool = False) -> bool:
    began = time.perf_counter()
    build(engine)
    print(f"status_page_{name}_build: {time.perf_counter() - began:.1f} s", flush=True)
    floor = floor_s(engine)
    page, size = page_s(engine)
    ratio = page / floor
    print(f"status_page_{name}_floor: {floor * 1000:.0f} ms")
    print(f"status_page_{name}_render: {page * 1000:.0f} ms")
    print(f"status_page_{name}_size: {size / 1024:.0f} KiB")
    print(f"status_page_{name}_ratio: {ratio:.2f} x (target <= {MAX_RATIO:g})")
    if plots:
        measure_plots(name, engine)
    return ratio <= MAX_RATIO


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--plots", action="store_true", help="also time a week of plot data")
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/status.db")
        ok &= measure("sqlite", engine, args.plots)
        engine.dispose()
    if not args.no_postgres:
        sys.path.insert(0, str(ROOT / "tests"))
        from tests.conftest import create_pg_database, drop_pg_database

        url = create_pg_database("cs_bench_status")
        try:
            engine = make_engine(url)
            ok &= measure("postgres", engine, args.plots)
            engine.dispose()
        finally:
            drop_pg_database(url)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
