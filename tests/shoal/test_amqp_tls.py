"""The agents' broker as sites run it: RabbitMQ over TLS (AMQPS) that requires a client certificate,
with the credentials and the certificate in an Airflow Connection. A private RabbitMQ (this machine's
package, its own node on spare ports, its own certificates made here) is started once for the module."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from include.shoal import amqp, tasks
from tests.shoal.test_live import agent_102_message

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]
RABBIT = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(folder: Path) -> None:
    """A CA, a server certificate for localhost and 127.0.0.1, and a client certificate."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=cloudscheduler test CA", cwd=folder)  # fmt: skip
    (folder / "san").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, subject, ext in (("server", "/CN=localhost", ["-extfile", "san"]), ("client", "/CN=shoal", [])):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", subject, cwd=folder)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", *ext, cwd=folder)  # fmt: skip
    (folder / "server.key").chmod(0o644)  # the broker may run as another user


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    """(port, folder of the PEM files) of a RabbitMQ that speaks only AMQPS and wants a client certificate."""
    if not RABBIT.exists():
        pytest.fail("RabbitMQ is part of the test environment (Debian's rabbitmq-server)")
    folder = tmp_path_factory.mktemp("rabbit-tls")
    make_pki(folder)
    port = free_port()
    (folder / "rabbitmq.conf").write_text(
        "listeners.tcp = none\n"
        f"listeners.ssl.default = 127.0.0.1:{port}\n"
        f"ssl_options.cacertfile = {folder / 'ca.pem'}\n"
        f"ssl_options.certfile = {folder / 'server.pem'}\n"
        f"ssl_options.keyfile = {folder / 'server.key'}\n"
        "ssl_options.verify = verify_peer\n"
        "ssl_options.fail_if_no_peer_cert = true\n"
        "loopback_users = none\n"
    )
    (folder / "enabled_plugins").write_text("[].\n")
    node = f"cstls{port}@localhost"
    env = os.environ | {
        "HOME": str(folder), "RABBITMQ_NODENAME": node, "RABBITMQ_NODE_PORT": str(free_port()),
        "RABBITMQ_DIST_PORT": str(free_port()), "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"), "RABBITMQ_LOG_BASE": str(folder / "log"),
        "RABBITMQ_PID_FILE": str(folder / "pid"),
    }  # fmt: skip
    proc = subprocess.Popen([str(RABBIT)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "the TLS RabbitMQ did not start"
            time.sleep(0.3)
    yield port, folder
    os.killpg(proc.pid, 15)
    proc.wait(timeout=60)


def connection_json(port: int, folder: Path, **extra) -> str:
    pem = {k: (folder / f).read_text() for k, f in (("ca_cert", "ca.pem"), ("client_cert", "client.pem"),
                                                    ("client_key", "client.key"))}  # fmt: skip
    return json.dumps(
        {"conn_type": "amqp", "host": "localhost", "port": port, "login": "guest", "password": "guest",
         "extra": {"ssl": True, **pem, **extra}}
    )  # fmt: skip


def test_heartbeats_arrive_over_tls_with_a_client_certificate_from_an_airflow_connection(
    tls_broker, make_settings, sqlite_engine, monkeypatch
):
    port, folder = tls_broker
    monkeypatch.setenv("AIRFLOW_CONN_CS_SHOAL_BROKER", connection_json(port, folder))
    settings = make_settings(amqp_connection="cs_shoal_broker", amqp_url="amqp://nowhere.invalid:1/%2F")
    assert tasks.ingest(settings, sqlite_engine)["messages"] == 0  # declares the exchange and queue
    from include.airflow_glue import amqp_connection

    broker = amqp_connection("cs_shoal_broker")
    assert broker["url"] == f"amqps://guest:guest@localhost:{port}/%2F"
    amqp.publish(settings, agent_102_message("tls1", "tls.example.org", "127.0.0.4", 3128), broker=broker)
    assert tasks.ingest(settings, sqlite_engine)["messages"] == 1


def test_without_the_client_certificate_or_with_an_untrusted_broker_nothing_connects(
    tls_broker, make_settings, sqlite_engine, monkeypatch
):
    port, folder = tls_broker
    settings = make_settings(amqp_connection="cs_shoal_broker")
    no_cert = json.loads(connection_json(port, folder))
    del no_cert["extra"]["client_cert"], no_cert["extra"]["client_key"]
    monkeypatch.setenv("AIRFLOW_CONN_CS_SHOAL_BROKER", json.dumps(no_cert))
    with pytest.raises(
        amqp.BrokerUnreachable, match=r"localhost:\d+ \(CS_SHOAL_AMQP_CONNECTION 'cs_shoal_broker'\)"
    ):
        tasks.ingest(settings, sqlite_engine)

    system_cas = json.loads(connection_json(port, folder))
    del system_cas["extra"]["ca_cert"]  # our test CA is not among the system's
    monkeypatch.setenv("AIRFLOW_CONN_CS_SHOAL_BROKER", json.dumps(system_cas))
    with pytest.raises(amqp.BrokerUnreachable, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        tasks.ingest(settings, sqlite_engine)


@pytest.mark.parametrize("switch", ["connection", "setting"])
def test_verification_switched_off_accepts_a_broker_no_ca_vouches_for(
    tls_broker, make_settings, sqlite_engine, monkeypatch, switch
):
    """A site's test broker with a self-signed certificate: verification off, by the Connection's extra
    or by CS_SHOAL_AMQP_VERIFY; the client certificate is still presented."""
    port, folder = tls_broker
    conn = json.loads(connection_json(port, folder, **({"verify": False} if switch == "connection" else {})))
    del conn["extra"]["ca_cert"]
    conn["host"] = "127.0.0.1"  # not even the name on its certificate is checked
    monkeypatch.setenv("AIRFLOW_CONN_CS_SHOAL_BROKER", json.dumps(conn))
    settings = make_settings(amqp_connection="cs_shoal_broker", amqp_verify=switch != "setting")
    assert tasks.ingest(settings, sqlite_engine)["messages"] == 0
