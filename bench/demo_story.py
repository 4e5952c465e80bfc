"""The demo story of the README, timed on the embedded default.

Starts the embedded stack (Airflow on SQLite, simulated pool and clouds, demo configuration) in a scratch
run directory, triggers `cs_submit_demo_jobs` through Airflow's REST API as the UI's trigger button does
(10 jobs of 8 cores for `atlas`, each running `--duration` seconds), then watches the state database and
prints when each stage of the workflow was first reached, seconds after the trigger:

    idle jobs seen -> boot requested -> VMs created -> all registered -> all jobs running -> jobs done ->
    retires sent -> all VMs deleted by the cloud -> all VMs forgotten

and the DAG runs of the story from Airflow's API (count, median and max duration per DAG). Fails if the
story does not complete within `--limit` seconds.

    .venv/bin/python bench/demo_story.py [--jobs 10] [--duration 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stack import embedded_stack  # noqa: E402

STAGES = (
    "jobs_idle_seen",
    "boot_requested",
    "vms_created",
    "vms_registered",
    "jobs_running",
    "jobs_done",
    "retires_sent",
    "vms_deleted",
    "vms_forgotten",
)


class Api:
    """Airflow's REST API with a token from the simple auth manager (the demo's admin / admin)."""

    def __init__(self, port: int):
        self.base = f"http://localhost:{port}"
        token = self._call("POST", "/auth/token", {"username": "admin", "password": "admin"}, auth=False)
        self.token = token["access_token"]

    def _call(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> dict:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def trigger(self, dag_id: str, conf: dict) -> dict:
        return self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})

    def runs(self, dag_id: str, since: datetime) -> list[dict]:
        query = f"?limit=1000&run_after_gte={since.isoformat().replace('+00:00', 'Z')}"
        return self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns{query}")["dag_runs"]


def stage_facts(engine, jobs: int) -> dict[str, bool]:
    from sqlalchemy import func, select

    from include.store.db import session_scope
    from include.store.models import BootRequest, Job, SimInstance, Vm

    with session_scope(engine) as s:

        def count(model, *where):
            return s.scalar(select(func.count()).select_from(model).where(*where))

        atlas = Job.group_name == "atlas"
        vms = count(Vm, Vm.group_name == "atlas")
        instances = count(SimInstance, SimInstance.group_name == "atlas")
        live = count(SimInstance, SimInstance.group_name == "atlas", SimInstance.deleted_at.is_(None))
        return {
            "jobs_idle_seen": count(Job, atlas, Job.status == 1) >= jobs,
            "boot_requested": count(BootRequest, BootRequest.group_name == "atlas") > 0,
            "vms_created": instances > 0,
            "vms_registered": vms > 0
            and count(Vm, Vm.group_name == "atlas", Vm.registered_at.is_(None)) == 0,
            "jobs_running": count(Job, atlas, Job.status == 2) >= jobs,
            "jobs_done": instances > 0 and count(Job, atlas, Job.status.in_((1, 2))) == 0,
            "retires_sent": count(Vm, Vm.group_name == "atlas", Vm.retire_sent_at.is_not(None)) > 0,
            "vms_deleted": instances > 0 and live == 0,
            "vms_forgotten": instances > 0 and vms == 0,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--duration", type=int, default=300, help="run time of each job, seconds")
    parser.add_argument("--limit", type=int, default=1500, help="seconds the whole story may take")
    parser.add_argument("--port", type=int, default=8797)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="cs-story-") as tmp,
        embedded_stack(Path(tmp), args.port) as stack,
    ):
        import os

        os.environ["CLOUDSCHEDULER_DB_URL"] = stack["state_url"]
        from include.store.db import get_engine

        engine = get_engine()
        print(f"ui_up: {stack['ui_s']:.1f} s")
        api = Api(args.port)
        time.sleep(20)  # let the first polls land, as a user reading the UI would
        began = datetime.now(UTC)
        t0 = time.monotonic()
        api.trigger(
            "cs_submit_demo_jobs",
            {"group": "atlas", "count": args.jobs, "cores": 8, "ram_mb": 16000, "duration_s": args.duration},
        )
        reached: dict[str, float] = {}
        while len(reached) < len(STAGES) and time.monotonic() - t0 < args.limit:
            for stage, ok in stage_facts(engine, args.jobs).items():
                if ok and stage not in reached:
                    reached[stage] = time.monotonic() - t0
                    print(f"{stage}: {reached[stage]:.0f} s", flush=True)
            time.sleep(1)
        for dag_id in (
            "cs_submit_demo_jobs",
            "cs_poll_condor",
            "cs_poll_clouds",
            "cs_schedule",
            "cs_housekeeping",
        ):
            runs = [r for r in api.runs(dag_id, began) if r.get("end_date") and r.get("start_date")]
            secs = [(_ts(r["end_date"]) - _ts(r["start_date"])).total_seconds() for r in runs]
            states = sorted({r["state"] for r in runs})
            if secs:
                print(
                    f"dag_{dag_id}: {len(secs)} runs, median {statistics.median(secs):.1f} s, "
                    f"max {max(secs):.1f} s, states {','.join(states)}"
                )
    missing = [s for s in STAGES if s not in reached]
    print(f"story: {'complete' if not missing else 'INCOMPLETE, missing ' + ', '.join(missing)}")
    return 0 if not missing else 1


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


if __name__ == "__main__":
    sys.exit(main())
