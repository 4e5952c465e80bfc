"""
### cs_ops_boot

Boots `count` test VMs on one cloud now, outside the planner (to check a new cloud, image or
flavour). The request is recorded as an intent like the planner's, then sent at once; the VMs are then
ordinary VMs: they register, and idle past their keep-alive they are retired and deleted.

Params: `group`, `cloud`, `count`, `flavor` (empty: the cloud's default, else its smallest), `image`
(empty: the cloud's or group's default).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from include.alerting import dag_failure_callback


@dag(
    dag_id="cs_ops_boot",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["cloudscheduler", "operations", "manual"],
    default_args={"owner": "cloudscheduler", "retries": 1},
    on_failure_callback=dag_failure_callback,
    params={
        "group": Param("atlas", type="string", minLength=1),
        "cloud": Param("", type="string", minLength=1),
        "count": Param(1, type="integer", minimum=1, maximum=50),
        "flavor": Param("", type="string"),
        "image": Param("", type="string"),
    },
)
def cs_ops_boot():
    @task
    def record_boot(params: dict, **context) -> dict:
        from include.loop.operations import actor_of, boot_test_vms
        from include.store.db import session_scope
        from include.store.models import utcnow

        with session_scope() as session:
            rid = boot_test_vms(
                session,
                params["group"],
                params["cloud"],
                params["count"],
                actor_of(context),
                utcnow(),
                flavor=params["flavor"] or None,
                image=params["image"] or None,
            )
        return {"group": params["group"], "cloud": params["cloud"], "deletes": [], "request_id": rid}

    @task(pool="cs_cloud_api")
    def send_boot(work: dict) -> dict:
        from include.loop.cycle import act_cloud

        return act_cloud(work)

    send_boot(record_boot())


cs_ops_boot()
