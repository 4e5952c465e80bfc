"""Tables for the CLI: plain aligned text (what an operator greps and pastes into a ticket), or CSV
with ``--csv`` (what a script or a spreadsheet reads).

The choice is made once per command run (``csv_output``), not passed down through every handler, so
each ``render(headers, rows)`` honours the global ``--csv`` whether the command runs here or on a
server through ``--server`` (a context variable: one request's choice never leaks into another's).
"""

from __future__ import annotations

import csv as csvlib
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_CSV: ContextVar[bool] = ContextVar("cloudscheduler_csv_output", default=False)


@contextmanager
def csv_output(enabled: bool) -> Iterator[None]:
    """Within this block, ``render`` writes CSV when ``enabled``."""
    token = _CSV.set(bool(enabled))
    try:
        yield
    finally:
        _CSV.reset(token)


def render(headers: Sequence[str], rows: Sequence[Sequence[Any]], csv: bool | None = None) -> str:
    """The table as text; ``csv`` None means: as the running command asked (``--csv`` or not)."""
    cells = [[_text(v) for v in row] for row in rows]
    if _CSV.get() if csv is None else csv:
        return _csv(headers, cells)
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(out)


def csv_enabled() -> bool:
    """Whether this run prints CSV (a handler leaves out its prose summary lines then)."""
    return _CSV.get()


def _csv(headers: Sequence[str], cells: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csvlib.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(cells)
    return buffer.getvalue().rstrip("\n")


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
