"""Recorded-format pool output parsed with the real ClassAd library, normalised into rows.

Fixtures: tests/condor/fixtures (written by generate.py there): two schedds (one as ``condor_q -json``,
one as ``condor_q -long``) and the collector's slots (``condor_status -json`` and ``-long``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import classad2
import pytest

from include.condor.classads import (
    INT_MAX,
    JOB_CONSTRAINT,
    JOB_PROJECTION,
    STARTD_PROJECTION,
    as_int,
    job_record,
    load_json_ads,
    load_long_ads,
    machine_record,
    requirement_targets,
)
from include.condor.records import JobDefaults

FIXTURES = Path(__file__).resolve().parent / "fixtures"
T0 = 1764000000
POOL = "cm.example.org:9618"
DEFAULTS = {"atlas": JobDefaults(8, 16000, 20.0, 0.0), "belle2": JobDefaults(1, 2000, 10.0, 1.0)}


def at(offset: int) -> datetime:
    return datetime.fromtimestamp(T0 + offset, UTC)


def queue(name: str, schedd: str) -> tuple[dict, int]:
    """What the schedd would return for our constraint, normalised; and how many ads were unreadable."""
    text = (FIXTURES / name).read_text()
    ads = load_json_ads(text) if name.endswith(".json") else load_long_ads(text)
    wanted = [ad for ad in ads if classad2.ExprTree(JOB_CONSTRAINT).eval(scope=ad) is True]
    records = [job_record(ad, pool=POOL, schedd=schedd, defaults=DEFAULTS) for ad in wanted]
    return {r.global_job_id.split("#")[1]: r for r in records if r}, sum(r is None for r in records)


def slots() -> dict:
    ads = load_json_ads((FIXTURES / "condor_status.json").read_text())
    ads += load_long_ads((FIXTURES / "condor_status.long").read_text())
    records = [machine_record(ad, pool=POOL, deployment="cs") for ad in ads]
    return {r.name: r for r in records}


def test_json_keeps_expressions_as_expressions():
    ad = load_json_ads((FIXTURES / "condor_q_submit01.json").read_text())[0]
    assert isinstance(ad["Requirements"], classad2.ExprTree)
    assert isinstance(ad["RequestMemory"], classad2.ExprTree)
    assert ad.eval("RequestMemory") == 16000


def test_schedd_one_json():
    jobs, skipped = queue("condor_q_submit01.json", "submit01.example.org")
    assert skipped == 1  # the ad with neither GlobalJobId nor JobStatus
    assert "131.0" not in jobs  # DAGMan (scheduler universe) never needs a VM
    assert sorted(jobs) == ["123.0", "123.1", "124.0", "125.0", "127.0", "128.0", "129.0", "130.0"]

    idle = jobs["123.0"]
    assert (idle.status, idle.group_name, idle.target_alias, idle.owner) == (1, "atlas", None, "alice")
    # HTCondor's default RequestMemory: MemoryUsage is undefined, so (ImageSize + 1023) / 1024 MB
    assert (idle.cores, idle.ram_mb, idle.disk_gb, idle.swap_gb) == (8, 16000, 20.0, 0.0)
    assert (idle.image, idle.keep_alive, idle.q_date, idle.entered_status_at) == (
        "cernvm4-micro-2020.07-1",
        600,
        at(0),
        at(60),
    )
    assert idle.schedd == "submit01.example.org" and idle.pool == POOL and idle.vm_id is None

    running = jobs["123.1"]
    assert (running.status, running.target_alias, running.ram_mb) == (2, "ca-west", 14000)  # MemoryUsage
    assert running.remote_host == "slot1_1@cs-atlas-arbutus-1"

    held = jobs["124.0"]
    assert held.status == 5 and held.hold_reason.endswith("Failed to open input file")

    pilot = jobs["125.0"]
    assert (pilot.group_name, pilot.owner, pilot.cores, pilot.ram_mb) == ("atlas", "bob", 4, 8000)

    foreign = jobs["127.0"]
    assert (foreign.group_name, foreign.cores) == (None, 1)

    assert jobs["128.0"].status == 4 and jobs["128.0"].group_name == "belle2"

    odd = jobs["129.0"]  # RequestCpus an expression; RequestMemory refers to the machine: UNDEFINED here
    assert (odd.cores, odd.ram_mb, odd.swap_gb, odd.priority) == (2, 2000, 1.0, 10)
    assert (odd.instance_type, odd.max_price, odd.user_data, odd.network) == (
        "melbourne:m1.xlarge,default:m1.medium",
        0.05,
        "extra.yaml:cloud-config",
        "private",
    )

    assert jobs["130.0"].ram_mb == INT_MAX  # absurd request clamped: no flavour fits, nothing crashes


def test_schedd_two_long():
    jobs, skipped = queue("condor_q_submit02.long", "submit02.example.org")
    assert skipped == 0 and sorted(jobs) == ["7.0", "7.1", "8.0", "9.0"]
    assert (jobs["7.0"].group_name, jobs["7.0"].target_alias) == ("atlas", "ca-west")  # lower-cased
    assert (jobs["7.0"].cores, jobs["7.0"].ram_mb, jobs["7.0"].disk_gb) == (1, 2000, 1.0)
    assert jobs["7.1"].remote_host == "slot1_2@cs-atlas-arbutus-1"
    no_cpus = jobs["8.0"]  # no RequestCpus at all: the group's default; keep-alive given as text
    assert (no_cpus.cores, no_cpus.keep_alive, no_cpus.ram_mb) == (8, 300, 16000)
    assert jobs["9.0"].status == 3


def test_slots():
    s = slots()
    p = s["slot1@cs-atlas-arbutus-1"]
    assert (
        p.slot_type,
        p.state,
        p.activity,
        p.vm_id,
        p.group_name,
        p.cloud_name,
        p.flavor,
        p.target_alias,
    ) == (
        "Partitionable",
        "Unclaimed",
        "Idle",
        "cs-atlas-arbutus-1",
        "atlas",
        "arbutus",
        "c16-60gb",
        "ca-west",
    )
    assert (p.cores, p.memory_mb, p.total_cores, p.total_memory_mb) == (7, 42000, 16, 60000)
    assert (p.entered_state_at, p.retiring, p.machine) == (at(100), False, "cs-atlas-arbutus-1")

    d = s["slot1_1@cs-atlas-arbutus-1"]
    assert (d.slot_type, d.state, d.activity, d.cores, d.memory_mb) == (
        "Dynamic",
        "Claimed",
        "Busy",
        8,
        16000,
    )
    assert (d.remote_owner, d.global_job_id) == ("alice@example.org", f"submit01.example.org#123.1#{T0}")

    assert s["slot1@cs-atlas-cedar-1"].retiring and s["slot1_1@cs-atlas-cedar-1"].retiring
    assert s["slot1@cs-atlas-arbutus-2"].retiring is False

    other = s["slot1@cs-atlas-other-9"]  # another deployment's VM: never joined to one of ours
    assert other.vm_id is None and other.group_name == "atlas"

    static = s["slot1@worker07.site.example.org"]
    assert (static.slot_type, static.vm_id, static.group_name, static.total_cores) == (
        "Static",
        None,
        None,
        1,
    )

    belle = s["slot1@cs-belle2-melbourne-1"]  # no deployment id advertised, older startd: no TotalSlot*
    assert (belle.vm_id, belle.group_name, belle.target_alias) == ("cs-belle2-melbourne-1", "belle2", None)
    assert (belle.total_cores, belle.total_memory_mb) == (2, 4096)


def test_projections_cover_what_normalisation_reads():
    for name in ("RequestMemory", "MemoryUsage", "ImageSize", "CpusProvisioned", "DiskUsage", "Requirements"):
        assert name in JOB_PROJECTION
    for name in ("cs_vm_id", "cs_deployment", "group_name", "target_alias", "EnteredCurrentState"):
        assert name in STARTD_PROJECTION


@pytest.mark.parametrize(
    ("requirements", "expected"),
    [
        ('(group_name =?= "ATLAS") && (TARGET.Arch == "X86_64")', ("atlas", None)),
        ('TARGET.group_name == "belle2" && target_alias is "ca-west"', ("belle2", "ca-west")),
        ('toLower(group_name) == "atlas"', ("atlas", None)),
        ('group_name =?= toLower("Atlas")', ("atlas", None)),
        ('"atlas" == group_name', ("atlas", None)),
        ('group_name =!= "atlas"', (None, None)),
        ('group_name != "atlas"', (None, None)),
        ('cs_group_name == "atlas"', (None, None)),
        ("TARGET.Cpus >= 1", (None, None)),
    ],
)
def test_requirement_targets(requirements, expected):
    assert requirement_targets(requirements) == expected
    # and the same after a round trip through the parser, which prints =?= as `is` and =!= as `isnt`
    assert requirement_targets(str(classad2.ExprTree(requirements))) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (4, 4),
        (4.2, 5),
        ("300", 300),
        (" 7 ", 7),
        (True, None),
        (-1, None),
        ("x", None),
        (None, None),
        (float("nan"), None),
        (10**20, INT_MAX),
    ],
)
def test_as_int(raw, expected):
    assert as_int(raw) == expected


def test_odd_ads_never_crash():
    ads = [
        classad2.ClassAd(
            '[ GlobalJobId = "s#1.0#1"; JobStatus = 1; RequestCpus = "many"; RequestMemory = 1/0 ]'
        ),
        classad2.ClassAd('[ GlobalJobId = "s#2.0#1"; JobStatus = "idle" ]'),
        classad2.ClassAd(
            '[ GlobalJobId = "s#3.0#1"; JobStatus = 1; Requirements = "group_name == \\"a\\"";'
            " QDate = -5; VMKeepAlive = {1, 2} ]"
        ),
    ]
    first, second, third = (job_record(ad, pool="p", schedd="s", defaults={}) for ad in ads)
    assert (first.cores, first.ram_mb) == (1, 1000)  # the fallback defaults
    assert second is None
    assert (third.group_name, third.q_date, third.keep_alive) == ("a", None, None)


def test_the_public_api_fallback_reads_the_same_records(monkeypatch):
    """The fast path calls classad2's C entry points, private in htcondor 25.14; other bindings take the
    public API. Both must give the same rows for every fixture, or an upgrade would change the snapshot."""
    import builtins

    from include.condor import classads

    def every_record():
        jobs = [queue(name, "s")[0] for name in ("condor_q_submit01.json", "condor_q_submit02.long")]
        return jobs, slots()

    fast = every_record()
    assert all(fast[0]) and fast[1], "the fixtures give jobs and slots"
    real_import = builtins.__import__

    def without_private(name, *args, **kwargs):
        if name == "classad2.classad2_impl":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    classads._bindings.cache_clear()
    monkeypatch.setattr(builtins, "__import__", without_private)
    try:
        assert classads._bindings().keys is list, "the fallback is in use"
        assert every_record() == fast
    finally:
        monkeypatch.undo()
        classads._bindings.cache_clear()
    assert classads._bindings().keys is not list
