"""ClassAds in, records out: what we ask the pool for, and how a job or slot ad becomes a row.

Values are read the way HTCondor means them: an attribute may be an expression (``RequestMemory`` usually
is), so it is evaluated in the ad's own scope; UNDEFINED, ERROR, wrong types and negative sizes fall
back to the group's job defaults; sizes are clamped to what a 32-bit column holds, so an absurd ad gives
a job no flavour fits (a planner reason), never a crash. Units: cores, MB of RAM, GB of disk and swap
(RequestDisk is KiB, RequestSwap MB).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from include.condor.records import JobDefaults, JobRecord, MachineRecord

# Narrow projections: the WHERE and SELECT of every query (HTCondor bindings tutorial). The memory and
# disk inputs of HTCondor's default RequestMemory/RequestDisk expressions are included so they evaluate.
JOB_PROJECTION = [
    "GlobalJobId", "ClusterId", "ProcId", "JobStatus", "JobUniverse", "Owner", "User", "RequestCpus",
    "CpusProvisioned", "RequestMemory", "MemoryUsage", "ImageSize", "RequestDisk", "DiskUsage",
    "RequestSwap", "Requirements", "JobPrio", "QDate", "EnteredCurrentStatus", "HoldReason", "RemoteHost",
    "VMImage", "VMInstanceType", "VMNetwork", "VMKeepAlive", "VMMaximumPrice", "VMUserData",
]  # fmt: skip
# Scheduler (DAGMan) and local universe jobs run on the submit host and never need a VM.
JOB_CONSTRAINT = "JobUniverse =!= 7 && JobUniverse =!= 12"

# The attributes our VMs' startds advertise (STARTD_ATTRS in the group's condor metadata template).
VM_ID_ATTR = "cs_vm_id"
DEPLOYMENT_ATTR = "cs_deployment"
STARTD_PROJECTION = [
    "Name", "Machine", "SlotType", "State", "Activity", "Cpus", "Memory", "TotalSlotCpus",
    "TotalSlotMemory", "EnteredCurrentState", "RemoteOwner", "GlobalJobId", "Draining",
    VM_ID_ATTR, DEPLOYMENT_ATTR, "group_name", "cloud_name", "flavor", "target_alias",
]  # fmt: skip

INT_MAX = 2**31 - 1
KIB_PER_GB = 1024 * 1024
IDLE, RUNNING, REMOVED, COMPLETED, HELD = 1, 2, 3, 4, 5
POOL_DEFAULTS = JobDefaults()  # for jobs of no (known) group


@cache
def _classad_types() -> tuple[type, type]:
    import classad2

    return classad2.ExprTree, classad2.Value


def value(ad: Any, name: str) -> Any:
    """The attribute's value, expressions evaluated in the ad's scope; None when missing, UNDEFINED or
    ERROR."""
    expr_type, special = _classad_types()
    v = ad.get(name)
    if isinstance(v, expr_type):
        v = ad.eval(name)
    if v is None or isinstance(v, special):
        return None
    return v


def as_int(v: Any, *, minimum: int = 0) -> int | None:
    """An integer from an int, float or numeric string; None for anything else or below ``minimum``."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str):
        try:
            v = float(v.strip())
        except ValueError:
            return None
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return None
        v = int(-(-v // 1))  # round up: 1.5 cores or MB of need is 2
    if not isinstance(v, int) or v < minimum:
        return None
    return min(v, INT_MAX)


def as_float(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and abs(f) != float("inf") else None


def as_str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def as_time(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    seconds = as_int(v, minimum=1)
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


def _target_pattern(name: str) -> re.Pattern[str]:
    # csv2 2.6: `group_name` compared with `==`, `=?=` or `is` to a string, optionally inside toLower();
    # the parser prints `=?=` as `is`. `=!=`, `!=` and `isnt` never match.
    ref = rf"(?:toLower\(\s*)?(?<![\w])(?:(?:TARGET|MY)\.)?{name}\b\s*\)?"
    lit = r'(?:toLower\(\s*)?"((?:[^"\\]|\\.)*)"'
    op = r"\s*(?:==|=\?=|\bis\b)\s*"
    return re.compile(rf"{ref}{op}{lit}|{lit}\s*\)?{op}{ref}", re.IGNORECASE)


_GROUP, _ALIAS = _target_pattern("group_name"), _target_pattern("target_alias")


@lru_cache(maxsize=8192)
def requirement_targets(requirements: str) -> tuple[str | None, str | None]:
    """(group, alias) a job's Requirements names, lower-cased; None where it names none."""

    def first(pattern: re.Pattern[str]) -> str | None:
        m = pattern.search(requirements)
        if not m:
            return None
        return (m.group(1) if m.group(1) is not None else m.group(2)).lower() or None

    return first(_GROUP), first(_ALIAS)


def _requirements_text(ad: Any) -> str:
    expr_type, _ = _classad_types()
    v = ad.get("Requirements")
    return str(v) if isinstance(v, expr_type) else (v if isinstance(v, str) else "")


def job_record(
    ad: Any,
    *,
    pool: str,
    schedd: str,
    defaults: Mapping[str, JobDefaults],
    fallback: JobDefaults = POOL_DEFAULTS,
) -> JobRecord | None:
    """The normalised row of one job ad; None when it has no GlobalJobId or JobStatus."""
    gid, status = as_str(ad.get("GlobalJobId")), as_int(value(ad, "JobStatus"))
    if not gid or status is None:
        return None
    group, alias = requirement_targets(_requirements_text(ad))
    d = defaults.get(group, fallback) if group else fallback
    cores = as_int(value(ad, "CpusProvisioned"), minimum=1) or as_int(value(ad, "RequestCpus"), minimum=1)
    disk_kb = as_int(value(ad, "RequestDisk"))
    if disk_kb is None:
        disk_kb = as_int(value(ad, "DiskUsage"))
    ram = as_int(value(ad, "RequestMemory"))
    swap = as_int(value(ad, "RequestSwap"))
    owner = as_str(ad.get("Owner")) or (as_str(ad.get("User")) or "").split("@")[0]
    return JobRecord(
        pool, gid, schedd, group, alias, owner, status,
        cores or d.cores,
        ram if ram is not None else d.ram_mb,
        disk_kb / KIB_PER_GB if disk_kb is not None else d.disk_gb,
        swap / 1024 if swap is not None else d.swap_gb,
        as_str(value(ad, "VMImage")), as_str(value(ad, "VMInstanceType")), as_str(value(ad, "VMNetwork")),
        as_int(value(ad, "VMKeepAlive")), as_float(value(ad, "VMMaximumPrice")), as_str(value(ad, "VMUserData")),
        as_int(value(ad, "JobPrio"), minimum=-INT_MAX) or 0,
        as_time(value(ad, "QDate")), as_time(value(ad, "EnteredCurrentStatus")),
        as_str(value(ad, "HoldReason")), as_str(value(ad, "RemoteHost")), None,
    )  # fmt: skip


def machine_record(ad: Any, *, pool: str, deployment: str) -> MachineRecord | None:
    """The normalised row of one startd slot ad; None without a Name. ``vm_id`` is the VM id the startd
    advertises, kept only when the ad carries no deployment id or ours."""
    name = as_str(ad.get("Name"))
    if not name:
        return None
    machine = as_str(ad.get("Machine")) or name.rpartition("@")[2]
    vm_id = as_str(value(ad, VM_ID_ATTR))
    their_deployment = as_str(value(ad, DEPLOYMENT_ATTR))
    if their_deployment is not None and their_deployment != deployment:
        vm_id = None
    state, activity = as_str(ad.get("State")) or "", as_str(ad.get("Activity")) or ""
    cores, memory = as_int(value(ad, "Cpus")) or 0, as_int(value(ad, "Memory")) or 0
    group = as_str(value(ad, "group_name"))
    return MachineRecord(
        pool, name, machine, vm_id or None, group.lower() if group else None,
        as_str(value(ad, "cloud_name")), as_str(value(ad, "flavor")), as_str(value(ad, "target_alias")),
        as_str(ad.get("SlotType")) or "Static", state, activity, cores, memory,
        as_int(value(ad, "TotalSlotCpus")) or cores, as_int(value(ad, "TotalSlotMemory")) or memory,
        as_time(value(ad, "EnteredCurrentState")), as_str(ad.get("RemoteOwner")),
        as_str(ad.get("GlobalJobId")),
        activity == "Retiring" or state == "Drained" or value(ad, "Draining") is True,
    )  # fmt: skip


def load_json_ads(text: str) -> list[Any]:
    """The ads of ``condor_q -json`` / ``condor_status -json`` output (a JSON array).

    ``classad2.parseAds`` cannot read a JSON array, and ``json.loads`` would turn ``\\/Expr(...)\\/``
    expressions into strings; each object's original text goes to the ClassAd JSON parser instead."""
    import json

    import classad2

    decoder, out = json.JSONDecoder(), []
    i = text.index("[") + 1
    while True:
        while text[i] in " \t\r\n,":
            i += 1
        if text[i] == "]":
            return out
        _, end = decoder.raw_decode(text, i)
        out.append(classad2.parseNext(text[i:end], classad2.ParserType.JSON))
        i = end


_BLANK_LINES = re.compile(r"\n[ \t]*\n")


def load_long_ads(text: str) -> list[Any]:
    """The ads of ``condor_q -long`` / ``condor_status -long`` output (old syntax, blank-line separated).

    One ``parseNext`` per ad: ``classad2.parseAds`` over the whole text re-reads it from the start for
    every ad (quadratic; 65 s for 100,000 job ads with htcondor 25.14)."""
    import classad2

    old = classad2.ParserType.Old
    return [classad2.parseNext(chunk, old) for chunk in _BLANK_LINES.split(text) if chunk.strip()]
