"""The metrics endpoint from a scraper's side: refused without the token or an allowed address, and
with it the status page's own numbers, by group and cloud, in a format Prometheus's parser reads."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from include.status.tables import group_status
from include.store.db import session_scope
from include.store.models import Vm
from tests.monitoring.conftest import TOKEN


def scrape(app, token: str | None = TOKEN, client=("testclient", 50000)):
    http = TestClient(app, client=client)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get("/metrics", headers=headers)


def series(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_scrape_without_the_token_or_with_a_wrong_one_is_refused(metrics_app):
    for token in (None, "guess", TOKEN + "x"):
        response = scrape(metrics_app, token)
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"] == "Bearer"
        assert "cloudscheduler_vms" not in response.text


def test_no_token_configured_refuses_everyone(metrics_app, monkeypatch):
    monkeypatch.delenv("CS_METRICS_TOKEN")
    assert scrape(metrics_app, "").status_code == 401
    assert scrape(metrics_app, "anything").status_code == 401


def test_an_allowed_network_scrapes_without_a_token(metrics_app, monkeypatch):
    monkeypatch.setenv("CS_METRICS_ALLOW", "10.0.0.0/8, not-a-network")
    assert scrape(metrics_app, None, client=("10.1.2.3", 4000)).status_code == 200
    assert scrape(metrics_app, None, client=("192.168.1.5", 4000)).status_code == 401


def test_the_figures_are_the_status_pages(metrics_app, demo_world):
    response = scrape(metrics_app)
    assert response.status_code == 200
    got = series(response.text)
    with session_scope(demo_world.engine) as s:
        statuses = {g.name: g for g in group_status(s, ["atlas", "belle2"], demo_world.now)}
        booted = dict(
            s.execute(
                select(Vm.cloud_name, func.count()).where(Vm.group_name == "atlas").group_by(Vm.cloud_name)
            ).all()
        )
    assert got[("cloudscheduler_jobs", (("alias", ""), ("group", "atlas"), ("state", "idle")))] == 10
    assert sum(booted.values()) > 0, "the cycle booted VMs for the idle jobs"
    for cloud in statuses["atlas"].clouds:
        vms = sum(
            v
            for (name, labels), v in got.items()
            if name == "cloudscheduler_vms" and ("cloud", cloud.name) in labels
        )
        assert vms == booted.get(cloud.name, 0), cloud.name
        key = (("cloud", cloud.name), ("group", "atlas"))
        assert got[("cloudscheduler_cores_used", key)] == cloud.cores_used
        assert got[("cloudscheduler_ram_used_bytes", key)] == cloud.ram_used * 1024 * 1024
        if cloud.cores_limit >= 0:
            assert got[("cloudscheduler_cores_limit", key)] == cloud.cores_limit
        else:
            assert ("cloudscheduler_cores_limit", key) not in got, "no limit is not exported as -1"
    # each poll source and the scheduling run carry an age, fresh after the cycle
    ages = {
        dict(labels)["source"]: v
        for (name, labels), v in got.items()
        if name == "cloudscheduler_poll_age_seconds"
    }
    assert "schedule/atlas" in ages and any(s.startswith("cloud/atlas/") for s in ages)
    assert all(0 <= age < 120 for age in ages.values()), ages
    assert ("cloudscheduler_plan_duration_seconds", (("group", "atlas"),)) in got


def test_prometheus_asks_for_openmetrics_and_gets_it(metrics_app):
    http = TestClient(metrics_app)
    response = http.get(
        "/metrics",
        headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/openmetrics-text;version=1.0.0"},
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_the_scheme_is_case_insensitive_and_a_mapped_address_is_its_ipv4(metrics_app, monkeypatch):
    http = TestClient(metrics_app)
    assert http.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    monkeypatch.setenv("CS_METRICS_ALLOW", "10.0.0.0/8")
    assert scrape(metrics_app, None, client=("::ffff:10.1.2.3", 4000)).status_code == 200
