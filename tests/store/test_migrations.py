"""Migrations: upgrade from empty, match the models exactly, and downgrade cleanly, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from include.store import migrate
from include.store.db import make_engine
from include.store.models import Base
from tests.conftest import create_pg_database, drop_pg_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    url = create_pg_database("cs_migr")
    yield url
    drop_pg_database(url)


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_from_empty_creates_every_table_and_matches_models(empty_url):
    migrate.upgrade(empty_url)
    assert migrate.is_current(empty_url)
    assert _tables(empty_url) == set(Base.metadata.tables)
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert drift == [], f"models and migrations differ: {drift}"


def test_downgrade_to_base_removes_everything_and_upgrade_again_works(empty_url):
    migrate.upgrade(empty_url)
    migrate.downgrade(empty_url, "base")
    assert _tables(empty_url) == set()
    assert migrate.current_heads(empty_url) == set()
    migrate.upgrade(empty_url)
    assert migrate.is_current(empty_url)
