"""The poller writes a pool's snapshot into the store: classified, joined, per part, never emptied by a
failure. On SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from unittest.mock import create_autospec

import classad2
import htcondor2
import pytest
from sqlalchemy import select

from include.condor.classads import JOB_CONSTRAINT, job_record, load_json_ads, load_long_ads, machine_record
from include.condor.htcondor import HTCondorPool
from include.condor.pools import pool_specs
from include.condor.records import GroupSpec, MachineRecord, PoolSpec, PoolUnreachable, ScheddJobs
from include.loop.pool_poll import poll_pool
from include.store.db import session_scope
from include.store.models import Group, Job, Machine, PollStatus, UserGroup
from tests.condor.builders import at

FIXTURES = Path(__file__).resolve().parent / "fixtures"
POOL = "cm.example.org:9618"
S1, S2 = "submit01.example.org", "submit02.example.org"


def configure(engine) -> PoolSpec:
    """atlas: every schedd, only its member alice's jobs count; belle2: only submit02, anyone's jobs."""
    with session_scope(engine) as s:
        s.add(Group(name="atlas", pool_kind="htcondor", collector=POOL, job_cores=8, job_ram_mb=16000))
        s.add(
            Group(name="belle2", pool_kind="htcondor", collector=POOL, schedds=[S2], other_submitters=["ALL"])
        )
        s.flush()
        s.add(UserGroup(username="alice", group_name="atlas"))
    with session_scope(engine) as s:
        (spec,) = pool_specs(s)
    return spec


def schedd_output(name: str) -> list:
    """What a schedd returns for our constraint (the fixture ads it would select)."""
    text = (FIXTURES / name).read_text()
    ads = load_json_ads(text) if name.endswith(".json") else load_long_ads(text)
    return [ad for ad in ads if classad2.ExprTree(JOB_CONSTRAINT).eval(scope=ad) is True]


def rows(engine, model) -> dict:
    with session_scope(engine) as s:
        return {
            (r.global_job_id.split("#")[1] if model is Job else r.name): r for r in s.scalars(select(model))
        }


def statuses(engine) -> dict:
    with session_scope(engine) as s:
        return {p.source: p for p in s.scalars(select(PollStatus))}


def test_real_adapter_snapshot_into_the_store(store_engine, monkeypatch):
    spec = configure(store_engine)
    collector = create_autospec(htcondor2.Collector)
    schedd = create_autospec(htcondor2.Schedd)
    monkeypatch.setattr(htcondor2, "Collector", collector)
    monkeypatch.setattr(htcondor2, "Schedd", schedd)
    locations = [
        classad2.ClassAd({"Name": n, "MyAddress": f"<10.0.0.{i}:9618>", "CondorVersion": "25.0.0"})
        for i, n in enumerate((S1, S2))
    ]
    slots = load_json_ads((FIXTURES / "condor_status.json").read_text())
    slots += load_long_ads((FIXTURES / "condor_status.long").read_text())
    collector.return_value.query.side_effect = lambda ad_type, **kw: (
        slots if ad_type == htcondor2.AdType.Startd else locations
    )
    schedd.return_value.query.side_effect = [
        schedd_output("condor_q_submit01.json"),
        schedd_output("condor_q_submit02.long"),
    ]

    report = poll_pool(store_engine, spec, HTCondorPool(spec, parallel=False), at(0))
    assert sorted(report.ok) == ["collector", f"schedd:{S1}", f"schedd:{S2}"] and not report.stale

    jobs = rows(store_engine, Job)
    assert len(jobs) == 12  # 8 + 4: DAGMan excluded by the schedd, the malformed ad skipped
    groups = {k: j.group_name for k, j in jobs.items()}
    assert groups == {
        "123.0": "atlas",
        "123.1": "atlas",
        "124.0": "atlas",
        "130.0": "atlas",
        "7.0": "atlas",
        "7.1": "atlas",
        "125.0": None,
        "8.0": None,
        "9.0": None,  # bob is no member of atlas
        "127.0": None,  # names no group
        "128.0": None,
        "129.0": None,  # belle2 does not poll submit01 for its jobs
    }
    assert {k: j.vm_id for k, j in jobs.items() if j.vm_id} == {
        "123.1": "cs-atlas-arbutus-1",
        "7.1": "cs-atlas-arbutus-1",
    }
    assert (jobs["123.0"].cores, jobs["123.0"].ram_mb, jobs["123.0"].schedd) == (8, 16000, S1)

    machines = rows(store_engine, Machine)
    assert len(machines) == 10
    assert machines["slot1@cs-atlas-arbutus-1"].vm_id == "cs-atlas-arbutus-1"
    assert machines["slot1@cs-atlas-other-9"].vm_id is None

    status = {src: p.ok for src, p in statuses(store_engine).items()}
    assert status == {
        "condor/atlas/collector": True,
        f"condor/atlas/schedd:{S1}": True,
        f"condor/atlas/schedd:{S2}": True,
        "condor/belle2/collector": True,
        f"condor/belle2/schedd:{S2}": True,
    }


@dataclass
class FakePool:
    """A pool whose answers the test sets; raising instead of answering where an error is given."""

    spec: PoolSpec
    parts: list[ScheddJobs] | PoolUnreachable = field(default_factory=list)
    slots: list[MachineRecord] | PoolUnreachable = field(default_factory=list)

    def jobs(self):
        if isinstance(self.parts, Exception):
            raise self.parts
        return self.parts

    def machines(self):
        if isinstance(self.slots, Exception):
            raise self.slots
        return self.slots

    def retire(self, machine, how=None):
        raise NotImplementedError

    def forget(self, machine):
        raise NotImplementedError


def fixture_parts(spec: PoolSpec) -> tuple[list[ScheddJobs], list[MachineRecord]]:
    def part(name, file):
        recs = [job_record(ad, pool=POOL, schedd=name, defaults=spec.defaults) for ad in schedd_output(file)]
        return ScheddJobs(name, [r for r in recs if r])

    slots = load_json_ads((FIXTURES / "condor_status.json").read_text())
    return (
        [part(S1, "condor_q_submit01.json"), part(S2, "condor_q_submit02.long")],
        [machine_record(ad, pool=POOL, deployment="cs") for ad in slots],
    )


def test_failures_keep_rows_and_mark_parts_stale(store_engine):
    spec = configure(store_engine)
    parts, slots = fixture_parts(spec)
    poll_pool(store_engine, spec, FakePool(spec, parts, slots), at(0))
    jobs_before, machines_before = rows(store_engine, Job).keys(), rows(store_engine, Machine).keys()

    down = PoolUnreachable(POOL, "collector", "Failed communication with collector.")
    broken = [parts[0], ScheddJobs(S2, error=PoolUnreachable(POOL, f"schedd:{S2}", "CEDAR:6001"))]
    report = poll_pool(store_engine, spec, FakePool(spec, broken, down), at(30))
    assert set(report.stale) == {"collector", f"schedd:{S2}"}
    assert rows(store_engine, Job).keys() == jobs_before  # never "no jobs"
    assert rows(store_engine, Machine).keys() == machines_before  # never "no machines"
    status = statuses(store_engine)
    assert (status["condor/atlas/collector"].ok, status["condor/atlas/collector"].last_success) == (
        False,
        at(0),
    )
    assert status[f"condor/belle2/schedd:{S2}"].error.endswith("CEDAR:6001")
    assert status[f"condor/atlas/schedd:{S1}"].ok and status[f"condor/atlas/schedd:{S1}"].last_success == at(
        30
    )

    # stale machines still join running jobs to their VMs
    assert rows(store_engine, Job)["123.1"].vm_id == "cs-atlas-arbutus-1"

    report = poll_pool(
        store_engine, spec, FakePool(spec, down, slots), at(60)
    )  # the schedds cannot be listed
    assert "schedd:*" in report.stale and rows(store_engine, Job).keys() == jobs_before
    status = statuses(store_engine)
    assert (
        not status[f"condor/atlas/schedd:{S1}"].ok
        and status[f"condor/atlas/schedd:{S1}"].consecutive_failures == 1
    )
    assert not status["condor/atlas/schedd:*"].ok and status["condor/atlas/collector"].ok


def test_only_changes_are_written_and_vanished_rows_go(store_engine):
    spec = configure(store_engine)
    parts, slots = fixture_parts(spec)
    first = poll_pool(store_engine, spec, FakePool(spec, parts, slots), at(0))
    assert first.written == 12 + 7
    again = poll_pool(store_engine, spec, FakePool(spec, parts, slots), at(30))
    assert (again.written, again.deleted) == (0, 0)

    released = [
        j._replace(status=1) if j.global_job_id.startswith(f"{S1}#124.0#") else j for j in parts[0].jobs
    ]
    only_submit01 = [
        ScheddJobs(S1, released[1:])
    ]  # 123.0 left the queue, 124.0 was released, submit02 is gone
    report = poll_pool(store_engine, spec, FakePool(spec, only_submit01, slots[1:]), at(60))
    jobs = rows(store_engine, Job)
    assert (
        "123.0" not in jobs and jobs["124.0"].status == 1 and not [j for j in jobs.values() if j.schedd == S2]
    )
    assert len(rows(store_engine, Machine)) == 6
    assert (report.written, report.deleted) == (1, 1 + 1 + 1 + 4)  # 124.0; 1 slot, 123.0 and 124.0, submit02
    assert f"condor/atlas/schedd:{S2}" not in statuses(store_engine)


def test_two_pollers_of_one_pool_do_not_collide(store_engine):
    spec = configure(store_engine)
    parts, slots = fixture_parts(spec)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda t: poll_pool(store_engine, spec, FakePool(spec, parts, slots), at(t)), range(8)))
    assert len(rows(store_engine, Job)) == 12 and len(rows(store_engine, Machine)) == 7


@pytest.mark.parametrize(
    "members, submitters, admitted",
    [((), (), True), (("alice",), (), False), ((), ("ALL",), True), ((), ("bob",), True)],
)
def test_owner_admission(members, submitters, admitted):
    assert GroupSpec("g", members=members, other_submitters=submitters).admits("bob") is admitted


def test_odd_strings_survive_the_bulk_paths(store_engine):
    """Tabs, newlines, backslashes, quotes, non-ASCII and the text of COPY's NULL marker through
    executemany (SQLite) and COPY (PostgreSQL), and read back equal, so the next poll writes nothing."""
    spec = configure(store_engine)
    parts, slots = fixture_parts(spec)
    odd = 'line1\nline2\tcol\\N "quoted" \\\\ ünï \r end'
    jobs = [parts[0].jobs[0]._replace(hold_reason=odd, user_data="\\N", image="")]
    jobs += [
        parts[0]
        .jobs[1]
        ._replace(owner="None", remote_host="None", hold_reason=None, q_date=at(0).replace(microsecond=7))
    ] + parts[0].jobs[2:]
    poll_pool(store_engine, spec, FakePool(spec, [ScheddJobs(S1, jobs)], slots), at(0))
    stored = rows(store_engine, Job)
    first, second = (stored[j.global_job_id.split("#")[1]] for j in jobs[:2])
    assert (first.hold_reason, first.user_data, first.image) == (odd, "\\N", "")
    assert first.q_date == jobs[0].q_date and first.network is None
    assert (second.owner, second.remote_host, second.hold_reason) == ("None", "None", None)
    assert second.q_date == at(0).replace(microsecond=7)
    again = poll_pool(store_engine, spec, FakePool(spec, [ScheddJobs(S1, jobs)], slots), at(30))
    assert again.written == 0


def test_an_admins_drain_reason_of_any_length_is_kept(store_engine):
    """``condor_drain -reason`` takes free text: an admin's long note on why a VM is drained reaches the
    store whole (PostgreSQL refuses a value longer than its column), and the poll of the rest goes on."""
    spec = configure(store_engine)
    note = "ticket 4711: hypervisor h042 reports ECC errors, drained until the vendor replaces it. " * 8
    ad = classad2.ClassAd(
        {
            "Name": "slot1@vm-drained.example.org",
            "Machine": "vm-drained.example.org",
            "SlotType": "Partitionable",
            "State": "Drained",
            "Activity": "Idle",
            "Draining": True,
            "DrainReason": note,
            "Cpus": 8,
            "Memory": 16000,
        }
    )
    parts, slots = fixture_parts(spec)
    poll_pool(
        store_engine,
        spec,
        FakePool(spec, parts, [*slots, machine_record(ad, pool=POOL, deployment="cs")]),
        at(0),
    )
    drained = rows(store_engine, Machine)["slot1@vm-drained.example.org"]
    assert (drained.retiring, drained.drain_reason) == (True, note)
    assert len(rows(store_engine, Machine)) == len(slots) + 1
