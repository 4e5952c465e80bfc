"""The image matrix diff: table-driven cases and invariants over random inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from include.images.matrix import Cached, Row, Seen, Want, diff

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
CLOUDS = {("g", "a"), ("g", "b"), ("g", "c")}


def plan(wants, seen=(), cached=(), rows=(), unsupported=None, due=True, downloadable=CLOUDS):
    return diff(
        wants,
        seen,
        cached,
        rows,
        unsupported=unsupported or {},
        downloadable=set(downloadable),
        now=NOW,
        max_attempts=3,
        defaults_due=due,
    )


def seen(cloud, name="cvm", checksum="c1", image_id=None, days_old=1):
    return Seen(
        "g",
        cloud,
        image_id or f"{cloud}-{name}-{checksum}",
        name,
        checksum,
        100,
        "raw",
        "bare",
        NOW - timedelta(days=days_old),
    )


def row(id_, cloud="b", state="pending", checksum="c1", name="cvm", **kw):
    return Row(id_, "g", cloud, name, checksum, state, **kw)


def test_a_satisfied_want_needs_nothing():
    p = plan([Want("g", "b", "cvm")], [seen("a"), seen("b", checksum="other")])
    assert (p.create, p.update, p.delete, p.remove) == ([], [], [], [])


def test_a_missing_image_gets_a_pending_transfer_from_a_cloud_that_has_it():
    [(want, checksum, state, source, message)] = plan([Want("g", "b", "cvm")], [seen("a")]).create
    assert (want.cloud, checksum, state, message) == ("b", "c1", "pending", None)
    assert (source.cloud, source.image_id, source.size) == ("a", "a-cvm-c1", 100)


def test_without_a_checksum_the_newest_copy_is_copied_and_the_cache_wins_a_tie():
    two = [seen("a", checksum="old", days_old=9), seen("c", checksum="new", days_old=2)]
    assert plan([Want("g", "b", "cvm")], two).create[0][1] == "new"
    cached = [Cached("new", "cvm", 100, "g", created_at=NOW - timedelta(days=2))]
    source = plan([Want("g", "b", "cvm")], two, cached).create[0][3]
    assert (source.cloud, source.checksum) == (None, "new")


def test_a_checksum_pins_the_version_and_nothing_else_will_do():
    [(_, checksum, state, source, message)] = plan([Want("g", "b", "cvm", "c9")], [seen("a")]).create
    assert (checksum, state, source) == ("c9", "no_source", None)
    assert "no cloud of group g" in message and "c9" in message


def test_unsupported_targets_and_sources():
    p = plan([Want("g", "b", "cvm")], [seen("a")], unsupported={("g", "b"): "EC2 needs S3"})
    assert p.create[0][2:] == ("unsupported", None, "EC2 needs S3")
    # an image seen only on a cloud that cannot give data (EC2, simulated) is no source
    assert plan([Want("g", "b", "cvm")], [seen("a")], downloadable={("g", "c")}).create[0][2] == "no_source"


def test_the_cache_of_another_group_is_no_source():
    cached = [Cached("c1", "cvm", 100, "other-group")]
    assert plan([Want("g", "b", "cvm")], [], cached).create[0][2] == "no_source"


def test_failed_transfers_retry_when_due_and_stop_after_the_last_attempt():
    source = [seen("a")]
    due = row(1, state="error", attempts=1, next_try_at=NOW - timedelta(seconds=1))
    later = row(1, state="error", attempts=1, next_try_at=NOW + timedelta(minutes=5))
    spent = row(1, state="error", attempts=3, next_try_at=NOW - timedelta(hours=1))
    [(row_id, change)] = plan([Want("g", "b", "cvm")], source, rows=[due]).update
    assert row_id == 1 and change["state"] == "pending" and change["source_cloud"] == "a"
    assert plan([Want("g", "b", "cvm")], source, rows=[later]).update == []
    assert plan([Want("g", "b", "cvm")], source, rows=[spent]).update == []


def test_a_copy_that_vanished_is_copied_again():
    [(row_id, change)] = plan(
        [Want("g", "b", "cvm")], [seen("a")], rows=[row(4, state="done", placed=True)]
    ).update
    assert (
        row_id == 4 and change["state"] == "pending" and change["placed"] is False and change["attempts"] == 0
    )


def test_unticked_rows_are_dropped_and_only_images_we_placed_are_removed():
    rows = [
        row(1, state="done", placed=True),
        row(2, state="done", placed=False, cloud="c"),
        row(3, state="pending", name="x"),
        row(4, state="claimed", name="y"),
        row(5, state="error", name="z"),
    ]
    p = plan([], [seen("b"), seen("c")], rows=rows)
    assert p.remove == [1] and sorted(p.delete) == [2, 3, 5] and p.update == [] and p.create == []


def test_our_copy_satisfying_its_want_is_the_steady_state():
    p = plan([Want("g", "b", "cvm")], [seen("a"), seen("b")], rows=[row(1, state="done", placed=True)])
    assert (p.create, p.update, p.delete, p.remove) == ([], [], [], [])


def test_a_satisfied_want_makes_a_pending_transfer_moot():
    assert plan([Want("g", "b", "cvm")], [seen("a"), seen("b")], rows=[row(1)]).delete == [1]


def test_default_images_start_only_when_due_but_existing_copies_are_kept():
    want = Want("g", "b", "cvm", reason="default")
    assert plan([want], [seen("a")], due=False).create == []
    assert plan([want], [seen("a")], due=True).create[0][0].reason == "default"
    kept = plan([want], [seen("a"), seen("b")], rows=[row(1, state="done", placed=True)], due=False)
    assert (kept.remove, kept.delete) == ([], [])


def test_a_disabled_cloud_starts_nothing_and_keeps_what_it_has():
    want = Want("g", "b", "cvm", active=False)
    assert plan([want], [seen("a")]).create == []
    p = plan([want], [seen("a"), seen("b")], rows=[row(1, state="done", placed=True)])
    assert (p.remove, p.delete) == ([], [])


def test_an_unsourced_want_that_finds_a_source_replaces_its_placeholder():
    rows = [row(7, state="no_source", checksum="")]
    p = plan([Want("g", "b", "cvm")], [seen("a")], rows=rows)
    assert p.create[0][1:3] == ("c1", "pending") and p.delete == [7]


def test_the_plan_does_not_depend_on_input_order():
    wants = [Want("g", "b", "cvm"), Want("g", "c", "cvm"), Want("g", "a", "other")]
    images = [
        seen("a", days_old=3),
        seen("b", name="other", checksum="o1"),
        seen("c", checksum="c2", days_old=1),
    ]
    one, two = plan(wants, images), plan(wants[::-1], images[::-1])
    assert sorted(map(repr, one.create)) == sorted(map(repr, two.create))


names = st.sampled_from(["cvm", "sl7", "alma9"])
checksums = st.sampled_from(["c1", "c2", "c3"])
clouds = st.sampled_from(["a", "b", "c"])
states = st.sampled_from(["pending", "claimed", "done", "error", "unsupported", "no_source"])


@pytest.mark.properties
@settings(deadline=None)
@given(
    wants=st.lists(st.builds(Want, st.just("g"), clouds, names, st.one_of(st.none(), checksums)), max_size=6),
    images=st.lists(st.builds(seen, clouds, names, checksums), max_size=6),
    rows=st.lists(
        st.tuples(clouds, names, checksums, states, st.booleans()), max_size=6, unique_by=lambda r: r[:3]
    ),
)
def test_invariants(wants, images, rows):
    rows = [Row(i, "g", c, n, k, s, placed=p) for i, (c, n, k, s, p) in enumerate(rows)]
    p = plan(wants, images, rows=rows)
    by_id = {r.id: r for r in rows}
    created = [(w.group, w.cloud, w.name, k) for w, k, *_ in p.create]
    assert len(created) == len(set(created)), "one transfer per (image, cloud)"
    assert not set(created) & {(r.group, r.cloud, r.name, r.checksum) for r in rows}
    touched = [i for i, _ in p.update] + p.delete + p.remove
    assert len(touched) == len(set(touched)), "a row is changed, dropped or removed, never two of these"
    assert all(by_id[i].state != "claimed" for i in touched), "a running transfer is left to its holder"
    for i in p.remove:  # only our own copies that nobody wants
        r = by_id[i]
        assert r.state == "done" and r.placed
        assert not any(
            (w.cloud, w.name) == (r.cloud, r.name) and w.checksum in (None, r.checksum) for w in wants
        )
    for w, *_ in p.create:  # nothing is copied to where the image already is
        assert not any(
            (s.cloud, s.name) == (w.cloud, w.name) and w.checksum in (None, s.checksum) for s in images
        )
