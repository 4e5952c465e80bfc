"""The figures as a site's monitoring receives them: Debian's Prometheus scraping the plugin over HTTP and
answering PromQL, and Debian's InfluxDB 1.x receiving the cycle's push under csv2's names and answering
InfluxQL (what an existing csv2 Grafana dashboard asks)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from include.store.db import session_scope
from include.store.models import Vm
from tests.doubles import monitoring
from tests.monitoring.conftest import TOKEN

pytestmark = [pytest.mark.monitoring, pytest.mark.slow]


def atlas_vms(world) -> int:
    with session_scope(world.engine) as s:
        return s.scalar(select(func.count()).select_from(Vm).where(Vm.group_name == "atlas"))


def eventually(fetch, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_prometheus_scrapes_the_demo_and_answers_promql(metrics_app, demo_world, tmp_path):
    with monitoring.serve_app(metrics_app) as target:
        job = {"metrics_path": "/cloudscheduler/metrics", "static_configs": [{"targets": [target]}]}
        scrapes = [
            {"job_name": "cloudscheduler", **job, "authorization": {"type": "Bearer", "credentials": TOKEN}},
            {"job_name": "no_token", **job},
        ]
        settings = {"global": {"scrape_interval": "1s"}, "scrape_configs": scrapes}
        with monitoring.prometheus(tmp_path / "prometheus", settings) as prom:
            vms = eventually(
                lambda: prom.query('sum(cloudscheduler_vms{job="cloudscheduler",group="atlas"})')
            )
            idle = prom.query('cloudscheduler_jobs{job="cloudscheduler",group="atlas",alias="",state="idle"}')
            targets = eventually(lambda: prom.targets()["no_token"]["health"] == "down" and prom.targets())
    assert float(vms[0]["value"][1]) == atlas_vms(demo_world) > 0
    assert float(idle[0]["value"][1]) == 10
    refused = targets["no_token"]
    assert refused["health"] == "down" and "401" in refused["lastError"], refused
    assert targets["cloudscheduler"]["health"] == "up"


def test_influxdb_receives_the_cycle_under_csv2_names(demo_world, tmp_path, monkeypatch):
    with monitoring.influxdb(tmp_path / "influxdb") as db:
        db.query("CREATE DATABASE csv2_timeseries")
        monkeypatch.setenv("CS_INFLUXDB_URL", db.url)
        demo_world.now = demo_world.now.replace(microsecond=0)
        result = demo_world.cycle()
        assert result["finish"]["influx"].endswith("points written"), result["finish"]

        def last(measurement: str, where: str) -> float:
            q = f'SELECT last("value") FROM "{measurement}" WHERE {where}'
            return db.query(q, db="csv2_timeseries")[0]["values"][0][1]

        assert last("VMs_total", "\"group\"='atlas'") == atlas_vms(demo_world)
        assert last("jobs_idle_total", "\"group\"='atlas'") == 10
        assert last("jobs_idle_8core_total", "\"group\"='atlas'") == 10
        with session_scope(demo_world.engine) as s:
            per_cloud = dict(
                s.execute(
                    select(Vm.cloud_name, func.count())
                    .where(Vm.group_name == "atlas")
                    .group_by(Vm.cloud_name)
                ).all()
            )
        for cloud, n in per_cloud.items():
            assert last("VMs", f"\"group\"='atlas' AND \"cloud\"='{cloud}'") == n
        # an alias with no jobs is there as zeros, as csv2's view gave (Grafana's legend keeps it)
        aliases = db.query('SHOW TAG VALUES FROM "jobs" WITH KEY = "cloud"', db="csv2_timeseries")
        assert aliases, "per-alias job series are written"


def test_an_influxdb_that_is_down_does_not_fail_the_cycle(demo_world, monkeypatch):
    monkeypatch.setenv("CS_INFLUXDB_URL", f"http://127.0.0.1:{monitoring.free_port()}")
    result = demo_world.cycle()
    assert "not reached" in result["finish"]["influx"]
    assert result["finish"]["samples"] > 0, "the cycle's own samples are still written"
