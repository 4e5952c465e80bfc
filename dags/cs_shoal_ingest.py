"""
### cs_shoal_ingest

With `CS_SHOAL_INGEST=events` (the default) the triggerer consumes the agents' queue as heartbeats arrive
(`include/shoal/trigger.py`, the watcher of `cs_shoal_verify`'s asset) and this DAG runs only when
triggered, to drain the queue by hand. With `CS_SHOAL_INGEST=schedule` (a stack without a triggerer) it
runs every 30 s.

It drains the heartbeats Shoal agents publish to RabbitMQ (topic exchange `shoal`, any routing
key) into the cache registry, keyed by the agent's uuid. Accepts every published agent version's
fields; drops malformed, stale (older than the expiry time) or un-locatable new caches, with a count per
reason in the task's return value. Declares the exchange first: agents cannot publish until it exists.

Runs on its schedule only when `CS_SHOAL_ENABLED=true`; settings are the `CS_SHOAL_*` variables
(`include/shoal/README.md`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from include.alerting import dag_failure_callback
from include.shoal.settings import ingest_by_events, scheduling_enabled


@dag(
    dag_id="cs_shoal_ingest",
    schedule=timedelta(seconds=30) if scheduling_enabled() and not ingest_by_events() else None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(seconds=90),
    doc_md=__doc__,
    tags=["cloudscheduler", "shoal"],
    default_args={"owner": "cloudscheduler", "retries": 1, "retry_delay": timedelta(seconds=10)},
    on_failure_callback=dag_failure_callback,
)
def cs_shoal_ingest():
    @task(execution_timeout=timedelta(seconds=60))
    def ingest_heartbeats() -> dict:
        from include.shoal.tasks import ingest

        return ingest()

    ingest_heartbeats()


cs_shoal_ingest()
