"""
### cs_poll_clouds

Every 60 s (`CS_CLOUD_POLL_SECONDS`), polls each cloud (one mapped task per cloud: enabled clouds, and drained ones that still
have VMs): VMs (ours by tag, and foreign usage), flavours, images, keypairs, networks, security groups
and quota, written to the state database. VMs with our tags and no row are adopted, so nothing a
restart interrupted is ever forgotten.

A failing cloud marks only its own snapshot stale (no boots or deletes there until it answers again);
the other clouds go on. Updates the `cloudscheduler://state/clouds` asset, which triggers `cs_schedule`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from include.airflow_assets import CLOUD_POLL, CLOUD_STATE, CLOUD_TASK_TIMEOUT
from include.alerting import dag_failure_callback


@dag(
    dag_id="cs_poll_clouds",
    schedule=CLOUD_POLL,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=5),
    doc_md=__doc__,
    tags=["cloudscheduler", "control-loop"],
    default_args={"owner": "cloudscheduler", "retries": 0},  # the next run is the retry
    on_failure_callback=dag_failure_callback,
)
def cs_poll_clouds():
    @task
    def list_clouds() -> list[dict]:
        from include.loop.cycle import clouds_to_poll

        return clouds_to_poll()

    @task(
        pool="cs_cloud_api",
        map_index_template="{{ task.op_kwargs['cloud']['group'] }}/{{ task.op_kwargs['cloud']['cloud'] }}",
        execution_timeout=CLOUD_TASK_TIMEOUT,
    )
    def poll_cloud(cloud: dict) -> dict:
        from include.loop.cycle import poll_cloud as poll

        return poll(cloud["group"], cloud["cloud"])

    @task(outlets=[CLOUD_STATE], trigger_rule="all_done")
    def announce(results: list[dict]) -> int:
        return sum(1 for r in results if r.get("ok", True))

    announce(poll_cloud.expand(cloud=list_clouds()))


cs_poll_clouds()
