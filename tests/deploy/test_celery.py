"""The same DAGs on CeleryExecutor: Airflow's metadata and our state on the PostgreSQL server, Redis as the
broker (both run on this machine, as in the compose file), an api-server, scheduler, dag-processor and
one Celery worker started here. Demo jobs are submitted and a scheduling cycle boots VMs for them on the
simulated clouds, every task executed by the Celery worker."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from tests.conftest import create_pg_database, drop_pg_database

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.celery, pytest.mark.slow, pytest.mark.postgres]
PORT = 8797


def _env(tmp: Path, airflow_url: str, state_url: str, redis_db: int) -> dict[str, str]:
    pg = airflow_url.replace("postgresql+psycopg2://", "postgresql://")
    return {
        **os.environ,
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "PYTHONPATH": str(ROOT),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_url,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{pg}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp / "passwords.json"),
        "AIRFLOW__API__PORT": str(PORT),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{PORT}/execution/",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "CLOUDSCHEDULER_DB_URL": state_url,
    }


def _run(args: list[str], env: dict) -> None:
    subprocess.run(args, env=env, cwd=ROOT, check=True, capture_output=True, timeout=300)


def _token() -> str:
    req = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/auth/token",
        method="POST",
        data=json.dumps({"username": "admin", "password": "admin"}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)["access_token"]


def _api(path: str, token: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/api/v2{path}",
        method="POST" if body else "GET",
        data=json.dumps(body).encode() if body else None,
        headers={"content-type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def _wait(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_scheduling_cycle_on_celery_boots_vms_for_demo_jobs(tmp_path):
    import redis

    airflow_url, state_url = create_pg_database("cs_celery_af"), create_pg_database("cs_celery_state")
    redis_db = random.randint(1, 15)
    env = _env(tmp_path, airflow_url, state_url, redis_db)
    (tmp_path / "passwords.json").write_text(json.dumps({"admin": "admin"}))
    airflow, py = str(Path(sys.executable).parent / "airflow"), sys.executable
    procs = []
    try:
        _run([airflow, "db", "migrate"], env)
        _run([py, "-m", "include.cli.main", "db", "upgrade"], env)
        _run([py, "-m", "include.airflow_setup", "--demo", str(ROOT / "demo" / "config.yaml")], env)
        logs = tmp_path / "logs"
        logs.mkdir()
        for component in (["api-server"], ["scheduler"], ["dag-processor"], ["celery", "worker"]):
            out = open(logs / f"{component[-1]}.log", "wb")  # noqa: SIM115 - closed with the process
            procs.append(
                subprocess.Popen(
                    [airflow, *component],
                    env=env,
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        token = _wait(_token, 120, "the api-server")
        _wait(lambda: _api("/dags/cs_schedule", token).get("dag_id"), 120, "the DAGs to be parsed")
        _api(
            "/dags/cs_submit_demo_jobs/dagRuns",
            token,
            {"logical_date": None, "conf": {"group": "atlas", "count": 4, "cores": 8, "duration_s": 600}},
        )
        state = create_engine(state_url)

        def booted() -> int:
            with state.connect() as conn:
                return conn.scalar(text("SELECT count(*) FROM sim_instances"))

        try:
            assert _wait(booted, 240, "VMs booted by a cs_schedule run") == 4
        except AssertionError:
            for name in ("scheduler", "worker"):
                print(f"==== {name}\n" + (logs / f"{name}.log").read_text(errors="replace")[-6000:])
            raise
        runs = _api("/dags/cs_schedule/dagRuns?state=success&limit=5", token)["dag_runs"]
        assert runs, "cs_schedule runs succeed on the Celery worker"
        tis = _api(f"/dags/cs_schedule/dagRuns/{runs[0]['dag_run_id']}/taskInstances", token)[
            "task_instances"
        ]
        assert {t["task_id"] for t in tis} >= {"plan", "finish"}
        worker_log = (logs / "worker.log").read_text(errors="replace")
        assert "execute_workload" in worker_log or "Task" in worker_log, "the worker ran the tasks"
        state.dispose()
        engine = create_engine(airflow_url)
        with engine.connect() as conn:
            executors = set(conn.scalars(select(text("executor")).select_from(text("task_instance"))))
            hosts = conn.scalar(
                select(func.count()).select_from(text("task_instance")).where(text("state = 'success'"))
            )
        engine.dispose()
        assert hosts > 0 and executors <= {None, "CeleryExecutor"}
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        redis.Redis(db=redis_db).flushdb()
        drop_pg_database(airflow_url)
        drop_pg_database(state_url)
