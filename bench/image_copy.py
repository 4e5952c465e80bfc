"""Image copy memory: one 1 GiB image copied between two real clouds (Keystone 30 + Glance 33 from PyPI,
file store, each in its own processes) by the transfer code cs_images runs: plan, claim, download into the
cache (streamed, hashed), verify, upload to the other Glance (streamed), verify what Glance recorded.

The copy runs in a child process of its own, so its peak resident memory (``ru_maxrss`` that ``wait4``
reports for that child: everything the process did, imports included) is measured honestly; a second child that only
imports the same modules gives the baseline. Target (issue 8): peak < 200 MB. The data are random (no
compression or sparse-file shortcut anywhere), and the copy must be byte-identical (MD5 and SHA-512 as
the target Glance recorded them).

    .venv/bin/python bench/image_copy.py [--mib 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MB = 200
MIB = 1 << 20


def make_file(path: Path, mib: int) -> tuple[str, str]:
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    with path.open("wb") as f:
        for _ in range(mib):
            chunk = os.urandom(MIB)
            md5.update(chunk)
            sha512.update(chunk)
            f.write(chunk)
    return md5.hexdigest(), sha512.hexdigest()


def child(args) -> int:
    """The copying process: what a cs_images copy task does, from a fresh interpreter."""
    from include.images import tasks  # noqa: F401 - the imports a copy task pays for
    from include.providers import openstack_images  # noqa: F401

    if args.child == "baseline":
        return 0
    from include.images.settings import image_settings
    from include.providers.factory import ConnectionSecrets
    from include.store.db import make_engine

    engine = make_engine(os.environ["CLOUDSCHEDULER_DB_URL"])
    auth = json.loads(os.environ["BENCH_AUTH"])
    secrets = lambda cloud: ConnectionSecrets(login=auth["username"], password=auth["password"])  # noqa: E731
    settings = image_settings()
    work = tasks.plan_images(engine=engine, settings=settings)
    [transfer_id] = work["copies"]
    began = time.perf_counter()
    outcome = tasks.copy_image(transfer_id, "bench", engine=engine, settings=settings, secrets_for=secrets)
    outcome["seconds"] = time.perf_counter() - began
    print(json.dumps(outcome), flush=True)
    return 0 if outcome["outcome"] == "done" else 1


def run_child(which: str, env: dict, tmp: Path) -> tuple[int, dict | None, float]:
    """Run a child; returns (exit code, its JSON line, its own peak RSS in MB from wait4's rusage)."""
    out, err = tmp / f"{which}.out", tmp / f"{which}.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", which], env=env, stdout=stdout, stderr=stderr
        )
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = [json.loads(x) for x in out.read_text().splitlines() if x.startswith("{")]
    if proc.returncode:
        print(err.read_text()[-3000:], file=sys.stderr)
    return proc.returncode, (lines[-1] if lines else None), usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--child", choices=["copy", "baseline"])
    args = parser.parse_args()
    if args.child:
        return child(args)
    from tests.doubles.openstack_real import RealOpenStack

    with tempfile.TemporaryDirectory(prefix="cs-bench-image-") as tmp:
        tmp = Path(tmp)
        a, b = RealOpenStack(tmp / "a").start(), RealOpenStack(tmp / "b").start()
        try:
            return measure(tmp, a, b, args.mib)
        finally:
            a.stop()
            b.stop()


def measure(tmp: Path, a, b, mib: int) -> int:
    from include.config import apply_config, parse_document
    from include.providers.openstack_http import OpenStackCredentials
    from include.providers.openstack_images import GlanceImages
    from include.store.db import make_engine, session_scope
    from include.store.models import Base, CloudImage

    data = tmp / "image.raw"
    md5, sha512 = make_file(data, mib)
    source = GlanceImages("a", OpenStackCredentials(**a.user_auth()))
    seeded = source.create("bench-1g", "raw", "bare", {})
    with data.open("rb") as f:
        source.upload(seeded.image_id, f, data.stat().st_size)
    data.unlink()
    url = f"sqlite:///{tmp / 'state.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    clouds = [
        {
            "name": n,
            "type": "openstack",
            "auth_url": s.auth_url,
            "project": "htc",
            "region": "RegionOne",
            "connection_id": f"os_{n}",
        }
        for n, s in (("a", a), ("b", b))
    ]
    doc = {
        "groups": [
            {
                "name": "bench",
                "pool": {"kind": "htcondor", "collector": "cm"},
                "clouds": clouds,
                "images": [{"name": "bench-1g", "clouds": ["b"]}],
            }
        ]
    }
    with session_scope(engine) as s:
        apply_config(s, parse_document(doc), actor="bench")
        s.add(
            CloudImage(
                group_name="bench",
                cloud_name="a",
                image_id=seeded.image_id,
                name="bench-1g",
                checksum=md5,
                disk_format="raw",
                container_format="bare",
            )
        )
    env = {
        **os.environ,
        "CLOUDSCHEDULER_DB_URL": url,
        "CLOUDSCHEDULER_IMAGE_CACHE": str(tmp / "cache"),
        "BENCH_AUTH": json.dumps(a.user_auth()),
        "PYTHONPATH": str(ROOT),
    }
    code, outcome, peak = run_child("copy", env, tmp)
    _, _, baseline = run_child("baseline", env, tmp)
    copied = (
        GlanceImages("b", OpenStackCredentials(**b.user_auth())).get(outcome["image_id"]) if outcome else None
    )
    identical = copied is not None and (copied.checksum, copied.hash_value, copied.size) == (
        md5,
        sha512,
        mib * MIB,
    )
    seconds = outcome["seconds"] if outcome else float("nan")
    print(f"image_copy_size: {mib} MiB")
    print(f"image_copy_seconds: {seconds:.1f} s")
    print(f"image_copy_throughput: {mib / seconds:.1f} MiB/s (download + verify + upload + verify)")
    print(f"image_copy_peak_rss: {peak:.1f} MB")
    print(f"image_copy_import_baseline_rss: {baseline:.1f} MB")
    print(f"image_copy_byte_identical: {identical}")
    ok = code == 0 and identical and peak < TARGET_MB
    if not ok:
        print(f"FAILED: target peak < {TARGET_MB} MB and a byte-identical copy", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
