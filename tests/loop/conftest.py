from __future__ import annotations

import pytest

from include.store.db import get_engine
from tests.conftest import create_pg_database, drop_pg_database
from tests.loop.world import World


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request, tmp_path, monkeypatch):
    """A fresh state database that the loop's functions use (CLOUDSCHEDULER_DB_URL), on both backends."""
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else create_pg_database("cs_loop")
    monkeypatch.setenv("CLOUDSCHEDULER_DB_URL", url)
    get_engine.cache_clear()
    yield url
    get_engine(url).dispose()
    get_engine.cache_clear()
    if request.param == "postgres":
        drop_pg_database(url)


@pytest.fixture
def world(state_url, tmp_path, monkeypatch) -> World:
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    return World.create(state_url)
