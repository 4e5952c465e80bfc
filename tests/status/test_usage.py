"""Usage accounting as an operator meets it: the loop keeps a record per VM that outlives the VM, and
``cloudscheduler usage`` prints daily core-hours (a table or CSV) for a range of UTC days.

The demo story of the README runs through the real loop functions (tests/loop/world.py) on the demo
configuration: 10 jobs of 8 cores for atlas, each running 300 s, until every VM is deleted and
forgotten. The simulated cloud's own instance records (created, deleted) are the truth the figures
are held to.
"""

from __future__ import annotations

import contextlib
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from include.cli.main import main
from include.loop.accounting import account_usage
from include.status.usage import daily_usage
from include.store.db import session_scope
from include.store.models import Group, Machine, SimInstance, Vm, VmUsage
from include.store.retention import prune
from tests.config.builders import demo_doc
from tests.loop.world import World

POLL_S = 60  # the demo's cloud poll interval (World.run): the tolerance per VM


def usage_cli(*argv: str) -> str:
    """``cloudscheduler usage ...`` as an operator runs it (the command's own entry point), its output
    as they read it."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["usage", *argv]) == 0
    return out.getvalue()


def _parse(text: str) -> dict[str, list[list[str]]]:
    """The table's header and rows (split on runs of 2+ spaces) and its trailer lines."""
    import re

    lines = text.splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())
    rows = [
        re.split(r"\s{2,}", line.strip())
        for line in lines[2:]
        if len(re.split(r"\s{2,}", line.strip())) == len(header)
    ]
    return {"header": [header], "rows": rows, "lines": lines}


@pytest.fixture
def demo_world(state_url, tmp_path, monkeypatch) -> World:
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    return World.create(state_url, demo_doc())


@pytest.fixture
def state_url(tmp_path, monkeypatch):
    from include.store.db import get_engine

    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("CLOUDSCHEDULER_DB_URL", url)
    get_engine.cache_clear()
    yield url
    get_engine(url).dispose()
    get_engine.cache_clear()


def _vms(world: World) -> list[Vm]:
    with session_scope(world.engine) as s:
        return list(s.scalars(select(Vm).where(Vm.group_name == "atlas")))


def test_demo_story_usage_equals_the_vms_lives(demo_world):
    world = demo_world
    began = world.now
    world.submit(10, cores=8, ram_mb=16000, duration_s=300)
    world.run_until(lambda w: len(_vms(w)) == 10, limit_s=600)
    world.run_until(lambda w: not _vms(w), limit_s=3600)

    with session_scope(world.engine) as s:
        instances = s.scalars(select(SimInstance).where(SimInstance.group_name == "atlas")).all()
        records = {r.vm_id: r for r in s.scalars(select(VmUsage).where(VmUsage.group_name == "atlas"))}
    assert len(instances) == 10 and all(i.deleted_at for i in instances)
    assert set(records) == {i.name for i in instances}, "one record per VM booted, kept after it went"
    for i in instances:
        r = records[i.name]
        life = i.cores * (i.deleted_at - i.created_at).total_seconds()
        assert abs(r.busy_core_s + r.idle_core_s - life) <= i.cores * POLL_S, i.name
        assert r.deleted_at is not None and r.registered_at and r.first_job_at and r.last_job_at
        assert r.busy_core_s >= 8 * 300 - 8 * 30, "each VM ran one 300 s job on its 8 cores"
        assert r.retired_at is not None

    truth_h = sum(i.cores * (i.deleted_at - i.created_at).total_seconds() for i in instances) / 3600
    day = began.date().isoformat()
    end = world.now.date().isoformat()
    text = usage_cli("-g", "atlas", "--from", day, "--to", end)
    table = _parse(text)
    assert table["header"][0] == [
        "DAY",
        "GROUP",
        "CLOUD",
        "FLAVOR",
        "VMS",
        "BUSY_CORE_H",
        "IDLE_CORE_H",
        "TOTAL_CORE_H",
    ]
    shown = sum(float(r[7]) for r in table["rows"])
    assert sum(int(r[4]) for r in table["rows"]) >= 10
    assert abs(shown - truth_h) <= 10 * 8 * POLL_S / 3600 + 0.01 * len(table["rows"])
    total_line = next(line for line in table["lines"] if line.startswith("total "))
    assert abs(float(total_line.split(": ")[1].split()[0]) - truth_h) <= 10 * 8 * POLL_S / 3600

    per_vm = list(
        csv.DictReader(io.StringIO(usage_cli("-g", "atlas", "--from", day, "--to", end, "--vms", "--csv")))
    )
    assert len(per_vm) == 10
    assert {row["VM"] for row in per_vm} == set(records)
    assert all(row["DELETED"] for row in per_vm)


