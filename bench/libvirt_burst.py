"""A libvirt burst (issue 20): 2,500 VMs booted through the loop on a farm of 10 hypervisors, against
Sim@P1's 2,500 instances in 2 minutes.

The farm is 10 nodes of libvirt's test driver in this process (each a ``test:///<file>.xml`` with 2,048
CPUs and 8 TiB: the driver runs no guests, so room is what it reports), one ``type: libvirt`` cloud
listing all 10. 2,500 idle 8-core jobs sit in the group's HTCondor pool, read from recorded
``condor_q -long`` text as in bench/cycle.py. Then the loop's task bodies run as their DAGs call them:
``poll_pools``, ``poll_cloud``, ``plan_cycle``, ``act_on`` per work item, ``finish_run``; then a second
cycle, which must boot nothing (the booting VMs cover the jobs).

Measured: from the pool poll's start to the last domain started (the loop's own time: planning, the
intents written before any call, the creates), then the creates alone; VMs per host; none twice (one
domain per VM id across the farm); none lost (our VM rows and the farm's domains are the same set).
Not in the figure: Airflow's task start (1-4 s, P3/P4) and a real hypervisor's own work per domain,
which ``tests/providers/test_libvirt.py`` times on a real libvirtd with KVM (``--real``: KVM
guests on Debian's libvirtd, 20 by default where it is installed).

The burst configuration (what a site sets to boot a burst in one cycle; the shipped defaults boot 5 VMs
per cloud per cycle): ``settings: {max_boot_per_cycle: 2500, new_vms_throttle: 2500}``.

    .venv/bin/python bench/libvirt_burst.py [--vms 2500] [--hosts 10] [--real 20]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import cycle  # noqa: E402

TARGET_S = 120
GROUP = cycle.group_name(0)
NODE = """<node>
  <cpu><mhz>2000</mhz><model>x86_64</model><active>{cpus}</active><total>{cpus}</total><nodes>1</nodes>
    <sockets>1</sockets><cores>{cpus}</cores><threads>1</threads></cpu>
  <memory>{kib}</memory>
  <pool type='dir'><name>default</name><target><path>/var/lib/libvirt/images</path></target>
    <volume type='file'><name>cernvm4</name><capacity unit='M'>100</capacity>
      <target><format type='qcow2'/></target></volume></pool>
