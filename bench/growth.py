"""P10, the long run: how fast Airflow's records and ours grow at the default intervals, and the bound
retention puts on them.

Starts the embedded default (`make run`'s stack, its demo loop and default intervals) in a scratch run
directory, triggers the demo story once so the loop has work (boots, jobs, retires), and measures
between two moments `--minutes` apart: rows per table of Airflow's metadata database and of our state
database, the bytes of both files, and the task log folder (files and bytes). Prints the growth per day
(the rate x 1,440 minutes) and the size a week of it comes to; Airflow's part is bounded by
`include/airflow_retention.py` (7 days by default), ours by `cs_housekeeping`'s retention.

    .venv/bin/python bench/growth.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_story import Api  # noqa: E402
from stack import embedded_stack  # noqa: E402

AIRFLOW_TABLES = ("dag_run", "task_instance", "task_instance_history", "xcom", "log", "job", "asset_event")


def rows(db: Path, tables: tuple[str, ...] | None = None) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as c:
        names = tables or tuple(
            r[0]
            for r in c.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        )
        return {t: c.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in names}  # noqa: S608


def folder(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def measure(run_dir: Path) -> dict:
    home = run_dir / "airflow"
    task_logs = [p for p in (home / "logs").iterdir() if p.is_dir()] if (home / "logs").exists() else []
    files = size = 0
    for p in task_logs:
        n, b = folder(p)
        files, size = files + n, size + b
    return {
        "t": time.monotonic(),
        "airflow_rows": rows(home / "airflow.db", AIRFLOW_TABLES),
        "airflow_bytes": (home / "airflow.db").stat().st_size,
        "state_rows": rows(run_dir / "state.db"),
        "state_bytes": (run_dir / "state.db").stat().st_size,
        "log_files": files,
        "log_bytes": size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=120, help="seconds before the first measurement")
    parser.add_argument("--port", type=int, default=8798)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="cs-growth-") as tmp,
        embedded_stack(Path(tmp), args.port) as stack,
    ):
        run_dir = Path(tmp)
        Api(args.port).trigger("cs_submit_demo_jobs", {})
        time.sleep(args.warmup)
        first = measure(run_dir)
        time.sleep(args.minutes * 60)
        last = measure(run_dir)
        load = os.getloadavg()
        del stack
    per_day = 1440 * 60 / (last["t"] - first["t"])
    print(f"measured over {(last['t'] - first['t']) / 60:.1f} min; load average {load[0]:.2f}")
    print("Airflow metadata rows per day (x7 = kept by the default retention):")
    for table in AIRFLOW_TABLES:
        rate = (last["airflow_rows"][table] - first["airflow_rows"][table]) * per_day
        print(f"  {table:22s} {rate:10,.0f}/day  {rate * 7:12,.0f} in a week")
    for name, key in (("Airflow database file", "airflow_bytes"), ("task log folder", "log_bytes")):
        rate = (last[key] - first[key]) * per_day / 1e6
        print(f"{name}: {rate:,.0f} MB/day, {rate * 7:,.0f} MB in a week")
    print(f"task log files: {(last['log_files'] - first['log_files']) * per_day:,.0f}/day")
    grown = {
        t: (last["state_rows"][t] - first["state_rows"].get(t, 0)) * per_day
        for t in last["state_rows"]
        if last["state_rows"][t] != first["state_rows"].get(t, 0)
    }
    print("our state tables that grew (rows per day):")
    for table, rate in sorted(grown.items(), key=lambda kv: -kv[1]):
        print(f"  {table:22s} {rate:10,.0f}/day")
    print(f"state database file: {(last['state_bytes'] - first['state_bytes']) * per_day / 1e6:,.0f} MB/day")
    return 0


if __name__ == "__main__":
    sys.exit(main())
