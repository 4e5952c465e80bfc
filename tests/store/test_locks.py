"""Leases keep two planners of a group apart, expire on their own, and are re-entrant for the holder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.store.locks import LeaseBusy, lease, release, try_acquire

T0 = datetime(2026, 5, 1, tzinfo=UTC)
TTL = timedelta(minutes=5)


def test_second_holder_is_refused_until_release(store_engine):
    assert try_acquire(store_engine, "plan/atlas", "run-1", TTL, T0)
    assert not try_acquire(store_engine, "plan/atlas", "run-2", TTL, T0 + timedelta(seconds=10))
    assert try_acquire(store_engine, "plan/belle2", "run-2", TTL, T0), "other groups are independent"
    release(store_engine, "plan/atlas", "run-1")
    assert try_acquire(store_engine, "plan/atlas", "run-2", TTL, T0 + timedelta(seconds=20))


def test_expired_lease_is_taken_over_and_holder_may_renew(store_engine):
    assert try_acquire(store_engine, "plan/atlas", "dead-run", TTL, T0)
    assert try_acquire(store_engine, "plan/atlas", "dead-run", TTL, T0 + timedelta(minutes=1)), "renewal"
    assert not try_acquire(store_engine, "plan/atlas", "next", TTL, T0 + timedelta(minutes=5))
    assert try_acquire(store_engine, "plan/atlas", "next", TTL, T0 + timedelta(minutes=7))


def test_context_manager_raises_when_busy_and_releases_on_error(store_engine):
    with (
        lease(store_engine, "plan/atlas", "a", TTL),
        pytest.raises(LeaseBusy, match="held by another run"),
        lease(store_engine, "plan/atlas", "b", TTL),
    ):
        pass
    with pytest.raises(RuntimeError), lease(store_engine, "plan/atlas", "a", TTL):
        raise RuntimeError("task failed")
    assert try_acquire(store_engine, "plan/atlas", "b", TTL)
