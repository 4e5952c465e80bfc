"""The one way we build ClassAd constraints: every value goes through :func:`quote`.

A constraint made with an f-string and a host name or group name from the outside world is an injection
(``x" || true || "``). ``quote`` is the ClassAd library's own string quoting (``classad2.quote``), so
the text we send parses back to exactly the value we meant; attribute names are checked, not quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_ATTR = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def quote(value: str) -> str:
    """``value`` as a ClassAd string literal, quotes included."""
    import classad2

    if not isinstance(value, str):
        raise TypeError(f"only strings are quoted, got {type(value).__name__}")
    return classad2.quote(value)


def attr(name: str) -> str:
    """An attribute reference, refused unless it is a plain (optionally scoped) attribute name."""
    if not _ATTR.match(name):
        raise ValueError(f"not a ClassAd attribute name: {name!r}")
    return name


def equals(name: str, value: str | int | bool) -> str:
    """``name == value`` with the value quoted (strings) or rendered (numbers, booleans)."""
    return f"{attr(name)} == {literal(value)}"


def identical(name: str, value: str | int | bool) -> str:
    """``name =?= value``: true only when defined and equal (no UNDEFINED for a missing attribute)."""
    return f"{attr(name)} =?= {literal(value)}"


def any_of(name: str, values: Iterable[str]) -> str:
    """``name == v1 || name == v2 ...``; ``false`` for no values, so an empty list selects nothing."""
    parts = [equals(name, v) for v in values]
    return " || ".join(f"({p})" for p in parts) if parts else "false"


def literal(value: str | int | bool | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return quote(value)
