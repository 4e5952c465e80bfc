"""P10 under Airflow: the production-size site run by the real DAGs on Airflow's own scheduler.

The site of `bench/cycle.py` (50 clouds, 10,000 VMs, 100,000 jobs on 5 schedds, 20,000 startd ads), its
state database and Airflow's metadata database both on PostgreSQL, run by the embedded stack (`make
run`'s: LocalExecutor, 4 task slots, the shipped intervals: condor poll 15 s, cloud poll 60 s, schedule
30 s and on every poll). The pools are recorded `condor_q -long` / `condor_status -long` text, read by a
hook every Airflow process loads (`bench/airflow_hook/sitecustomize.py`): HTCondor's daemons do not run
on this machine. The clouds are simulated (their inventory is a table: P5 times 10,000 VMs through
openstacksdk and a fake Nova).

After `--warmup` seconds (the first cycle adopts the 10,000 VMs), every DAG run that starts in the next
`--minutes` is measured from Airflow's `dag_run` table: the run time (start to end, which includes
Airflow's queueing and starting of each task process, and for `cs_poll_clouds` its 50 mapped tasks
sharing the 4 slots with the other DAGs) and how far the runs fall behind their interval. Targets (p95):
`cs_poll_condor` <= 10 s, `cs_poll_clouds` <= 30 s, `cs_schedule` <= 10 s. Also printed: how fast both
databases and the task logs grow at this size, per day.

    .venv/bin/python bench/cycle_airflow.py [--minutes 10] [--warmup 240]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))

from cycle import CLOUDS, GROUPS, JOBS_PER_GROUP, TARGETS, VMS_PER_CLOUD, build_site, record  # noqa: E402
from stack import embedded_stack  # noqa: E402

INTERVALS = {"cs_poll_condor": 15, "cs_poll_clouds": 60, "cs_schedule": 30}
AIRFLOW_TABLES = ("dag_run", "task_instance", "task_instance_history", "xcom", "log", "job", "asset_event")


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


def runs_since(airflow: sa.Engine, since: datetime, until: datetime) -> dict[str, list[tuple]]:
    """(start, end, state) of each run of our loop DAGs that started in [since, until)."""
    out: dict[str, list[tuple]] = {d: [] for d in TARGETS}
    with airflow.connect() as c:
        for dag_id, start, end, state in c.execute(
            sa.text(
                "SELECT dag_id, start_date, end_date, state FROM dag_run WHERE dag_id = ANY(:d) "
                "AND start_date >= :s AND start_date < :u ORDER BY start_date"
            ),
            {"d": list(TARGETS), "s": since, "u": until},
        ):
            out[dag_id].append((start, end, state))
    return out


def task_times(airflow: sa.Engine, since: datetime, until: datetime) -> dict[str, tuple[float, float, int]]:
    """Per task: median run time, median wait from queued to started, count."""
    out = {}
    with airflow.connect() as c:
        rows = c.execute(
            sa.text(
                "SELECT dag_id || '.' || task_id, EXTRACT(EPOCH FROM end_date - start_date), "
                "EXTRACT(EPOCH FROM start_date - queued_dttm) FROM task_instance WHERE dag_id = ANY(:d) "
                "AND start_date >= :s AND start_date < :u AND end_date IS NOT NULL"
            ),
            {"d": list(TARGETS), "s": since, "u": until},
        ).all()
    by_task: dict[str, list[tuple[float, float]]] = {}
    for name, run, wait in rows:
        by_task.setdefault(name, []).append((float(run), float(wait or 0)))
    for name, values in sorted(by_task.items()):
        out[name] = (
            statistics.median(v[0] for v in values),
            statistics.median(v[1] for v in values),
            len(values),
        )
    return out


def sizes(engine: sa.Engine, tables: tuple[str, ...] | None = None) -> dict:
    with engine.connect() as c:
        names = tables or tuple(
            r[0] for r in c.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        )
        return {
            "bytes": c.execute(sa.text("SELECT pg_database_size(current_database())")).scalar(),
            "rows": {t: c.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar() for t in names},  # noqa: S608
            "table_bytes": {
                t: c.execute(sa.text("SELECT pg_total_relation_size(:t)"), {"t": f'public."{t}"'}).scalar()
                for t in names
            },
            "dead": dict(c.execute(sa.text("SELECT relname, n_dead_tup FROM pg_stat_user_tables")).all()),
        }


# Days each growing table of ours keeps (include/store/retention.py; timeseries: the setting's default).
KEPT_DAYS = {"plan_runs": 7, "plan_skips": 7, "timeseries": 30, "boot_requests": 30}


def mean_row_bytes(engine: sa.Engine, table: str) -> float:
    """The mean size of a row's data (no indexes, no dead versions) over the newest 2,000 rows."""
    query = f'SELECT avg(pg_column_size(t.*)) FROM (SELECT * FROM "{table}" LIMIT 2000) t'  # noqa: S608
    with engine.connect() as c:
        return float(c.execute(sa.text(query)).scalar() or 0)


