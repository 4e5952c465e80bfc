"""Planning: snapshot -> plan -> record intents, under a lease per group with a fencing token, and the
plan as lines an operator reads (the task log, the dry run)."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from include.config.settings import Settings, load_settings
from include.loop.accounting import account_usage
from include.loop.alerts import evaluate
from include.loop.record import keep_unmatched, record_plan
from include.loop.snapshot import load_snapshot
from include.loop.sync import count_fault_failures, sync_vm_history
from include.loop.work import cloud_work, pool_work
from include.scheduler import Policy, plan
from include.store.db import get_engine, session_scope
from include.store.locks import acquire, holds, new_holder, release
from include.store.models import Group, utcnow

log = logging.getLogger("include.loop.cycle")  # the name operators' log filters know


def settings_now() -> Settings:
    with session_scope() as session:
        return load_settings(session)


def plan_cycle(*, dry_run: bool = False, holder: str | None = None, now: datetime | None = None) -> dict:
    """snapshot -> plan -> record intents (one transaction), under a lease per group taken by a holder
    name of this call's own. Returns the work for the act tasks: one entry per cloud with something to
    do, one per pool with retires, drains or undrains, each carrying the lease (holder and fence) it must still hold to act.
    Leases of groups with work stay taken until ``finish_cycle`` releases them (or they expire)."""
    holder = holder or new_holder("cs_plan_dry_run" if dry_run else "cs_schedule")
    result, info = _plan(dry_run=dry_run, holder=holder, now=now)
    groups = info["groups"]
    clouds = [] if dry_run else cloud_work(groups, [d.vm_id for d in result.deletes])
    pools = (
        []
        if dry_run
        else pool_work(
            groups,
            [r.vm_id for r in result.retires],
            {d.vm_id: d.reason for d in result.drains},
            [u.vm_id for u in result.undrains],
        )
    )
    busy = {w["group"] for w in clouds} | {g for w in pools for g in w["groups"]}
    _release(info["fences"], holder, keep=busy)
    lease = {"holder": holder, "fences": {g: f for g, f in info["fences"].items() if g in busy}}
    for w in clouds:
        w["lease"] = {"holder": holder, "fences": {w["group"]: info["fences"][w["group"]]}}
    for w in pools:
        w["lease"] = {"holder": holder, "fences": {g: info["fences"][g] for g in w["groups"]}}
    return {**info, "summary": result.summary(), "clouds": clouds, "pools": pools, "lease": lease}


def _plan(*, dry_run: bool, holder: str, now: datetime | None):

    now = now or utcnow()
    engine = get_engine()
    settings = settings_now()
    with session_scope() as session:
        all_groups = sorted(session.scalars(select(Group.name)))
    fences = {
        g: f for g in all_groups if (f := acquire(engine, f"plan/{g}", holder, lease_ttl(settings), now))
    }
    groups = sorted(fences)
    try:
        if not dry_run:
            with session_scope() as session:
                sync_vm_history(session, now, groups)
                count_fault_failures(session, now, settings, groups)
                account_usage(session, now, groups)  # after the history: it copies its events
        with session_scope() as session:
            began = time.perf_counter()
            result = plan(load_snapshot(session, now, settings, groups), Policy.from_settings(settings), now)
            took = time.perf_counter() - began
            run_id = record_plan(session, result, now, settings, duration_s=took, dry_run=dry_run)
            if not dry_run:
                keep_unmatched(session, groups, result.unmatched)
            alerts = [] if dry_run else evaluate(session, result, now, settings, groups)
    except BaseException:
        _release(fences, holder)
        raise
    log.info("plan of %s in %.3f s: %s", ", ".join(groups) or "no group", took, json.dumps(result.summary()))
    lines = plan_lines(result)
    skips = [line for line in lines if line.startswith("SKIP")]
    for line in [line for line in lines if not line.startswith("SKIP")] + skips[:SKIP_LINES_LOGGED]:
        log.info("%s", line)
    if len(skips) > SKIP_LINES_LOGGED:
        log.info(
            "... and %d more skips (the status page and cs_plan_dry_run list every one)",
            len(skips) - SKIP_LINES_LOGGED,
        )
    return result, {
        "run_id": run_id,
        "groups": groups,
        "busy_groups": sorted(set(all_groups) - set(groups)),
        "plan_seconds": round(took, 3),
        "alerts": [a.key for a in alerts],
        "fences": fences,
    }


# Skips logged per run: every action is logged, but a site whose clouds are full repeats the same skips
# every run (200 lines, 90 KB of task log per run at P10's size: 1 GB a day). The skips are recorded
# in full (plan_skips) for the status page, and cs_plan_dry_run prints them all.
SKIP_LINES_LOGGED = 20


def lease_ttl(settings: Settings) -> timedelta:
    """How long a planning run's lease lasts unless renewed: the act tasks renew it before each call."""
    return timedelta(seconds=max(120, 4 * settings.schedule_interval))


