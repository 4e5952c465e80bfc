"""P4 end to end: a burst of idle jobs booted through the whole loop.

The embedded default (`make run`'s stack: Airflow on SQLite, LocalExecutor, our DAGs) runs with the demo
group `atlas` served by four real-protocol clouds instead of its simulated ones: two fake Novas (our
OpenStack adapter, openstacksdk over HTTP) and two moto EC2 servers (boto3 over HTTP), each double in its
own process. Then `--jobs` idle 8-core jobs appear in the simulated pool at once. The loop does the rest as
in production: `cs_poll_condor` writes them, `cs_schedule` plans (under the group's lease, VM rows
recorded before any call) and its mapped `act` tasks send the creates, one task per cloud, each paced by
the cloud's token bucket. The VMs never join the pool (real-protocol clouds do not run startds), so the
jobs stay idle and the booting VMs are what covers them: nothing more may boot.

The burst configuration (what a site sets for this; the shipped defaults boot 5 VMs per cloud per cycle):

    settings: {max_boot_per_cycle: 625, new_vms_throttle: 1000}
    each cloud: rate_limit: {per_second: 10, burst: 20}

Measured from the clouds' own receipt of each create (the fake Nova's clock; moto's LaunchTime, whole
seconds, rounded up): every create within 120 s of the moment the pool poll wrote the jobs; none twice
(one instance per cs_vm_id in every cloud); none lost (after the next clouds poll, our VM rows and the
clouds' instances are the same set). Where the time goes comes from Airflow's own task instances.

    .venv/bin/python bench/burst.py [--jobs 2500] [--rate 10] [--per-cycle 625]

The cloud rows are written into the state database directly: the configuration (rightly) refuses real
clouds in a group whose pool is simulated, a mix only a benchmark wants.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from demo_story import Api  # noqa: E402
from stack import embedded_stack, wait_for  # noqa: E402

from tests.doubles.procs import spawn  # noqa: E402

TARGET_S = 120
GROUP = "atlas"


class Double:
    """One cloud double: its cloud row's settings and a way to read what it holds."""

    def __init__(self, name: str, kind: str, url: str):
        self.name, self.kind, self.url = name, kind, url
        self.conn_id = f"cs_burst_{name.replace('-', '_')}"
        if kind == "amazon":
            import boto3

            self.ec2 = boto3.client(
                "ec2",
                region_name="us-east-1",
                endpoint_url=url,
                aws_access_key_id="x",
                aws_secret_access_key="x",
            )
            # A public AMI, as EC2 itself serves them; the cloud row names it by id.
            self.image = sorted(i["ImageId"] for i in self.ec2.describe_images(Owners=["amazon"])["Images"])[
                0
            ]
            self.flavor = "m5.2xlarge"  # 8 vCPU, 32 GiB: one 8-core 16 GB job each
        else:
            self.image, self.flavor = "cernvm4", "c8.large"  # 8 vCPU, 16 GiB

    def connection(self) -> str:
        if self.kind == "amazon":
            body = {
                "conn_type": "aws",
                "login": "AKIABURST",
                "password": "x",
                "extra": {"region_name": "us-east-1"},
            }
        else:
            body = {"conn_type": "generic", "login": "u", "password": "pw", "extra": {"project_name": "htc"}}
        return json.dumps(body)

    def received(self) -> list[tuple[str, float]]:
        """(cs_vm_id, epoch seconds the cloud took the create) of every instance it holds."""
        if self.kind != "amazon":
            with urllib.request.urlopen(f"{self.url}/_fake/names", timeout=30) as resp:
                return list(json.loads(resp.read())["received"].items())
        out = []
        for page in self.ec2.get_paginator("describe_instances").paginate():
            for r in page["Reservations"]:
                for i in r["Instances"]:
                    tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
                    if "cs_vm_id" in tags:
                        # LaunchTime has whole seconds: the create arrived before the next second began.
                        out.append((tags["cs_vm_id"], math.ceil(i["LaunchTime"].timestamp() + 1e-6)))
        return out


