"""Bulk writes of the pollers, in one place: ``sync_rows`` makes a slice of a table equal a list of
records writing only the rows that differ; ``bulk_insert`` inserts many new rows.

Rows are compared in the database's own representation: the new records go through the columns' bind
processors (what SQLAlchemy would send), the stored ones are read without result processing, so an
unchanged row costs one tuple comparison and no type conversion on either side. The inserts hand those same tuples to
the driver in bulk: ``executemany`` on SQLite, ``COPY`` on PostgreSQL (psycopg2). This keeps a 100,000-job poll within its P6 budget (bench/pool_poll.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, delete, insert, select, type_coerce
from sqlalchemy.types import NullType

from include.store.models.base import UTCDateTime

CHUNK = 500  # keys per DELETE ... IN (...)


def sync_rows(
    session, table: Table, record: type[NamedTuple], key: str, scope: dict[str, Any], rows: Sequence
) -> tuple[int, int]:
    """Make the rows of ``table`` matching ``scope`` (column == value) equal ``rows`` (records of type
    ``record``, whose fields are columns of ``table``; ``key`` identifies a row within the scope).
    Returns (rows written, rows deleted)."""
    conn = session.connection()
    fields = record._fields
    encode = _encoder(table, fields, conn.dialect)
    at = fields.index(key)
    where = [table.c[c] == v for c, v in scope.items()]
    raw = select(*[type_coerce(table.c[f], NullType()) for f in fields]).where(*where)
    stored = {r[at]: tuple(r) for r in _fetch_raw(conn, raw)}
    new = {r[at]: encode(r) for r in rows}
    changed = [k for k, r in new.items() if stored.get(k) != r]
    doomed = (stored.keys() - new.keys()) | {k for k in changed if k in stored}
    if len(doomed) > len(stored) // 2:
        conn.execute(delete(table).where(*where))  # mostly new: one statement beats many
        changed, deleted = list(new), len(stored)
    else:
        keys = sorted(doomed)
        for i in range(0, len(keys), CHUNK):
            conn.execute(delete(table).where(*where, table.c[key].in_(keys[i : i + CHUNK])))
        deleted = len(keys)
    if changed:  # in key order: B-tree inserts that append instead of splitting pages all over
        _insert(conn, table, fields, [new[k] for k in sorted(changed)])
    return len(changed), deleted


def bulk_insert(session, table: Table, rows: list[dict]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` inside the session's transaction, in
    bulk (COPY on PostgreSQL), with the columns' Python-side defaults filled in as INSERT would."""
    if not rows:
        return
    conn = session.connection()
    fields = [c.name for c in table.columns if c.name in rows[0] or c.default is not None]
    defaults = {
        c.name: (c.default.arg(None) if c.default.is_callable else c.default.arg)
        for c in table.columns
        if c.name in fields and c.name not in rows[0]
    }
    encode = _encoder(table, fields, conn.dialect)
    _insert(
        conn, table, fields, [encode(tuple(r[f] if f in r else defaults[f] for f in fields)) for r in rows]
    )


def _fetch_raw(conn, statement) -> list[tuple]:
    """All rows of ``statement`` straight from the driver's cursor (twice as fast as through Rows)."""
    compiled = statement.compile(dialect=conn.dialect)
    params = [compiled.params[k] for k in compiled.positiontup] if compiled.positional else compiled.params
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        return cursor.fetchall()
    finally:
        cursor.close()


def _insert(conn, table: Table, fields: Sequence[str], encoded: list[tuple]) -> None:
    """``encoded`` rows (in ``fields`` order, driver representation) into ``table``, in bulk."""
    if conn.dialect.driver == "psycopg2":
        _copy(conn, table, fields, encoded)
        return
    statement = insert(table).values({f: bindparam(f) for f in fields}).compile(dialect=conn.dialect)
    if statement.positional:  # SQLite: the driver's executemany over the tuples themselves
        order = [fields.index(name) for name in statement.positiontup]
        conn.exec_driver_sql(
            str(statement),
            [tuple(row[i] for i in order) for row in encoded]
            if order != list(range(len(fields)))
            else encoded,
        )
    else:
        conn.execute(insert(table), [dict(zip(fields, row, strict=True)) for row in encoded])


