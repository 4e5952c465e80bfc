"""The status page shows the store's numbers per group and cloud; the VM list and the operator's
buttons record intents (with an audit entry) that the next scheduling run carries out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select
from sqlalchemy.orm import Session

from include.store.models import AuditEntry, Cloud, Vm
from tests.status import builders as b


@pytest.fixture
def observed(store):
    now = datetime.now(UTC)
    with Session(store) as s:
        for state, n in (("running", 3), ("idle", 1), ("starting", 2), ("error", 1)):
            for _ in range(n):
                b.vm_row(s, "atlas", "arbutus", state=state, at=now, vm_id=f"arbutus-{state}-{_}")
        b.vm_row(s, "belle2", "melbourne", state="running", at=now, vm_id="mel-1")
        b.limits(s, "atlas", "arbutus", cores_max=96, ram_max_mb=400000, foreign_cores=8)
        b.jobs(s, "atlas", 12, status=1, cores=8)
        b.jobs(s, "atlas", 3, status=2, cores=8)
        b.jobs(s, "atlas", 2, status=5, cores=8, alias="ca-west")
        b.poll(s, "cloud/atlas/arbutus", now=now)
        b.poll(s, "cloud/atlas/cedar", ok=False, age_s=900, error="connection refused <b>", now=now)
        b.poll(s, "condor/atlas/pool", now=now)
        b.plan_run(
            s, "atlas", [("quota", "arbutus", 9), ("no_flavor_fits", None, 1)], at=now - timedelta(seconds=20)
        )
        b.backoff(
            s, "atlas", "cedar", "p16-64gb", failures=2, until=now + timedelta(minutes=3), error="quota"
        )
        s.commit()
    return store


def row_of(soup: BeautifulSoup, group: str, cloud: str) -> list[str]:
    row = soup.select_one(f'#group-{group} table.clouds tr[data-cloud="{cloud}"]')
    return [cell.get_text(" ", strip=True) for cell in row.find_all(["th", "td"])]


def test_status_tables_show_the_numbers(observed, login):
    soup = BeautifulSoup(login("alice").get("/status").text, "html.parser")
    arbutus = row_of(soup, "atlas", "arbutus")
    # cloud, poll, VMs total, starting, unregistered, idle, running, retiring, manual, error
    assert arbutus[2:10] == ["7", "2", "0", "1", "3", "0", "0", "1"]
    assert arbutus[10:13] == ["3", "24", "8"]  # slots, busy cores, idle cores
    assert arbutus[13].startswith("56")  # cores used
    assert arbutus[14] == "64 ctl 64 · quota 96"  # limit = min(ctl 64, quota 96 - foreign 8)
    assert row_of(soup, "atlas", "")[2] == "7"  # group total
    cedar = row_of(soup, "atlas", "cedar")
    assert "2 failures" in cedar[-3] and "p16-64gb" in cedar[-3]
    jobs = [td.get_text(strip=True) for td in soup.select("#group-atlas table.jobs tr.total td")]
    assert jobs[:6] == ["17", "12(12×8c)", "3", "0", "2", "0"]
    unserved = soup.select("#group-atlas table.unserved tbody tr")
    assert "quota" in unserved[0].get_text() and "9" in unserved[0].get_text()
    lights = soup.select("#group-atlas h2 .light")
    assert [lt["class"][1] for lt in lights] == ["ok", "ok", "down", "ok"]  # pool, arbutus, cedar, schedule
    assert "connection refused <b>" in lights[2]["title"]  # escaped text, not markup
    assert soup.select_one("#group-belle2") is None


def test_status_body_refreshes_the_tables_alone(observed, login):
    alice = login("alice")
    page = BeautifulSoup(alice.get("/status?group=atlas").text, "html.parser")
    holder = page.select_one("#status-body")
    assert holder["data-src"].endswith("/status/body?group=atlas") and int(holder["data-refresh"]) > 0
    body = alice.get("/status/body?group=atlas").text
    assert "<html" not in body and 'data-cloud="arbutus"' in body


def test_status_json_for_scripts(observed, login):
    data = login("alice").get("/api/status?group=atlas").json()
    arbutus = next(c for c in data["groups"][0]["clouds"] if c["name"] == "arbutus")
    assert arbutus["vms"]["running"] == 3 and arbutus["cores_limit"] == 64


def test_vm_list_says_whose_drain_holds_a_vm(observed, login):
    """An operator sees a running VM turn `retiring` without a retire: the list says whose drain it is
    (here an admin's note, shown as text, not markup)."""
    with Session(observed) as s:
        pslot = b.slot(s, "arbutus-idle-0", "atlas", "arbutus", "Partitionable", cores=8, state="Drained")
        pslot.retiring, pslot.drain_reason = True, "by admin <i>kernel update</i>"
        s.commit()
    soup = BeautifulSoup(login("alice").get("/vms?group=atlas&cloud=arbutus").text, "html.parser")
    row = next(tr for tr in soup.select("tr") if "arbutus-idle-0" in tr.get_text())
    assert "drained: by admin <i>kernel update</i>" in row.get_text() and row.select("i") == []


def test_vm_list_filters_by_cloud_and_state(observed, login):
    alice = login("alice")
    soup = BeautifulSoup(alice.get("/vms?group=atlas&cloud=arbutus&state=running").text, "html.parser")
    ids = [cb["value"] for cb in soup.select('input[name="vm_id"]')]
    assert sorted(ids) == ["arbutus-running-0", "arbutus-running-1", "arbutus-running-2"]
    assert alice.get("/vms?group=atlas&state=bogus").status_code == 400
    bob = BeautifulSoup(login("bob").get("/vms?group=belle2").text, "html.parser")
    assert bob.select('input[name="vm_id"]') == [] and "mel-1" in bob.get_text()  # viewer: list, no boxes


def test_vm_actions_record_intents_and_audit(observed, login):
    alice = login("alice")
    page = "/vms?group=atlas&cloud=arbutus"
    form = [
        ("cloud", "arbutus"),
        ("action", "retire"),
        ("vm_id", "arbutus-idle-0"),
        ("vm_id", "arbutus-running-0"),
    ]
    response = alice.post("/groups/atlas/vms/action", form, page=page)
    assert response.status_code == 303 and "done=retire" in response.headers["location"]
    refused = alice.post(
        "/groups/atlas/vms/action", [("action", "kill"), ("vm_id", "arbutus-error-0")], page=page
    )
    assert refused.status_code == 400  # kill needs the confirm box
    killed = alice.post(
        "/groups/atlas/vms/action",
        [("action", "kill"), ("vm_id", "arbutus-error-0"), ("confirm", "yes")],
        page=page,
    )
    assert killed.status_code == 303
    other_group = alice.post(
        "/groups/atlas/vms/action", [("action", "retire"), ("vm_id", "mel-1")], page=page
    )
    assert other_group.status_code == 400  # a belle2 VM named under atlas: refused as a whole
    with Session(observed) as s:
        vms = {v.vm_id: v for v in s.scalars(select(Vm))}
        assert (
            vms["arbutus-idle-0"].retire_requested_at and vms["arbutus-running-0"].retire_reason == "operator"
        )
        assert vms["arbutus-error-0"].kill_requested_at and vms["mel-1"].retire_requested_at is None
        audit = [
            (a.actor, a.action, a.object_key)
            for a in s.scalars(
                select(AuditEntry).where(AuditEntry.action.like("vm.%")).order_by(AuditEntry.id)
            )
        ]
    assert sorted(audit) == [
        ("alice", "vm.kill", "arbutus-error-0"),
        ("alice", "vm.retire", "arbutus-idle-0"),
        ("alice", "vm.retire", "arbutus-running-0"),
    ]
    shown = BeautifulSoup(alice.get(response.headers["location"]).text, "html.parser")
    assert "Recorded: retire of 2 VM(s)" in shown.get_text()


def test_cloud_actions_drain_pause_enable(observed, login):
    alice = login("alice")
    for action in ("pause", "drain", "enable"):
        assert alice.post("/groups/atlas/clouds/cedar/action", {"action": action}).status_code == 303
        with Session(observed) as s:
            c = s.get(Cloud, ("atlas", "cedar"))
            state = (c.enabled, c.paused)
        assert state == {"pause": (True, True), "drain": (False, True), "enable": (True, False)}[action]
    assert alice.post("/groups/atlas/clouds/nope/action", {"action": "drain"}).status_code == 400
    assert alice.post("/groups/atlas/clouds/cedar/action", {"action": "explode"}).status_code == 400
    with Session(observed) as s:
        actions = list(
            s.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.object_key == "atlas/cedar", AuditEntry.object_type == "cloud"
                )
            )
        )
    assert actions == ["cloud.pause", "cloud.drain", "cloud.enable"]


def test_audit_page_shows_only_the_users_groups(observed, login):
    login("olga", "op").post("/groups/belle2/clouds/flaky/action", {"action": "pause"})
    login("alice").post("/groups/atlas/clouds/cedar/action", {"action": "pause"})
    alice_view = login("alice").get("/audit").text
    assert "atlas/cedar" in alice_view and "belle2/flaky" not in alice_view
    assert "belle2/flaky" in login("bob").get("/audit").text
    assert "atlas/cedar" in login("olga", "op").get("/audit").text