</node>"""


def site(uris: list[str], vms: int) -> dict:
    return {
        "settings": {"max_boot_per_cycle": vms, "new_vms_throttle": vms},
        "groups": [
            {
                "name": GROUP,
                "pool": {"kind": "htcondor", "collector": "cm0.example.org", "schedds": ["schedd0"]},
                "other_submitters": ["ALL"],
                "job_defaults": {"cores": 8, "ram_mb": 16000, "disk_gb": 20.0},
                "vm_defaults": {"image": "cernvm4", "keep_alive": 600},
                "clouds": [
                    {
                        "name": "p1",
                        "type": "libvirt",
                        "vm": {"flavor": "c8"},
                        "libvirt": {
                            "hypervisors": uris,
                            "domain_type": "test",
                            "network": "user",
                            # The test driver allocates a volume's whole size in its 100 GB pool.
                            "flavors": [{"name": "c8", "cores": 8, "ram_mb": 16000, "disk_gb": 0.1}],
                        },
                    }
                ],
            }
        ],
    }


def farm(folder: Path, hosts: int) -> list[str]:
    uris = []
    for i in range(hosts):
        path = folder / f"hv{i:02d}.xml"
        path.write_text(NODE.format(cpus=2048, kib=8 * 1024**3))
        uris.append(f"test://{path}")
    return uris


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vms", type=int, default=2500)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--pg", action="store_true", help="the state on PostgreSQL (default: SQLite)")
    ap.add_argument(
        "--real",
        type=int,
        default=20 if os.path.exists("/usr/sbin/libvirtd") else 0,
        help="guests to boot on a real libvirtd (0: none; needs root and scripts/system_deps.sh)",
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cs-bench-libvirt-"))
    if args.pg:
        from tests.conftest import create_pg_database

        url = create_pg_database("cs_bench_libvirt")
    else:
        url = f"sqlite:///{work / 'state.db'}"
    os.environ["CLOUDSCHEDULER_DB_URL"] = url
    try:
        code = run(url, farm(work, args.hosts), args.vms)
        if args.real:
            real_host(args.real)
        return code
    finally:
        from include.store.db import get_engine

        get_engine().dispose()
        if args.pg:
            from tests.conftest import drop_pg_database

            drop_pg_database(url)


def run(url: str, uris: list[str], vms: int) -> int:
    import include.loop.polling as polling
    import include.loop.pool_poll as pool_poll
    from include.config import apply_config, parse_document
    from include.loop.cycle import (
        act_on,
        clouds_to_poll,
        finish_run,
        plan_cycle,
        poll_cloud,
        poll_pools,
        work_items,
    )
    from include.providers.libvirt import _shared_open
    from include.store import migrate
    from include.store.db import get_engine, session_scope

    migrate.upgrade(url)
    with session_scope(get_engine()) as s:
        apply_config(s, parse_document(site(uris, vms)), actor="bench")
    rng = random.Random(20)
    first = cycle.CLOUDS * cycle.VMS_PER_CLOUD  # job_text's first idle job
    # Jobs that ask for 50 MB of disk: the test driver's pools hold 100 GB and allocate whole volumes.
    jobs = [
        re.sub(r"DiskUsage = \d+", "DiskUsage = 51200", cycle.job_text(0, i, rng))
        for i in range(first, first + vms)
    ]
    polling.poll_one = lambda engine, spec, now: pool_poll.poll_pool(
        engine, spec, cycle.TextPool(spec, jobs, []), now
    )

    began = time.perf_counter()
    reports = poll_pools()
    assert not any(r["stale"] for r in reports), reports
    for item in clouds_to_poll():
        assert poll_cloud(item["group"], item["cloud"]).get("ok", True) is not False
    t_plan = time.perf_counter()
    plan = plan_cycle()
    items = work_items(plan)
    if not items:
        print(f"nothing to do: {str(plan)[:1500]}")
    t_act = time.perf_counter()
    outcomes = [act_on(w) for w in items]
    finish_run(items)
    ended = time.perf_counter()

    domains = Counter()
    per_host = {}
    for uri in uris:
        names = [d.name() for d in _shared_open(uri).listAllDomains(0)]
        per_host[uri.rsplit("/", 1)[-1]] = len(names)
        domains.update(names)
    twice = sum(1 for n in domains.values() if n > 1)

    # The next cycle: the VMs booting cover the jobs; nothing more may boot.
    poll_pools()
    for item in clouds_to_poll():
        poll_cloud(item["group"], item["cloud"])
    second = plan_cycle()
    second_items = work_items(second)
    for w in second_items:
        act_on(w)
    finish_run(second_items)
    after = Counter(d.name() for uri in uris for d in _shared_open(uri).listAllDomains(0))

    from sqlalchemy import select

    from include.store.models import Vm

    with session_scope(get_engine()) as s:
        rows = set(s.scalars(select(Vm.vm_id).where(Vm.group_name == GROUP)))
    total = ended - began
    print(f"farm: {len(uris)} test-driver hosts, {vms:,} idle 8-core jobs, load {os.getloadavg()[0]:.2f}")
    print(f"work items: {len(items)} ({len(outcomes)} acted)")
    print(f"started: {len(domains):,} domains")
    print(f"pool poll to last domain started: {total:.1f} s (target {TARGET_S} s, Sim@P1)")
    print(f"  polls {t_plan - began:.1f} s, plan {t_act - t_plan:.1f} s, creates {ended - t_act:.1f} s")
    print(f"VMs per host: min {min(per_host.values())}, max {max(per_host.values())}")
    print(f"booted twice: {twice}; booted by the second cycle: {len(after) - len(domains)}")
    print(f"lost (rows without a domain or domains without a row): {len(rows ^ set(after))}")
    ok = len(domains) == vms and total <= TARGET_S and twice == 0 and len(after) == len(domains)
    ok = ok and rows == set(after)
    return 0 if ok else 1


def real_host(count: int) -> None:
    """What one real hypervisor costs per VM: ``count`` KVM guests (64 MB, the adapter's whole create:
    disk, config disk upload, define, start) on Debian's libvirtd, then deleted."""
    from include.providers.base import VmSpec
    from include.providers.libvirt import LibvirtCloud, LibvirtSettings
    from tests.doubles.libvirtd import Libvirtd

    daemon = Libvirtd()
    try:
        conn, pool, path = daemon.pool("cs-bench")
        pool.createXML(
            "<volume><name>cernvm4</name><capacity unit='M'>64</capacity><target><format type='qcow2'/></target></volume>",
            0,
        )
        settings = LibvirtSettings.from_row(
            {
                "hypervisors": [daemon.uri],
                "flavors": [{"name": "tiny", "cores": 1, "ram_mb": 64, "disk_gb": 0.1}],
                "storage_pool": "cs-bench",
                "network": "user",
                "domain_type": daemon.domain_type,
                "cpu_allocation_ratio": 64.0,
            }
        )
        cloud = LibvirtCloud("real", settings)
        spec = VmSpec(
            group=GROUP,
            cloud="real",
            request_id="rb",
            flavor="tiny",
            image="cernvm4",
            user_data=lambda vm_id: f'cs_vm_id = "{vm_id}"'.encode(),
        )
        began = time.perf_counter()
        made = cloud.create_vms(spec, count)
        took = time.perf_counter() - began
        assert all(r.ok for r in made), made
        for r in made:
            cloud.delete_vm(r.vm_id, r.cloud_vm_id)
        per_vm = took / count
        print(
            f"real libvirtd ({daemon.domain_type}): {count} guests started in {took:.1f} s, {per_vm:.2f} s each"
        )
        print(
            f"  at that rate, {2500 // 10} guests per host on 10 hosts booting in parallel: {250 * per_vm:.0f} s"
        )
        for volume in pool.listAllVolumes(0):
            volume.delete(0)
        pool.destroy()
        path.rmdir()
    finally:
        daemon.stop()


if __name__ == "__main__":
    sys.exit(main())
