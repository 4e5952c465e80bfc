"""Changing a group's keys from code (the CLI): the same path as the Keys page (export the configuration,
change the group's ``keys``, validate, apply), so every change is validated and audited."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from include.config import Change, apply_config, export_config, parse_document


def _group(doc: dict, group: str) -> dict:
    for g in doc["groups"]:
        if g["name"] == group:
            return g
    raise KeyError(f"no such group: {group}")


def set_key(
    session: Session,
    group: str,
    name: str,
    actor: str,
    public_key: str | None = None,
    clouds: Iterable[str] | None = None,
) -> list[Change]:
    """Add key ``name`` (``public_key`` required then) or change its public key and/or its clouds."""
    doc = export_config(session).model_dump(mode="python")
    keys = _group(doc, group)["keys"]
    entry = next((k for k in keys if k["name"] == name), None)
    if entry is None:
        if public_key is None:
            raise KeyError(f"group {group} has no key {name!r}; give its public key to add it")
        entry = {"name": name, "public_key": public_key, "clouds": []}
        keys.append(entry)
    if public_key is not None:
        entry["public_key"] = public_key.strip()
    if clouds is not None:
        entry["clouds"] = sorted(set(clouds))
    return apply_config(session, parse_document(doc), actor=actor)


def remove_key(session: Session, group: str, name: str, actor: str) -> list[Change]:
    """Forget key ``name``: the next cs_keys run deletes the keypairs we imported for it."""
    doc = export_config(session).model_dump(mode="python")
    g = _group(doc, group)
    if not any(k["name"] == name for k in g["keys"]):
        raise KeyError(f"group {group} has no key {name!r}")
    g["keys"] = [k for k in g["keys"] if k["name"] != name]
    return apply_config(session, parse_document(doc), actor=actor)
