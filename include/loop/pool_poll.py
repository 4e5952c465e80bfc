"""The pool poller: one pool's snapshot (jobs per schedd, slots from the collector) into the store.

Invariants:
- All network calls happen before the write; the write is one transaction, so readers see jobs and
  machines of the same poll, and a failing write changes nothing.
- A part (``collector``, or ``schedd:<name>``) that failed keeps its previous rows and is marked not ok
  in ``poll_status`` (``condor/<group>/<part>`` for every group the pool serves); it never reads as
  "no jobs" or "no machines". Rows go away only when a successful listing no longer has them.
- Only changed rows are written (the original's md5 inventory, done by comparing rows).
- A job counts for a group (``jobs.group_name``) only when its Requirements name the group, the group
  polls that schedd and admits the owner; otherwise it is foreign (None).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select

from include.condor.pools import SIMULATED, pool_specs
from include.condor.records import JobRecord, MachineRecord, Pool, PoolError, PoolSpec, ScheddJobs
from include.config.settings import load_settings
from include.pools import connect_pool
from include.simulated.negotiator import advance
from include.store.bulk import sync_rows
from include.store.db import session_scope
from include.store.freshness import POOL, mark_polled, part_of, pool_source, pool_sources_of
from include.store.models import Base, PollStatus


@dataclass
class PollReport:
    pool: str
    ok: list[str] = field(default_factory=list)  # parts polled
    stale: dict[str, str] = field(default_factory=dict)  # part -> error
    written: int = 0  # rows inserted or replaced
    deleted: int = 0


def poll_pool(engine, spec: PoolSpec, adapter: Pool, now: datetime) -> PollReport:
    """Poll ``adapter`` and write its snapshot of ``spec``'s pool at ``now``."""
    machines: list[MachineRecord] | None = None
    schedds: Sequence[ScheddJobs] | None = None
    report = PollReport(spec.key)
    with bulk():
        try:
            machines = adapter.machines()
        except PoolError as e:
            report.stale["collector"] = str(e)
        try:
            schedds = adapter.jobs()
        except PoolError as e:
            report.stale["schedd:*"] = str(e)
    with bulk(), session_scope(engine) as s:
        _lock(s, spec, now)
        if machines is not None:
            report.ok.append("collector")
            _count(
                report, sync_rows(s, _table("machines"), MachineRecord, "name", {"pool": spec.key}, machines)
            )
        vm_of = _vm_ids(s, spec.key, machines)
        if schedds is not None:
            _write_jobs(s, spec, schedds, vm_of, report)
        _write_status(s, spec, report, now, listed=None if schedds is None else [j.schedd for j in schedds])
    return report


@contextmanager
def bulk() -> Iterator[None]:
    """No cyclic garbage collection while a poll builds and writes 100,000s of records: they form no
    cycles, and each full collection would walk all of them again (about a quarter of a large poll's
    time). Reference counting frees everything as usual; the previous setting is restored."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _write_jobs(s, spec: PoolSpec, schedds: Sequence[ScheddJobs], vm_of: dict, report: PollReport) -> None:
    listed, groups = {j.schedd for j in schedds}, {g.name: g for g in spec.groups}
    for part in schedds:
        if not part.ok:
            report.stale[f"schedd:{part.schedd}"] = str(part.error)
            continue
        report.ok.append(f"schedd:{part.schedd}")
        rows = [_classify(groups, job, vm_of) for job in part.jobs]
        scope = {"pool": spec.key, "schedd": part.schedd}
        _count(report, sync_rows(s, _table("jobs"), JobRecord, "global_job_id", scope, rows))
    jobs = _table("jobs")
    gone = delete(jobs).where(jobs.c.pool == spec.key, jobs.c.schedd.not_in(listed))
    report.deleted += s.execute(gone).rowcount or 0  # schedds no longer in the pool (or the config)


def _classify(groups: dict, job: JobRecord, vm_of: dict) -> JobRecord:
    group = groups.get(job.group_name)
    mine = group is not None and group.serves(job.schedd) and group.admits(job.owner)
    vm_id = vm_of.get(job.global_job_id)
    if (mine or job.group_name is None) and vm_id is None:
        return job  # most jobs: nothing to change
    return job._replace(group_name=job.group_name if mine else None, vm_id=vm_id)


def _vm_ids(s, pool: str, machines: list[MachineRecord] | None) -> dict[str, str]:
    """GlobalJobId -> the VM running it, from this poll's slots (or the stored ones when stale)."""
    if machines is None:
        m = _table("machines")
        pairs: Iterable = s.execute(select(m.c.global_job_id, m.c.vm_id).where(m.c.pool == pool))
    else:
        pairs = ((r.global_job_id, r.vm_id) for r in machines)
    return {gid: vm for gid, vm in pairs if gid and vm}


def _count(report: PollReport, counts: tuple[int, int]) -> None:
    report.written += counts[0]
    report.deleted += counts[1]


def _table(name: str):

    return Base.metadata.tables[name]


def _lock(s, spec: PoolSpec, now: datetime) -> None:
    """Stamp the attempt on the pool's first collector source: the row (PostgreSQL) or database (SQLite)
    write lock keeps two polls of one pool from interleaving their writes."""

    group = spec.groups[0].name
    values = {
        "source": pool_source(group, "collector"),
        "kind": POOL,
        "group_name": group,
        "last_attempt": now,
        "ok": False,
        "consecutive_failures": 0,
    }
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    stmt = upsert(PollStatus).values(**values)
    s.execute(stmt.on_conflict_do_update(index_elements=["source"], set_={"last_attempt": now}))


def _write_status(s, spec: PoolSpec, report: PollReport, now: datetime, listed: list[str] | None) -> None:

    for g in spec.groups:
        rows = {
            r.source: r
            for r in s.scalars(
                select(PollStatus).where(PollStatus.source.like(pool_sources_of(g.name) + "%"))
            )
        }
        parts = {"collector"} | {p for p in report.ok + list(report.stale) if p.startswith("schedd:")}
        if listed is None:  # the schedds could not be listed: every one we knew is stale too
            parts |= {part_of(src) for src in rows if "/schedd:" in src}
        for part in sorted(parts):
            if part.startswith("schedd:") and part != "schedd:*" and not g.serves(part[7:]):
                continue
            error = report.stale.get(part) or (
                report.stale.get("schedd:*") if part.startswith("schedd:") else None
            )
            source = pool_source(g.name, part)
            mark_polled(s, source, kind=POOL, group=g.name, now=now, error=error, row=rows.pop(source, None))
        if listed is not None:  # sources of schedds no longer polled leave with their rows
            for src, row in rows.items():
                if "/schedd:" in src:
                    s.delete(row)


def current_specs(engine) -> list[PoolSpec]:
    """The pools of the configured groups, with this deployment's id."""

    with session_scope(engine) as s:
        return pool_specs(s, load_settings(s).deployment_id)


def poll_one(engine, spec: PoolSpec, now: datetime) -> PollReport:
    """Advance a simulated pool to ``now`` (a real one advances by itself), then poll it."""

    if spec.kind == SIMULATED:
        advance(engine, spec.key, now)
    return poll_pool(engine, spec, connect_pool(spec, engine, now), now)
