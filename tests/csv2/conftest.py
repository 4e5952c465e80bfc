"""The csv2 tier: a cloudscheduler v2 database in the real MariaDB of this machine (127.0.0.1:3306; each
database is created for the test and dropped after it), filled with the realistic site of
:mod:`tests.csv2.site`."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pymysql
import pytest

from tests.csv2 import site

SERVER = dict(host="127.0.0.1", port=3306, user="root", password="")
SCHEMA = Path(__file__).with_name("schema.sql")


def _connect(database: str | None = None):
    return pymysql.connect(**SERVER, database=database, autocommit=True, charset="utf8mb4")


def load(database: str, tables: dict[str, list[dict]]) -> None:
    """csv2's schema, then ``tables``' rows, into ``database``."""
    with _connect(database) as conn, conn.cursor() as cur:
        for statement in SCHEMA.read_text().split(";"):
            body = "\n".join(line for line in statement.splitlines() if not line.startswith("--")).strip()
            if body:
                cur.execute(body)
        for table, rows in tables.items():
            for row in rows:
                columns = ", ".join(f"`{c}`" for c in row)
                cur.execute(f"INSERT INTO `{table}` ({columns}) VALUES ({', '.join(['%s'] * len(row))})",
                            list(row.values()))  # fmt: skip


@pytest.fixture(scope="session")
def mariadb_up() -> None:
    try:
        _connect().close()
    except pymysql.err.OperationalError as exc:  # the tier needs the server: say so, loudly
        pytest.fail(f"MariaDB at 127.0.0.1:3306 is not reachable ({exc}); `make services` starts it")


@pytest.fixture
def csv2_database(mariadb_up) -> Iterator[Callable[[dict], str]]:
    """A factory: ``make(tables)`` creates a csv2 database holding ``tables`` and returns its URL."""
    made: list[str] = []

    def make(tables: dict[str, list[dict]]) -> str:
        name = f"cs_test_csv2_{uuid.uuid4().hex[:10]}"
        with _connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        made.append(name)
        load(name, tables)
        return f"mysql://root@127.0.0.1:3306/{name}"

    yield make
    with _connect() as conn, conn.cursor() as cur:
        for name in made:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def csv2_site(csv2_database) -> str:
    """The realistic site's database URL."""
    return csv2_database(site.rows())
