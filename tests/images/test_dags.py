"""cs_poll_clouds, cs_images, cs_ops_image and cs_keys through Airflow (``dag.test()``) against two real
Keystone + Glance clouds (their fake Novas hold the keypairs), credentials only in Airflow Connections."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from include.keys.fingerprints import generate_keypair
from tests.airflow_site import script_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.airflow, pytest.mark.keystone, pytest.mark.slow]


def test_dags_distribute_images_and_keys_between_two_real_clouds(two_glances, tmp_path):
    a, b = two_glances
    user = a.real.user_auth()
    for name, data in (("ticked", b"t" * 300_000), ("manual", b"m" * 200_000)):
        a.real.user().image.create_image(
            name=name, data=data, disk_format="raw", container_format="bare", allow_duplicates=True, wait=True
        )
    public_key = generate_keypair("ops")[1]
    site = {
        "groups": [
            {
                "name": "atlas",
                "pool": {"kind": "htcondor", "collector": "cm.example.org"},
                "images": [{"name": "ticked", "clouds": ["b"]}],
                "keys": [{"name": "ops", "public_key": public_key, "clouds": ["a", "b"]}],
                "clouds": [
                    {
                        "name": n,
                        "type": "openstack",
                        "auth_url": s.real.auth_url,
                        "project": "htc",
                        "region": "RegionOne",
                        "connection_id": f"os_{n}",
                    }
                    for n, s in (("a", a), ("b", b))
                ],
            }
        ]
    }
    conn = json.dumps({"conn_type": "generic", "login": user["username"], "password": user["password"]})
    env = script_env(
        tmp_path,
        CLOUDSCHEDULER_IMAGE_CACHE=str(tmp_path / "cache"),
        CLOUDSCHEDULER_ALERT_SINK=str(tmp_path / "alerts"),
        AIRFLOW_CONN_OS_A=conn,
        AIRFLOW_CONN_OS_B=conn,
        CS_TEST_SITE=json.dumps(site),
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "images" / "dag_run.py")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=420,
    )
    steps = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0, (steps, result.stderr[-3000:])
    assert [s["state"] for s in steps] == ["success"] * 6, steps
    assert steps[1]["transfers"] == {"ticked@b": "done"}
    assert steps[3]["transfers"] == {"ticked@b": "done"}  # the second run found nothing to do
    assert steps[4]["transfers"] == {"ticked@b": "done", "manual@b": "done"}
    assert steps[5]["keys"] == {"ops@a": "present", "ops@b": "present"}
    for stack in (a, b):
        assert stack.nova.keypairs["ops"]["public_key"] == public_key
    got = {i.name: i.checksum for i in b.real.user().image.images()}
    want = {i.name: i.checksum for i in a.real.user().image.images() if i.name in ("ticked", "manual")}
    assert {n: got.get(n) for n in want} == want
