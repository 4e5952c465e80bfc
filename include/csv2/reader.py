"""Read a csv2 database: every row of the tables the importer maps, as plain dicts. MariaDB/MySQL URLs
(``mysql://user:pw@host/csv2`` or ``mariadb://...``) go through PyMySQL. A table an older csv2 lacks is
empty and noted. A mysqldump file is loaded into a scratch database of a MariaDB server first (with the
``mysql`` client, which reads mysqldump's own syntax: delimiters, triggers, conditional comments) and
dropped after."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

TABLES = (
    "csv2_groups", "csv2_clouds", "csv2_cloud_aliases", "csv2_cloud_flavor_exclusions", "csv2_cloud_metadata",
    "csv2_group_metadata", "csv2_group_metadata_exclusions", "csv2_user", "csv2_user_groups",
    "csv2_configuration", "csv2_vms",
)  # fmt: skip


class Csv2ReadError(Exception):
    """The database (or dump) could not be read; the message names it without its password."""


def engine_url(url: str) -> str:
    for prefix in ("mariadb+pymysql://", "mysql+pymysql://", "mariadb://", "mysql://"):
        if url.startswith(prefix):
            return "mysql+pymysql://" + url[len(prefix) :]
    return url


def shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: shown as given, it holds no password we could find
        return url


def _why(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).splitlines()[0][:300]


def read_csv2(url: str) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """(rows per table, notes on what was missing)."""
    try:
        engine = create_engine(engine_url(url), pool_pre_ping=True)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise Csv2ReadError(f"cannot read the csv2 database {shown(url)}: {_why(exc)}") from None
    try:
        present = set(inspect(engine).get_table_names())
        rows, notes = {}, []
        with engine.connect() as conn:
            for table in TABLES:
                if table not in present:
                    rows[table] = []
                    notes.append(f"table {table} is not in this csv2 database: nothing of it imported")
                    continue
                reflected = Table(table, MetaData(), autoload_with=conn)  # the names are ours, never input
                rows[table] = [dict(r._mapping) for r in conn.execute(select(reflected))]
        if "csv2_groups" not in present:
            raise Csv2ReadError(
                f"{shown(url)} holds no csv2_groups table: is it a cloudscheduler v2 database?"
            )
        return rows, notes
    except SQLAlchemyError as exc:
        raise Csv2ReadError(f"cannot read the csv2 database {shown(url)}: {_why(exc)}") from None
    finally:
        engine.dispose()


@contextmanager
def loaded_dump(dump: Path, server: str) -> Iterator[str]:
    """The URL of a scratch database on ``server`` holding mysqldump file ``dump``; dropped on exit."""
    if not dump.is_file():
        raise Csv2ReadError(f"cannot read the dump {dump}: no such file")
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        raise Csv2ReadError(
            "loading a dump needs the mysql (or mariadb) client; or load it yourself and pass --db"
        )
    name = f"cs_import_{uuid.uuid4().hex[:12]}"
    base = make_url(engine_url(server))
    try:
        engine = create_engine(base.set(database=None))
        with engine.begin() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))  # our own name
    except SQLAlchemyError as exc:
        raise Csv2ReadError(f"cannot create a scratch database on {shown(server)}: {_why(exc)}") from None
    try:
        args = [client, f"--host={base.host or '127.0.0.1'}", f"--port={base.port or 3306}",
                f"--user={base.username or 'root'}", name]  # fmt: skip
        env = {"MYSQL_PWD": base.password} if base.password else {}
        with dump.open("rb") as source:
            done = subprocess.run(
                args, stdin=source, capture_output=True, env={**_path_env(), **env}, timeout=3600
            )
        if done.returncode != 0:
            raise Csv2ReadError(
                f"cannot load the dump {dump}: {done.stderr.decode(errors='replace').strip()[:300]}"
            )
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        engine.dispose()


def _path_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
