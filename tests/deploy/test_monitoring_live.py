"""The monitoring profile's files against a real Prometheus (Debian's package, installed by
scripts/system_deps.sh): deploy/prometheus/prometheus.yml, pointed at a stand-in for the plugin's
endpoint, sends the bearer token from its credentials file to /cloudscheduler/metrics, and every query of
the Grafana dashboard, with its variables filled in as Grafana would, runs on that Prometheus and returns
data. The real endpoint's own tier (issue #18) scrapes the plugin itself; this one proves the deploy files."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from tests.deploy.test_compose import PROMETHEUS_YML, dashboard_queries, scrape_job
from tests.doubles import monitoring

# Debian's prometheus comes from scripts/system_deps.sh (make test runs it): a missing binary fails here.
pytestmark = [pytest.mark.slow, pytest.mark.monitoring]

TOKEN = "scrape-token-for-the-test"
GROUP = "demo"
# One sample of each series the plugin serves, with its labels (the names in issue #18).
EXPOSITION = "\n".join(
    [
        f'cloudscheduler_jobs{{group="{GROUP}",alias="",state="idle"}} 40',
        f'cloudscheduler_jobs{{group="{GROUP}",alias="",state="running"}} 8',
        f'cloudscheduler_jobs{{group="{GROUP}",alias="",state="held"}} 1',
        f'cloudscheduler_jobs{{group="{GROUP}",alias="big",state="idle"}} 40',
        f'cloudscheduler_jobs{{group="{GROUP}",alias="big",state="running"}} 8',
        f'cloudscheduler_foreign_jobs{{group="{GROUP}"}} 2',
        f'cloudscheduler_vms{{group="{GROUP}",cloud="east",state="running"}} 10',
        f'cloudscheduler_vms{{group="{GROUP}",cloud="west",state="error"}} 1',
        f'cloudscheduler_poll_age_seconds{{group="{GROUP}",source="condor"}} 12',
        f'cloudscheduler_poll_age_seconds{{group="{GROUP}",source="cloud:east"}} 20',
        f'cloudscheduler_unserved_jobs{{group="{GROUP}",cloud="west",reason="backoff"}} 5',
        f'cloudscheduler_unserved_jobs{{group="{GROUP}",cloud="",reason="no_matching_flavor"}} 7',
        'cloudscheduler_cycle_duration_seconds{dag="cs_schedule"} 1.5',
        *(
            f'cloudscheduler_{name}{{group="{GROUP}",cloud="{cloud}"}} 3'
            for name in [
                "slots",
                "slot_cores",
                "busy_cores",
                "idle_cores",
                "cores_used",
                "cores_limit",
                "cores_quota",
                "ram_used_bytes",
                "ram_limit_bytes",
                "ram_quota_bytes",
                "foreign_vms",
                "foreign_cores",
                "foreign_ram_bytes",
                "boot_failures",
                "backoffs",
            ]
            for cloud in ("east", "west")
        ),
        "",
    ]
)


@pytest.fixture(scope="module")
def endpoint():
    """A stand-in for the plugin's endpoint: serves the series to the right token, 401 to anything else,
    and records what each scrape asked for."""
    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            auth = self.headers.get("Authorization")
            seen.append((self.path, auth))
            if self.path != "/cloudscheduler/metrics" or auth != f"Bearer {TOKEN}":
                self.send_response(401)
                self.end_headers()
                return
            body = EXPOSITION.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, endpoint):
    """Prometheus on a spare port with our prometheus.yml, changed only where the deployment differs
    from this machine: the target's address, the token file's path, and a 1 s interval for speed."""
    address, _ = endpoint
    tmp_path = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["scrape_timeout"] = "1s"
    job = scrape_job(config)
    job["static_configs"] = [{"targets": [address]}]
    token = tmp_path / "cs_metrics_token"
    token.write_text(TOKEN)
    job["authorization"]["credentials_file"] = str(token)
    with monitoring.prometheus(tmp_path, config) as server:
        wait_for(
            lambda: query(server.url, f'up{{job="{job["job_name"]}"}}') == [1.0],
            60,
            tmp_path / "prometheus.log",
        )
        yield server.url


def query(url: str, promql: str) -> list[float] | None:
    """Values of an instant query, or None while Prometheus is not answering yet."""
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}") as r:
            doc = json.load(r)
    except OSError:
        return None
    assert doc["status"] == "success", doc
    return [float(sample["value"][1]) for sample in doc["data"]["result"]]


def wait_for(predicate, seconds: float, log) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    pytest.fail(f"Prometheus never scraped the endpoint:\n{log.read_text()[-3000:]}")


def test_prometheus_scrapes_the_metrics_path_with_the_token_from_its_file(prometheus, endpoint):
    _, seen = endpoint
    assert seen and all(s == ("/cloudscheduler/metrics", f"Bearer {TOKEN}") for s in seen)
    assert query(prometheus, f'sum(cloudscheduler_vms{{group="{GROUP}"}})') == [11.0]


def test_every_dashboard_query_runs_on_prometheus_and_shows_data(prometheus):
    # Grafana's substitutions: one group, and "All" clouds (the variable's allValue).
    for title, expr in dashboard_queries():
        filled = expr.replace("$group", GROUP).replace("$cloud", ".*")
        values = query(prometheus, filled)
        assert values, f"{title}: {filled} returns nothing"
    jobs = dashboard_queries()
    idle = next(e for t, e in jobs if t == "Idle jobs").replace("$group", GROUP)
    assert query(prometheus, idle) == [40.0], 'the group total (alias ""), not total plus per-alias'


def test_unserved_jobs_keep_the_skips_that_name_no_cloud_when_clouds_are_picked(prometheus):
    expr = next(e for t, e in dashboard_queries() if t == "Unserved jobs by reason").replace("$group", GROUP)
    assert sorted(query(prometheus, expr.replace("$cloud", ".*"))) == [5.0, 7.0]
    # Grafana fills a multi-value pick as (a|b): west's skip goes when only east is picked
    assert query(prometheus, expr.replace("$cloud", "(east)")) == [7.0]
