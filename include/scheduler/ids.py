"""Deterministic, host-name safe names for boot requests and the VMs they create."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def dns_label(text: str) -> str:
    """Lowercase letters, digits and single dashes; never starts or ends with a dash."""
    return re.sub(r"-{2,}", "-", _NOT_DNS.sub("-", text.lower())).strip("-") or "x"


def request_id(
    group: str, cloud: str, flavor: str, now: datetime, shape: str, index: int, deployment: str = "cs"
) -> str:
    """``<group>-<cloud>`` (40 chars at most) and 8 hex digits of a hash of everything that makes this
    request unique. Replanning the same snapshot at the same ``now`` gives the same id."""
    prefix = dns_label(f"{group}-{cloud}")[:40].rstrip("-")
    seed = "\x1f".join((deployment, group, cloud, flavor, now.isoformat(), shape, str(index)))
    return f"{prefix}-{hashlib.sha256(seed.encode()).hexdigest()[:8]}"


def vm_ids(request: str, count: int) -> tuple[str, ...]:
    return tuple(f"{request}-{i}" for i in range(1, count + 1))
