"""The key matrix diff for one cloud (pure): wanted keys, what the cloud lists, what we placed ->
keypairs to import, to delete, and the names whose key differs (reported, never overwritten).

Only keypairs we imported are deleted, and only while the cloud still shows our fingerprint: a key
someone replaced under that name, or one that was there before we were asked for it, is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from include.keys.fingerprints import same_key

PRESENT, CONFLICT, ERROR, UNSUPPORTED = "present", "conflict", "error", "unsupported"


@dataclass(frozen=True)
class Placement:
    fingerprint: str
    placed_by_us: bool
    state: str = PRESENT


@dataclass
class KeyPlan:
    create: list[str] = field(default_factory=list)  # import these public keys
    delete: list[str] = field(default_factory=list)  # ours, unticked, still as we left them
    present: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> (fingerprint, placed by us)
    conflicts: dict[str, str] = field(default_factory=dict)  # name -> the other key's fingerprint
    forget: list[str] = field(default_factory=list)  # our records of keys that are no longer ours to manage


def plan_keys(wants: Mapping[str, str], live: Mapping[str, str], placed: Mapping[str, Placement]) -> KeyPlan:
    """``wants``: name -> public key; ``live``: name -> fingerprint the cloud lists; ``placed``: our records."""
    plan = KeyPlan()
    for name, public_key in sorted(wants.items()):
        fingerprint = live.get(name)
        record = placed.get(name)
        if fingerprint is None:
            plan.create.append(name)
        elif same_key(fingerprint, public_key):
            ours = record is not None and record.placed_by_us and record.fingerprint == fingerprint
            plan.present[name] = (fingerprint, ours)
        else:
            plan.conflicts[name] = fingerprint
    for name, record in sorted(placed.items()):
        if name in wants:
            continue
        if record.placed_by_us and record.fingerprint and live.get(name) == record.fingerprint:
            plan.delete.append(name)
        else:
            plan.forget.append(name)
    return plan