def configure(engine, doubles: list[Double], rate: float, per_cycle: int) -> None:
    from sqlalchemy import update

    from include.store.db import session_scope
    from include.store.models import Cloud, Setting

    with session_scope(engine) as s:
        s.execute(
            update(Cloud).where(Cloud.group_name == GROUP).values(enabled=False)
        )  # the demo's simulated
        for d in doubles:
            s.add(
                Cloud(
                    group_name=GROUP,
                    name=d.name,
                    cloud_type=d.kind,
                    auth_url=f"{d.url}/identity/v3" if d.kind == "openstack" else d.url,
                    region="us-east-1" if d.kind == "amazon" else None,
                    project="htc" if d.kind == "openstack" else None,
                    connection_id=d.conn_id,
                    vm_image=d.image,
                    vm_flavor=d.flavor,
                    rate_per_second=rate,
                    rate_burst=20,
                    priority=0,
                )
            )
        for key, value in (("max_boot_per_cycle", per_cycle), ("new_vms_throttle", 1000)):
            s.merge(Setting(key=key, value=value))


def epoch(text: str | None) -> float | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


def task_timeline(api: Api, since: datetime, t0: float) -> list[str]:
    """Each cs_schedule run since ``since``: plan and act tasks, queued and running, seconds after t0."""
    lines = []
    for run in sorted(api.runs("cs_schedule", since), key=lambda r: r["run_after"]):
        tis = api._call(
            "GET", f"/api/v2/dags/cs_schedule/dagRuns/{run['dag_run_id']}/taskInstances?limit=100"
        )
        for ti in sorted(tis["task_instances"], key=lambda t: (t["start_date"] or "", t["map_index"])):
            if ti["task_id"] == "finish" or not ti["start_date"]:
                continue
            label = ti.get("rendered_map_index") or ti["task_id"]
            queued, start, end = (epoch(ti.get(k)) for k in ("queued_when", "start_date", "end_date"))
            lines.append(
                f"  {run['dag_run_id'][:38]:38s} {ti['task_id']:5s} {label[:28]:28s} "
                f"queued {queued - t0 if queued else float('nan'):6.1f}  start {start - t0:6.1f}  "
                f"end {(end or time.time()) - t0:6.1f}  ({ti['state']})"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2500)
    parser.add_argument("--rate", type=float, default=10.0, help="creates per second per cloud")
    parser.add_argument("--per-cycle", type=int, default=625, help="max_boot_per_cycle")
    parser.add_argument("--port", type=int, default=8797)
    parser.add_argument("--limit", type=float, default=400, help="give up after this many seconds")
    args = parser.parse_args()
    with ExitStack() as stack:
        doubles = []
        for name, module, kind in (
            ("os-a", "tests.doubles.fake_openstack", "openstack"),
            ("os-b", "tests.doubles.fake_openstack", "openstack"),
            ("aws-a", "tests.doubles.moto_ec2", "amazon"),
            ("aws-b", "tests.doubles.moto_ec2", "amazon"),
        ):
            doubles.append(Double(name, kind, f"http://127.0.0.1:{stack.enter_context(spawn(module))}"))
        env = {f"AIRFLOW_CONN_{d.conn_id.upper()}": d.connection() for d in doubles}
        run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cs-burst-")))
        info = stack.enter_context(embedded_stack(run_dir, args.port, extra_env=env))
        print(f"stack up after {info['ui_s']:.1f} s", flush=True)
        os.environ["CLOUDSCHEDULER_DB_URL"] = info["state_url"]
        from sqlalchemy import func, select

        from include.simulated.pool import submit_jobs
        from include.store.db import get_engine, session_scope
        from include.store.models import BootRequest, Job, PollStatus, Vm

        engine = get_engine()
        configure(engine, doubles, args.rate, args.per_cycle)
        api = Api(args.port)
        api.trigger("cs_poll_clouds", {})  # the new clouds' flavours, images and quotas, without waiting 60 s

        def polled() -> bool:
            with session_scope(engine) as s:
                names = s.scalars(
                    select(PollStatus.cloud_name).where(PollStatus.kind == "cloud", PollStatus.ok)
                ).all()
            return {d.name for d in doubles} <= set(names)

        if not wait_for(polled, 240, 1):
            print("setup: the four clouds were never polled successfully")
            return 1
        time.sleep(5)  # let the schedule run that follows the poll finish: the burst starts on a quiet loop
        load0 = os.getloadavg()
        since = datetime.now(UTC)
        t_submit = time.time()
        ids = submit_jobs(engine, GROUP, args.jobs, now=since, cores=8, ram_mb=16000, duration_s=3600)
        print(f"{len(ids)} idle jobs in the pool", flush=True)

        def seen():
            with session_scope(engine) as s:
                return (
                    s.scalar(select(func.count()).select_from(Job).where(Job.group_name == GROUP))
                    >= args.jobs
                )

        if not wait_for(seen, 60, 0.05):
            print("the pool poll never wrote the jobs")
            return 1
        t_seen = time.time()
        ours = {d.name for d in doubles}

        def all_created():
            with session_scope(engine) as s:
                made = s.scalar(
                    select(func.count())
                    .select_from(Vm)
                    .where(Vm.cloud_name.in_(ours), Vm.cloud_vm_id.is_not(None))
                )
            return made >= args.jobs

        done = wait_for(all_created, args.limit, 1)
        t_done = time.time()
        load1 = os.getloadavg()
        received = {d.name: d.received() for d in doubles}
        timeline = task_timeline(api, since, t_seen)
        # None lost: the next clouds poll must find every instance and our rows must name only those.
        api.trigger("cs_poll_clouds", {})
        poll_mark = datetime.now(UTC)

        def repolled() -> bool:
            with session_scope(engine) as s:
                times = s.scalars(
                    select(PollStatus.last_success).where(PollStatus.cloud_name.in_(ours), PollStatus.ok)
                ).all()
            return len(times) == len(ours) and all(t and t >= poll_mark for t in times)

        wait_for(repolled, 180, 1)
        with session_scope(engine) as s:
            rows = s.execute(
                select(Vm.vm_id, Vm.cloud_name, Vm.status, Vm.cloud_vm_id).where(Vm.cloud_name.in_(ours))
            ).all()
            # Anything that did not go straight through: errors the act recorded, requests not "done".
            troubles = Counter(
                f"{r.cloud_name}: {r.error[:120]}"
                for r in s.execute(select(Vm.cloud_name, Vm.error).where(Vm.error.is_not(None))).all()
            )
            requests = Counter(
                (r.cloud_name, r.state, r.count)
                for r in s.execute(select(BootRequest.cloud_name, BootRequest.state, BootRequest.count)).all()
            )
    # The stack is down: figures.
    per_cloud = {}
    duplicates = lost = 0
    all_ids = []
    for name, items in received.items():
        counts = Counter(vm for vm, _ in items)
        duplicates += sum(n - 1 for n in counts.values() if n > 1)
        times = sorted(t for _, t in items)
        all_ids += list(counts)
        per_cloud[name] = (
            len(counts),
            times[0] - t_seen if times else None,
            times[-1] - t_seen if times else None,
        )
    row_ids = {r.vm_id for r in rows if r.status != "gone"}
    lost = len(set(all_ids) - row_ids) + len(row_ids - set(all_ids))
    last = max((v[2] for v in per_cloud.values() if v[2] is not None), default=float("inf"))
    created = len(set(all_ids))
    print(f"load average before / after: {load0[0]:.2f} / {load1[0]:.2f}")
    print(f"jobs written by the pool poll: {t_seen - t_submit:.1f} s after they appeared in the pool")
    for name, (n, first, end) in per_cloud.items():
        span = (end - first) if n else 0
        rate = (n - 1) / span if span > 0 else float("nan")
        print(
            f"  {name:6s} {n:5d} created, first {first:6.1f} s, last {end:6.1f} s after the poll, {rate:5.2f}/s"
        )
    print("cs_schedule task instances (seconds after the poll wrote the jobs):")
    print("\n".join(timeline))
    print("boot requests (cloud, state, VMs): " + ", ".join(f"{k} x{n}" for k, n in sorted(requests.items())))
    for text, n in troubles.most_common(10):
        print(f"  VM error x{n}: {text}")
    print(f"burst_created: {created} of {args.jobs}")
    print(f"burst_last_create_s: {last:.1f}")
    print(f"burst_duplicates: {duplicates}")
    print(f"burst_lost: {lost} (our rows {len(row_ids)}, clouds' instances {len(set(all_ids))})")
    if done is None:
        print(f"not all created within {args.limit:.0f} s (waited until {t_done - t_seen:.0f} s)")
    ok = created == args.jobs and last <= TARGET_S and duplicates == 0 and lost == 0
    spread = [v[0] for v in per_cloud.values()]
    print(f"spread over clouds: {spread} (median {statistics.median(spread):.0f})")
    print(
        f"target: {'met' if ok else 'MISSED'} (all {args.jobs} created within {TARGET_S} s, none twice, none lost)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
