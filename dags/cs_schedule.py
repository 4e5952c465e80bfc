"""
### cs_schedule

The control loop: every 30 s, and whenever a poller brings news, plans and acts.

1. **plan** — under a lease per group: derive each VM's state, take a snapshot of the store (capacity
   before demand), run the pure planner, and record its intents in one transaction (boot requests and
   their VM rows, retire and delete marks, the run and every skip reason) before anything calls a cloud.
2. **act_on_cloud** (mapped, one per cloud with work) — send open boot requests (idempotent by request
   id: a retried task finds the VMs it made) and delete what the plan or an operator asked.
3. **retire_in_pool** (mapped, one per pool) — peaceful shutdown of the startds of retired VMs.
4. **finish** — forget VMs the clouds no longer have, write this cycle's timeseries samples.

Level-triggered: every run recomputes from observed state, so the next run is the retry. Why nothing
booted is in the plan's skip reasons (the Status page, or `cs_plan_dry_run`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import AssetOrTimeSchedule, DeltaTriggerTimetable, dag, task

from include.airflow_assets import CLOUD_STATE, CONDOR_STATE
from include.alerting import dag_failure_callback


@dag(
    dag_id="cs_schedule",
    schedule=AssetOrTimeSchedule(timetable=DeltaTriggerTimetable(timedelta(seconds=30)),
                                 assets=(CONDOR_STATE | CLOUD_STATE)),
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
    def plan() -> dict:
        from include.loop.cycle import plan_cycle

        return plan_cycle()

    @task(pool="cs_cloud_api",
          map_index_template="{{ task.op_kwargs['work']['group'] }}/{{ task.op_kwargs['work']['cloud'] }}")
    def act_on_cloud(work: dict) -> dict:
        from include.loop.cycle import act_cloud

        return act_cloud(work)

    @task(pool="cs_condor", map_index_template="{{ task.op_kwargs['work']['pool'] }}")
    def retire_in_pool(work: dict) -> dict:
        from include.loop.cycle import act_pool

        return act_pool(work)

    @task(trigger_rule="all_done")
    def finish(groups: list[str]) -> dict:
        from include.loop.cycle import finish_cycle

        return finish_cycle(groups)

    planned = plan()
    acted = [act_on_cloud.expand(work=planned["clouds"]), retire_in_pool.expand(work=planned["pools"])]
    acted >> finish(planned["groups"])


cs_schedule()
