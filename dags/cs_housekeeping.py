"""
### cs_housekeeping

Once a day, prunes cloudscheduler's own high-volume tables: timeseries samples older than the
`timeseries_retention_days` setting, planning-run records older than a week, finished boot requests
older than a month, usage records of VMs deleted more than `usage_retention_days` (200) ago.
Open boot intents and the usage of live VMs are never pruned.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from include.alerting import dag_failure_callback


@dag(
    dag_id="cs_housekeeping",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    doc_md=__doc__,
    tags=["cloudscheduler", "maintenance"],
    default_args={"owner": "cloudscheduler", "retries": 2, "retry_delay": timedelta(minutes=5)},
    on_failure_callback=dag_failure_callback,
)
def cs_housekeeping():
    @task
    def prune_tables() -> dict[str, int]:
        from include.config.settings import load_settings
        from include.store.db import session_scope
        from include.store.models import utcnow
        from include.store.retention import prune

        with session_scope() as session:
            settings = load_settings(session)
            return prune(session, utcnow(), settings.timeseries_retention_days, settings.usage_retention_days)

    prune_tables()


cs_housekeeping()
