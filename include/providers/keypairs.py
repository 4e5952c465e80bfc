"""Keypairs on a cloud: list with fingerprints, import a public key under a name, delete by name.

Nova (``/os-keypairs``, through openstacksdk's authenticated session) and EC2 (ImportKeyPair & co.
through boto3). Each reports the fingerprint its own way (Nova: MD5 of the OpenSSH key blob; EC2: MD5
or SHA-256 of the DER public key); include/keys compares them with every form a key can have.
Nova keypairs belong to the API user, so the cloud's credentials decide whose keys these are.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from include.providers.base import ProviderError
from include.providers.ec2_http import Ec2Credentials, Ec2Session, make_client
from include.providers.openstack_http import OpenStackCredentials, OpenStackSession, connect

KEYPAIR_MICROVERSION = "2.10"  # keypair type in the answers; public_key required on import from 2.92 anyway


@dataclass(frozen=True)
class CloudKey:
    name: str
    fingerprint: str


class NovaKeypairs:
    def __init__(self, name: str, creds: OpenStackCredentials | None = None, *, bucket=None, conn=None):
        self.name = name
        self.http = OpenStackSession(name, conn if conn is not None else connect(creds), bucket)

    def list(self) -> list[CloudKey]:
        body = self.http.call("compute", "GET", "/os-keypairs", microversion=KEYPAIR_MICROVERSION)
        return [
            CloudKey(k["keypair"]["name"], k["keypair"].get("fingerprint") or "")
            for k in body.get("keypairs", [])
        ]

    def import_key(self, name: str, public_key: str) -> CloudKey:
        body = self.http.call(
            "compute",
            "POST",
            "/os-keypairs",
            microversion=KEYPAIR_MICROVERSION,
            json={"keypair": {"name": name, "public_key": public_key.strip()}},
        )
        return CloudKey(body["keypair"]["name"], body["keypair"].get("fingerprint") or "")

    def delete(self, name: str) -> None:
        """Delete the keypair ``name``; one that is already gone is success."""
        self.http.call(
            "compute",
            "DELETE",
            f"/os-keypairs/{quote(name, safe='')}",
            ok=(202, 204, 404),
            microversion=KEYPAIR_MICROVERSION,
        )


class Ec2Keypairs:
    def __init__(self, name: str, creds: Ec2Credentials | None = None, *, bucket=None, client=None):
        self.name = name
        self.api = Ec2Session(name, client if client is not None else make_client(creds), bucket)

    def list(self) -> list[CloudKey]:
        return [
            CloudKey(k["KeyName"], k.get("KeyFingerprint") or "")
            for k in self.api.call("describe_key_pairs")["KeyPairs"]
        ]

    def import_key(self, name: str, public_key: str) -> CloudKey:
        out = self.api.call("import_key_pair", KeyName=name, PublicKeyMaterial=public_key.strip().encode())
        return CloudKey(out["KeyName"], out.get("KeyFingerprint") or "")

    def delete(self, name: str) -> None:
        try:
            self.api.call("delete_key_pair", KeyName=name)
        except ProviderError as err:
            if "InvalidKeyPair.NotFound" not in err.message:
                raise
