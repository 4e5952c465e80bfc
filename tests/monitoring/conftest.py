"""The README's demo site after one cycle (10 idle 8-core jobs of atlas, VMs booting), in a fresh SQLite
state database, and the plugin's app on that database."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from include.store.db import get_engine
from tests.config.builders import demo_doc
from tests.loop.world import World

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))
TOKEN = "scrape-token-0f3c9a"


@pytest.fixture
def demo_world(tmp_path, monkeypatch) -> World:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("CLOUDSCHEDULER_DB_URL", url)
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    get_engine.cache_clear()
    world = World.create(url, demo_doc())
    world.submit(10, group="atlas", cores=8, ram_mb=16000, duration_s=300)  # cs_submit_demo_jobs
    world.cycle()
    yield world
    get_engine(url).dispose()
    get_engine.cache_clear()


@pytest.fixture
def metrics_app(demo_world, monkeypatch):
    from cloudscheduler.app import create_app

    monkeypatch.setenv("CS_METRICS_TOKEN", TOKEN)
    monkeypatch.delenv("CS_METRICS_ALLOW", raising=False)
    return create_app(engine=demo_world.engine)
