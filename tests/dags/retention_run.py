"""A week-old Airflow, pruned: runs the pool poller's DAG three times with ``dag.test()``, ages two of
the runs (and what hangs off them) by ten days in Airflow's own database, writes task logs of both ages,
then runs the retention the embedded default and compose run daily. Prints one JSON line with what
was there before and after. Run in its own process by test_retention.py."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def counts(session) -> dict[str, int]:
    from sqlalchemy import text

    return {
        t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar()  # noqa: S608 - fixed table names
        for t in ("dag_run", "task_instance", "xcom", "log", "job")
    }


def main() -> int:
    from airflow.utils.session import create_session
    from sqlalchemy import text

    from include.airflow_retention import run_retention
    from tests.airflow_site import bootstrap
    from tests.dags.loop_run import FAST_SITE

    dags = bootstrap(FAST_SITE)
    began = datetime.now(UTC)
    dag = dags["cs_poll_condor"]
    runs = [dag.test(logical_date=began - timedelta(minutes=3 - i)).run_id for i in range(3)]
    old = began - timedelta(days=10)
    with create_session() as s:
        for i, run_id in enumerate(runs[:2]):
            at = {"old": old + timedelta(minutes=i), "r": run_id}  # (dag_id, logical_date) stays unique
            for table, columns in (
                ("dag_run", ("start_date", "end_date", "queued_at", "run_after", "logical_date")),
                ("task_instance", ("start_date", "end_date", "queued_dttm", "updated_at")),
                ("xcom", ("timestamp",)),
            ):
                sets = ", ".join(f"{c} = :old" for c in columns)
                s.execute(text(f"UPDATE {table} SET {sets} WHERE run_id = :r"), at)  # noqa: S608
        s.execute(text("UPDATE log SET dttm = :old"), {"old": old})
        s.execute(
            text("UPDATE job SET latest_heartbeat = :old, start_date = :old, end_date = :old"), {"old": old}
        )
    with create_session() as s:
        before = counts(s)
    logs = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    files = {
        "old_task_log": logs
        / "dag_id=cs_poll_condor"
        / f"run_id={runs[0]}"
        / "task_id=poll_pools"
        / "attempt=1.log",
        "new_task_log": logs
        / "dag_id=cs_poll_condor"
        / f"run_id={runs[2]}"
        / "task_id=poll_pools"
        / "attempt=1.log",
        "old_processor_log": logs
        / "dag_processor"
        / old.strftime("%Y-%m-%d")
        / "dags"
        / "cs_schedule.py.log",
        "old_component_log": logs / "scheduler.log",  # an embedded component's own, held open: kept
    }
    stamp = time.time() - 10 * 86400
    for name, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{name}\n" * 100)
        if name.startswith("old"):
            os.utime(path, (stamp, stamp))
    report = run_retention(7, dict(os.environ))
    with create_session() as s:
        after = counts(s)
        left = [r for (r,) in s.execute(text("SELECT run_id FROM dag_run ORDER BY run_id"))]
        old_logs = s.execute(text("SELECT count(*) FROM log WHERE dttm < :c"), {"c": report.cutoff}).scalar()
    print(
        json.dumps(
            {
                "ok": report.db_ok,
                "output": report.db_output[-1500:],
                "before": before,
                "after": after,
                "runs": runs,
                "left": left,
                "files": {name: path.exists() for name, path in files.items()},
                "removed": report.log_files_removed,
                "old_log_rows_after": old_logs,
                "old_folder_left": (logs / "dag_processor" / old.strftime("%Y-%m-%d")).exists(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