def _release(fences: dict[str, int], holder: str, keep: set[str] | frozenset[str] = frozenset()) -> None:

    for g in fences:
        if g not in keep:
            release(get_engine(), f"plan/{g}", holder)


def still_ours(lease: dict[str, Any] | None, now: datetime, groups: list[str] | None = None) -> bool:
    """Whether the run that planned this work still holds the lease of each group (renewing it). Work
    without a lease (an operator's CLI call) acts under no fence."""
    if lease is None:
        return True
    ttl = lease_ttl(settings_now())
    wanted = groups if groups is not None else list(lease["fences"])
    return all(
        holds(get_engine(), f"plan/{g}", lease["holder"], lease["fences"][g], ttl, now) for g in wanted
    )


def release_run(lease: dict[str, Any] | None) -> None:
    """Give back a planning run's leases (``plan_cycle(...)["lease"]``), once its acts are done."""
    if lease and lease.get("holder"):
        _release(lease["fences"], lease["holder"])


def plan_lines(result) -> list[str]:
    """The plan as lines an operator reads: each boot, retire, delete and every skip with its reason."""
    lines = [
        f"BOOT    {b.group}/{b.cloud}: {b.count} x {b.flavor} ({b.image}) for "
        f"{', '.join(f'{s.jobs} job(s) of {s.shape}' for s in b.serves)}"
        for b in result.boots
    ]
    lines += [
        f"RETIRE  {r.group}/{r.cloud} {r.vm_id}: {r.reason.value} {r.detail}".rstrip() for r in result.retires
    ]
    lines += [
        f"DELETE  {d.group}/{d.cloud} {d.vm_id}: {d.reason.value} {d.detail}".rstrip() for d in result.deletes
    ]
    lines += [f"DRAIN   {d.group}/{d.cloud} {d.vm_id}: {d.detail}" for d in result.drains]
    lines += [f"UNDRAIN {u.group}/{u.cloud} {u.vm_id}: {u.detail}" for u in result.undrains]
    lines += [
        f"SKIP    {s.group}/{s.cloud or '*'} {s.subject}: {s.reason.value}"
        + (f" ({s.jobs} idle jobs)" if s.jobs else "")
        + (f" - {s.detail}" if s.detail else "")
        for s in result.skips
    ]
    return lines


def dry_run_report(now: datetime | None = None) -> tuple[str, dict]:
    """The plan the current state gives, as a readable report, without recording intents or acting."""
    holder = new_holder("cs_plan_dry_run")
    result, info = _plan(dry_run=True, holder=holder, now=now)
    _release(info.pop("fences"), holder)
    lines = [
        f"plan of {', '.join(info['groups']) or 'no group'} ({info['plan_seconds']} s)",
        *plan_lines(result),
    ]
    if len(lines) == 1:
        lines.append("nothing to do: no unserved demand, no VM to retire or delete")
    return "\n".join(lines), {**info, "summary": result.summary()}
