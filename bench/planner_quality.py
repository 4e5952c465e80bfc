"""P8: planner quality. Replays a workload (``bench/quality_traces.py``) on simulated clouds (boot delay,
capacity errors, VMs in error, VMs that never register) through the real control loop on a simulated
clock, at the shipped intervals and triggers (condor poll 15 s, each followed by cs_schedule as its Asset
triggers it: plan, act, finish; cloud poll 60 s) and the shipped settings, with our planner or the naive
baseline (``bench/quality_naive.py``) swapped in for the planner function, and prints what an operator pays for, one ``name: value unit``
line each (``bench/quality_figures.py`` says how each is computed; bench/README.md "Planner quality").

    .venv/bin/python bench/planner_quality.py --trace stock --policy ours [--hours 24] [--seed 7]
    .venv/bin/python bench/planner_quality.py --trace all --policy naive   # every trace, then a table
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import quality_figures as fig  # noqa: E402
from bench.quality_traces import GPU, TRACES, Trace, site  # noqa: E402

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
CONDOR_POLL_S, SCHEDULE_S, CLOUD_POLL_S = 15, 30, 60  # include/intervals.py's defaults
NEGOTIATOR_S = 20  # the simulated negotiator's cycle (SimPool.negotiator_interval_s default)
# Polls per scheduling cycle. The shipped cs_schedule also runs on the CONDOR_STATE Asset, which every
# condor poll updates, so in production a cycle follows each poll (bench/README.md "Reaction time").
# Until 2026-12-07 night this bench ran the cycle every 30 s only (2: ``--cycle-every-polls 2``).
SHIPPED_CYCLE_EVERY_POLLS = 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trace", default="stock", choices=[*TRACES, "all"])
    parser.add_argument("--policy", default="ours", choices=["ours", "naive"])
    parser.add_argument(
        "--pool",
        default="depth_first",
        choices=["depth_first", "default"],
        help="the simulated negotiator: the README's depth-first configuration or a pool as HTCondor ships",
    )
    parser.add_argument(
        "--defrag",
        type=int,
        default=0,
        metavar="CORES",
        help="run condor_defrag in the simulated pool as the README configures it, a drain cancelled once "
        "CORES are free (DEFRAG_WHOLE_MACHINE_EXPR = Cpus >= CORES); 0 (default): no defrag daemon",
    )
    parser.add_argument(
        "--defrag-rate",
        type=int,
        default=None,
        metavar="N",
        help="an experiment off the README's condor_defrag configuration: N drains an hour and at most N "
        "draining at once (the README's: 2)",
    )
    parser.add_argument(
        "--multicore-first",
        action="store_true",
        help="the simulated pool negotiates each user's multi-core jobs before their 1-core ones, as the "
        "README's schedd transform makes a real pool do (default: queue order, JobPrio then age)",
    )
    parser.add_argument("--hours", type=float, default=None, help="default: the trace's own (24 h; gpu 4 h)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cycle-every-polls",
        type=int,
        default=SHIPPED_CYCLE_EVERY_POLLS,
        help="run cs_schedule after every Nth condor poll (shipped: 1, the poller's Asset triggers it; 2 = "
        "every 30 s only, as this bench did before 2026-12-07 night)",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an experiment off the shipped defaults (printed with the figures); never in the P8 tables",
    )
    args = parser.parse_args(argv)
    if args.hours is not None and args.hours <= 0:
        parser.error("--hours must be positive")
    if args.defrag < 0:
        parser.error("--defrag must be 0 (none) or the cores a drain gathers")
    if args.defrag_rate is not None:
        if args.defrag_rate < 1 or not args.defrag:
            parser.error("--defrag-rate needs --defrag and a positive N")
        from include.simulated import negotiator

        negotiator.DEFRAG_PER_HOUR = negotiator.DEFRAG_MAX_CONCURRENT = args.defrag_rate
    if args.cycle_every_polls < 1:
        parser.error("--cycle-every-polls must be at least 1")
    logging.disable(logging.INFO)  # the loop logs every plan; the figures are what this prints
    names = list(TRACES) if args.trace == "all" else [args.trace]
    rows = []
    for name in names:
        make, default_hours = TRACES[name]
        trace = make(args.hours if args.hours is not None else default_hours, args.seed)
        rows.append(
            run(
                trace,
                args.policy,
                _settings(parser, args.setting),
                args.pool,
                args.cycle_every_polls,
                args.defrag,
                args.multicore_first,
            )
        )
    print_table(rows)
    return 0


def _settings(parser, pairs: list[str]) -> dict[str, int]:
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if not value.lstrip("-").isdigit():
            parser.error(f"--setting {pair!r}: expected NAME=INTEGER")
        out[name] = int(value)
    return out


def run(
    trace: Trace,
    policy: str,
    settings: dict[str, int] | None = None,
    pool: str = "depth_first",
    cycle_every_polls: int = SHIPPED_CYCLE_EVERY_POLLS,
    defrag: int = 0,
    multicore_first: bool = False,
) -> dict:
    """One trace under one policy and pool packing (and condor_defrag, gathering ``defrag`` cores, if
    not 0), in a fresh SQLite state database; returns its figures."""
    tmp = tempfile.mkdtemp(prefix=f"cs-quality-{trace.name}-")
    os.environ["CLOUDSCHEDULER_DB_URL"] = f"sqlite:///{tmp}/state.db"
    from include.condor.pools import SIMULATED, pool_key
    from include.config import apply_config, parse_document
    from include.loop import planning
    from include.simulated.queue import lock_pool
    from include.store import migrate
    from include.store.db import get_engine, session_scope

    get_engine.cache_clear()  # a fresh database per trace
    migrate.upgrade()
    with session_scope() as s:
        apply_config(s, parse_document({**site(trace), "settings": settings or {}}), actor="planner-quality")
    with session_scope() as s:
        state = lock_pool(s, pool_key(SIMULATED, None))
        state.packing, state.defrag_whole_cores = pool, defrag
        state.multicore_first = multicore_first
    real_plan = planning.plan
    if policy == "naive":
        from bench.quality_naive import naive_plan_function

        planning.plan = naive_plan_function(real_plan)
    began = time.perf_counter()
    try:
        seen = drive(get_engine(), trace, cycle_every_polls)
    finally:
        planning.plan = real_plan
    figures = measure(trace, policy, seen, time.perf_counter() - began)
    figures["pool"] = pool
    figures["defrag"] = defrag
    figures["multicore_first"] = multicore_first
    from include.simulated import negotiator

    figures["defrag_rate"] = (negotiator.DEFRAG_PER_HOUR, negotiator.DEFRAG_MAX_CONCURRENT)
    figures["cycle_every_polls"] = cycle_every_polls
    figures["settings"] = settings or {}
    print_figures(figures)
    return figures


class Seen:
    """What the run leaves, harvested every tick (the simulated pool forgets completed jobs after 10 min
    and startds of deleted VMs at once)."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, int, int], fig.JobRun] = {}
        self.startds: dict[str, fig.StartdRun] = {}
        self.violations: dict[str, int] = {}
        self.examples: list[str] = []
        # per tick: the job sizes (cores) each group could still boot a VM for (``room_sizes``)
        self.room: list[tuple[float, dict[str, frozenset[int]]]] = []
        # our drains for waiting multi-core jobs (scheduler/room.py): (when, vm id = the startd's machine)
        self.drains: list[tuple[float, str]] = []
        self.undrains: list[tuple[float, str]] = []

    def harvest(self, engine) -> None:
        from sqlalchemy import select

        from include.store.db import session_scope
        from include.store.models import SimJob, SimStartd

        with session_scope(engine) as s:
            for j in s.scalars(select(SimJob)):
                key = (j.pool, j.cluster_id, j.proc_id)
                self.jobs[key] = fig.JobRun(
                    group=self.jobs[key].group if key in self.jobs else _group_of(j),
                    cores=j.request_cpus,
                    submitted=_s(j.q_date),
                    started=_s(j.started_at),
                    finished=_s(j.finished_at),
                    machine=j.machine,
                    evictions=j.evictions,
                )
            for sd in s.scalars(select(SimStartd)):
                self.startds[sd.machine] = fig.StartdRun(
                    sd.machine,
                    sd.group_name,
                    _s(sd.registered_at),
                    _s(sd.retire_requested_at),
                    _s(sd.left_at),
                )


