"""Read and change one group's configuration the way the plugin's pages do (``plugins/cloudscheduler/
forms.py``): export the whole document, change one part, validate it with ``parse_document`` and apply it
with ``apply_config`` as the caller's :class:`Authority`, in one transaction that audits every change.

Nothing here writes a table directly, so an alias, a group default or a metadata item set from the
command line passes the same validation and the same "may this user change that" check as one set in
the browser, and a refused change leaves everything as it was.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from include.cli.caller import Refused
from include.cli.io import streams
from include.store.db import session_scope

# include.config (pydantic, the template checks) is imported where it is used, so that
# `cloudscheduler --help` stays quick.

Document = dict[str, Any]


class Missing(Exception):
    """The group, cloud, alias or metadata item a command names does not exist."""


class Conflict(Exception):
    """The command does not fit what exists (``add`` of an alias that exists with other clouds)."""


def group_of(doc: Document, group: str) -> Document:
    for g in doc["groups"]:
        if g["name"] == group:
            return g
    raise Missing(f"no group '{group}'")


def cloud_of(doc: Document, group: str, cloud: str) -> Document:
    for c in group_of(doc, group)["clouds"]:
        if c["name"] == cloud:
            return c
    raise Missing(f"no cloud '{cloud}' in group '{group}'")


def visible_groups(args, group: str | None) -> list[Document]:
    """The configuration of ``group`` (or of every group the caller sees), in name order.
    Raises Refused for a group the caller may not see and Missing for one that does not exist."""
    from include.config import export_config

    streams(args)
    with session_scope() as session:
        names = args.caller.groups(session, group)
        doc = export_config(session).model_dump(mode="python")
    if group:
        return [group_of(doc, group)]
    return sorted((g for g in doc["groups"] if g["name"] in names), key=lambda g: g["name"])


def guarded(args, body: Callable[[], int]) -> int:
    """Run ``body``; a refusal, a missing object or invalid configuration becomes one message on
    ``args.err`` naming what was wrong, and exit status 1."""
    from include.config import ConfigError

    _, err = streams(args)
    try:
        return body()
    except (Refused, Missing, Conflict) as exc:
        print(f"refused: {exc}", file=err)
    except ConfigError as exc:
        print("refused: the change would make the configuration invalid:", file=err)
        for problem in exc.problems:
            print(f"  {problem}", file=err)
    return 1


def change_group(args, group: str, change: Callable[[Document], str | None]) -> int:
    """Apply ``change`` (which edits the exported document in place and may return a note to show)
    to ``group`` as ``args.caller``; prints each change made, or "no changes" (so repeating a command
    is harmless)."""
    from include.config import apply_config, export_config, parse_document

    out, _ = streams(args)

    def body() -> int:
        args.caller.require_edit(group)
        with session_scope() as session:
            doc = export_config(session).model_dump(mode="python")
            group_of(doc, group)
            note = change(doc)
            changes = apply_config(
                session, parse_document(doc), actor=args.caller.actor, authority=args.caller.authority()
            )
        if note:
            print(note, file=out)
        for ch in changes:
            print(ch, file=out)
        if not changes:
            print("no changes", file=out)
        return 0

    return guarded(args, body)


def yes_no(text: str | None) -> bool | None:
    """``--enabled yes|no`` style options (argparse has already limited them to these words)."""
    return None if text is None else text == "yes"


def typed(text: str, kind: str) -> Any:
    """An option's text as a configuration value of ``kind`` (text | int | float | bool | list). Text
    that does not parse as a number stays text, so validation names the field and says what is wrong."""
    if kind == "bool":
        return text == "yes"
    if kind == "list":
        return [p.strip() for p in text.split(",") if p.strip()]
    if kind in ("int", "float"):
        try:
            number = int(text) if kind == "int" else float(text)
        except ValueError:
            return text
        return number if math.isfinite(number) else text
    return text.strip() or None
