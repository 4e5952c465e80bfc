"""Runs the control-loop DAGs with ``dag.test()`` through the whole demo workflow on a fast simulated
site, and prints one JSON line per stage reached. Run in its own process by test_loop_dags.py (Airflow
reads its configuration from the environment at first import)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CS_CLOUD_POLL_SECONDS", "10")  # the intervals' one source, read by DAGs and tasks

FAST_SITE = {
    "settings": {"keep_alive_floor": 0, "max_boot_per_cycle": 5},
    "groups": [
        {
            "name": "atlas",
            "pool": {"kind": "simulated"},
            "other_submitters": ["ALL"],
            "vm_defaults": {"image": "cvm", "keep_alive": 4},
            "metadata": [
                {
                    "name": "worker.yaml.j2",
                    "text": (
                        "#cloud-config\nwrite_files:\n- path: /etc/condor/config.d/50-cs.conf\n  content: |\n"
                        '    cs_vm_id = "{{ cs_vm_id }}"\n    group_name = "{{ cs_group_name }}"\n'
                    ),
                }
            ],
            "clouds": [
                {
                    "name": "east",
                    "type": "simulated",
                    "simulation": {
                        "boot_delay_s": 2,
                        "register_delay_s": 1,
                        "quota_cores": 64,
                        "flavors": [{"name": "c8", "cores": 8, "ram_mb": 32000, "disk_gb": 50.0}],
                        "images": ["cvm"],
                    },
                }
            ],
        }
    ],
}


def main() -> int:
    from sqlalchemy import func, select

    from include.store.db import session_scope
    from include.store.models import Job, Machine, SimPool, Vm
    from tests.airflow_site import bootstrap

    dags = bootstrap(FAST_SITE)
    began = time.monotonic()
    run = dags["cs_submit_demo_jobs"].test(
        run_conf={"group": "atlas", "count": 3, "cores": 8, "ram_mb": 16000, "duration_s": 4}
    )
    emit("submitted", began, state=str(run.state))
    with session_scope() as s:  # a real negotiator cycles every 20 s; this one every 2 s, to keep it short
        s.execute(SimPool.__table__.update().values(negotiator_interval_s=2))
    seen: set[str] = set()
    while time.monotonic() - began < 240:
        for dag_id in ("cs_poll_condor", "cs_poll_clouds", "cs_schedule"):
            state = dags[dag_id].test().state
            if str(state) != "success":
                emit("dag_failed", began, dag=dag_id, state=str(state))
                return 1
        with session_scope() as s:
            vms = dict(s.execute(select(Vm.status, func.count()).group_by(Vm.status)).all())
            jobs = dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            machines = s.scalar(select(func.count()).select_from(Machine).where(Machine.vm_id.is_not(None)))
            retired = s.scalar(select(func.count()).select_from(Vm).where(Vm.retire_sent_at.is_not(None)))
        stages = {
            "vms_requested": sum(vms.values()) >= 3,
            "vms_active": vms.get("active", 0) >= 3,
            "startds_registered": machines >= 3,
            "jobs_running": jobs.get(2, 0) >= 1,
            "jobs_completed": jobs.get(4, 0) >= 3,
            "retire_sent": retired >= 1,
            "vms_deleted": vms.get("deleting", 0) + vms.get("gone", 0) >= 1,
            "vms_forgotten": "vms_requested" in seen and not vms,
        }
        for name, reached in stages.items():
            if reached and name not in seen:
                seen.add(name)
                emit(name, began, vms=vms, jobs=jobs, machines=machines)
        if "vms_forgotten" in seen:
            return 0
        time.sleep(1)
    emit("timeout", began, seen=sorted(seen))
    return 1


def emit(stage: str, began: float, **detail) -> None:
    print(
        json.dumps({"stage": stage, "t": round(time.monotonic() - began, 1), **detail}, default=str),
        flush=True,
    )


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    sys.exit(main())