def _group_of(job) -> str:
    return (job.owner or "").removesuffix("user")


def _s(t: datetime | None) -> float | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return (t - T0).total_seconds()


def submit(engine, burst) -> None:
    """One burst: a cluster of jobs, then each job's own run time (and the extra Requirements clause)."""
    from sqlalchemy import update

    from include.simulated.pool import submit_jobs
    from include.store.db import session_scope
    from include.store.models import SimJob

    at = T0 + timedelta(seconds=burst.at_s)
    ids = submit_jobs(
        engine,
        burst.group,
        len(burst.durations),
        now=at,
        cores=burst.cores,
        ram_mb=burst.ram_mb,
        duration_s=burst.durations[0],
        owner=f"{burst.group}user",
    )
    cluster = int(ids[0].split("#")[1].split(".")[0])
    with session_scope(engine) as s:
        for proc, duration in enumerate(burst.durations):
            values = {"duration_s": duration}
            if burst.requirements:
                job = s.scalars(
                    _select_job(SimJob).where(SimJob.cluster_id == cluster, SimJob.proc_id == proc)
                ).one()
                values["requirements"] = f"({burst.requirements}) && {job.requirements}"
            s.execute(
                update(SimJob).where(SimJob.cluster_id == cluster, SimJob.proc_id == proc).values(**values)
            )


