"""The workloads of the planner-quality bench (P8): a site (clouds, flavours, failures, limits, groups)
and a list of job bursts with a run time per job.

Run times: each burst draws a median (lognormal around the trace's median), then each job of the burst
draws its own run time lognormally around that median (sigma ``JOB_SIGMA``), clipped to the trace's
range, so a VM's jobs do not all end together as they did when a burst had one duration.

Every trace stops submitting a quarter of its length before the end (at most 3 h), so the last bursts
can finish inside the window; any length runs (``--hours 3`` or less included).
Nothing here sets a product setting: the site gets the shipped defaults (``include.config.settings``)
and the shipped group keep-alive.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

JOB_SIGMA = 0.5  # spread of run times within a burst (lognormal sigma around the burst's median)


@dataclass(frozen=True)
class CloudSpec:
    name: str
    groups: tuple[str, ...]
    priority: int
    quota_cores: int
    flavours: tuple[tuple[str, int, int], ...]  # (name, cores, ram MB)
    limits: dict = field(default_factory=dict)  # cores_ctl, cores_softmax, ram_ctl, max_vms
    failures: dict = field(default_factory=dict)  # include.config.schema.SimFailures fields
    boot_s: int = 60
    register_s: int = 20
    quota_ram_mb: int = -1
    quota_instances: int = -1


@dataclass(frozen=True)
class Burst:
    at_s: float
    group: str
    cores: int
    ram_mb: int
    durations: tuple[int, ...]  # one run time per job
    requirements: str | None = None  # a clause added to the jobs' Requirements


@dataclass
class Trace:
    name: str
    hours: float
    groups: tuple[str, ...]
    clouds: list[CloudSpec]
    bursts: list[Burst]

    def flavours_of(self, group: str) -> list[tuple[str, int, int]]:
        return sorted({f for c in self.clouds if group in c.groups for f in c.flavours}, key=lambda f: f[1])

    def slowest_start_s(self) -> int:
        return max(c.boot_s + c.register_s for c in self.clouds)


def site(trace: Trace) -> dict:
    """The configuration document: only what a site must state (clouds, flavours, quotas, limits, the
    groups' image and template); every setting and the keep-alive are the product's defaults."""
    meta = [
        {
            "name": "worker.yaml.j2",
            "text": (
                "#cloud-config\nwrite_files:\n- path: /etc/condor/config.d/50-cs.conf\n  content: |\n"
                '    cs_vm_id = "{{ cs_vm_id }}"\n    group_name = "{{ cs_group_name }}"\n'
            ),
        }
    ]

    def cloud(c: CloudSpec) -> dict:
        return {
            "name": c.name,
            "type": "simulated",
            "priority": c.priority,
            "limits": dict(c.limits),
            "simulation": {
                "boot_delay_s": c.boot_s,
                "register_delay_s": c.register_s,
                "quota_cores": c.quota_cores,
                "quota_ram_mb": c.quota_ram_mb,
                "quota_instances": c.quota_instances,
                "flavors": [{"name": f, "cores": n, "ram_mb": r, "disk_gb": 100.0} for f, n, r in c.flavours],
                "images": ["cvm"],
                "failures": dict(c.failures),
            },
        }

    groups = [
        {
            "name": g,
            "pool": {"kind": "simulated"},
            "other_submitters": ["ALL"],
            "vm_defaults": {"image": "cvm"},
            "metadata": meta,
            "clouds": [cloud(c) for c in trace.clouds if g in c.groups],
        }
        for g in trace.groups
    ]
    return {"groups": groups}


def arrival_end_s(hours: float) -> float:
    return hours * 3600 - min(3 * 3600, hours * 3600 / 4)


def _durations(rng: random.Random, count: int, median_s: float, lo: int, hi: int) -> tuple[int, ...]:
    burst = rng.lognormvariate(math.log(median_s), 0.5)
    return tuple(int(min(hi, max(lo, rng.lognormvariate(math.log(burst), JOB_SIGMA)))) for _ in range(count))


def _poisson(rng: random.Random, hours: float, mean_gap_s: float, first_s: float = 0.0):
    t = first_s
    while True:
        t += rng.expovariate(1 / mean_gap_s)
        if t >= arrival_end_s(hours):
            return
        yield t


def stock(hours: float, seed: int) -> Trace:
    """Today's multi-group trace: atlas 5-24 jobs of 8 cores, belle2 10-96 jobs of 1-4 cores, a burst every
    25 min on average, run times around 1 h (10 min..4 h), now varied per job."""
    rng = random.Random(seed)
    clouds = [
        CloudSpec("alpha", ("atlas", "belle2"), 0, 256, (("c8", 8, 32000), ("c16", 16, 64000)),
                  {"cores_ctl": 192}, {"capacity_error_rate": 0.05}),
        CloudSpec("beta", ("atlas", "belle2"), 0, 256, (("m8", 8, 30000), ("m16", 16, 60000)),
                  {}, {"error_state_rate": 0.02}),
        CloudSpec("gamma", ("atlas", "belle2"), 1, 512, (("g16", 16, 64000),),
                  {"cores_ctl": 384}, {"never_register_rate": 0.02}),
    ]  # fmt: skip
    bursts = []
    for t in _poisson(rng, hours, 1500):
        group = rng.choice(["atlas", "belle2"])
        cores = 8 if group == "atlas" else rng.choice([1, 1, 2, 4])
        count = rng.randint(5, 24) if cores == 8 else rng.randint(10, 96)
        bursts.append(Burst(t, group, cores, 2000 * cores, _durations(rng, count, 3600, 600, 4 * 3600)))
    return Trace("stock", hours, ("atlas", "belle2"), clouds, bursts)


def belle2_day(hours: float, seed: int) -> Trace:
    """A Belle II-like production day: a steady stream of 1-core simulation jobs (2 h around, up to 8 h)
    and fewer 8-core reconstruction jobs (3 h around), on two clouds with 8- and 16-core flavours."""
    rng = random.Random(seed)
    clouds = [
        CloudSpec("desy", ("belle2",), 0, 320, (("d8", 8, 24000), ("d16", 16, 48000)),
                  {"cores_ctl": 320}, {"capacity_error_rate": 0.02}, boot_s=90, register_s=30),
        CloudSpec("kek", ("belle2",), 1, 256, (("k8", 8, 32000), ("k16", 16, 64000)),
                  {}, {"error_state_rate": 0.01}, boot_s=90, register_s=30),
    ]  # fmt: skip
    bursts = [
        Burst(t, "belle2", 1, 2000, _durations(rng, rng.randint(10, 90), 7200, 900, 8 * 3600))
        for t in _poisson(rng, hours, 1200)
    ]
    bursts += [
        Burst(t, "belle2", 8, 16000, _durations(rng, rng.randint(1, 7), 3 * 3600, 1800, 8 * 3600))
        for t in _poisson(rng, hours, 2400)
    ]
    return Trace("belle2-day", hours, ("belle2",), clouds, sorted(bursts, key=lambda b: b.at_s))


def shared_tight(hours: float, seed: int) -> Trace:
    """Two groups on a tight cloud (128 cores each, cores control 96), a flaky second cloud behind it
    (15 % capacity errors, 5 % VMs in error, 5 % never registering)."""
    rng = random.Random(seed)
    both = ("atlas", "cms")
    flaky = {"capacity_error_rate": 0.15, "error_state_rate": 0.05, "never_register_rate": 0.05}
    clouds = [
        CloudSpec("tight", both, 0, 128, (("t8", 8, 32000), ("t16", 16, 64000)), {"cores_ctl": 96},
                  quota_instances=12),
        CloudSpec("flaky", both, 1, 256, (("f8", 8, 32000), ("f16", 16, 64000)), {"cores_softmax": 224},
                  flaky, boot_s=120, register_s=30),
    ]  # fmt: skip
    bursts = [
        Burst(t, "atlas", 8, 16000, _durations(rng, rng.randint(3, 14), 5400, 900, 5 * 3600))
        for t in _poisson(rng, hours, 2400)
    ]
    bursts += [
        Burst(t, "cms", c, 2500 * c, _durations(rng, rng.randint(15, 60), 3600, 600, 4 * 3600))
        for t in _poisson(rng, hours, 1500)
        for c in [rng.choice([1, 1, 2])]
    ]
    return Trace("shared-tight", hours, both, clouds, sorted(bursts, key=lambda b: b.at_s))


def bursty_analysis(hours: float, seed: int) -> Trace:
    """Analysis users: bursts of 100-300 short 1-core jobs (5-20 min) every 40 min on average, on clouds
    with 4-, 8- and 16-core flavours."""
    rng = random.Random(seed)
    clouds = [
        CloudSpec("uvic", ("analysis",), 0, 256, (("a4", 4, 8000), ("a8", 8, 16000), ("a16", 16, 32000))),
        CloudSpec("cc", ("analysis",), 1, 256, (("b8", 8, 16000), ("b16", 16, 32000)),
                  {}, {"capacity_error_rate": 0.03}),
    ]  # fmt: skip
    bursts = [
        Burst(t, "analysis", 1, 2000, _durations(rng, rng.randint(100, 300), 600, 300, 1200))
        for t in _poisson(rng, hours, 2400)
    ]
    return Trace("bursty-analysis", hours, ("analysis",), clouds, bursts)


GPU = "TARGET.HasGPU =?= true"


def gpu_unmatched(hours: float, seed: int) -> Trace:
    """Normal 8- and 1-core work, plus one 8-core job whose Requirements no VM satisfies (it asks for a
    GPU) and one 64-core job no flavour holds, both submitted at 10 min: does either keep a VM alive?"""
    rng = random.Random(seed)
    clouds = [CloudSpec("alpha", ("atlas",), 0, 256, (("c8", 8, 32000), ("c16", 16, 64000)))]
    bursts = [
        Burst(t, "atlas", c, 2000 * c, _durations(rng, rng.randint(4, 16), 1800, 300, 3600))
        for t in _poisson(rng, hours, 1800)
        for c in [rng.choice([1, 8])]
    ]
    bursts += [Burst(600, "atlas", 8, 16000, (3600,), GPU), Burst(600, "atlas", 64, 128000, (3600,))]
    return Trace("gpu-unmatched", hours, ("atlas",), clouds, sorted(bursts, key=lambda b: b.at_s))


TRACES = {
    "stock": (stock, 24),
    "belle2-day": (belle2_day, 24),
    "shared-tight": (shared_tight, 24),
    "bursty-analysis": (bursty_analysis, 24),
    "gpu-unmatched": (gpu_unmatched, 4),
}
