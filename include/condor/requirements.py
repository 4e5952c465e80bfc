"""Which group and alias a job's Requirements name (csv2 2.6), read in one linear pass.

``group_name`` compared with ``==``, ``=?=`` or ``is`` to a string, either side first, optionally inside
``toLower()``; the same for ``target_alias``. ``=!=``, ``!=`` and ``isnt`` never match. The expression is
anyone's job text, so it is tokenised once, left to right, each token consumed for good (an unterminated
string runs to the end), and matched on the tokens: a 16 KiB string of quotes and backslashes costs
what any 16 KiB string costs, not seconds as a backtracking regular expression did.
"""

from __future__ import annotations

import re
from functools import lru_cache

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*+")
      | (?P<open>"(?:[^"\\]|\\.)*+\\?\Z)   # an unterminated literal runs to the end: read once
      | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*+)
      | (?P<op>=\?=|=!=|==|!=)
      | (?P<other>.)
    )""",
    re.VERBOSE | re.DOTALL,
)
_EQUALS = {"==", "=?=", "is"}  # the parser prints =?= as `is`
Token = tuple[str, str]  # (kind, text)


def tokens(text: str) -> list[Token]:
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind is None:  # trailing white space
            continue
        value = m.group(kind)
        if kind == "ident" and value.lower() in ("is", "isnt"):
            kind = "op"
        out.append((kind, value))
    return out


@lru_cache(maxsize=8192)
def requirement_targets(requirements: str) -> tuple[str | None, str | None]:
    """(group, alias) a job's Requirements names, lower-cased; None where it names none."""
    toks = tokens(requirements)
    return _first(toks, "group_name"), _first(toks, "target_alias")


def _first(toks: list[Token], name: str) -> str | None:
    for i in range(len(toks)):
        literal = _compared(toks, i, name)
        if literal is not None:
            return literal[1:-1].lower() or None
    return None


def _compared(toks: list[Token], i: int, name: str) -> str | None:
    """The string literal compared for equality with ``name`` in a comparison starting at token ``i``."""
    if _is_ref(toks[i], name):
        return _after_op(toks, i + 1)
    if toks[i][0] == "string":
        j = _skip_lower(toks, _after_op_index(toks, i + 1))
        if j is not None and j < len(toks) and _is_ref(toks[j], name):
            return toks[i][1]
    return None


def _is_ref(tok: Token, name: str) -> bool:
    return tok[0] == "ident" and tok[1].rsplit(".", 1)[-1].lower() == name


def _after_op_index(toks: list[Token], j: int) -> int | None:
    """The index after ``[)] op``, or None where no equality operator follows."""
    if j < len(toks) and toks[j] == ("other", ")"):
        j += 1
    if j < len(toks) and toks[j][0] == "op" and toks[j][1].lower() in _EQUALS:
        return j + 1
    return None


def _skip_lower(toks: list[Token], j: int | None) -> int | None:
    if (
        j is not None
        and j + 1 < len(toks)
        and toks[j][0] == "ident"
        and toks[j][1].lower() == "tolower"
        and toks[j + 1] == ("other", "(")
    ):
        return j + 2
    return j


def _after_op(toks: list[Token], j: int) -> str | None:
    k = _skip_lower(toks, _after_op_index(toks, j))
    if k is not None and k < len(toks) and toks[k][0] == "string":
        return toks[k][1]
    return None