def _select_job(model):
    from sqlalchemy import select

    return select(model)


def drive(engine, trace: Trace, cycle_every_polls: int = SHIPPED_CYCLE_EVERY_POLLS) -> Seen:
    from include.loop import cycle

    seen, pending = Seen(), list(trace.bursts)
    end = T0 + timedelta(hours=trace.hours)
    now, step = T0, 0
    limits = configured_limits(trace)
    while now < end:
        now += timedelta(seconds=CONDOR_POLL_S)
        step += 1
        while pending and T0 + timedelta(seconds=pending[0].at_s) <= now:
            submit(engine, pending.pop(0))
        cycle.poll_pools(now)
        if step % (CLOUD_POLL_S // CONDOR_POLL_S) == 1:
            for c in cycle.clouds_to_poll():
                cycle.poll_cloud(c["group"], c["cloud"], now)
        # cs_schedule runs on the pool poller's Asset as well as every 30 s (dags/cs_schedule.py), and the
        # poller updates it on every poll: as shipped, a cycle follows each poll.
        if step % cycle_every_polls == 0:
            planned = cycle.plan_cycle(now=now)
            for work in cycle.work_items(planned):
                done = cycle.act_on(work, now)
                seen.drains += [(_s(now), vm_id) for vm_id in done.get("drained", [])]
                seen.undrains += [(_s(now), vm_id) for vm_id in done.get("undrained", [])]
            cycle.finish_cycle(planned["groups"], now, lease=planned["lease"])
        check_limits(engine, limits, now, seen, trace)
        seen.harvest(engine)
        if step % 480 == 0:
            print(f"  {trace.name}: {now - T0} simulated", file=sys.stderr, flush=True)
    return seen


def configured_limits(trace: Trace) -> dict[tuple[str, str], dict[str, int]]:
    """Every configured limit of each group's row on each cloud: the site's limits and the project's
    quotas (-1 = none)."""
    out = {}
    for c in trace.clouds:
        lim = {
            "cores_ctl": c.limits.get("cores_ctl", -1),
            "cores_softmax": c.limits.get("cores_softmax", -1),
            "quota_cores": c.quota_cores,
            "ram_ctl": c.limits.get("ram_ctl", -1),
            "quota_ram": c.quota_ram_mb,
            "max_vms": c.limits.get("max_vms", -1),
            "quota_instances": c.quota_instances,
        }
        for g in c.groups:
            out[(g, c.name)] = lim
    return out


RESOURCE = {
    "cores_ctl": 0,
    "cores_softmax": 0,
    "quota_cores": 0,
    "ram_ctl": 1,
    "quota_ram": 1,
    "max_vms": 2,
    "quota_instances": 2,
}


def check_limits(engine, limits, now: datetime, seen: Seen, trace: Trace | None = None) -> None:
    """Count, every tick, each (group, cloud, limit) over its configured value, by two counts: the cloud's
    instances not deleted, and our own VM table's rows not gone (requested ones included). With
    ``trace``, also note which job sizes each group could still boot a VM for (``room_sizes``)."""
    from sqlalchemy import func, select

    from include.store.db import session_scope
    from include.store.models import SimInstance, Vm

    with session_scope(engine) as s:
        counts = {
            "instances": s.execute(
                select(
                    SimInstance.group_name,
                    SimInstance.cloud_name,
                    func.sum(SimInstance.cores),
                    func.sum(SimInstance.ram_mb),
                    func.count(),
                )
                .where(SimInstance.status != "deleted")
                .group_by(SimInstance.group_name, SimInstance.cloud_name)
            ).all(),
            "vm_table": s.execute(
                select(Vm.group_name, Vm.cloud_name, func.sum(Vm.cores), func.sum(Vm.ram_mb), func.count())
                .where(Vm.status != "gone")
                .group_by(Vm.group_name, Vm.cloud_name)
            ).all(),
        }
    if trace is not None:
        seen.room.append(((now - T0).total_seconds(), room_sizes(trace, limits, counts["vm_table"])))
    for source, rows in counts.items():
        for group, cloud, *use in rows:
            for name, cap in limits.get((group, cloud), {}).items():
                value = int(use[RESOURCE[name]] or 0)
                if cap >= 0 and value > cap:
                    key = f"{name}/{source}"
                    seen.violations[key] = seen.violations.get(key, 0) + 1
                    if len(seen.examples) < 5:
                        seen.examples.append(f"{now - T0} {group}/{cloud} {source}: {name} {value} > {cap}")


def room_sizes(trace: Trace, limits, vm_rows) -> dict[str, frozenset[int]]:
    """Per group, the job sizes (cores) for which some cloud of the group has room under every cores and
    VM-count limit for the smallest of its flavours that fits the job (our VM table's count, requested
    VMs included, as the planner counts). A job waiting while its size is not here waits for capacity
    the site capped, not for the planner."""
    used = {(g, c): (int(cores or 0), int(n or 0)) for g, c, cores, _ram, n in vm_rows}
    sizes = sorted({b.cores for b in trace.bursts})
    out: dict[str, set[int]] = {g: set() for g in trace.groups}
    for cloud in trace.clouds:
        for g in cloud.groups:
            lim = limits[(g, cloud.name)]
            cores_used, vms_used = used.get((g, cloud.name), (0, 0))
            cores_caps = [lim[k] for k in ("cores_ctl", "cores_softmax", "quota_cores") if lim[k] >= 0]
            vm_caps = [lim[k] for k in ("max_vms", "quota_instances") if lim[k] >= 0]
            if vm_caps and min(vm_caps) - vms_used < 1:
                continue
            room = min(cores_caps) - cores_used if cores_caps else math.inf
            for k in sizes:
                fitting = [cores for _name, cores, _ram in cloud.flavours if cores >= k]
                if fitting and min(fitting) <= room:
                    out[g].add(k)
    return {g: frozenset(v) for g, v in out.items()}


def keep_alive_s() -> int:
    """The keep-alive a group gets when it states none: the product's default, never below the floor."""
    from include.config.schema import GroupVmDefaults
    from include.config.settings import Settings

    return max(GroupVmDefaults().keep_alive, Settings().keep_alive_floor)


def measure(trace: Trace, policy: str, seen: Seen, wall_s: float) -> dict:
    from sqlalchemy import select

    from include.store.db import get_engine, session_scope
    from include.store.models import SimInstance

    seen.harvest(get_engine())
    end = trace.hours * 3600
    with session_scope() as s:
        vms = [
            fig.VmRun(i.name, i.group_name, i.cloud_name, i.cores, _s(i.created_at), _s(i.deleted_at))
            for i in s.scalars(select(SimInstance))
        ]
    jobs = list(seen.jobs.values())
    keep_alive = keep_alive_s()
    runs = fig.busy_intervals(jobs, end)
    busy, paid = fig.core_seconds(jobs, vms, end)
    parts = fig.waste_parts(vms, seen.startds, runs, end, keep_alive)
    retires = fig.idle_retires(seen.startds, runs)
    fluid = sum(fig.best_floor(fig.fluid_floor, jobs, trace, g, keep_alive, end) for g in trace.groups)
    packed = sum(fig.best_floor(fig.packing_floor, jobs, trace, g, keep_alive, end) for g in trace.groups)
    seer = sum(
        fig.best_floor(fig.packing_floor, jobs, trace, g, keep_alive, end, clairvoyant=True)
        for g in trace.groups
    )
    idle_s, idle_vm, idle_retired = fig.longest_idle(vms, seen.startds, runs, end)
    pct = (lambda x: 100 * x / busy) if busy else (lambda x: float("nan"))
    load = os.getloadavg()
    return {
        "trace": trace.name,
        "policy": policy,
        "planner": os.environ.get("CS_QUALITY_LABEL", "current"),
        "hours": trace.hours,
        "jobs": len(jobs),
        "jobs_never_started": sum(1 for j in jobs if j.started is None),
        "vms_booted": len(vms),
        "busy_core_hours": busy / 3600,
        "idle_pct": pct(paid - busy),
        "partly_filled_pct": pct(parts["partly_filled"]),
        "parts": {k: pct(v) for k, v in parts.items()},
        "fixed_floor_pct": pct(parts["booting"] + parts["after_last_job_keep_alive"]),
        "planner_idle_pct": pct(paid - busy - parts["booting"] - parts["after_last_job_keep_alive"]),
        "fluid_floor_pct": pct(fluid),
        "no_migration_floor_pct": pct(packed),
        "no_migration_floor_clairvoyant_pct": pct(seer),
        "idle_retires": len(retires),
        "boots_after_idle_retire": fig.boots_after_idle_retire(vms, retires, keep_alive),
        "retires_then_booted": fig.retires_then_booted(vms, retires, keep_alive),
        "boots_beside_idle_vm": fig.boots_beside_idle(vms, seen.startds, runs, NEGOTIATOR_S + SCHEDULE_S),
        "violations": seen.violations,
        "violation_examples": seen.examples,
        "killed": sum(j.evictions for j in jobs),
        "wait_p95": fig.p95(fig.waits(jobs, end)),
        "wait_p95_multicore": fig.p95(fig.waits(jobs, end, multicore=True)),
        "wait_p95_with_room": fig.p95(fig.waits_with_room(jobs, end, seen.room, CONDOR_POLL_S)),
        "wait_p95_multicore_with_room": fig.p95(
            fig.waits_with_room(jobs, end, seen.room, CONDOR_POLL_S, multicore=True)
        ),
        "bound": trace.slowest_start_s() + 2 * SCHEDULE_S,
        "room_drains": len(seen.drains),
        "room_undrains": len(seen.undrains),
        "room_drains_served": fig.drains_served(seen.drains, jobs),
        "longest_idle_s": idle_s,
        "longest_idle_vm": idle_vm,
        "longest_idle_retired": idle_retired,
        "unservable_jobs": sum(1 for b in trace.bursts if b.requirements == GPU or b.cores > 16),
        "keep_alive": keep_alive,
        "wall_s": wall_s,
        "load": f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}",
    }


