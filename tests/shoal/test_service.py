"""The API's snapshot: requests never wait for the database once a snapshot exists, and a refresh that
fails keeps the previous answers."""

from __future__ import annotations

import threading
import time

from include.shoal.service import ShoalService


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_stale_snapshot_is_served_while_one_refresh_runs(make_settings, sqlite_engine, monkeypatch):
    clock, loads, gate = Clock(), [], threading.Event()
    service = ShoalService(make_settings(snapshot_ttl=2.0), engine=lambda: sqlite_engine, clock=clock)
    real_load = service._load

    def slow_load():
        loads.append(clock.now)
        if len(loads) > 1:
            gate.wait(5)
        return real_load()

    monkeypatch.setattr(service, "_load", slow_load)
    first = service.snapshot()
    assert service.snapshot() is first and len(loads) == 1  # fresh: no reload
    clock.now += 3
    began = time.monotonic()
    assert service.snapshot() is first and service.snapshot() is first  # stale: answered at once
    assert time.monotonic() - began < 1
    gate.set()
    deadline = time.monotonic() + 5
    while service.snapshot() is first and time.monotonic() < deadline:
        time.sleep(0.01)
    assert service.snapshot() is not first and len(loads) == 2  # exactly one background refresh


def test_a_failed_refresh_keeps_the_previous_snapshot(make_settings, sqlite_engine, monkeypatch):
    clock = Clock()
    service = ShoalService(make_settings(snapshot_ttl=1.0), engine=lambda: sqlite_engine, clock=clock)
    first = service.snapshot()
    monkeypatch.setattr(service, "_load", lambda: (_ for _ in ()).throw(RuntimeError("db down")))
    clock.now += 5
    assert service.snapshot() is first
    time.sleep(0.1)
    assert service.snapshot() is first
