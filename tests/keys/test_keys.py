"""Key distribution against the fake Nova (tests/doubles, real HTTP through openstacksdk) and moto EC2
(real botocore over HTTP): import, no-op second run, conflicts reported and never overwritten, unticks
deleting only keypairs we imported."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from sqlalchemy import select

from include.config import apply_config, parse_document
from include.keys.fingerprints import fingerprints, generate_keypair, normalise, same_key
from include.keys.plan import Placement, plan_keys
from include.keys.tasks import key_clouds, sync_keys
from include.providers.factory import ConnectionSecrets
from include.store.db import session_scope
from include.store.models import CloudKeypair, KeyPlacement

OTHER_PUB = generate_keypair("someone-else")[1]


@pytest.fixture(scope="module")
def moto():
    from tests.doubles.moto_ec2 import MotoEc2

    server = MotoEc2().start()
    yield server
    server.stop()


@pytest.fixture
def nova():
    from tests.doubles.fake_openstack import FakeOpenStack

    fake = FakeOpenStack().start()
    fake.keypairs.clear()
    yield fake
    fake.stop()


def rsa_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return (
        key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        + " ops@site"
    )


class Site:
    def __init__(self, engine, nova, moto, alerts):
        self.engine, self.nova, self.moto, self.alerts = engine, nova, moto, alerts
        moto.reset()

    def configure(self, keys: list[dict], sim_keys: list[dict] | None = None) -> None:
        clouds = [
            {
                "name": "nova",
                "type": "openstack",
                "auth_url": self.nova.auth_url,
                "project": "htc",
                "connection_id": "os_nova",
            },
            {
                "name": "aws",
                "type": "amazon",
                "region": "us-east-1",
                "auth_url": self.moto.url,
                "connection_id": "aws",
            },
        ]
        doc = {
            "groups": [
                {
                    "name": "atlas",
                    "pool": {"kind": "htcondor", "collector": "cm"},
                    "keys": keys,
                    "clouds": clouds,
                }
            ]
        }
        if sim_keys is not None:
            doc["groups"].append(
                {
                    "name": "demo",
                    "pool": {"kind": "simulated"},
                    "keys": sim_keys,
                    "clouds": [{"name": "sim", "type": "simulated", "simulation": {}}],
                }
            )
        with session_scope(self.engine) as s:
            apply_config(s, parse_document(doc), actor="test")

    def secrets(self, cloud) -> ConnectionSecrets:
        if cloud.cloud_type == "openstack":
            return ConnectionSecrets(login="htcsvc", password="pw")
        return ConnectionSecrets(login="AKIAEXAMPLE", password="secret")

    def sync(self) -> dict[str, dict]:
        return {
            c["cloud"]: sync_keys(c["group"], c["cloud"], engine=self.engine, secrets_for=self.secrets)
            for c in key_clouds(self.engine)
        }

    def ec2(self):
        import boto3

        return boto3.client(
            "ec2",
            region_name="us-east-1",
            endpoint_url=self.moto.url,
            aws_access_key_id="AKIAEXAMPLE",
            aws_secret_access_key="secret",
        )

    def placements(self) -> dict[tuple[str, str], tuple[str, bool]]:
        with session_scope(self.engine) as s:
            return {
                (p.cloud_name, p.key_name): (p.state, p.placed_by_us) for p in s.scalars(select(KeyPlacement))
            }

    def alert_keys(self) -> list[str]:
        return (
            [json.loads(line)["key"] for line in self.alerts.read_text().splitlines()]
            if self.alerts.exists()
            else []
        )


@pytest.fixture
def site(sqlite_engine, nova, moto, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    return Site(sqlite_engine, nova, moto, tmp_path / "alerts.jsonl")


def test_fingerprints_match_what_nova_and_ec2_report_for_rsa_and_ed25519(site):
    for public_key in (rsa_public_key(), generate_keypair("me")[1]):
        blob = base64.b64decode(public_key.split()[1])
        nova_style = ":".join(f"{b:02x}" for b in hashlib.md5(blob).digest())
        assert same_key(nova_style.upper(), public_key) and same_key(f"MD5:{nova_style}", public_key)
        out = site.ec2().import_key_pair(KeyName=f"k{len(public_key)}", PublicKeyMaterial=public_key.encode())
        assert same_key(out["KeyFingerprint"], public_key), out["KeyFingerprint"]
        assert not same_key(out["KeyFingerprint"], OTHER_PUB)
    assert fingerprints("not a key") == set() and not same_key("", OTHER_PUB)
    assert normalise("SHA256:AbC=") == "AbC"  # base64 keeps its case


def test_plan_imports_missing_reports_conflicts_and_deletes_only_our_unchanged_keys():
    mine = generate_keypair("a")[1]
    fp = ":".join(f"{b:02x}" for b in hashlib.md5(base64.b64decode(mine.split()[1])).digest())
    plan = plan_keys(
        {"new": mine, "same": mine, "clash": mine},
        {"same": fp, "clash": "11:22", "old": fp, "replaced": "33:44", "legacy": fp},
        {
            "same": Placement(fp, True),
            "old": Placement(fp, True),
            "replaced": Placement(fp, True),
            "legacy": Placement(fp, False),
        },
    )
    assert (
        plan.create == ["new"]
        and plan.present == {"same": (fp, True)}
        and plan.conflicts == {"clash": "11:22"}
    )
    assert plan.delete == ["old"] and plan.forget == ["legacy", "replaced"]


def test_keys_are_imported_on_nova_and_ec2_and_a_second_run_does_nothing(site):
    public_key = rsa_public_key()
    site.configure([{"name": "ops", "public_key": public_key, "clouds": ["nova", "aws"]}])
    first = site.sync()
    assert first["nova"]["created"] == ["ops"] and first["aws"]["created"] == ["ops"]
    assert site.nova.keypairs["ops"]["public_key"] == public_key
    [ec2_key] = site.ec2().describe_key_pairs(KeyNames=["ops"])["KeyPairs"]
    assert same_key(ec2_key["KeyFingerprint"], public_key)
    assert site.placements() == {("nova", "ops"): ("present", True), ("aws", "ops"): ("present", True)}
    second = site.sync()
    assert all(r["created"] == r["deleted"] == r["conflicts"] == [] and r["ok"] for r in second.values())
    with session_scope(site.engine) as s:
        assert {(k.cloud_name, k.name) for k in s.scalars(select(CloudKeypair))} == {
            ("nova", "ops"),
            ("aws", "ops"),
        }


def test_a_different_key_under_the_name_is_reported_once_and_never_overwritten(site):
    site.nova.keypairs["ops"] = {"name": "ops", "fingerprint": "de:ad:be:ef", "public_key": OTHER_PUB}
    site.ec2().import_key_pair(KeyName="ops", PublicKeyMaterial=OTHER_PUB.encode())
    site.configure([{"name": "ops", "public_key": rsa_public_key(), "clouds": ["nova", "aws"]}])
    assert all(r["conflicts"] == ["ops"] for r in site.sync().values())
    site.sync()
    assert site.nova.keypairs["ops"]["public_key"] == OTHER_PUB  # untouched
    assert site.placements() == {("nova", "ops"): ("conflict", False), ("aws", "ops"): ("conflict", False)}
    assert sorted(site.alert_keys()) == ["key_conflict:atlas/aws/ops", "key_conflict:atlas/nova/ops"]
    del site.nova.keypairs["ops"]  # the operator removes the stale key: ours goes in, the alert clears
    assert site.sync()["nova"]["created"] == ["ops"]
    assert site.alert_keys()[-1] == "key_conflict:atlas/nova/ops"
    with session_scope(site.engine) as s:
        assert s.get(KeyPlacement, ("atlas", "nova", "ops")).alerted_at is None


def test_unticking_deletes_only_keypairs_we_imported(site):
    ours, shared = rsa_public_key(), generate_keypair("shared")[1]
    site.nova.keypairs["shared"] = {
        "name": "shared",
        "public_key": shared,
        "fingerprint": sorted(f for f in fingerprints(shared) if ":" in f)[0],
    }
    nova_fp = ":".join(f"{b:02x}" for b in hashlib.md5(base64.b64decode(shared.split()[1])).digest())
    site.nova.keypairs["shared"]["fingerprint"] = nova_fp
    site.configure(
        [
            {"name": "ops", "public_key": ours, "clouds": ["nova", "aws"]},
            {"name": "shared", "public_key": shared, "clouds": ["nova"]},
        ]
    )
    site.sync()
    assert site.placements()[("nova", "shared")] == ("present", False)  # it was there before us
    site.configure([])  # both keys removed from the configuration
    results = site.sync()
    assert results["nova"]["deleted"] == ["ops"] and results["aws"]["deleted"] == ["ops"]
    assert set(site.nova.keypairs) == {"shared"}
    assert site.ec2().describe_key_pairs()["KeyPairs"] == []
    assert site.placements() == {} and key_clouds(site.engine) == []


def test_a_cloud_that_replaced_our_key_keeps_it(site):
    site.configure([{"name": "ops", "public_key": rsa_public_key(), "clouds": ["nova"]}])
    site.sync()
    site.nova.keypairs["ops"].update(public_key=OTHER_PUB, fingerprint="99:99")  # someone re-created it
    site.configure([])
    assert site.sync()["nova"]["deleted"] == []
    assert "ops" in site.nova.keypairs


def test_import_errors_are_per_key_and_simulated_clouds_are_unsupported(site):
    ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEXAMPLE= x"
    good = rsa_public_key()
    site.configure(
        [
            {"name": "good", "public_key": good, "clouds": ["nova"]},
            {"name": "bad", "public_key": ecdsa, "clouds": ["nova"]},
        ],
        sim_keys=[{"name": "good", "public_key": good, "clouds": ["sim"]}],
    )
    results = site.sync()
    assert results["nova"]["created"] == ["good"] and "bad" in results["nova"]["errors"]
    assert "unsupported" in results["sim"]
    placements = site.placements()
    assert placements[("nova", "bad")][0] == "error" and placements[("sim", "good")] == ("unsupported", False)
    assert "ecdsa" not in site.nova.keypairs


def test_an_unreachable_cloud_changes_nothing(site):
    site.configure([{"name": "ops", "public_key": rsa_public_key(), "clouds": ["nova"]}])
    site.nova.stop()
    result = sync_keys("atlas", "nova", engine=site.engine, secrets_for=site.secrets)
    assert result["ok"] is False and "reach" in result["error"]
    assert site.placements() == {}
