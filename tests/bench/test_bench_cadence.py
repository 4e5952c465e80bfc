"""The P8 bench claims to run the control loop as shipped: a condor poll every 15 s, each followed by a
scheduling cycle because the poll's Asset triggers cs_schedule, and clouds polled every 60 s. If the DAG
wiring or the default intervals change, the bench's cadence must change with them, or its waits and
idle figures describe a loop nobody runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import planner_quality as bench
from include import intervals

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dags():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS), safe_mode=False)
    assert bag.import_errors == {}
    return bag.dags


def test_the_bench_polls_and_schedules_at_the_shipped_intervals():
    in_bench = {
        "condor_poll_interval": bench.CONDOR_POLL_S,
        "cloud_poll_interval": bench.CLOUD_POLL_S,
        "schedule_interval": bench.SCHEDULE_S,
    }
    assert in_bench == intervals.DEFAULTS


def test_every_condor_poll_triggers_a_scheduling_cycle_so_the_bench_runs_one_after_each(dags):
    from include.airflow_assets import CONDOR_STATE

    poll = dags["cs_poll_condor"]
    assert all(CONDOR_STATE in t.outlets for t in poll.tasks), "every poll updates the condor Asset"
    schedule = dags["cs_schedule"]
    triggers = {a.uri for a in schedule.timetable.asset_condition.objects}
    assert CONDOR_STATE.uri in triggers, "cs_schedule runs on the condor Asset"
    assert bench.SHIPPED_CYCLE_EVERY_POLLS == 1
