"""ClassAds in, records out: what we ask the pool for, and how a job or slot ad becomes a row.

Values are read the way HTCondor means them: an attribute may be an expression (``RequestMemory`` usually
is), so it is evaluated in the ad's own scope; UNDEFINED, ERROR, wrong types and negative sizes fall
back to the group's job defaults; sizes are clamped to what a 32-bit column holds, so an absurd ad gives
a job no flavour fits (a planner reason), never a crash. Units: cores, MB of RAM, GB of disk and swap
(RequestDisk is KiB, RequestSwap MB).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache, lru_cache, partial
from operator import attrgetter
from typing import Any, NamedTuple

from include.condor.records import JobDefaults, JobRecord, MachineRecord
from include.condor.requirements import requirement_targets

# Narrow projections: the WHERE and SELECT of every query (HTCondor bindings tutorial). The memory and
# disk inputs of HTCondor's default RequestMemory/RequestDisk expressions are included so they evaluate.
JOB_PROJECTION = [
    "GlobalJobId",
    "ClusterId",
    "ProcId",
    "JobStatus",
    "JobUniverse",
    "Owner",
    "User",
    "RequestCpus",
    "CpusProvisioned",
    "RequestMemory",
    "MemoryUsage",
    "ImageSize",
    "RequestDisk",
    "DiskUsage",
    "RequestSwap",
    "Requirements",
    "JobPrio",
    "QDate",
    "EnteredCurrentStatus",
    "HoldReason",
    "RemoteHost",
    "VMImage",
    "VMInstanceType",
    "VMNetwork",
    "VMKeepAlive",
    "VMMaximumPrice",
    "VMUserData",
    "LastRejMatchTime",
    "LastRejMatchReason",
]
# Scheduler (DAGMan) and local universe jobs run on the submit host and never need a VM.
JOB_CONSTRAINT = "JobUniverse =!= 7 && JobUniverse =!= 12"

# The attributes our VMs' startds advertise (STARTD_ATTRS in the group's condor metadata template).
VM_ID_ATTR = "cs_vm_id"
DEPLOYMENT_ATTR = "cs_deployment"
CSV2_HOST_ATTR = "cs_host_id"  # what a VM booted by cloudscheduler v2 advertises instead of cs_vm_id
STARTD_PROJECTION = [
    "Name",
    "Machine",
    "SlotType",
    "State",
    "Activity",
    "Cpus",
    "Memory",
    "TotalSlotCpus",
    "TotalSlotMemory",
    "EnteredCurrentState",
    "RemoteOwner",
    "GlobalJobId",
    "Draining",
    "DrainReason",
    VM_ID_ATTR,
    DEPLOYMENT_ATTR,
    CSV2_HOST_ATTR,
    "group_name",
    "cloud_name",
    "flavor",
    "target_alias",
]

INT_MAX = 2**31 - 1
KIB_PER_GB = 1024 * 1024
IDLE, RUNNING, REMOVED, COMPLETED, HELD = 1, 2, 3, 4, 5
POOL_DEFAULTS = JobDefaults()  # for jobs of no (known) group


class Spelling(NamedTuple):
    """The attributes we read of an ad: lower-case name -> (canonical name, the type its value must have:
    str, int or None for any), and a memo of the ads met so far: their attribute names, in the bindings'
    order -> (name, canonical, type) of those we read. The ads of one query share a handful of such
    lists."""

    by_lower: dict[str, tuple[str, type | None]]
    plans: dict[tuple[str, ...], tuple[tuple[str, str, type | None], ...]]

    def plan(self, names: list[str]) -> tuple[tuple[str, str, type | None], ...]:
        key = tuple(names)
        found = self.plans.get(key)
        if found is None:
            if len(self.plans) >= 1024:  # ads of every shape: no point remembering them
                self.plans.clear()
            wanted = ((n, self.by_lower.get(n.lower())) for n in names)
            found = self.plans[key] = tuple((n, *w) for n, w in wanted if w)
        return found


def _spelling(names: list[str], strings: list[str], ints: list[str] = ()) -> Spelling:
    kinds = {n: str for n in strings} | {n: int for n in ints}
    return Spelling({n.lower(): (n, kinds.get(n)) for n in names}, {})


# What normalisation reads of every ad: a job's Requirements apart, as text (requirements_text), and User
# and DiskUsage only where Owner and RequestDisk are missing (value); the rest of the projection is there
# for the constraint and for the expressions that refer to it.
_JOB_STRINGS = [
    "GlobalJobId",
    "LastRejMatchReason",
    "Owner",
    "HoldReason",
    "RemoteHost",
    "VMImage",
    "VMInstanceType",
    "VMNetwork",
    "VMUserData",
]
_JOB_SIZES = [
    "JobStatus",
    "RequestCpus",
    "CpusProvisioned",
    "RequestMemory",
    "RequestDisk",
    "RequestSwap",
    "VMKeepAlive",
]
JOB_ATTRS = _spelling(
    _JOB_STRINGS
    + _JOB_SIZES
    + ["JobPrio", "QDate", "EnteredCurrentStatus", "VMMaximumPrice", "LastRejMatchTime"],
    _JOB_STRINGS,
    _JOB_SIZES,
)
STARTD_ATTRS = _spelling(
    STARTD_PROJECTION,
    [
        "Name",
        "Machine",
        "SlotType",
        "State",
        "Activity",
        VM_ID_ATTR,
        DEPLOYMENT_ATTR,
        CSV2_HOST_ATTR,
        "group_name",
        "cloud_name",
        "flavor",
        "target_alias",
        "RemoteOwner",
        "GlobalJobId",
        "DrainReason",
    ],
)


class _Bindings(NamedTuple):
    handle: Callable[[Any], Any]  # ad -> what the other calls take
    keys: Callable[[Any], list[str]]
    get: Callable[[Any, str, bool], Any]  # (handle, name, True) -> a Python value or an ExprTree
    evaluate: Callable[[Any, Any, None], Any]  # (ExprTree, handle, None) -> its value in that ad's scope
    expr_type: type
    special: type  # classad2.Value: UNDEFINED, ERROR
    requirements: Callable[[Any, None], Any]  # (handle, None) -> unparse(Requirements) in that ad


@cache
def _bindings() -> _Bindings:
    """classad2's own C entry points where it has them (htcondor 25.14: what ``ClassAd.__getitem__``,
    ``__iter__`` and ``ExprTree.eval`` call after their Python argument checks; measured, a lookup
    through ``ad[name]`` costs a third more, ``list(ad)`` three times ``_classad_keys``); its public API
    otherwise."""
    import classad2

    unparse = classad2.ExprTree("unparse(Requirements)")
    try:
        from classad2.classad2_impl import _classad_get_item, _classad_keys, _exprtree_eval
    except ImportError:  # other bindings (a test checks both paths give the same records)
        return _Bindings(
            lambda ad: ad,
            list,
            lambda ad, name, _: ad[name],
            lambda expr, ad, _: expr.eval(ad),
            classad2.ExprTree,
            classad2.Value,
            lambda ad, _: unparse.eval(ad),
        )

    def evaluate(expr: Any, handle: Any, target: None) -> Any:
        return _exprtree_eval(expr._handle, handle, target)

    return _Bindings(
        attrgetter("_handle"),
        _classad_keys,
        _classad_get_item,
        evaluate,
        classad2.ExprTree,
        classad2.Value,
        partial(_exprtree_eval, unparse._handle),
    )


def values(ad: Any, spelling: Spelling) -> dict[str, Any]:
    """The attributes of ``ad`` that ``spelling`` names, as Python values keyed by their canonical
    spelling (ClassAd names ignore case); the others are never read. Expressions among them are
    evaluated in the ad's scope; UNDEFINED, ERROR and unevaluable values become None, as do non-strings
    where ``spelling`` wants a string; where it wants an int, the value is :func:`as_int`'s.

    One lookup per attribute we read, straight from the bindings: literals arrive as Python values and
    only expressions go to the ClassAd evaluator. Cheaper than ``printJson`` of the whole ad and a JSON
    decode, which print and convert every attribute, read or not."""
    b = _bindings()
    h, get, expr_type, special = b.handle(ad), b.get, b.expr_type, b.special
    out = {}
    for name, key, kind in spelling.plan(b.keys(h)):
        v = get(h, name, True)
        if v.__class__ is expr_type:
            v = b.evaluate(v, h, None)
        cls = v.__class__
        if cls is special or cls is expr_type:
            v = None
        elif kind is not None and (cls is not kind or (kind is int and not 0 <= v <= INT_MAX)):
            v = as_int(v) if kind is int else None
        out[key] = v
    return out


def value(ad: Any, name: str) -> Any:
    """One attribute of ``ad`` as :func:`values` reads it (no type wanted); None when it has none."""
    b = _bindings()
    h = b.handle(ad)
    try:
        v = b.get(h, name, True)
    except KeyError:
        return None
    if v.__class__ is b.expr_type:
        v = b.evaluate(v, h, None)
    return None if v.__class__ is b.special or v.__class__ is b.expr_type else v


def requirements_text(ad: Any) -> str | None:
    """A job's Requirements as expression text (a string literal: its value); None without one.

    Unparsed by the evaluator (``unparse(Requirements)``): a third cheaper than fetching the expression
    tree, which copies it, and printing that."""
    b = _bindings()
    text = b.requirements(b.handle(ad), None)
    if text.__class__ is not str or not text:
        return None
    if text[0] == '"':  # a string literal, or an expression that starts with one
        literal = ad.get("Requirements")
        if isinstance(literal, str):
            return literal
    return text


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
    gid, status = v("GlobalJobId"), v("JobStatus")
    if not gid or status is None:
        return None
    requirements = requirements_text(ad)
    group, alias = requirement_targets(requirements) if requirements else (None, None)
    d = defaults.get(group, fallback) if group else fallback
    cores = v("CpusProvisioned") or v("RequestCpus")  # sizes: as_int's, so never below 0
    disk_kb = v("RequestDisk")
    if disk_kb is None:
        disk_kb = as_int(value(ad, "DiskUsage"))
    ram, swap = v("RequestMemory"), v("RequestSwap")
    owner = v("Owner") or (as_str(value(ad, "User")) or "").split("@")[0]
    return JobRecord(
        pool,
        gid,
        schedd,
        group,
        alias,
        owner,
        status,
        cores or d.cores,
        ram if ram is not None else d.ram_mb,
        disk_kb / KIB_PER_GB if disk_kb is not None else d.disk_gb,
        swap / 1024 if swap is not None else d.swap_gb,
        v("VMImage"),
        v("VMInstanceType"),
        v("VMNetwork"),
        v("VMKeepAlive"),
        as_float(v("VMMaximumPrice")),
        v("VMUserData"),
        as_int(v("JobPrio"), minimum=-INT_MAX) or 0,
        as_time(v("QDate")),
        as_time(v("EnteredCurrentStatus")),
        v("HoldReason"),
        v("RemoteHost"),
        None,
        _no_match_at(v),
    )


# What the schedd writes when the negotiator found no slot for the job at all; other reasons (the
# submitter's limit or priority) say nothing about the job's Requirements.
NO_MATCH = "no match found"


def _no_match_at(v: Callable[[str], Any]) -> datetime | None:
    reason = v("LastRejMatchReason")
    if not reason or not reason.strip().lower().startswith(NO_MATCH):
        return None
    return as_time(v("LastRejMatchTime"))


def _csv2_templated(host_id: str, deployment: str) -> bool:
    """A startd configured by a csv2 template advertises cs_host_id but no cs_vm_id. It is ours to join
    by its host name when csv2 booted it (digits: its VM is adopted under that name) or we did (our
    deployment id: our VMs' host names are their vm_ids); another deployment's is not."""
    return bool(host_id) and (host_id.isdigit() or host_id == deployment)


def machine_record(ad: Any, *, pool: str, deployment: str) -> MachineRecord | None:
    """The normalised row of one startd slot ad; None without a Name. ``vm_id`` is the VM id the startd
    advertises, kept only when the ad carries no deployment id or ours."""
    v = values(ad, STARTD_ATTRS).get
    name = v("Name")
    if not name:
        return None
    machine = v("Machine") or name.rpartition("@")[2]
    vm_id = v(VM_ID_ATTR)
    their_deployment = v(DEPLOYMENT_ATTR)
    if their_deployment is not None and their_deployment != deployment:
        vm_id = None
    elif vm_id is None and _csv2_templated(str(v(CSV2_HOST_ATTR) or ""), deployment):
        vm_id = machine.split(".", 1)[0].lower()
    state, activity = v("State") or "", v("Activity") or ""
    cores, memory = as_int(v("Cpus")) or 0, as_int(v("Memory")) or 0
    group = v("group_name")
    return MachineRecord(
        pool,
        name,
        machine,
        vm_id or None,
        group.lower() if group else None,
        v("cloud_name"),
        v("flavor"),
        v("target_alias"),
        v("SlotType") or "Static",
        state,
        activity,
        cores,
        memory,
        as_int(v("TotalSlotCpus")) or cores,
        as_int(v("TotalSlotMemory")) or memory,
        as_time(v("EnteredCurrentState")),
        v("RemoteOwner"),
        v("GlobalJobId"),
        activity == "Retiring" or state == "Drained" or v("Draining") is True,
        v("DrainReason"),
    )


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
