"""Freshness lights: is each poller (and the scheduling run) delivering recent data?

The original showed one heartbeat light per service. Here a light per source of observed state: each
pool part (``condor/<group>/<part>``), each cloud (``cloud/<group>/<cloud>``) and the group's scheduling
run. A source is ``ok`` while its last success is younger than ``stale_after`` and its last attempt
succeeded, ``warn`` when the last attempt failed but data is still fresh, ``down`` when the data is
older than ``stale_after``, ``never`` before its first success.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Light(StrEnum):
    OK = "ok"
    WARN = "warn"
    DOWN = "down"
    NEVER = "never"


@dataclass(frozen=True)
class Freshness:
    source: str
    light: Light
    last_success: datetime | None
    last_attempt: datetime | None
    error: str | None
    failures: int = 0

    def age_s(self, now: datetime) -> float | None:
        return None if self.last_success is None else max(0.0, (now - self.last_success).total_seconds())


def light(*, ok: bool, last_success: datetime | None, now: datetime, stale_after: float) -> Light:
    if last_success is None:
        return Light.NEVER
    if (now - last_success).total_seconds() > stale_after:
        return Light.DOWN
    return Light.OK if ok else Light.WARN


def worst(lights: list[Light]) -> Light:
    order = [Light.OK, Light.WARN, Light.NEVER, Light.DOWN]
    return max(lights, key=order.index, default=Light.NEVER)