def print_figures(f: dict) -> None:
    lines = [
        ("trace", f["trace"], ""),
        ("policy", f["policy"], f"({f['planner']} planner)"),
        ("pool_packing", f["pool"], ""),
        ("pool_multicore_first", "yes" if f.get("multicore_first") else "no", ""),
        ("pool_condor_defrag_whole_cores", f.get("defrag", 0) or "none", ""),
        ("pool_condor_defrag_drains_per_hour_and_max_draining", "{}, {}".format(*f["defrag_rate"]), "")
        if f.get("defrag")
        else None,
        ("cs_schedule_after_every_nth_poll", f["cycle_every_polls"],
         "(1 as shipped: each poll's Asset triggers a cycle)"),
        ("simulated_hours", f"{f['hours']:g}", "h"),
        ("jobs", f["jobs"], f"count ({f['jobs_never_started']} never started)"),
        ("vms_booted", f["vms_booted"], "count"),
        ("busy_core_hours", f"{f['busy_core_hours']:.0f}", "h"),
        ("idle_over_busy_core_hours", f"{f['idle_pct']:.2f}", "%"),
        ("partly_filled_idle_over_busy", f"{f['partly_filled_pct']:.2f}", "%"),
        ("fixed_floor_boot_and_keep_alive", f"{f['fixed_floor_pct']:.2f}", "% of busy"),
        ("planner_idle_over_busy", f"{f['planner_idle_pct']:.2f}", "% (idle minus booting and keep-alive)"),
        ("fluid_floor", f"{f['fluid_floor_pct']:.2f}", "% of busy"),
        ("no_migration_floor", f"{f['no_migration_floor_pct']:.2f}", "% of busy"),
        ("no_migration_floor_clairvoyant", f"{f['no_migration_floor_clairvoyant_pct']:.2f}",
         "% of busy (jobs starting together placed by their run times)"),
        *((f"waste_{k}", f"{v:.2f}", "% of busy") for k, v in f["parts"].items()),
        ("idle_retires", f["idle_retires"], "count"),
        ("idle_retires_followed_by_a_boot_of_their_shape", f["retires_then_booted"],
         "count (within the keep-alive; each boot stands for one retired VM)"),
        ("boots_within_keep_alive_of_idle_retire", f["boots_after_idle_retire"], "count (every VM of a burst)"),
        ("boots_while_idle_vm_lived", f["boots_beside_idle_vm"], "count"),
        ("limit_violations", sum(f["violations"].values()), "count (ticks x group/cloud x limit)"),
        *((f"limit_violations_{k.replace('/', '_')}", v, "count") for k, v in sorted(f["violations"].items())),
        ("running_jobs_killed", f["killed"], "count"),
        ("job_wait_p95_all", f"{f['wait_p95']:.0f}", "s"),
        ("job_wait_p95_multicore", f"{f['wait_p95_multicore']:.0f}", "s"),
        ("job_wait_p95_all_while_room", f"{f['wait_p95_with_room']:.0f}", "s (waiting only while a cloud had room)"),
        ("job_wait_p95_multicore_while_room", f"{f['wait_p95_multicore_with_room']:.0f}", "s"),
        ("wait_bound_boot_register_2_cycles", f["bound"], "s"),
        ("room_drains_started", f["room_drains"], "count (VMs drained for waiting multi-core jobs)"),
        ("room_drains_ended_by_us", f["room_undrains"], "count"),
        ("room_drains_served", f["room_drains_served"], "count (the next job to start on the VM was multi-core)"),
        ("longest_idle_vm", f"{f['longest_idle_s']:.0f}", f"s ({f['longest_idle_vm']}, retired: "
         f"{'yes' if f['longest_idle_retired'] else 'no'})"),
        ("keep_alive", f["keep_alive"], "s"),
        ("wall_time", f"{f['wall_s']:.0f}", "s"),
        ("load_average", f["load"], "(1/5/15 min)"),
        ("settings_off_default", ",".join(f"{k}={v}" for k, v in f["settings"].items()) or "none", ""),
    ]  # fmt: skip
    for name, value, unit in filter(None, lines):
        print(f"{name}: {value} {unit}".rstrip(), flush=True)
    for example in f["violation_examples"]:
        print(f"  violation: {example}")


