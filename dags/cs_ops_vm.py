"""
### cs_ops_vm

Operator action on VMs of one group, recorded as intents (audited with the triggering user) that the
next `cs_schedule` run carries out. As the original's `vm update --vm-option`:

- `retire`: graceful, through the pool (running jobs finish), then delete.
- `kill`: delete now, even with running jobs.
- `manctl`: manual control, the loop leaves the VM alone; `sysctl`: back to system control.
- `retain` with `count` N: retire all but the N most valuable VMs.

Select VMs by `vms` (ids), or `all` (optionally one `cloud`, some `states` such as idle, error), or a
`count` with kill/retire/retain: the N least valuable VMs, as the planner ranks them.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from include.alerting import dag_failure_callback

STATES = ["starting", "unregistered", "idle", "running", "retiring", "manual", "error"]


@dag(
    dag_id="cs_ops_vm",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["cloudscheduler", "operations", "manual"],
    default_args={"owner": "cloudscheduler", "retries": 0},
    on_failure_callback=dag_failure_callback,
    params={
        "group": Param("atlas", type="string", minLength=1),
        "action": Param("retire", type="string", enum=["retire", "kill", "manctl", "sysctl", "retain"]),
        "vms": Param([], type="array", items={"type": "string"}, description="VM ids (or use all / count)"),
        "all": Param(False, type="boolean", description="every VM of the group (filters below apply)"),
        "count": Param(None, type=["null", "integer"], minimum=0, description="kill/retire/retain N"),
        "cloud": Param(None, type=["null", "string"]),
        "states": Param([], type="array", items={"type": "string", "enum": STATES}),
    },
)
def cs_ops_vm():
    @task
    def record_vm_action(params: dict, **context) -> dict:
        from include.loop.operations import VmSelection, actor_of, vm_action
        from include.store.db import session_scope
        from include.store.models import utcnow

        selection = VmSelection(
            group=params["group"],
            hosts="all" if params["all"] else params["vms"],
            count=params["count"],
            cloud=params["cloud"],
            states=params["states"],
        )
        with session_scope() as session:
            ids = vm_action(session, params["action"], selection, actor_of(context), utcnow())
        return {"action": params["action"], "vms": ids}

    record_vm_action()


cs_ops_vm()
