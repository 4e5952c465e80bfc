"""Shared test set-up.

Airflow reads its configuration at first import, so the environment is fixed here, before anything
imports airflow: a private AIRFLOW_HOME, our dags and plugins folders, no examples.

Store fixtures: ``store_engine`` runs a test once on SQLite and once on PostgreSQL (127.0.0.1:5432, a
database created for this run and dropped at the end). PostgreSQL is part of the test environment
(.ci/run starts it when it is down), so an unreachable server fails the run rather than skipping.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_TMP = Path(tempfile.mkdtemp(prefix="cs-tests-"))
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow-test"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["CLOUDSCHEDULER_DB_URL"] = f"sqlite:///{_TMP / 'state.db'}"
# HS512 wants a 64-byte key; Airflow's generated default is shorter and warns on every token.
os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", uuid.uuid4().hex + uuid.uuid4().hex)

import pytest  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

# Property tests (marker ``properties``) take their example count from a profile: a quick one for the
# default tier, and a thorough one (ten times the examples) that `make test` runs as a second pass.
hypothesis_settings.register_profile("default", max_examples=40, deadline=None)
hypothesis_settings.register_profile("thorough", max_examples=400, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

PG_SERVER = os.environ.get("CS_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432")


def _admin_engine() -> Engine:
    return create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")


def create_pg_database(prefix: str = "cs_test") -> str:
    """A new empty PostgreSQL database; returns its URL. Drop it with :func:`drop_pg_database`."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{PG_SERVER}/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[-1]
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database for this test session, migrated to the current schema."""
    from include.store import migrate

    url = create_pg_database()
    try:
        migrate.upgrade(url)
        yield url
    finally:
        from include.store.db import get_engine

        get_engine.cache_clear()
        drop_pg_database(url)


def _truncate_all(engine: Engine) -> None:
    from include.store.models import Base

    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_engine(request, tmp_path) -> Iterator[Engine]:
    """An engine on an empty state database with the full schema: once on SQLite, once on PostgreSQL."""
    from include.store.db import make_engine
    from include.store.models import Base

    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
        Base.metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    engine = make_engine(request.getfixturevalue("pg_url"))
    _truncate_all(engine)
    yield engine
    _truncate_all(engine)
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    """An engine on an empty SQLite state database (for tests that need no PostgreSQL run)."""
    from include.store.db import make_engine
    from include.store.models import Base

    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(store_engine) -> Iterator[Session]:
    with Session(store_engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture(scope="session")
def moto_ec2() -> Iterator:
    """One moto EC2 server for the whole session (tests that need a clean one call ``reset()``)."""
    from tests.doubles.moto_ec2 import MotoEc2

    moto = MotoEc2().start()
    yield moto
    moto.stop()