def print_table(rows: list[dict]) -> None:
    print()
    print(
        "| trace | planner | policy | pool | idle/busy | partly-filled | fixed floor | fluid floor | no-migration "
        "floor | idle retires then rebooted / boots after idle retire | boots beside idle VM | violations | killed | wait p95 all / "
        "multi-core / bound | the same, waiting only while a cloud had room | load |"
    )
    print("|---" * 16 + "|")
    for f in rows:
        print(
            f"| {f['trace']} | {f['planner']} | {f['policy']} | {_pool(f)} | {f['idle_pct']:.1f} % | "
            f"{f['partly_filled_pct']:.1f} % | {f['fixed_floor_pct']:.1f} % | {f['fluid_floor_pct']:.1f} % | "
            f"{f['no_migration_floor_pct']:.1f} % | "
            f"{f['retires_then_booted']} of {f['idle_retires']} / {f['boots_after_idle_retire']} | "
            f"{f['boots_beside_idle_vm']} | {sum(f['violations'].values())} | {f['killed']} | "
            f"{f['wait_p95']:.0f} / {_or_dash(f['wait_p95_multicore'])} / {f['bound']} s | "
            f"{f['wait_p95_with_room']:.0f} / {_or_dash(f['wait_p95_multicore_with_room'])} s | {f['load']} |"
        )


def _or_dash(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}"


def _pool(f: dict) -> str:
    parts = [f["pool"]]
    if f.get("multicore_first"):
        parts.append("multi-core first")
    if f.get("defrag"):
        parts.append(f"condor_defrag {f['defrag']}")
    return " + ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
