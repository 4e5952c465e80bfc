"""A simulated site driven by a test clock: the real loop functions (poll, plan, act, finish) run against
the simulated pool and clouds in a fresh state database, one cycle per call."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from include.config import apply_config, parse_document
from include.store import migrate
from include.store.db import get_engine, session_scope
from include.store.models import Job, Machine, SimInstance, Vm

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)

SITE = {
    "settings": {"max_boot_per_cycle": 5},
    "groups": [
        {
            "name": "atlas",
            "pool": {"kind": "simulated"},
            "other_submitters": ["ALL"],
            "vm_defaults": {"image": "cvm", "keep_alive": 120},
            "metadata": [
                {
                    "name": "worker.yaml.j2",
                    "text": (
                        "#cloud-config\nwrite_files:\n- path: /etc/condor/config.d/50-cs.conf\n  content: |\n"
                        '    cs_vm_id = "{{ cs_vm_id }}"\n    group_name = "{{ cs_group_name }}"\n'
                        '    cloud_name = "{{ cs_cloud_name }}"\n    flavor = "{{ cs_flavor }}"\n'
                    ),
                }
            ],
            "clouds": [
                {
                    "name": "east",
                    "type": "simulated",
                    "priority": 0,
                    "simulation": {
                        "boot_delay_s": 40,
                        "register_delay_s": 15,
                        "quota_cores": 32,
                        "flavors": [{"name": "c8", "cores": 8, "ram_mb": 32000, "disk_gb": 50.0}],
                        "images": ["cvm"],
                    },
                },
                {
                    "name": "west",
                    "type": "simulated",
                    "priority": 1,
                    "simulation": {
                        "boot_delay_s": 40,
                        "register_delay_s": 15,
                        "quota_cores": 64,
                        "flavors": [{"name": "w8", "cores": 8, "ram_mb": 32000, "disk_gb": 50.0}],
                        "images": ["cvm"],
                    },
                },
            ],
        }
    ],
}


def site(**changes) -> dict:
    doc = copy.deepcopy(SITE)
    for path, value in changes.items():
        node = doc
        *parents, last = path.split("__")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    return doc


@dataclass
class World:
    """``now`` starts at the wall clock (so code that reads the real clock, like the CLI, sees fresh
    polls) and then runs ahead of it, cycle by cycle."""

    url: str
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    log: list[dict] = field(default_factory=list)

    @classmethod
    def create(cls, url: str, doc: dict | None = None) -> World:
        migrate.upgrade(url)
        world = cls(url)
        with session_scope(world.engine) as session:
            apply_config(session, parse_document(doc or SITE), actor="test")
        return world

    @property
    def engine(self):
        return get_engine(self.url)

    def submit(self, n: int, **kw) -> list[str]:
        from include.simulated.pool import submit_jobs

        kw = {"cores": 8, "ram_mb": 16000, "duration_s": 300} | kw
        return submit_jobs(self.engine, kw.pop("group", "atlas"), n, now=self.now, **kw)

    def cycle(self, poll_clouds: bool = True) -> dict:
        """One poll of the pool (and the clouds), one planning run, the acts, the finish."""
        from include.loop import cycle

        cycle.poll_pools(self.now)
        if poll_clouds:
            for c in cycle.clouds_to_poll():
                cycle.poll_cloud(c["group"], c["cloud"], self.now)
        plan = cycle.plan_cycle(now=self.now)
        acts = [cycle.act_cloud(w, self.now) for w in plan["clouds"]]
        pools = [cycle.act_pool(w, self.now) for w in plan["pools"]]
        finish = cycle.finish_cycle(plan["groups"], self.now, lease=plan["lease"])
        record = {"at": self.now, "plan": plan, "acts": acts, "pools": pools, "finish": finish}
        self.log.append(record)
        return record

    def run(self, seconds: int, step: int = 30, cloud_every: int = 60) -> None:
        """Cycles every ``step`` seconds; the clouds are polled every ``cloud_every`` seconds, as in
        production (the pool every cycle)."""
        end = self.now + timedelta(seconds=seconds)
        while self.now < end:
            self.now += timedelta(seconds=step)
            self.polls = getattr(self, "polls", 0) + 1
            self.cycle(poll_clouds=((self.polls - 1) * step) % cloud_every < step)

    def run_until(self, condition, limit_s: int = 3600, step: int = 30) -> datetime:
        end = self.now + timedelta(seconds=limit_s)
        while self.now < end:
            self.now += timedelta(seconds=step)
            self.cycle()
            if condition(self):
                return self.now
        raise AssertionError(f"condition not reached within {limit_s} s; last: {self.counts()}")

    def counts(self) -> dict:
        with session_scope(self.engine) as s:
            return {
                "vms": dict(s.execute(select(Vm.status, func.count()).group_by(Vm.status)).all()),
                "jobs": dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all()),
                "machines": s.scalar(select(func.count()).select_from(Machine)),
                "instances": dict(
                    s.execute(select(SimInstance.status, func.count()).group_by(SimInstance.status)).all()
                ),
            }
