"""The usage page and its CSV, as a logged-in user meets them: the daily core-hours of the groups they
may see and nothing of another group's; the status page links to it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from include.store.db import session_scope
from include.store.models import VmUsage

DAY = datetime(2026, 6, 1, tzinfo=UTC)
SPAN = {"start": "2026-06-01", "end": "2026-06-02"}


def _usage(engine, vm_id: str, group: str, cloud: str, hours: float, busy_cores: int, cores: int = 8) -> None:
    booted = DAY + timedelta(hours=10)
    seconds = hours * 3600
    with session_scope(engine) as s:
        s.add(
            VmUsage(
                vm_id=vm_id,
                group_name=group,
                cloud_name=cloud,
                flavor=f"c{cores}",
                cores=cores,
                ram_mb=16000,
                booted_at=booted,
                accounted_at=booted + timedelta(seconds=seconds),
                deleted_at=booted + timedelta(seconds=seconds),
                busy_core_s=busy_cores * seconds,
                idle_core_s=(cores - busy_cores) * seconds,
            )
        )


def _seed(store) -> None:
    _usage(store, "atlas-arbutus-1", "atlas", "arbutus", 2, busy_cores=8)
    _usage(store, "atlas-cedar-1", "atlas", "cedar", 1, busy_cores=2)
    _usage(store, "belle2-melbourne-1", "belle2", "melbourne", 3, busy_cores=1)


def test_a_viewer_sees_only_the_usage_of_their_groups(store, login):
    _seed(store)
    bob = login("bob")  # viewer of belle2 only
    page = bob.get("/usage", params=SPAN)
    assert page.status_code == 200
    assert "melbourne" in page.text and "24.00" in page.text  # 3 h x 8 cores
    assert "arbutus" not in page.text and "cedar" not in page.text
    assert bob.get("/usage", params={"group": "atlas", **SPAN}).status_code == 403
    assert bob.get("/usage.csv", params={"group": "atlas", **SPAN}).status_code == 403
    rows = list(csv.reader(io.StringIO(bob.get("/usage.csv", params=SPAN).text)))
    assert [r[1] for r in rows[1:]] == ["belle2"]


def test_an_editor_of_one_group_gets_its_daily_totals_as_csv(store, login):
    _seed(store)
    alice = login("alice")  # editor of atlas
    got = alice.get("/usage.csv", params={"group": "atlas", **SPAN})
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert "attachment" in got.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert [
        (r["day"], r["cloud"], r["vms"], r["busy_core_h"], r["idle_core_h"], r["total_core_h"]) for r in rows
    ] == [
        ("2026-06-01", "arbutus", "1", "16.00", "0.00", "16.00"),
        ("2026-06-01", "cedar", "1", "2.00", "6.00", "8.00"),
    ]
    page = alice.get("/usage", params={"group": "atlas", **SPAN}).text
    assert "16.00" in page and "belle2" not in page.split("<main>")[1]


def test_a_bad_day_is_refused_naming_the_field(store, login):
    got = login("alice").get("/usage", params={"start": "2026-02-30"})
    assert got.status_code == 400 and "start" in got.text


def test_the_status_page_links_to_each_groups_usage(store, login):
    body = login("alice").get("/status/body").text
    assert '/usage?group=atlas"' in body
    assert login("alice").get("/usage").status_code == 200


def test_the_usage_page_needs_a_login(store, app):
    from fastapi.testclient import TestClient

    http = TestClient(app)
    assert http.get("/usage").status_code == 401
    assert http.get("/usage.csv").status_code == 401
