"""
### cs_submit_demo_jobs

Queues jobs in a group's **simulated** HTCondor pool, as `condor_submit` would: the demo's way to watch
the whole workflow. The jobs sit idle (no machine matches), `cs_schedule` boots VMs for them on the
group's simulated clouds, the VMs' startds register, the jobs run for `duration_s`, and once no idle jobs
remain the VMs are retired after their keep-alive and deleted.

Params: `group` (a group with `pool.kind: simulated`), `count`, `cores`, `ram_mb`, `disk_gb`,
`duration_s`, `target_alias` (empty: any cloud of the group), `owner`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from include.alerting import dag_failure_callback


@dag(
    dag_id="cs_submit_demo_jobs",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["cloudscheduler", "demo", "manual"],
    default_args={"owner": "cloudscheduler", "retries": 0},
    on_failure_callback=dag_failure_callback,
    params={
        "group": Param("atlas", type="string", description="a group served by a simulated pool"),
        "count": Param(10, type="integer", minimum=1, maximum=5000),
        "cores": Param(8, type="integer", minimum=1, maximum=128),
        "ram_mb": Param(16000, type="integer", minimum=1, maximum=2_000_000),
        "disk_gb": Param(10, type="number", minimum=0, maximum=10_000),
        "duration_s": Param(
            300, type="integer", minimum=0, maximum=7 * 86400, description="run time of each job"
        ),
        "target_alias": Param("", type="string", description="empty: any cloud of the group"),
        "owner": Param("demo", type="string", minLength=1),
    },
)
def cs_submit_demo_jobs():
    @task
    def submit_jobs(params: dict) -> dict:
        from include.simulated.pool import submit_jobs as submit
        from include.store.db import get_engine
        from include.store.models import utcnow

        ids = submit(
            get_engine(),
            params["group"],
            params["count"],
            now=utcnow(),
            cores=params["cores"],
            ram_mb=params["ram_mb"],
            disk_gb=params["disk_gb"],
            duration_s=params["duration_s"],
            owner=params["owner"],
            target_alias=params["target_alias"] or None,
        )
        return {"submitted": len(ids), "first": ids[0], "last": ids[-1]}

    submit_jobs()


cs_submit_demo_jobs()
