"""The bodies of the control loop's tasks; the DAG files only wire these together.

Every function takes plain values and returns JSON-able summaries (what goes through XCom stays small:
ids and counts, never snapshots). Each opens its own sessions on the state database.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from include.config.settings import Settings, load_settings
from include.store.db import get_engine, session_scope
from include.store.locks import new_holder
from include.store.models import BootRequest, Cloud, Group, Vm, utcnow

log = logging.getLogger(__name__)


def settings_now() -> Settings:
    with session_scope() as session:
        return load_settings(session)


# ---- polling -------------------------------------------------------------------------------------


def poll_pools(now: datetime | None = None) -> list[dict[str, Any]]:
    """Advance simulated pools to now and poll every pool once (all groups sharing it)."""
    from include.loop.pool_poll import current_specs, poll_one

    now = now or utcnow()
    engine = get_engine()
    reports = []
    for spec in current_specs(engine):
        report = poll_one(engine, spec, now)
        reports.append({"pool": spec.key, "stale": sorted(report.stale), **_counts(report)})
    return reports


def clouds_to_poll() -> list[dict[str, str]]:
    """Enabled clouds, and disabled ones that still have VMs (their VMs must be seen to be deleted)."""
    with session_scope() as session:
        with_vms = set(session.execute(select(Vm.group_name, Vm.cloud_name).distinct()).all())
        rows = session.execute(
            select(Cloud.group_name, Cloud.name, Cloud.enabled).order_by(Cloud.group_name, Cloud.name)
        ).all()
    return [{"group": g, "cloud": c} for g, c, enabled in rows if enabled or (g, c) in with_vms]


def poll_cloud(group: str, cloud: str, now: datetime | None = None) -> dict[str, Any]:
    from include.loop.cloud_poll import poll_cloud as poll

    now = now or utcnow()
    engine = get_engine()
    adapter, error = _adapter(group, cloud, engine, now)
    if adapter is None:
        _mark_cloud_failed(group, cloud, now, error)
        return {"group": group, "cloud": cloud, "ok": False, "error": error}
    result = poll(engine, group, cloud, adapter, now)
    return {"group": group, "cloud": cloud, **_counts(result)}


def _adapter(group: str, cloud: str, engine, now: datetime):
    """(the cloud's adapter, None) or (None, why not); a simulated cloud runs on the cycle's clock."""
    from include.clouds import connect_by_name
    from include.providers.base import ProviderError

    try:
        return connect_by_name(engine, group, cloud, clock=lambda: now), None
    except ProviderError as err:
        return None, err.message


def _mark_cloud_failed(group: str, cloud: str, now: datetime, error: str | None) -> None:
    from include.loop.inventory import write_poll_status

    with session_scope() as session:
        write_poll_status(session, group, cloud, now, error)


def _counts(report: Any) -> dict[str, Any]:
    values = report.__dict__ if hasattr(report, "__dict__") else report._asdict()
    return {k: v for k, v in values.items() if isinstance(v, int | float | bool | str) or v is None}


# ---- planning ------------------------------------------------------------------------------------


def plan_cycle(*, dry_run: bool = False, holder: str | None = None, now: datetime | None = None) -> dict:
    """snapshot -> plan -> record intents (one transaction), under a lease per group taken by a holder
    name of this call's own. Returns the work for the act tasks: one entry per cloud with something to
    do, one per pool with retires, each carrying the lease (holder and fence) it must still hold to act.
    Leases of groups with work stay taken until ``finish_cycle`` releases them (or they expire)."""
    holder = holder or new_holder("cs_plan_dry_run" if dry_run else "cs_schedule")
    result, info = _plan(dry_run=dry_run, holder=holder, now=now)
    groups = info["groups"]
    clouds = [] if dry_run else cloud_work(groups, [d.vm_id for d in result.deletes])
    pools = [] if dry_run else pool_work(groups, [r.vm_id for r in result.retires])
    busy = {w["group"] for w in clouds} | {g for w in pools for g in w["groups"]}
    _release(info["fences"], holder, keep=busy)
    lease = {"holder": holder, "fences": {g: f for g, f in info["fences"].items() if g in busy}}
    for w in clouds:
        w["lease"] = {"holder": holder, "fences": {w["group"]: info["fences"][w["group"]]}}
    for w in pools:
        w["lease"] = {"holder": holder, "fences": {g: info["fences"][g] for g in w["groups"]}}
    return {**info, "summary": result.summary(), "clouds": clouds, "pools": pools, "lease": lease}


def _plan(*, dry_run: bool, holder: str, now: datetime | None):
    from include.loop.alerts import evaluate
    from include.loop.record import record_plan
    from include.loop.snapshot import load_snapshot
    from include.loop.sync import count_fault_failures, sync_vm_history
    from include.scheduler import Policy, plan
    from include.store.locks import acquire

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
        with session_scope() as session:
            began = time.perf_counter()
            result = plan(load_snapshot(session, now, settings, groups), Policy.from_settings(settings), now)
            took = time.perf_counter() - began
            run_id = record_plan(session, result, now, settings, duration_s=took, dry_run=dry_run)
            alerts = [] if dry_run else evaluate(session, result, now, settings, groups)
    except BaseException:
        _release(fences, holder)
        raise
    log.info("plan of %s in %.3f s: %s", ", ".join(groups) or "no group", took, json.dumps(result.summary()))
    for line in plan_lines(result):
        log.info("%s", line)
    return result, {
        "run_id": run_id,
        "groups": groups,
        "busy_groups": sorted(set(all_groups) - set(groups)),
        "plan_seconds": round(took, 3),
        "alerts": [a.key for a in alerts],
        "fences": fences,
    }


def lease_ttl(settings: Settings) -> timedelta:
    """How long a planning run's lease lasts unless renewed: the act tasks renew it before each call."""
    return timedelta(seconds=max(120, 4 * settings.schedule_interval))


def _release(fences: dict[str, int], holder: str, keep: set[str] | frozenset[str] = frozenset()) -> None:
    from include.store.locks import release

    for g in fences:
        if g not in keep:
            release(get_engine(), f"plan/{g}", holder)


def still_ours(lease: dict[str, Any] | None, now: datetime, groups: list[str] | None = None) -> bool:
    """Whether the run that planned this work still holds the lease of each group (renewing it). Work
    without a lease (an operator's CLI call) acts under no fence."""
    from include.store.locks import holds

    if lease is None:
        return True
    ttl = lease_ttl(settings_now())
    wanted = groups if groups is not None else list(lease["fences"])
    return all(
        holds(get_engine(), f"plan/{g}", lease["holder"], lease["fences"][g], ttl, now) for g in wanted
    )


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


def cloud_work(groups: list[str], deletes: list[str]) -> list[dict[str, Any]]:
    """Clouds with open boot requests, planned deletes or operator kills (level-triggered: leftovers of
    earlier cycles are picked up too)."""
    work: dict[tuple[str, str], list[str]] = defaultdict(list)
    with session_scope() as session:
        for g, c in session.execute(
            select(BootRequest.group_name, BootRequest.cloud_name).where(
                BootRequest.group_name.in_(groups), BootRequest.state.in_(("planned", "sent"))
            )
        ):
            work[(g, c)]
        for vm_id, g, c in session.execute(
            select(Vm.vm_id, Vm.group_name, Vm.cloud_name).where(
                Vm.group_name.in_(groups),
                or_(Vm.vm_id.in_(deletes), Vm.kill_requested_at.is_not(None)),
                Vm.status != "gone",
            )
        ):
            if vm_id in deletes:
                work[(g, c)].append(vm_id)
            else:
                work[(g, c)]
    return [{"group": g, "cloud": c, "deletes": sorted(v)} for (g, c), v in sorted(work.items())]


def pool_work(groups: list[str], retires: list[str]) -> list[dict[str, Any]]:
    from include.condor.pools import pool_key

    by_pool: dict[str, list[str]] = defaultdict(list)
    with session_scope() as session:
        keys = {
            g.name: pool_key(g.pool_kind, g.collector)
            for g in session.scalars(select(Group).where(Group.name.in_(groups)))
        }
        for vm_id, g in session.execute(select(Vm.vm_id, Vm.group_name).where(Vm.vm_id.in_(retires))):
            by_pool[keys[g]].append(vm_id)
    groups_of = defaultdict(set)
    for g, k in keys.items():
        groups_of[k].add(g)
    return [
        {"pool": k, "retires": sorted(v), "groups": sorted(groups_of[k])} for k, v in sorted(by_pool.items())
    ]


# ---- acting --------------------------------------------------------------------------------------


def work_items(planned: dict[str, Any]) -> list[dict[str, Any]]:
    """One list for the mapped act task: cloud work first, then pool work, each labelled for the UI."""
    items = [{"kind": "cloud", "label": f"{w['group']}/{w['cloud']}", **w} for w in planned["clouds"]]
    return items + [{"kind": "pool", "label": f"pool {w['pool']}", **w} for w in planned["pools"]]


def release_run(lease: dict[str, Any] | None) -> None:
    """Give back a planning run's leases (``plan_cycle(...)["lease"]``), once its acts are done."""
    if lease and lease.get("holder"):
        _release(lease["fences"], lease["holder"])


def finish_run(work: list[dict[str, Any]], now: datetime | None = None) -> dict[str, Any]:
    """``finish_cycle`` for a run of ``cs_schedule``: releases the leases its work items carried."""
    fences: dict[str, int] = {}
    holder = None
    for item in work or ():
        lease = item.get("lease") or {}
        holder = holder or lease.get("holder")
        fences.update(lease.get("fences") or {})
    return finish_cycle(now=now, lease={"holder": holder, "fences": fences} if holder else None)


def act_on(work: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    return act_cloud(work, now) if work["kind"] == "cloud" else act_pool(work, now)


def act_cloud(work: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    from include.airflow_glue import worker_secrets
    from include.loop.act import act_on_cloud

    now = now or utcnow()
    engine = get_engine()
    lease = work.get("lease")
    if not still_ours(lease, now):
        return {
            "group": work["group"],
            "cloud": work["cloud"],
            "fenced": True,
            "errors": ["this run no longer holds the group's lease: a newer run acts instead"],
        }
    adapter, error = _adapter(work["group"], work["cloud"], engine, now)
    if adapter is None:
        return {"group": work["group"], "cloud": work["cloud"], "errors": [error]}
    started = utcnow()  # the act's clock: its ``now``, advanced by the time the act itself has taken
    return act_on_cloud(
        engine,
        work["group"],
        work["cloud"],
        adapter,
        now,
        settings_now(),
        work["deletes"],
        worker_secrets(work["group"]),
        still_ours=lambda: still_ours(lease, now + (utcnow() - started)),
    ).as_dict()


def act_pool(work: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    from include.condor.pools import pool_spec
    from include.loop.pool import retire_vms
    from include.pools import connect_pool

    now = now or utcnow()
    engine = get_engine()
    if not still_ours(work.get("lease"), now):
        return {
            "pool": work["pool"],
            "fenced": True,
            "retired": {},
            "unsent": [],
            "forgotten": [],
            "errors": ["this run no longer holds the groups' leases: a newer run acts instead"],
        }
    with session_scope() as session:
        spec = pool_spec(session, work["pool"], load_settings(session).deployment_id)
    return retire_vms(engine, connect_pool(spec, engine, now), work["retires"], now).as_dict()


def finish_cycle(
    groups: list[str] | None = None, now: datetime | None = None, lease: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Forget VMs the clouds deleted, then write this cycle's timeseries samples (every group by default);
    release the run's ``lease`` (after its acts, whatever became of them)."""
    release_run(lease)
    from include.loop.pool import forget_gone
    from include.loop.pool_poll import current_specs
    from include.loop.timeseries import sample
    from include.pools import connect_pool

    now = now or utcnow()
    engine = get_engine()
    settings = settings_now()
    if groups is None:
        with session_scope() as session:
            groups = sorted(session.scalars(select(Group.name)))
    keep = timedelta(seconds=2 * settings.cloud_poll_interval)
    removed = []
    for spec in current_specs(engine):
        mine = [g.name for g in spec.groups if g.name in groups]
        if mine:
            removed += forget_gone(engine, connect_pool(spec, engine, now), mine, now, keep)
    with session_scope() as session:
        samples = sample(session, now, groups)
    return {"forgotten": removed, "samples": samples}
