"""
### cs_poll_condor

Every 15 s (`CS_CONDOR_POLL_SECONDS`), polls each HTCondor pool the groups use: jobs from every schedd (in parallel, narrow
projections) and startd ads from the collector, written to the state database as one consistent
snapshot per part. A simulated pool is first advanced to now (its negotiator matches and runs jobs).

An unreachable schedd or collector marks only that part stale (the planner then freezes the group
rather than seeing "no jobs"); the previous rows are kept. Updates the `cloudscheduler://state/condor`
asset, which triggers `cs_schedule`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from include.airflow_assets import CONDOR_POLL, CONDOR_STATE
from include.alerting import dag_failure_callback


@dag(
    dag_id="cs_poll_condor",
    schedule=CONDOR_POLL,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(seconds=120),
    doc_md=__doc__,
    tags=["cloudscheduler", "control-loop"],
    default_args={"owner": "cloudscheduler", "retries": 0},  # the next run, one interval later, is the retry
    on_failure_callback=dag_failure_callback,
)
def cs_poll_condor():
    @task(outlets=[CONDOR_STATE], pool="cs_condor")
    def poll_pools() -> list[dict]:
        from include.loop.cycle import poll_pools as poll

        return poll()

    poll_pools()


cs_poll_condor()
