"""
### cs_poll_clouds

Every 60 s (`CS_CLOUD_POLL_SECONDS`), polls each cloud (enabled clouds, and drained ones that still have
VMs; one mapped task per cloud up to 8 clouds, beyond that 8 tasks each polling a few clouds in threads,
`CS_CLOUD_POLL_TASKS`): VMs (ours by tag, and foreign usage), flavours, images, keypairs, networks,
security groups and quota, written to the state database. VMs with our tags and no row are adopted, so nothing a
restart interrupted is ever forgotten.

A failing cloud marks only its own snapshot stale (no boots or deletes there until it answers again);
the other clouds go on. Updates the `cloudscheduler://state/clouds` asset, which triggers `cs_schedule`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from include.airflow_assets import CLOUD_POLL, CLOUD_POLL_DEADLINE, CLOUD_STATE, CLOUD_TASK_TIMEOUT
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
    def list_clouds() -> list[list[dict]]:
        from include.loop.cycle import cloud_batches

        return cloud_batches()

    @task(
        pool="cs_cloud_api",
        map_index_template=(
            "{% for c in task.op_kwargs['clouds'] %}{{ c.group }}/{{ c.cloud }}"
            "{% if not loop.last %}, {% endif %}{% endfor %}"
        ),
        execution_timeout=CLOUD_TASK_TIMEOUT,
    )
    def poll_clouds(clouds: list[dict]) -> list[dict]:
        from include.loop.cycle import poll_batch

        return poll_batch(clouds, deadline_s=CLOUD_POLL_DEADLINE.total_seconds())

    @task(outlets=[CLOUD_STATE], trigger_rule="all_done")
    def announce(results: list[list[dict]]) -> int:
        return sum(1 for batch in results for r in batch if r.get("ok", True))

    announce(poll_clouds.expand(clouds=list_clouds()))


cs_poll_clouds()