def _vm(session, vm_id="vm-1", cores=8, requested_at=None, **kw) -> Vm:
    vm = Vm(
        vm_id=vm_id,
        group_name=kw.pop("group", "atlas"),
        cloud_name=kw.pop("cloud", "east"),
        flavor=kw.pop("flavor", "c8"),
        cores=cores,
        ram_mb=16000,
        status=kw.pop("status", "active"),
        cloud_vm_id=kw.pop("cloud_vm_id", "i-1"),
        requested_at=requested_at,
        status_changed_at=requested_at,
        **kw,
    )
    session.add(vm)
    session.flush()
    return vm


def _slot(session, vm_id: str, name: str, cores: int, state: str) -> None:
    session.add(
        Machine(pool="p", name=name, machine=vm_id, vm_id=vm_id, group_name="atlas", cores=cores, state=state)
    )
    session.flush()


def _record(session, vm_id="vm-1") -> VmUsage:
    session.expire_all()
    return session.get(VmUsage, vm_id)


T = datetime(2026, 6, 1, 23, 0, tzinfo=UTC)


def test_busy_and_idle_cores_and_a_retried_poll_adds_nothing(session):
    _vm(session, requested_at=T)
    account_usage(session, T, ["atlas"])
    _slot(session, "vm-1", "slot1@vm-1", 8 - 3, "Unclaimed")  # partitionable: what is left
    _slot(session, "vm-1", "slot1_1@vm-1", 3, "Claimed")
    account_usage(session, T + timedelta(seconds=100), ["atlas"])
    r = _record(session)
    assert (r.busy_core_s, r.idle_core_s) == (300, 500)
    assert r.last_job_at == T + timedelta(seconds=100)

    again = account_usage(session, T + timedelta(seconds=100), ["atlas"])
    late = account_usage(session, T + timedelta(seconds=40), ["atlas"])  # an older task, retried late
    r = _record(session)
    assert (r.busy_core_s, r.idle_core_s) == (300, 500), "the same poll twice adds nothing"
    assert r.accounted_at == T + timedelta(seconds=100)
    assert again["updated"] == 0 and late["updated"] == 0


def test_a_vm_counts_from_its_boot_request_once_the_cloud_has_it(session):
    vm = _vm(session, requested_at=T, cloud_vm_id=None, status="requested")
    account_usage(session, T + timedelta(seconds=30), ["atlas"])
    assert _record(session) is None, "no record (and no VM in the usage table) before the cloud accepted it"
    vm = session.get(Vm, "vm-1")
    vm.cloud_vm_id, vm.status = "i-1", "building"
    session.flush()
    account_usage(session, T + timedelta(seconds=90), ["atlas"])
    assert _record(session).idle_core_s == 8 * 90


def test_a_boot_the_cloud_refused_leaves_no_record_and_a_late_size_is_learnt(session):
    _vm(session, vm_id="refused", requested_at=T, cloud_vm_id=None, status="gone")
    _vm(session, vm_id="sized-late", requested_at=T, cores=0)
    account_usage(session, T + timedelta(seconds=60), ["atlas"])
    assert _record(session, "refused") is None
    assert _record(session, "sized-late").idle_core_s == 0, "no size known yet: nothing to bill"
    session.get(Vm, "sized-late").cores = 8
    session.flush()
    account_usage(session, T + timedelta(seconds=120), ["atlas"])
    record = _record(session, "sized-late")
    assert (record.cores, record.idle_core_s) == (8, 8 * 60)
    days = daily_usage(session, ["atlas"], T.date(), T.date())
    assert sum(d.vms for d in days) == 1, "the refused boot is not a VM of the day"


def test_a_deleted_vm_is_closed_once_and_outlives_its_row(session):
    _vm(session, requested_at=T)
    account_usage(session, T + timedelta(seconds=60), ["atlas"])
    vm = session.get(Vm, "vm-1")
    vm.status, vm.status_changed_at = "gone", T + timedelta(seconds=120)
    session.flush()
    account_usage(session, T + timedelta(seconds=150), ["atlas"])
    r = _record(session)
    assert r.deleted_at == T + timedelta(seconds=120)
    assert r.idle_core_s == 8 * 120, "billed up to the poll that no longer listed it"
    session.delete(session.get(Vm, "vm-1"))
    session.flush()
    account_usage(session, T + timedelta(seconds=600), ["atlas"])
    r = _record(session)
    assert r is not None and r.idle_core_s == 8 * 120 and r.deleted_at == T + timedelta(seconds=120)


def test_a_record_whose_vm_row_vanished_is_closed_where_its_accounting_stopped(session):
    _vm(session, requested_at=T)
    account_usage(session, T + timedelta(seconds=60), ["atlas"])
    session.delete(session.get(Vm, "vm-1"))
    session.flush()
    assert account_usage(session, T + timedelta(seconds=300), ["atlas"])["closed"] == 1
    assert _record(session).deleted_at == T + timedelta(seconds=60)


