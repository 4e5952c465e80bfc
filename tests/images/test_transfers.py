"""The transfer state machine in the store (SQLite and PostgreSQL): exclusive claims, leases, renewals,
failures with back-off, operator retry and clear, one transfer per (image, cloud)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from include.images import transfers
from include.images.settings import image_settings
from include.store.db import session_scope
from include.store.models import ImageTransfer
from tests.images.conftest import clouds_doc, configure

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
SETTINGS = image_settings({})


@pytest.fixture
def engine(store_engine):
    configure(
        store_engine, clouds_doc({"auth_url": "http://a.example/v3"}, {"auth_url": "http://b.example/v3"})
    )
    return store_engine


def add(engine, state="pending", name="cvm", checksum="c1", **kw) -> int:
    with session_scope(engine) as s:
        row = ImageTransfer(
            group_name="atlas",
            cloud_name="b",
            image_name=name,
            checksum=checksum,
            state=state,
            source_cloud="a",
            source_image_id="img-1",
            created_at=NOW,
            updated_at=NOW,
            **kw,
        )
        s.add(row)
        s.flush()
        return row.id


def get(engine, transfer_id) -> ImageTransfer:
    with session_scope(engine) as s:
        row = s.get(ImageTransfer, transfer_id)
        s.expunge(row)
        return row


def test_one_transfer_per_image_and_cloud(engine):
    add(engine)
    with pytest.raises(IntegrityError):
        add(engine, state="error")


def test_a_claim_is_exclusive_even_when_workers_race(engine):
    transfer_id = add(engine)
    with ThreadPoolExecutor(8) as pool:
        jobs = list(
            pool.map(
                lambda i: transfers.claim(engine, transfer_id, f"w{i}", NOW, SETTINGS.lease_ttl), range(8)
            )
        )
    winners = [j for j in jobs if j is not None]
    assert len(winners) == 1
    row = get(engine, transfer_id)
    assert (
        row.state == "claimed"
        and row.lease_until == NOW + SETTINGS.lease_ttl
        and row.claimed_by.startswith("w")
    )


def test_a_silent_holder_is_taken_over_after_its_lease(engine):
    transfer_id = add(engine)
    job = transfers.claim(engine, transfer_id, "w1", NOW, SETTINGS.lease_ttl)
    assert (
        transfers.claim(
            engine, transfer_id, "w2", NOW + SETTINGS.lease_ttl - timedelta(seconds=1), SETTINGS.lease_ttl
        )
        is None
    )
    later = NOW + SETTINGS.lease_ttl + timedelta(seconds=1)
    assert transfers.claim(engine, transfer_id, "w2", later, SETTINGS.lease_ttl) is not None
    beat = transfers.Heartbeat(engine, job, "w1", SETTINGS, lambda: later)
    with pytest.raises(transfers.LeaseLost):  # the old holder notices at its next renewal and stops
        beat.start("downloading")
    assert not transfers.finish(engine, job, "w1", later, "img-x", True)
    assert get(engine, transfer_id).claimed_by == "w2"


def test_renewals_extend_the_lease_and_record_progress_at_most_every_heartbeat(engine):
    transfer_id = add(engine)
    job = transfers.claim(engine, transfer_id, "w1", NOW, SETTINGS.lease_ttl)
    clock = [NOW]
    beat = transfers.Heartbeat(engine, job, "w1", SETTINGS, lambda: clock[0])
    beat.start("downloading")
    clock[0] = NOW + timedelta(seconds=5)
    beat.beat(1000)  # too soon: not written
    assert get(engine, transfer_id).bytes_done == 0
    clock[0] = NOW + SETTINGS.heartbeat
    beat.beat(500)
    row = get(engine, transfer_id)
    assert (row.phase, row.bytes_done, row.lease_until) == (
        "downloading",
        1500,
        clock[0] + SETTINGS.lease_ttl,
    )


def test_an_untick_cancels_a_running_transfer(engine):
    transfer_id = add(engine)
    job = transfers.claim(engine, transfer_id, "w1", NOW, SETTINGS.lease_ttl)
    with session_scope(engine) as s:
        s.delete(s.get(ImageTransfer, transfer_id))
    with pytest.raises(transfers.LeaseLost):
        transfers.Heartbeat(engine, job, "w1", SETTINGS, lambda: NOW).start("uploading")


def test_failures_back_off_doubling_and_count_attempts(engine):
    transfer_id = add(engine)
    delays = []
    for attempt in range(1, 4):
        job = transfers.claim(engine, transfer_id, "w", NOW, SETTINGS.lease_ttl)
        assert transfers.fail(engine, job, "w", NOW, "boom", SETTINGS) == attempt
        row = get(engine, transfer_id)
        delays.append(row.next_try_at - NOW)
        with session_scope(engine) as s:  # what the planner does when the retry is due
            s.get(ImageTransfer, transfer_id).state = "pending"
    assert delays == [SETTINGS.retry_base, SETTINGS.retry_base * 2, SETTINGS.retry_base * 4]
    assert (row.state, row.message, row.claimed_by) == ("error", "boom", None)


def test_operator_retry_and_clear(engine):
    failed = add(engine, state="error", attempts=3, next_try_at=NOW + timedelta(hours=1))
    unsupported = add(engine, state="unsupported", name="other")
    done = add(engine, state="done", name="third")
    with session_scope(engine) as s:
        assert transfers.retry(s, "atlas", name="cvm") == 1
    row = get(engine, failed)
    assert (row.state, row.attempts, row.next_try_at) == ("pending", 0, None)
    with session_scope(engine) as s:
        s.get(ImageTransfer, failed).state = "error"
    with session_scope(engine) as s:
        assert transfers.clear(s, "atlas") == 2  # error and unsupported; a finished copy is no error
    with session_scope(engine) as s:
        assert [t.id for t in s.query(ImageTransfer)] == [done]
    assert unsupported != done


def test_a_removed_cloud_takes_its_transfers_along(engine):
    add(engine)
    configure(
        engine,
        clouds_doc({"auth_url": "http://a.example/v3"}, {"auth_url": "http://b.example/v3"}) | {"groups": []},
    )
    with session_scope(engine) as s:
        assert s.query(ImageTransfer).count() == 0


def test_settings_come_from_the_environment(tmp_path):
    s = image_settings(
        {"CLOUDSCHEDULER_IMAGE_CACHE": str(tmp_path), "CLOUDSCHEDULER_IMAGE_CACHE_MAX_GB": "2.5"}
    )
    assert (s.cache_dir, s.cache_max_bytes) == (tmp_path, 2_500_000_000)
    assert replace(s, max_attempts=1).max_attempts == 1
    with pytest.raises(ValueError):
        image_settings({"CLOUDSCHEDULER_IMAGE_CACHE_MAX_GB": "0"})