def log_folder(home: Path) -> tuple[int, int]:
    files = [p for d in (home / "logs").glob("dag_id=*") for p in d.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def log_sizes_by_task(home: Path) -> dict[str, tuple[int, int]]:
    """(files, mean bytes) per task, and the largest file's path under the key '_largest'."""
    by_task: dict[str, list[int]] = {}
    largest = (0, "")
    for path in (home / "logs").glob("dag_id=*/**/*.log"):
        task = next((part[8:] for part in path.parts if part.startswith("task_id=")), "?")
        size = path.stat().st_size
        by_task.setdefault(task, []).append(size)
        largest = max(largest, (size, str(path)))
    out = {t: (len(v), sum(v) // len(v)) for t, v in sorted(by_task.items())}
    out["_largest"] = largest
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=240, help="seconds from healthy to the first measurement")
    ap.add_argument("--port", type=int, default=8797)
    args = ap.parse_args()
    environ = dict(os.environ)
    from tests.conftest import create_pg_database, drop_pg_database

    # The test set-up puts Airflow in unit-test mode (1 s heartbeats, other parsing) through the
    # environment, which the stack would inherit: this bench runs Airflow as shipped.
    os.environ.clear()
    os.environ.update(environ)
    state_url = create_pg_database("cs_bench_p10_state")
    airflow_url = create_pg_database("cs_bench_p10_airflow")
    os.environ["CLOUDSCHEDULER_DB_URL"] = state_url
    try:
        with tempfile.TemporaryDirectory(prefix="cs-p10-") as tmp:
            return run(Path(tmp), state_url, airflow_url, args)
    finally:
        from include.store.db import get_engine

        get_engine().dispose()
        drop_pg_database(state_url)
        drop_pg_database(airflow_url)


def run(run_dir: Path, state_url: str, airflow_url: str, args) -> int:
    began = time.monotonic()
    texts = build_site(state_url)
    record(texts, run_dir / "pools")
    del texts
    print(
        f"seeded in {time.monotonic() - began:.0f} s: {GROUPS * CLOUDS} clouds, "
        f"{GROUPS * CLOUDS * VMS_PER_CLOUD:,} VMs, {GROUPS * JOBS_PER_GROUP:,} jobs; starting Airflow",
        flush=True,
    )
    env = {
        "CLOUDSCHEDULER_DB_URL": state_url,
        "CS_AIRFLOW_DB_URL": airflow_url,
        "CS_BENCH_RECORDED_POOLS": str(run_dir / "pools"),
        "PYTHONPATH": str(Path(__file__).resolve().parent / "airflow_hook"),
    }
    airflow, state = sa.create_engine(airflow_url), sa.create_engine(state_url)
    with embedded_stack(run_dir, args.port, env) as stack:
        print(f"Airflow healthy after {stack['ui_s']:.0f} s; warming up {args.warmup:.0f} s", flush=True)
        time.sleep(args.warmup)
        since, first = datetime.now(UTC), (sizes(airflow, AIRFLOW_TABLES), sizes(state))
        logs0, t0 = log_folder(run_dir / "airflow"), time.monotonic()
        time.sleep(args.minutes * 60)
        until, last = datetime.now(UTC), (sizes(airflow, AIRFLOW_TABLES), sizes(state))
        logs1, t1 = log_folder(run_dir / "airflow"), time.monotonic()
        load = os.getloadavg()
        per_task_logs = log_sizes_by_task(run_dir / "airflow")
        size, path = per_task_logs.pop("_largest")
        if path:
            print(f"largest task log ({size:,} bytes), its first lines:", path)
            print("".join(Path(path).read_text(errors="replace").splitlines(keepends=True)[:12]))
        time.sleep(90)  # let the runs that started in the window finish before reading them
        runs, tasks = runs_since(airflow, since, until), task_times(airflow, since, until)
    print(
        f"\nmeasured {args.minutes:.0f} min after a {args.warmup:.0f} s warm-up; load average {load[0]:.2f}"
    )
    ok = True
    for dag_id, rows in runs.items():
        done = [(s, e) for s, e, st in rows if e is not None]
        failed = sum(1 for *_, st in rows if st != "success")
        if not done:
            print(f"{dag_id}: no run finished in the window (MISSED)")
            ok = False
            continue
        took = [(e - s).total_seconds() for s, e in done]
        starts = [s for s, _ in done]
        gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
        met = p95(took) <= TARGETS[dag_id] and not failed
        ok &= met
        print(
            f"{dag_id}: {len(rows)} runs ({failed} not successful), run time median "
            f"{statistics.median(took):.1f} s, p95 {p95(took):.1f} s, max {max(took):.1f} s (target p95 <= "
            f"{TARGETS[dag_id]:.0f} s: {'met' if met else 'MISSED'}); start to start median "
            f"{statistics.median(gaps) if gaps else 0:.1f} s, max {max(gaps, default=0):.1f} s "
            f"(interval {INTERVALS[dag_id]} s)"
        )
    print("per task: median run, median wait from queued to started, count")
    for name, (run_s, wait_s, n) in tasks.items():
        print(f"  {name:34s} {run_s:6.2f} s  {wait_s:6.2f} s  {n:5d}")
    per_day = 86400 / (t1 - t0)
    print(
        "growth per day at this size (x7 = a week; Airflow's part kept 7 days by include/airflow_retention.py):"
    )
    for table in AIRFLOW_TABLES:
        rate = (last[0]["rows"][table] - first[0]["rows"][table]) * per_day
        print(f"  Airflow {table:22s} {rate:12,.0f} rows/day")
    for name, a, b in (("Airflow database", first[0], last[0]), ("state database", first[1], last[1])):
        print(
            f"  {name}: {(b['bytes'] - a['bytes']) * per_day / 1e6:,.0f} MB/day (now {b['bytes'] / 1e6:,.0f} MB)"
        )
    print("  our tables that grew; what their retention keeps (rows/day x days x the mean row's bytes):")
    for table in sorted(last[1]["rows"]):
        grown = last[1]["rows"][table] - first[1]["rows"].get(table, 0)
        if grown:
            row_bytes = mean_row_bytes(state, table)
            days = KEPT_DAYS.get(table)
            kept = (
                f"{grown * per_day * days * row_bytes / 1e6:,.0f} MB in {days} days" if days else "not pruned"
            )
            print(f"  state {table:24s} {grown * per_day:12,.0f} rows/day, {row_bytes:.0f} B/row: {kept}")
    print("where the bytes went (total relation size, start -> end of the window; dead rows at the end):")
    for label, a, b in (("Airflow", first[0], last[0]), ("state", first[1], last[1])):
        grown = sorted(b["table_bytes"], key=lambda t: a["table_bytes"].get(t, 0) - b["table_bytes"][t])[:6]
        for t in grown:
            print(
                f"  {label} {t:24s} {a['table_bytes'].get(t, 0) / 1e6:8.1f} -> {b['table_bytes'][t] / 1e6:8.1f} MB, "
                f"{b['rows'][t]:,} rows, {b['dead'].get(t, 0):,} dead"
            )
    for task, (files, mean) in per_task_logs.items():
        print(f"  task logs of {task}: {files} files, {mean:,} bytes each on average")
    print(
        f"  task logs: {(logs1[0] - logs0[0]) * per_day:,.0f} files/day, "
        f"{(logs1[1] - logs0[1]) * per_day / 1e6:,.0f} MB/day"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