def test_a_vm_across_midnight_counts_in_both_days(session):
    _vm(session, requested_at=T)  # 23:00
    _slot(session, "vm-1", "slot1@vm-1", 8, "Claimed")
    account_usage(session, T + timedelta(hours=3), ["atlas"])  # 02:00 the next day: 1 h + 2 h
    days = daily_usage(session, ["atlas"], T.date(), T.date() + timedelta(days=1))
    assert [(d.day, d.vms, d.busy_core_h, d.idle_core_h) for d in days] == [
        (T.date(), 1, 8.0, 0.0),
        (T.date() + timedelta(days=1), 1, 16.0, 0.0),
    ]
    only_second = daily_usage(session, ["atlas"], T.date() + timedelta(days=1), T.date() + timedelta(days=1))
    assert [(d.busy_core_h, d.total_core_h) for d in only_second] == [(16.0, 16.0)]


def test_daily_totals_split_by_cloud_and_flavour_and_keep_groups_apart(session):
    _vm(session, "a1", requested_at=T)
    _vm(session, "a2", requested_at=T, cloud="west", flavor="w4", cores=4)
    _vm(session, "b1", requested_at=T, group="belle2")
    account_usage(session, T + timedelta(minutes=30), ["atlas", "belle2"])
    days = daily_usage(session, ["atlas"], T.date(), T.date())
    assert [(d.cloud, d.flavor, d.vms, d.idle_core_h) for d in days] == [
        ("east", "c8", 1, 4.0),
        ("west", "w4", 1, 2.0),
    ]


def test_retention_prunes_only_records_deleted_longer_ago(session):
    now = T + timedelta(days=300)
    session.add_all(
        [
            VmUsage(
                vm_id=v,
                group_name="atlas",
                cloud_name="east",
                flavor="c8",
                cores=8,
                ram_mb=1,
                booted_at=T,
                accounted_at=deleted or T,
                deleted_at=deleted,
                busy_core_s=0,
                idle_core_s=0,
            )
            for v, deleted in (
                ("old", now - timedelta(days=201)),
                ("recent", now - timedelta(days=199)),
                ("live", None),  # booted long ago, still running: never pruned
            )
        ]
    )
    session.flush()
    assert prune(session, now, timeseries_days=30)["vm_usage"] == 1
    assert sorted(session.scalars(select(VmUsage.vm_id))) == ["live", "recent"]
    assert prune(session, now, timeseries_days=30, usage_days=100)["vm_usage"] == 1
    assert sorted(session.scalars(select(VmUsage.vm_id))) == ["live"]


def test_csv_parses_and_matches_the_table(session, monkeypatch):
    from include.store.db import get_engine

    session.add_all([Group(name="atlas"), Group(name="belle2")])
    _vm(session, "a1", requested_at=T)
    _vm(session, "a2", requested_at=T, cloud="west", flavor="w4", cores=4)
    _vm(session, "b1", requested_at=T, group="belle2")
    _slot(session, "a1", "slot1@a1", 8, "Claimed")
    account_usage(session, T + timedelta(hours=2), ["atlas", "belle2"])
    session.commit()
    monkeypatch.setenv("CLOUDSCHEDULER_DB_URL", session.get_bind().url.render_as_string(hide_password=False))
    get_engine.cache_clear()
    try:
        span = ("--from", T.date().isoformat(), "--to", (T.date() + timedelta(days=1)).isoformat())
        table = _parse(usage_cli("-g", "atlas", *span))
        rows = list(csv.reader(io.StringIO(usage_cli("-g", "atlas", *span, "--csv"))))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["--csv", "usage", *span]) == 0  # the global --csv, before the object
        everything = list(csv.reader(io.StringIO(out.getvalue())))
    finally:
        get_engine.cache_clear()
    assert rows[0] == table["header"][0]
    assert rows[1:] == table["rows"]
    assert [r[:4] for r in rows[1:]] == [
        [T.date().isoformat(), "atlas", "east", "c8"],
        [T.date().isoformat(), "atlas", "west", "w4"],
        [(T.date() + timedelta(days=1)).isoformat(), "atlas", "east", "c8"],
        [(T.date() + timedelta(days=1)).isoformat(), "atlas", "west", "w4"],
    ]
    assert rows[1][5:] == ["8.00", "0.00", "8.00"]
    assert {r[1] for r in everything[1:]} == {"atlas", "belle2"}, "without -g: every group the caller sees"


def test_a_bad_day_is_refused_naming_the_option(capsys):
    with pytest.raises(SystemExit):
        main(["usage", "--from", "2026-13-01"])
    assert "--from" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("span", "named"),
    [
        (("--from", "2026-12-02", "--to", "2026-12-01"), "--to 2026-12-01 is before --from 2026-12-02"),
        (("--from", "2026-01-01", "--to", "9999-12-31"), "--to 9999-12-31 is past any day"),
        (("--from", "2020-01-01", "--to", "2026-01-01"), "at most 400 days"),
    ],
)
def test_a_range_it_cannot_answer_is_refused_naming_the_options(span, named, capsys):
    assert main(["usage", *span]) == 2
    assert named in capsys.readouterr().err
