"""
### cs_keys

Every 10 minutes, makes the keys x clouds matrix true (F7), one mapped task per cloud that has a ticked
key or a keypair we imported: a missing keypair is imported from the group's public key (Nova, EC2);
an unticked one is deleted only if we imported it and the cloud still shows our fingerprint. A different
key under the same name is reported (state `conflict`, one alert) and never overwritten. States per
(key, cloud) are in `key_placements`: `present`, `conflict`, `error`, `unsupported` (simulated clouds).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from include.alerting import dag_failure_callback


@dag(
    dag_id="cs_keys",
    schedule=timedelta(minutes=10),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=9),
    doc_md=__doc__,
    tags=["cloudscheduler", "keys"],
    default_args={"owner": "cloudscheduler", "retries": 0},  # the next run is the retry
    on_failure_callback=dag_failure_callback,
)
def cs_keys():
    @task
    def list_key_clouds() -> list[dict]:
        from include.keys.tasks import key_clouds

        return key_clouds()

    @task(
        pool="cs_cloud_api",
        map_index_template="{{ task.op_kwargs['cloud']['group'] }}/{{ task.op_kwargs['cloud']['cloud'] }}",
    )
    def sync_keys(cloud: dict) -> dict:
        from include.keys.tasks import sync_keys as sync

        return sync(cloud["group"], cloud["cloud"])

    sync_keys.expand(cloud=list_key_clouds())


cs_keys()
