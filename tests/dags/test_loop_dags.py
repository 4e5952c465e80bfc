"""End to end through Airflow: `dag.test()` of cs_submit_demo_jobs, then cs_poll_condor, cs_poll_clouds
and cs_schedule in turn on a fast simulated site, until the VMs booted for the jobs have registered, run
them, been retired after keep-alive, deleted and forgotten. Runs in its own process and AIRFLOW_HOME."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.airflow_site import script_env

ROOT = Path(__file__).resolve().parents[2]
ORDER = [
    "submitted",
    "vms_requested",
    "vms_active",
    "startds_registered",
    "jobs_running",
    "jobs_completed",
    "retire_sent",
    "vms_deleted",
    "vms_forgotten",
]


@pytest.mark.airflow
@pytest.mark.slow
def test_dags_carry_the_demo_workflow_through_every_stage(tmp_path):
    env = script_env(tmp_path)
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "dags" / "loop_run.py")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=420,
    )
    stages = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0, (stages, result.stderr[-3000:])
    names = [s["stage"] for s in stages]
    assert names == ORDER
    at = {s["stage"]: s for s in stages}
    assert at["vms_requested"]["vms"] == {"requested": 3}, "three 8-core jobs, three 8-core VMs, no more"
    assert at["jobs_completed"]["jobs"] == {"4": 3}
    times = [s["t"] for s in stages]
    assert times == sorted(times)
