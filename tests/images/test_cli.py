"""``cloudscheduler image ...`` and ``cloudscheduler key ...``, run as the operator runs them."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from include.store.db import make_engine, session_scope
from include.store.models import AuditEntry, ImageTransfer

ROOT = Path(__file__).resolve().parents[2]
SITE = {
    "groups": [
        {
            "name": "atlas",
            "pool": {"kind": "htcondor", "collector": "cm"},
            "clouds": [
                {"name": n, "type": "openstack", "auth_url": f"http://{n}/v3", "connection_id": f"os_{n}"}
                for n in ("a", "b")
            ],
        }
    ]
}


@pytest.fixture
def cli(tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    env = {**os.environ, "CLOUDSCHEDULER_DB_URL": db, "CLOUDSCHEDULER_IMAGE_CACHE": str(tmp_path / "cache")}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "include.cli.main", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (done.returncode == 0) == ok, (done.stdout, done.stderr)
        return done

    run("db", "upgrade")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(SITE))
    run("config", "apply", str(site))
    run.engine = make_engine(db)
    return run


def test_upload_list_transfer_delete_retry_clear(cli, tmp_path):
    image = tmp_path / "cvm.qcow2"
    image.write_bytes(b"QFI\xfb" + b"\1" * 300_000)
    md5 = hashlib.md5(image.read_bytes()).hexdigest()
    out = cli("image", "upload", "-g", "atlas", "-ip", str(image), "-cl", "b").stdout
    assert f"md5 {md5}" in out and "qcow2" in out and "wanted on b" in out
    assert (tmp_path / "cache" / f"{md5}.img").read_bytes() == image.read_bytes()
    listed = cli("image", "list", "-g", "atlas").stdout
    assert "cvm.qcow2" in listed and "wanted" in listed
    out = cli("image", "transfer", "-g", "atlas", "-in", "cvm.qcow2", "-ic", md5, "-tc", "a").stdout
    assert "1 transfer(s) pending" in out and out.count("from the cache") == 2  # b (upload) and a (now)
    with session_scope(cli.engine) as s:
        assert {t.cloud_name: t.state for t in s.scalars(select(ImageTransfer))} == {
            "a": "pending",
            "b": "pending",
        }
        s.execute(ImageTransfer.__table__.update().values(state="error", attempts=3, message="boom"))
    assert "2 transfer(s) back to pending" in cli("image", "retry", "-g", "atlas", "-in", "cvm.qcow2").stdout
    cli("image", "delete", "-g", "atlas", "-in", "cvm.qcow2", "-cn", "a,b")
    with session_scope(cli.engine) as s:
        s.execute(ImageTransfer.__table__.update().values(state="error"))
        actors = {a.actor for a in s.scalars(select(AuditEntry))}
    assert any(a.startswith("cli:") for a in actors)
    assert "2 transfer(s) cleared" in cli("image", "clear", "-g", "atlas").stdout
    assert "cvm.qcow2" in cli("image", "cache").stdout
    refused = cli("image", "transfer", "-g", "atlas", "-in", "x", "-tc", "mars", ok=False)
    assert "no cloud(s) mars" in refused.stderr


def test_key_generate_list_update_delete(cli, tmp_path):
    private = tmp_path / "ops_key"
    out = cli("key", "generate", "-g", "atlas", "-kn", "ops", "-o", str(private), "-cl", "a,b").stdout
    assert "ssh-ed25519 " in out and private.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    cli("key", "generate", "-g", "atlas", "-kn", "ops2", "-o", str(private), ok=False)  # never overwritten
    listed = cli("key", "list", "-g", "atlas").stdout
    assert listed.count("wanted") == 2
    cli("key", "update", "-g", "atlas", "-kn", "ops", "-cl", "a")
    assert cli("key", "list", "-g", "atlas").stdout.count("wanted") == 1
    public = tmp_path / "k.pub"
    public.write_text("not a key\n")
    assert "public_key" in cli("key", "add", "-g", "atlas", "-kn", "bad", "-pk", str(public), ok=False).stderr
    cli("key", "delete", "-g", "atlas", "-kn", "ops")
    assert "ops" not in cli("key", "list", "-g", "atlas").stdout
