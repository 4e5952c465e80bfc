"""
### cs_shoal_expire

Every minute: deletes caches whose agent has been silent for `CS_SHOAL_INACTIVE_TIME` (180 s). The HTTP
API already hides them at that age; this keeps the registry small. An agent restart brings a new uuid,
so the old entry simply ages out here.

Runs on its schedule only when `CS_SHOAL_ENABLED=true`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from include.alerting import dag_failure_callback
from include.shoal.settings import scheduling_enabled


@dag(
    dag_id="cs_shoal_expire",
    schedule=timedelta(minutes=1) if scheduling_enabled() else None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(seconds=50),
    doc_md=__doc__,
    tags=["cloudscheduler", "shoal"],
    default_args={"owner": "cloudscheduler", "retries": 1, "retry_delay": timedelta(seconds=10)},
    on_failure_callback=dag_failure_callback,
)
def cs_shoal_expire():
    @task
    def expire_silent_caches() -> dict:
        from include.shoal.tasks import expire

        return expire()

    expire_silent_caches()


cs_shoal_expire()
