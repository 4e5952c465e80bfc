"""The security tier: each test takes the side of someone we do not fully trust (another group's editor,
a viewer with a big body, a job submitter, the author of a metadata template or a YAML file) and checks
what they can reach, against the real plugin, the real adapters and real servers on loopback.

Two groups share a site: ``atlas`` and ``belle2``, each with an OpenStack cloud on its own fake Keystone
and Nova; atlas also has an EC2 cloud on moto. Their secrets reach the code the production way, as
Airflow Connections (``AIRFLOW_CONN_*``). ``eve`` edits belle2 and nothing else; ``olga`` is a site
operator. A :class:`Listener` on 127.0.0.1 stands where an attacker would send credentials.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from include.store.db import get_engine
from tests.plugin.conftest import Client, auth_manager, token_for  # noqa: F401 - fixtures

ATLAS_PASSWORD = "atlas-Pa55word-of-the-site"
ATLAS_AWS_SECRET = "atlas-aws-secret-key-0123456789"
BELLE2_PASSWORD = "belle2-own-password"
POOL_TOKEN = "eyJhbGciOiJIUzI1NiJ9.atlas-pool-token.sig"


class Listener:
    """A TCP server on 127.0.0.1 that records every byte anyone sends it and answers nothing useful."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        try:
            while chunk := conn.recv(65536):
                self.received += chunk
                if b"\r\n\r\n" in chunk:
                    conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def site_doc(atlas_keystone: str, belle2_keystone: str) -> dict:
    """Two groups on real pools' names; clouds name their Connections, which hold the endpoints."""
    return {
        "users": {"eve": {"belle2": "editor"}, "alice": {"atlas": "editor"}, "victor": {"belle2": "viewer"}},
        "groups": [
            {
                "name": "atlas",
                "pool": {"kind": "htcondor", "collector": "cm.atlas.example.org:9618"},
                "vm_defaults": {"image": "cernvm4"},
                "clouds": [
                    {
                        "name": "os",
                        "type": "openstack",
                        "project": "htc",
                        "connection_id": "cs_cloud_atlas_os",
                    },
                    {
                        "name": "aws",
                        "type": "amazon",
                        "region": "us-east-1",
                        "connection_id": "cs_cloud_atlas_aws",
                    },
                ],
            },
            {
                "name": "belle2",
                "pool": {"kind": "htcondor", "collector": "cm.belle2.example.org:9618"},
                "vm_defaults": {"image": "cernvm4"},
                "clouds": [
                    {
                        "name": "os",
                        "type": "openstack",
                        "project": "htc",
                        "connection_id": "cs_cloud_belle2_os",
                    },
                ],
            },
        ],
    }


class Site:
    def __init__(self, engine, atlas_nova, belle2_nova, moto_url: str):
        self.engine, self.atlas_nova, self.belle2_nova, self.moto_url = (
            engine,
            atlas_nova,
            belle2_nova,
            moto_url,
        )


@pytest.fixture
def site(tmp_path, monkeypatch, moto_ec2) -> Iterator[Site]:
    from include.config import apply_config, parse_document
    from include.store import migrate
    from include.store.db import session_scope
    from tests.doubles.fake_openstack import FakeOpenStack

    atlas_nova = FakeOpenStack(password=ATLAS_PASSWORD).start()
    belle2_nova = FakeOpenStack(password=BELLE2_PASSWORD).start()
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("CLOUDSCHEDULER_DB_URL", url)
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    get_engine.cache_clear()
    migrate.upgrade(url)
    conns = {
        "CS_CLOUD_ATLAS_OS": {
            "conn_type": "generic",
            "host": atlas_nova.auth_url,
            "login": "u",
            "password": ATLAS_PASSWORD,
        },
        "CS_CLOUD_ATLAS_AWS": {
            "conn_type": "aws",
            "login": "AKIAATLAS",
            "password": ATLAS_AWS_SECRET,
            "extra": {"endpoint_url": moto_ec2.url},
        },
        "CS_CLOUD_BELLE2_OS": {
            "conn_type": "generic",
            "host": belle2_nova.auth_url,
            "login": "u",
            "password": BELLE2_PASSWORD,
        },
        "CS_CLOUD_BELLE2_SPARE": {
            "conn_type": "generic",
            "host": belle2_nova.auth_url,
            "login": "u",
            "password": BELLE2_PASSWORD,
        },
        "CS_CONDOR_ATLAS": {"conn_type": "generic", "password": POOL_TOKEN},
    }
    for name, conn in conns.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(conn))
    engine = get_engine(url)
    with session_scope(engine) as s:
        apply_config(
            s, parse_document(site_doc(atlas_nova.auth_url, belle2_nova.auth_url)), actor="test-setup"
        )
    yield Site(engine, atlas_nova, belle2_nova, moto_ec2.url)
    atlas_nova.stop()
    belle2_nova.stop()
    engine.dispose()
    get_engine.cache_clear()


@pytest.fixture
def app(site, auth_manager):  # noqa: F811 - the plugin's fixture
    from cloudscheduler.app import create_app

    return create_app(engine=site.engine)


@pytest.fixture
def login(app, auth_manager):  # noqa: F811
    def make(username: str, role: str | None = "user") -> Client:
        return Client(app, token_for(auth_manager, username, role))

    return make


def export_hash(engine) -> str:
    """A fingerprint of the whole stored configuration (what ``config export`` writes)."""
    import hashlib

    from include.config import dump_yaml, export_config
    from include.store.db import session_scope

    with session_scope(engine) as s:
        return hashlib.sha256(dump_yaml(export_config(s)).encode()).hexdigest()
