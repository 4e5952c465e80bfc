"""
### cs_schedule

The control loop: every 30 s, and whenever a poller brings news, plans and acts.

1. **plan** — under a lease per group, taken under a holder name of this try's own (a retry or a
   zombie try gets none while this one holds it): derive each VM's state, take a snapshot of the store
   (capacity before demand), run the pure planner, and record its intents in one transaction (boot
   requests and their VM rows, retire and delete marks, the run and every skip reason) before anything
   calls a cloud. The log shows the plan: every boot, retire, delete and skip with its reason.
2. **act** (mapped: one per cloud with work, one per pool with retires) — only while this run still
   holds its lease with the same fencing token (checked before every call): on a cloud, send open boot
   requests (idempotent by request id: a retried task finds the VMs it made) and delete what the plan
   or an operator asked; on a pool, peaceful shutdown of the startds of retired VMs.
3. **finish** — forget VMs the clouds no longer have, write this cycle's timeseries samples, release
   the leases.

Level-triggered: every run recomputes from observed state, so the next run is the retry. Why nothing
booted is in the plan's skip reasons (the Status page, or `cs_plan_dry_run`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import AssetOrTimeSchedule, DeltaTriggerTimetable, dag, task

from include.airflow_assets import CLOUD_STATE, CLOUD_TASK_TIMEOUT, CONDOR_STATE, SCHEDULE
from include.alerting import dag_failure_callback


@dag(
    dag_id="cs_schedule",
    schedule=AssetOrTimeSchedule(
        timetable=DeltaTriggerTimetable(SCHEDULE), assets=(CONDOR_STATE | CLOUD_STATE)
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    # Acting on a slow cloud may outlast one interval; a run cut short is finished by the next one.
    dagrun_timeout=timedelta(minutes=5),
    doc_md=__doc__,
    tags=["cloudscheduler", "control-loop"],
    default_args={"owner": "cloudscheduler", "retries": 1, "retry_delay": timedelta(seconds=5)},
    on_failure_callback=dag_failure_callback,
)
def cs_schedule():
    @task
    def plan() -> list[dict]:
        from include.loop.cycle import plan_cycle, work_items

        return work_items(plan_cycle())

    @task(
        pool="cs_cloud_api",
        map_index_template="{{ task.op_kwargs['work']['label'] }}",
        execution_timeout=CLOUD_TASK_TIMEOUT,
    )
    def act(work: dict) -> dict:
        from include.loop.cycle import act_on

        return act_on(work)

    @task(trigger_rule="all_done")
    def finish(work: list[dict]) -> dict:
        from include.loop.cycle import finish_run

        return finish_run(work)

    work = plan()
    act.expand(work=work) >> finish(work)


cs_schedule()