# COPY's text format: tab-separated, backslash escapes for the separators, and (our choice) None for
# NULL: it is what str() prints for None, so most rows are one "\t".join(map(str, row)) in C.
_COPY_NULL = "None"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(v: Any) -> str:
    """One value, the slow way: for rows with something to escape."""
    cls = v.__class__
    if cls is str:
        # a string that reads as the NULL marker: "\N" is read as "N", and the marker is matched before
        # escapes are removed
        return v.translate(_COPY_ESCAPES) if v != _COPY_NULL else "\\" + v
    if v is None:
        return _COPY_NULL
    if cls is bool:
        return "t" if v else "f"
    if cls is int or cls is float:
        return repr(v)
    if isinstance(v, datetime):
        return v.isoformat()
    return str(v).translate(_COPY_ESCAPES)


def _copy_chunks(encoded: list[tuple], width: int, stamps: list[int], rows: int = 1000) -> Iterator[str]:
    """COPY text of ``encoded`` rows of ``width`` columns, ``rows`` at a time; ``stamps``: the columns of
    datetimes (their text memoised: a poll repeats timestamps). str() writes what PostgreSQL reads back
    for our other column types (ints, floats, bools, strings); a row whose text has a backslash, a line
    break or a tab too many, or a string "None", goes value by value through the escapes."""
    tabs, memo, lines = width - 1, {}, []
    for row in encoded:
        slow = _COPY_NULL in row
        if stamps:
            row = list(row)
            for i in stamps:
                v = row[i]
                if v is not None:
                    text = memo.get(v)
                    row[i] = text if text is not None else memo.setdefault(v, v.isoformat())
        line = "\t".join(map(str, row))
        if slow or line.count("\t") != tabs or "\\" in line or "\n" in line or "\r" in line:
            line = "\t".join(map(_copy_text, row))
        lines.append(line)
        if len(lines) == rows:
            lines.append("")
            yield "\n".join(lines)
            lines = []
    if lines:
        lines.append("")
        yield "\n".join(lines)


class _Reader:
    """A file for ``copy_expert`` that makes its text as the driver reads it: the server parses and
    stores the first rows while the next are being written (two processes, two cores)."""

    def __init__(self, chunks: Iterator[str]):
        self._chunks = chunks

    def read(self, _size: int = -1) -> str:
        return next(self._chunks, "")


def _copy(conn, table: Table, fields: Sequence[str], encoded: list[tuple]) -> None:
    """PostgreSQL: COPY FROM STDIN, several times faster than batched INSERTs at 100,000 rows."""
    from psycopg2 import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (NULL {})").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, fields)), sql.Literal(_COPY_NULL)
    )
    stamps = [i for i, f in enumerate(fields) if isinstance(table.c[f].type, UTCDateTime)]
    cursor = conn.connection.cursor()
    try:
        cursor.copy_expert(statement, _Reader(_copy_chunks(encoded, len(fields), stamps)))
    finally:
        cursor.close()


def _sqlite_text(process: Callable) -> Callable:
    """SQLite stores our UTC datetimes as the sqlite3 module's datetime adapter writes them."""

    def text(v):
        v = process(v)
        return v.isoformat(" ") if isinstance(v, datetime) else v

    return text


def _encoder(table: Table, fields: Sequence[str], dialect) -> Callable[[tuple], tuple]:
    """record -> the tuple the driver receives; conversions memoised (polls repeat timestamps)."""
    converters = []
    for i, f in enumerate(fields):
        process = table.c[f].type.bind_processor(dialect)
        if process is not None and dialect.name == "sqlite" and isinstance(table.c[f].type, UTCDateTime):
            process = _sqlite_text(process)
        if process is not None:
            converters.append((i, process, {}))
    if not converters:
        return tuple

    def encode(row: tuple) -> tuple:
        out = list(row)
        for i, process, memo in converters:
            v = out[i]
            if v is not None:
                try:
                    hit = memo.get(v)
                except TypeError:  # a JSON list or dict: nothing to remember it by
                    out[i] = process(v)
                    continue
                out[i] = hit if hit is not None else memo.setdefault(v, process(v))
        return tuple(out)

    return encode
