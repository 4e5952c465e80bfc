"""
### cs_ops_cloud

Operator action on one cloud, recorded as an intent (audited with the triggering user) that the next
`cs_schedule` run carries out:

- `drain`: no more boots; every VM of the cloud is retired gracefully through the pool, then deleted.
- `pause`: no more boots; existing VMs are kept (the original's "freeze").
- `enable`: undo both, and clear a boot back-off that disabled the cloud after repeated failures.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from include.alerting import dag_failure_callback


@dag(
    dag_id="cs_ops_cloud",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["cloudscheduler", "operations", "manual"],
    default_args={"owner": "cloudscheduler", "retries": 0},
    on_failure_callback=dag_failure_callback,
    params={
        "group": Param("atlas", type="string", minLength=1),
        "cloud": Param("", type="string", minLength=1),
        "action": Param("drain", type="string", enum=["drain", "pause", "enable"]),
    },
)
def cs_ops_cloud():
    @task
    def record_cloud_action(params: dict, **context) -> dict:
        from include.loop.operations import actor_of, cloud_action
        from include.store.db import session_scope
        from include.store.models import utcnow

        with session_scope() as session:
            cloud_action(
                session, params["group"], params["cloud"], params["action"], actor_of(context), utcnow()
            )
        return {"cloud": f"{params['group']}/{params['cloud']}", "action": params["action"]}

    record_cloud_action()


cs_ops_cloud()
