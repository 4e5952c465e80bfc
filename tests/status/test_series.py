"""Plot series are averaged into fixed buckets in SQL, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from include.status.series import RANGES, panels
from tests.status import builders as b
from tests.status.builders import NOW


@pytest.fixture
def samples(session):
    b.group(session, "atlas")
    # Every 30 s over the last two hours, the group total and two clouds.
    for i in range(240):
        ts = NOW - timedelta(seconds=30 * i)
        b.sample(session, "atlas", "", ts, jobs_idle=i, jobs_running=2 * i, VMs_running=5, VMs_idle=1)
        b.sample(session, "atlas", "east", ts, cores_native=8 * (i % 2))
        b.sample(session, "atlas", "west", ts, cores_native=16)
    b.sample(session, "other", "", NOW, jobs_idle=1000)
    session.commit()
    return session


def test_one_hour_in_30_s_buckets(samples):
    p = panels(samples, "atlas", "1h", NOW)
    jobs = p["jobs"]
    assert len(jobs.t) == 120
    assert jobs.t == sorted(jobs.t) and all(t % 30 == 0 for t in jobs.t)
    assert jobs.t[-1] == int(NOW.timestamp())
    assert jobs.lines["jobs_idle"][-1] == 0 and jobs.lines["jobs_running"][0] == 2 * 119
    assert set(p["vms"].lines["VMs_running"]) == {5}
    assert set(p["cores"].lines) == {"east", "west"}


def test_one_day_buckets_average_the_samples(samples):
    p = panels(samples, "atlas", "1d", NOW)
    width = RANGES["1d"][1]
    cores = p["cores"]
    assert all(t % width == 0 for t in cores.t)
    # 10 samples per 5-minute bucket, east alternating 0 and 8; the oldest and newest buckets are partial
    full = cores.lines["east"][1:-1]
    assert len(full) == 23 and set(full) == {4.0}  # 2 h = 24 buckets, plus the one NOW starts
    assert set(cores.lines["west"]) == {16.0}
    assert len(p["jobs"].t) <= 86400 // width + 1


def test_no_samples_is_empty_not_an_error(samples):
    p = panels(samples, "nosuch", "1w", NOW)
    assert p["jobs"].t == [] and p["cores"].lines == {}
