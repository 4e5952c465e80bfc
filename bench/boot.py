"""P4: boot throughput. 2,500 VMs requested across 2 EC2 clouds (moto servers) and 2 OpenStack clouds
(fake Nova), each double in its own process, each cloud paced by its own token bucket.

Targets: every VM created, none twice (also after re-sending every request, as a retried task would);
the achieved create rate of each cloud >= 0.9 x its configured rate limit.

    .venv/bin/python bench/boot.py [--vms 2500] [--rate 10] [--burst 20] [--request-size 125]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include.providers.base import VmSpec  # noqa: E402
from include.providers.ratelimit import TokenBucket  # noqa: E402
from tests.doubles.procs import spawn  # noqa: E402

TARGET_RATIO = 0.9


def user_data(vm_id: str) -> bytes:
    return f'cs_vm_id = "{vm_id}"\n'.encode()


def make_clouds(stack: ExitStack, rate: float, burst: int) -> list[tuple[str, object, object, str, str]]:
    """(name, adapter, ground-truth counter, flavor, image) for each of the 4 clouds."""
    import boto3

    from include.providers.ec2 import Ec2Cloud
    from include.providers.ec2_http import Ec2Credentials
    from include.providers.openstack import OpenStackCloud
    from include.providers.openstack_http import OpenStackCredentials

    clouds = []
    for name in ("aws-a", "aws-b"):
        url = f"http://127.0.0.1:{stack.enter_context(spawn('tests.doubles.moto_ec2'))}"
        raw = boto3.client(
            "ec2", region_name="us-east-1", endpoint_url=url, aws_access_key_id="x", aws_secret_access_key="x"
        )
        ami = sorted(i["ImageId"] for i in raw.describe_images(Owners=["amazon"])["Images"])[0]
        adapter = Ec2Cloud(
            name, Ec2Credentials("AKIABENCH", "bench", endpoint_url=url), bucket=TokenBucket(rate, burst)
        )
        clouds.append((name, adapter, lambda raw=raw: ec2_names(raw), "t3.micro", ami))
    for name in ("os-a", "os-b"):
        url = f"http://127.0.0.1:{stack.enter_context(spawn('tests.doubles.fake_openstack'))}"
        creds = OpenStackCredentials(f"{url}/identity/v3", "htc", "u", "pw")
        adapter = OpenStackCloud(name, creds, bucket=TokenBucket(rate, burst))
        clouds.append((name, adapter, lambda url=url: fake_names(url), "m1.small", "cernvm4"))
    return clouds


def ec2_names(raw) -> list[str]:
    pages = raw.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "tag-key", "Values": ["cs_vm_id"]}]
    )
    return [
        t["Value"]
        for p in pages
        for r in p["Reservations"]
        for i in r["Instances"]
        for t in i["Tags"]
        if t["Key"] == "Name"
    ]


def fake_names(url: str) -> list[str]:
    import json
    import urllib.request

    return json.loads(urllib.request.urlopen(f"{url}/_fake/names").read())["names"]


def boot_cloud(
    name: str, adapter, flavor: str, image: str, count: int, request_size: int
) -> tuple[float, int, int]:
    """Send the cloud's boot requests one after another (as successive cycles would); returns
    (seconds, VMs created, VMs failed)."""
    made = failed = 0
    start = time.perf_counter()
    for n, first in enumerate(range(0, count, request_size)):
        spec = VmSpec(
            group="bench",
            cloud=name,
            request_id=f"{name}-req{n}",
            flavor=flavor,
            image=image,
            user_data=user_data,
        )
        results = adapter.create_vms(spec, min(request_size, count - first))
        made += sum(r.ok and not r.existed for r in results)
        failed += sum(not r.ok for r in results)
    return time.perf_counter() - start, made, failed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vms", type=int, default=2500)
    ap.add_argument("--rate", type=float, default=10.0, help="per-cloud API requests per second")
    ap.add_argument("--burst", type=int, default=20, help="the settings default_rate_burst")
    ap.add_argument("--request-size", type=int, default=125)
    args = ap.parse_args()
    ok = True
    with ExitStack() as stack:
        clouds = make_clouds(stack, args.rate, args.burst)
        per_cloud = args.vms // len(clouds)
        with ThreadPoolExecutor(len(clouds)) as pool:
            runs = list(
                pool.map(lambda c: boot_cloud(c[0], c[1], c[3], c[4], per_cloud, args.request_size), clouds)
            )
        ratios = []
        for (name, *_), (seconds, made, failed) in zip(clouds, runs, strict=True):
            rate = made / seconds
            ratios.append(rate / args.rate)
            print(
                f"p4_rate_{name}: {rate:.2f} VMs/s (limit {args.rate:g}/s, {made} in {seconds:.1f} s, {failed} failed)"
            )
        # A retried task re-sends every request: nothing new may appear.
        with ThreadPoolExecutor(len(clouds)) as pool:
            again = list(
                pool.map(lambda c: boot_cloud(c[0], c[1], c[3], c[4], per_cloud, args.request_size), clouds)
            )
        names = [n for _, _, count_names, *_ in clouds for n in count_names()]
        dupes = sum(c - 1 for c in Counter(names).values() if c > 1)
        created = len(set(names))
        print(f"p4_created: {created} VMs (requested {per_cloud * len(clouds)})")
        print(f"p4_duplicates: {dupes} VMs")
        print(f"p4_created_on_retry: {sum(r[1] for r in again)} VMs")
        print(f"p4_rate_ratio_min: {min(ratios):.3f} x limit (target >= {TARGET_RATIO})")
        ok = created == per_cloud * len(clouds) and dupes == 0 and sum(r[1] for r in again) == 0
        ok = ok and min(ratios) >= TARGET_RATIO
    print("p4_target: " + ("met" if ok else "MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
