"""The save cycle every configuration page shares: read the current document, let the page change
its part, validate with the CLI's code, apply in one transaction (audited), or hand back the problems
sorted by field for the page to show next to its inputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request, status

from cloudscheduler.auth import Principal, engine_of
from cloudscheduler.forms import STALE, FormErrors, current_document, save, split_problems, version_of
from include.config import Change, ConfigError
from include.store.db import session_scope


class Stale(Exception):
    """The edited part changed since the form was rendered."""


@dataclass
class Outcome:
    changes: list[Change] = field(default_factory=list)
    errors: FormErrors = field(default_factory=FormErrors)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_version(section: Any, submitted: str | None) -> None:
    if submitted is not None and submitted != version_of(section):
        raise Stale()


def submit(
    request: Request,
    who: Principal,
    obj: str,
    change: Callable[[dict[str, Any]], None],
    known: set[str] | frozenset[str] = frozenset(),
) -> Outcome:
    """Apply ``change`` to the whole document and save it as ``who``. ``obj`` names the edited object
    the way validation problems do ("group 'atlas' / cloud 'east'"); problems of its ``known`` fields
    (the form's inputs) are sorted by field, the rest listed above the form.
    A KeyError from ``change`` (the object is gone) is a 404."""
    try:
        with session_scope(engine_of(request)) as s:
            doc = current_document(s)
            change(doc)
            return Outcome(changes=save(s, doc, who.authority()))
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such object: {exc.args[0]}") from None
    except Stale:
        return Outcome(errors=FormErrors(general=[STALE]))
    except ConfigError as exc:
        return Outcome(errors=split_problems(exc.problems, obj, known))


def read_document(request: Request) -> dict[str, Any]:
    with session_scope(engine_of(request)) as s:
        return current_document(s)


def cloud_label(group: str, cloud: str) -> str:
    return f"group '{group}' / cloud '{cloud}'"


def group_label(group: str) -> str:
    return f"group '{group}'"
