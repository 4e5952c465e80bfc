"""Ticking and unticking the image matrix from code (the CLI, the manual DAG, an upload): the same path
the UI takes (export the configuration, change the group's ``images``, validate, apply), so every
change is validated and audited with its actor.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from include.config import Change, apply_config, export_config, parse_document


class TickError(ValueError):
    """An unknown group or cloud."""


def _group(doc: dict, group: str) -> dict:
    for g in doc["groups"]:
        if g["name"] == group:
            return g
    raise TickError(f"no such group: {group}")


def tick(
    session: Session, group: str, name: str, checksum: str | None, clouds: Iterable[str], actor: str
) -> list[Change]:
    """Want image (``name``, ``checksum``; None = any copy of that name) on ``clouds``."""
    doc = export_config(session).model_dump(mode="python")
    g = _group(doc, group)
    clouds = set(clouds)
    unknown = clouds - {c["name"] for c in g["clouds"]}
    if unknown:
        raise TickError(f"group {group} has no cloud(s) {', '.join(sorted(unknown))}")
    entry = next((i for i in g["images"] if i["name"] == name and i["checksum"] == checksum), None)
    if entry is None:
        entry = {"name": name, "checksum": checksum, "clouds": []}
        g["images"].append(entry)
    entry["clouds"] = sorted(set(entry["clouds"]) | clouds)
    return apply_config(session, parse_document(doc), actor=actor)


def untick(
    session: Session, group: str, name: str, clouds: Iterable[str], actor: str, checksum: str | None = None
) -> list[Change]:
    """No longer want image ``name`` (every checksum, or only ``checksum``) on ``clouds``: the next
    cs_images run deletes the copies we placed there."""
    doc = export_config(session).model_dump(mode="python")
    g = _group(doc, group)
    clouds = set(clouds)
    for entry in g["images"]:
        if entry["name"] == name and checksum in (None, entry["checksum"]):
            entry["clouds"] = sorted(set(entry["clouds"]) - clouds)
    g["images"] = [i for i in g["images"] if i["clouds"]]
    return apply_config(session, parse_document(doc), actor=actor)
