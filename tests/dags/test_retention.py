"""Airflow's own records do not grow forever: a run, its task instances, XComs, events and task logs
older than the retention are deleted; a recent run and the components' open logs are kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.airflow_site import script_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.airflow
@pytest.mark.slow
def test_runs_and_task_logs_older_than_a_week_are_pruned_and_the_rest_kept(tmp_path):
    env = script_env(tmp_path)
    env.pop("AIRFLOW__LOGGING__BASE_LOG_FOLDER", None)
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "dags" / "retention_run.py")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    out = lines[-1]
    assert out["ok"], out["output"]
    assert out["before"]["dag_run"] == 3 and out["before"]["task_instance"] >= 3
    assert out["left"] == [out["runs"][2]], "the two aged runs go, the recent one stays"
    assert out["after"]["task_instance"] == out["before"]["task_instance"] // 3
    assert out["after"]["xcom"] < out["before"]["xcom"] or out["before"]["xcom"] == 0
    # The aged audit entries go (the clean writes its own entry as it runs).
    assert out["before"]["log"] >= 1 and out["old_log_rows_after"] == 0, (out["before"], out["after"])
    assert out["files"] == {
        "old_task_log": False,
        "new_task_log": True,
        "old_processor_log": False,
        "old_component_log": True,
    }
    assert not out["old_folder_left"], "an emptied dated folder goes too"


def test_a_retention_that_is_not_a_number_is_refused_by_name():
    from include.airflow_retention import keep_days_from

    with pytest.raises(ValueError, match="CS_AIRFLOW_RETENTION_DAYS: 'week'"):
        keep_days_from({"CS_AIRFLOW_RETENTION_DAYS": "week"})
    with pytest.raises(ValueError, match="under a day"):
        keep_days_from({"CS_AIRFLOW_RETENTION_DAYS": "0.1"})
    assert keep_days_from({}) == 7 and keep_days_from({"CS_AIRFLOW_RETENTION_DAYS": "30"}) == 30
