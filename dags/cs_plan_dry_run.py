"""
### cs_plan_dry_run

Runs the planner on the current state and shows its decisions without acting: the boots it would
make, the VMs it would retire or delete, and for every demand left unserved the reason (`quota`,
`no_flavor_fits`, `image_missing`, `backoff`, `cloud_stale`, ...). The report is in the task's log
and return value; the run is recorded as a dry run.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from include.alerting import dag_failure_callback


@dag(
    dag_id="cs_plan_dry_run",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["cloudscheduler", "operations", "manual"],
    default_args={"owner": "cloudscheduler", "retries": 0},
    on_failure_callback=dag_failure_callback,
)
def cs_plan_dry_run():
    @task
    def show_plan() -> dict:
        from include.loop.cycle import dry_run_report

        report, summary = dry_run_report()
        print(report)
        return summary

    show_plan()


cs_plan_dry_run()
