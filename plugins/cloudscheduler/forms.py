"""Configuration forms: HTML fields <-> the configuration document, and the one way to save.

A form edits one part of the document the CLI exports (a cloud, a group's defaults, its aliases, images
or keys). Saving takes the whole current document, replaces that part with the submitted values,
validates it with ``include.config.parse_document`` (the CLI's code) and applies it with
``apply_config`` in one transaction, which audits every change. Input names are the field paths of the
document (``limits.cores_ctl``), so each validation problem lands next to its field.

Conversion is deliberately thin: text that is not a number stays text, so the validator, not the form,
says what is wrong with it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from include.config import Change, Problem, apply_config, export_config, parse_document
from include.config.authority import Authority


@dataclass(frozen=True)
class Field:
    path: str  # dotted path inside the edited object, also the input's name
    label: str
    kind: str = "text"  # text | int | float | bool | tristate | list | choice | datetime | textarea
    optional: bool = True  # empty input -> None (else -> "" for text, [] for lists)
    choices: tuple[str, ...] = ()
    help: str = ""
    operator_only: bool = False  # decides where credentials go: only site operators change it


@dataclass
class FormErrors:
    fields: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)


def get_path(obj: Mapping[str, Any] | None, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        if not isinstance(obj.get(part), dict):
            obj[part] = {}
        obj = obj[part]
    obj[last] = value


def display(value: Any, spec: Field) -> str:
    """A document value as the text its input shows."""
    if value is None:
        return ""
    if spec.kind == "list":
        return ", ".join(str(v) for v in value)
    if spec.kind == "tristate" or spec.kind == "bool":
        return "true" if value else "false"
    if spec.kind == "datetime":
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    return str(value)


def parse(raw: str | None, spec: Field) -> Any:
    """A submitted string as a document value (left as text where it does not parse)."""
    if spec.kind == "bool":
        return raw in ("on", "true", "1")
    text = (raw or "").strip() if spec.kind != "textarea" else (raw or "").replace("\r\n", "\n")
    if spec.kind == "list":
        items = [p for p in text.replace("\n", ",").replace(" ", ",").split(",") if p]
        return None if not items and spec.optional else items
    if text == "":
        return None if spec.optional else ""
    if spec.kind == "tristate":
        return {"true": True, "false": False}.get(text, text)
    converters: dict[str, Callable[[str], Any]] = {"int": int, "float": float}
    if spec.kind in converters:
        try:
            value = converters[spec.kind](text)
        except ValueError:
            return text
        return value if math.isfinite(value) else text  # "nan", "inf", 1e309: the validator refuses text
    return text


def read_form(
    form: Mapping[str, Any],
    specs: tuple[Field, ...],
    target: dict[str, Any],
    optional_objects: Mapping[str, tuple[str, ...]] = {},  # noqa: B006 - read only
    locked: frozenset[str] = frozenset(),
    defaults_apply: tuple[str, ...] = (),
) -> dict[str, str]:
    """Write the submitted values of ``specs`` into ``target``; returns the raw values to re-show.

    ``optional_objects`` maps an optional sub-object (``vm.boot_volume``) to its fields: left wholly
    empty, the object is None rather than a half-filled one. ``locked`` fields (shown disabled, so a
    browser does not send them) keep their value when absent; a value sent anyway is applied, and
    the authority check refuses it if this user may not change it."""
    raw = {s.path: str(form.get(s.path, "")) for s in specs}
    for spec in specs:
        if spec.path in locked and spec.path not in form:
            raw[spec.path] = display(get_path(target, spec.path), spec)
            continue
        set_path(target, spec.path, parse(form.get(spec.path), spec))
    for obj_path, members in optional_objects.items():
        if all(raw.get(f"{obj_path}.{m}", "").strip() == "" for m in members):
            set_path(target, obj_path, None)
    for obj_path in defaults_apply:  # a field of these left empty takes its default, not an explicit null
        if isinstance(obj := get_path(target, obj_path), dict):
            for key in [k for k, v in obj.items() if v is None]:
                del obj[key]
    return raw


def locked_fields(specs: tuple[Field, ...], site_operator: bool, existing: bool = True) -> frozenset[str]:
    """Fields this user sees but may not change (``type`` too once the object exists)."""
    if site_operator:
        return frozenset()
    return frozenset(s.path for s in specs if s.operator_only or (existing and s.path == "type"))


def shown_values(source: Mapping[str, Any], specs: tuple[Field, ...]) -> dict[str, str]:
    return {s.path: display(get_path(source, s.path), s) for s in specs}


def version_of(section: Any) -> str:
    """A fingerprint of the edited part, so a save over someone else's newer change is noticed."""
    blob = json.dumps(section, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def split_problems(
    problems: list[Problem], obj: str, known: set[str] | frozenset[str] = frozenset()
) -> FormErrors:
    """Problems of ``obj`` (e.g. "group 'atlas' / cloud 'east'") by field when the form has an input
    for that field (``known``); every other problem as a general line naming its object and field."""
    errors = FormErrors()
    for p in problems:
        if p.obj == obj and p.field in known:
            errors.fields.setdefault(p.field, []).append(p.message)
        elif p.obj == obj:
            errors.general.append(f"field '{p.field}': {p.message}")
        elif p.obj.startswith(obj + " / "):
            errors.general.append(f"{p.obj[len(obj) + 3 :]}: field '{p.field}': {p.message}")
        else:
            errors.general.append(str(p))
    return errors


def current_document(session: Session) -> dict[str, Any]:
    return export_config(session).model_dump(mode="python")


def group_of(doc: dict[str, Any], group: str) -> dict[str, Any]:
    for g in doc["groups"]:
        if g["name"] == group:
            return g
    raise KeyError(group)


def cloud_of(doc: dict[str, Any], group: str, cloud: str) -> dict[str, Any]:
    for c in group_of(doc, group)["clouds"]:
        if c["name"] == cloud:
            return c
    raise KeyError(cloud)


def save(session: Session, doc: dict[str, Any], authority: Authority) -> list[Change]:
    """Validate the edited document with the CLI's code and apply it as ``authority`` (raises
    ConfigError, changing nothing, also for a change that user may not make). The caller's transaction
    commits it."""
    cfg = parse_document(doc)
    return apply_config(session, cfg, actor=authority.actor, authority=authority)


STALE = (
    "this was changed by someone else after you opened the form; the form shows your values over the "
    "newer state: review them and save again"
)
