"""Configuration text is read strictly: whatever is odd about a file is one clear line, never a traceback,
and never a silent change.

- A key given twice in one mapping is an error (a stray second ``groups:`` used to replace the first
  and so delete every group it listed on apply).
- Files over ``MAX_BYTES``, not UTF-8, nested deeper than ``MAX_DEPTH`` or expanding (through YAML
  aliases) to more than ``MAX_NODES`` values are refused before they are validated.
- No text value may hold NUL, a control character or a terminal escape: they end up in ClassAds, URLs,
  host names, file names and operators' terminals. Metadata ``text`` may hold tabs and line breaks;
  nothing else may.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 200_000
MULTILINE_FIELDS = frozenset({"text"})


class InputError(ValueError):
    """The file cannot be read as a configuration; ``where`` is a line/column or 'document'."""

    def __init__(self, where: str, message: str):
        super().__init__(message)
        self.where, self.message = where, message


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys and deep nesting while it composes."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise InputError(_at(mark), f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise InputError(
                    _at(key_node.start_mark),
                    f"key '{key}' appears twice in the same mapping (first at {seen[key]}): remove one",
                )
            try:
                seen[key] = _at(key_node.start_mark)
            except TypeError:  # an unhashable key: let the loader report it
                break
        return super().construct_mapping(node, deep=deep)


def _at(mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "document"


def load(text: str | bytes) -> Any:
    """The decoded document; InputError for every way the text itself is unacceptable."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_BYTES:
        raise InputError("document", f"the file is larger than the limit of {MAX_BYTES:,} bytes")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"byte {exc.start}", "the file is not UTF-8 text") from None
    try:
        raw = yaml.load(text, Loader=StrictLoader)  # noqa: S506 - StrictLoader is a SafeLoader
    except RecursionError:
        raise InputError("document", f"nested deeper than {MAX_DEPTH} levels") from None
    if _node_count(raw, {}) > MAX_NODES:
        raise InputError("document", f"expands to more than {MAX_NODES:,} values (YAML aliases?)")
    return raw


def _node_count(value: Any, memo: dict[int, int]) -> int:
    """Values counted as a validator would walk them: an alias used twice counts twice."""
    if not isinstance(value, dict | list):
        return 1
    if id(value) in memo:
        return memo[id(value)]
    memo[id(value)] = MAX_NODES + 1  # a cycle counts as too many
    items = value.values() if isinstance(value, dict) else value
    total = 1
    for item in items:
        total += _node_count(item, memo)
        if total > MAX_NODES:
            break
    memo[id(value)] = total
    return total


def text_problems(raw: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path, message) for every text value or key holding a character no configuration field may."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            if isinstance(key, str) and (bad := bad_character(key, multiline=False)):
                yield (*path, key), f"the key contains {bad}"
            yield from text_problems(value, (*path, key))
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            yield from text_problems(value, (*path, i))
    elif isinstance(raw, str):
        multiline = bool(path) and path[-1] in MULTILINE_FIELDS
        if bad := bad_character(raw, multiline=multiline):
            yield (
                path,
                f"contains {bad}, which no field may hold" + ("" if multiline else " (one line of text)"),
            )


# C0 and C1 controls (ESC starts terminal escapes), DEL, lone surrogates, line/paragraph separators and
# the bidirectional overrides that make text read differently from what it is.
_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069"
_BAD = {True: re.compile(f"[{_CONTROL}]"), False: re.compile(f"[{_CONTROL}\t\n\r]")}


def bad_character(text: str, *, multiline: bool) -> str | None:
    found = _BAD[multiline].search(text)
    if found is None:
        return None
    ch = found.group()
    return f"the character U+{ord(ch):04X}" + (
        " (ESC, which starts terminal escapes)" if ch == "\x1b" else ""
    )
