"""ClassAds in, records out: what we ask the pool for, and how a job or slot ad becomes a row.

Values are read the way HTCondor means them: an attribute may be an expression (``RequestMemory`` usually
is), so it is evaluated in the ad's own scope; UNDEFINED, ERROR, wrong types and negative sizes fall
back to the group's job defaults; sizes are clamped to what a 32-bit column holds, so an absurd ad gives
a job no flavour fits (a planner reason), never a crash. Units: cores, MB of RAM, GB of disk and swap
(RequestDisk is KiB, RequestSwap MB).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple

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


class Spelling(NamedTuple):
    """Attribute names as we read them: lower case -> canonical, the canonical set, and a memo of every
    other spelling met so far (name -> canonical, or "" when it is not one we read)."""

    by_lower: dict[str, str]
    canonical: frozenset[str]
    seen: dict[str, str]

    def of(self, name: str) -> str:
        found = self.seen.get(name)
        if found is None:
            found = self.seen[name] = self.by_lower.get(name.lower(), "")
        return found


def _spelling(names: list[str]) -> Spelling:
    return Spelling({n.lower(): n for n in names}, frozenset(names), {})


JOB_ATTRS, STARTD_ATTRS = _spelling(JOB_PROJECTION), _spelling(STARTD_PROJECTION)


_decode = json.JSONDecoder().scan_once
_EXPR_MARK = '"\\/Expr('  # how printJson writes an expression value; a literal string never starts so


def values(ad: Any, spelling: Spelling) -> dict[str, Any]:
    """The attributes of ``ad`` as Python values, keyed by their canonical ``spelling`` (ClassAd names
    ignore case). Expressions among them are evaluated in the ad's scope (UNDEFINED and ERROR become
    None), except ``Requirements``, kept as its expression text.

    One ``printJson`` of the whole ad decoded by the C JSON parser costs what three attribute lookups
    through the bindings do; only expressions go back to the ClassAd evaluator."""
    text = ad.printJson()
    out = _decode(text, 0)[0]  # the C scanner itself: printJson writes exactly one object
    seen = spelling.seen
    for other in out.keys() - spelling.canonical:  # names we do not read, or spelled otherwise
        canonical = seen.get(other)
        if canonical is None:
            canonical = spelling.of(other)
        if canonical:
            out[canonical] = out.pop(other)
    i = text.find(_EXPR_MARK)
    while i != -1:  # printJson writes one top-level attribute per line: `  "Name": "\/Expr(...)\/"`
        name = text[text.rfind("\n", 0, i) + 1 : i].split('"')[1]
        key = seen.get(name) or spelling.of(name)
        raw = out.get(key)
        if key and raw.__class__ is str and raw.startswith("/Expr("):
            out[key] = raw[6:-2] if key == "Requirements" else _evaluated(ad, name, raw[6:-2], out, spelling)
        i = text.find(_EXPR_MARK, i + 8)
    return out


_NAME = re.compile(r"(?:MY\.)?([A-Za-z_][A-Za-z0-9_]*)")


def _evaluated(ad: Any, name: str, expression: str, known: dict[str, Any], spelling: Spelling) -> Any:
    # condor_submit's default `RequestDisk = DiskUsage` is a bare reference to a literal we already
    # decoded: take it instead of a round trip through the evaluator.
    ref = _NAME.fullmatch(expression)
    if ref and ref.group(1).lower() not in ("undefined", "error", "true", "false"):
        target = known.get(spelling.of(ref.group(1)) or ref.group(1), _MISSING)
        if target is not _MISSING and not (target.__class__ is str and target.startswith("/Expr(")):
            return target
    expr_type, special = _classad_types()
    v = ad.eval(name)
    return None if isinstance(v, special | expr_type) else v


_MISSING = object()


def as_int(v: Any, *, minimum: int = 0) -> int | None:
    """An integer from an int, float or numeric string; None for anything else or below ``minimum``."""
    if v.__class__ is int:  # the common case, first
        return (v if v <= INT_MAX else INT_MAX) if v >= minimum else None
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
    return _utc(seconds) if seconds else None


@lru_cache(maxsize=65536)
def _utc(seconds: int) -> datetime:  # a poll repeats the same timestamps many times
    return datetime.fromtimestamp(seconds, UTC)


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


def job_record(
    ad: Any,
    *,
    pool: str,
    schedd: str,
    defaults: Mapping[str, JobDefaults],
    fallback: JobDefaults = POOL_DEFAULTS,
) -> JobRecord | None:
    """The normalised row of one job ad; None when it has no GlobalJobId or JobStatus."""
    v = values(ad, JOB_ATTRS).get
    gid, status = as_str(v("GlobalJobId")), as_int(v("JobStatus"))
    if not gid or status is None:
        return None
    requirements = v("Requirements")
    group, alias = requirement_targets(requirements) if isinstance(requirements, str) else (None, None)
    d = defaults.get(group, fallback) if group else fallback
    cores = as_int(v("CpusProvisioned"), minimum=1) or as_int(v("RequestCpus"), minimum=1)
    disk_kb = as_int(v("RequestDisk"))
    if disk_kb is None:
        disk_kb = as_int(v("DiskUsage"))
    ram, swap = as_int(v("RequestMemory")), as_int(v("RequestSwap"))
    owner = as_str(v("Owner")) or (as_str(v("User")) or "").split("@")[0]
    return JobRecord(
        pool, gid, schedd, group, alias, owner, status,
        cores or d.cores,
        ram if ram is not None else d.ram_mb,
        disk_kb / KIB_PER_GB if disk_kb is not None else d.disk_gb,
        swap / 1024 if swap is not None else d.swap_gb,
        as_str(v("VMImage")), as_str(v("VMInstanceType")), as_str(v("VMNetwork")),
        as_int(v("VMKeepAlive")), as_float(v("VMMaximumPrice")), as_str(v("VMUserData")),
        as_int(v("JobPrio"), minimum=-INT_MAX) or 0,
        as_time(v("QDate")), as_time(v("EnteredCurrentStatus")),
        as_str(v("HoldReason")), as_str(v("RemoteHost")), None,
    )  # fmt: skip


def machine_record(ad: Any, *, pool: str, deployment: str) -> MachineRecord | None:
    """The normalised row of one startd slot ad; None without a Name. ``vm_id`` is the VM id the startd
    advertises, kept only when the ad carries no deployment id or ours."""
    v = values(ad, STARTD_ATTRS).get
    name = as_str(v("Name"))
    if not name:
        return None
    machine = as_str(v("Machine")) or name.rpartition("@")[2]
    vm_id = as_str(v(VM_ID_ATTR))
    their_deployment = as_str(v(DEPLOYMENT_ATTR))
    if their_deployment is not None and their_deployment != deployment:
        vm_id = None
    state, activity = as_str(v("State")) or "", as_str(v("Activity")) or ""
    cores, memory = as_int(v("Cpus")) or 0, as_int(v("Memory")) or 0
    group = as_str(v("group_name"))
    return MachineRecord(
        pool, name, machine, vm_id or None, group.lower() if group else None,
        as_str(v("cloud_name")), as_str(v("flavor")), as_str(v("target_alias")),
        as_str(v("SlotType")) or "Static", state, activity, cores, memory,
        as_int(v("TotalSlotCpus")) or cores, as_int(v("TotalSlotMemory")) or memory,
        as_time(v("EnteredCurrentState")), as_str(v("RemoteOwner")), as_str(v("GlobalJobId")),
        activity == "Retiring" or state == "Drained" or v("Draining") is True,
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
