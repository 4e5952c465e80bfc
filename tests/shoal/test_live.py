"""End to end with the real broker and real squids: agents' heartbeats (in shoal-agent 1.0.2's exact
shape) go through RabbitMQ into the registry, squids are verified through themselves, ranked and
served; a squid that dies goes unverified and raises an alert; a silent cache expires."""

from __future__ import annotations

import json
import time
import uuid as uuidlib

import pytest
import requests

from include.shoal import amqp, tasks
from include.shoal.alerts import UnverifiedCacheNotifier
from include.shoal.service import ShoalService

pytestmark = [pytest.mark.rabbitmq, pytest.mark.squid]


def agent_102_message(uuid: str, hostname: str, ip: str, port: int, load: float = 0.0) -> bytes:
    """What shoal-agent 1.0.2 publishes (key order and types of the captured message: port as a string
    from the config file, max_load -112 from a virtual NIC, verified false)."""
    return json.dumps(
        {
            "uuid": uuid,
            "hostname": hostname,
            "squid_port": str(port),
            "verified": False,
            "max_load": -112,
            "public_ip": ip,
            "timestamp": time.time(),
            "load": load,
        }
    ).encode()


@pytest.fixture
def broker(make_settings):
    """Settings with names unique to this test; the exchange and queue are deleted afterwards."""
    settings_holder = {}

    def make(**overrides):
        settings_holder["s"] = make_settings(**overrides)
        return settings_holder["s"]

    yield make
    if "s" in settings_holder:
        s = settings_holder["s"]
        connection = amqp._connect(s)
        channel = connection.channel()
        channel.queue_delete(s.queue)
        channel.exchange_delete(s.exchange)
        connection.close()


def queue_depth(settings) -> int:
    connection = amqp._connect(settings)
    try:
        return connection.channel().queue_declare(settings.queue, passive=True).method.message_count
    finally:
        connection.close()


def get_json(url):
    session = requests.Session()
    session.trust_env = False
    return session.get(url, timeout=10).json()


def test_advertised_verified_ranked_served_then_dies_then_expires(
    broker, sqlite_engine, squids, origin, serve_api, tmp_path, monkeypatch
):
    settings = broker(inactive_time=6, verify_interval=0, recheck_interval=0)
    sink = tmp_path / "alerts.jsonl"
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(sink))
    assert tasks.ingest(settings, sqlite_engine)["messages"] == 0  # declares what agents publish to

    busy, idle = squids("127.0.0.2"), squids("127.0.0.3")
    ids = {name: uuidlib.uuid1().hex for name in ("busy", "idle", "deadport")}
    for body in (
        agent_102_message(ids["busy"], "busy.example.org", "127.0.0.2", busy.port, load=40_000.0),
        agent_102_message(ids["idle"], "idle.example.org", "127.0.0.3", idle.port),
        agent_102_message(ids["deadport"], "dead.example.org", "127.0.0.4", 9),
        b"garbage from somebody",
        b'{"uuid": "no-fields"}',
    ):
        amqp.publish(settings, body)
    began = time.monotonic()
    summary = tasks.ingest(settings, sqlite_engine)
    assert summary["registered"] == 3 and summary["rejected:not_json"] == 1 and summary["messages"] == 5
    assert queue_depth(settings) == 0  # rejected messages are acknowledged too

    checked = tasks.verify_caches(settings, sqlite_engine)
    assert {c["hostname"] for c in checked["verified"]} == {"busy.example.org", "idle.example.org"}
    assert [c["hostname"] for c in checked["failed"]] == ["dead.example.org"]
    assert {h for h, _ in origin.hits} >= {"cvmfs-stratum-one.cern.ch", "cvmfs.fnal.gov"}  # through squid

    base = serve_api(ShoalService(settings, engine=lambda: sqlite_engine))
    nearest = get_json(base + "/nearest/7/")
    assert [(c["hostname"], c["squid_port"], c["verified"]) for c in nearest.values()] == [
        ("idle.example.org", idle.port, True),
        ("busy.example.org", busy.port, True),
    ]  # lighter load first

    busy.kill()
    changes = tasks.verify_caches(settings, sqlite_engine)
    assert [c["hostname"] for c in changes["went_unverified"]] == ["busy.example.org"]
    captured = []
    UnverifiedCacheNotifier(changes["went_unverified"], sink=captured.append).notify({})
    assert captured[0].key == f"shoal_unverified:{ids['busy']}" and "busy.example.org" in captured[0].subject
    UnverifiedCacheNotifier(changes["went_unverified"])({})  # the default sink: include.alerting.deliver
    assert "busy.example.org" in json.loads(sink.read_text().splitlines()[0])["subject"]
    assert [c["hostname"] for c in get_json(base + "/nearest").values()] == ["idle.example.org"]
    assert tasks.verify_caches(settings, sqlite_engine)["went_unverified"] == []  # alerts once per transition

    while time.monotonic() - began < 3:  # the idle agent keeps talking; the others fall silent
        time.sleep(0.2)
    amqp.publish(settings, agent_102_message(ids["idle"], "idle.example.org", "127.0.0.3", idle.port))
    assert tasks.ingest(settings, sqlite_engine)["refreshed"] == 1
    while time.monotonic() - began < settings.inactive_time + 0.5:
        time.sleep(0.2)
    assert [c["hostname"] for c in get_json(base + "/all").values()] == ["idle.example.org"]  # hidden at once
    assert sorted(tasks.expire(settings, sqlite_engine)["expired"]) == sorted([ids["busy"], ids["deadport"]])
    assert [c["hostname"] for c in get_json(base + "/nearest").values()] == ["idle.example.org"]


def test_a_dead_squid_recovers_when_it_comes_back(broker, sqlite_engine, squids):
    settings = broker(verify_interval=0, recheck_interval=0)
    squid = squids("127.0.0.5")
    tasks.ingest(settings, sqlite_engine)
    amqp.publish(settings, agent_102_message("r1", "phoenix.example.org", "127.0.0.5", squid.port))
    tasks.ingest(settings, sqlite_engine)
    assert len(tasks.verify_caches(settings, sqlite_engine)["verified"]) == 1
    squid.kill()
    assert len(tasks.verify_caches(settings, sqlite_engine)["went_unverified"]) == 1
    assert tasks.verify_caches(settings, sqlite_engine)["failed"]  # re-checked, still down
    squids("127.0.0.5", port=squid.port)  # restarted on the port the agent advertises
    assert [c["hostname"] for c in tasks.verify_caches(settings, sqlite_engine)["recovered"]] == [
        "phoenix.example.org"
    ]


def test_stale_messages_wait_no_longer_than_the_expiry_time_in_the_queue(broker, sqlite_engine):
    settings = broker(inactive_time=1)
    tasks.ingest(settings, sqlite_engine)
    amqp.publish(settings, agent_102_message("late", "late.example.org", "127.0.0.9", 3128))
    time.sleep(1.5)
    assert queue_depth(settings) == 0  # the broker dropped it: its news is older than the expiry time
    assert tasks.ingest(settings, sqlite_engine)["messages"] == 0


@pytest.mark.parametrize("key", ["info", "victoria.info", "site.relay.heartbeats"])
def test_heartbeats_under_any_routing_key_are_taken_as_the_original_binds_hash(broker, sqlite_engine, key):
    """2013 agents published under "<cloud>.info", and sites relay heartbeats under keys of their own;
    the original server bound its queue with "#", so every one of them reached it."""
    settings = broker()
    tasks.ingest(settings, sqlite_engine)
    amqp.publish(settings, agent_102_message("k1", "keyed.example.org", "127.0.0.4", 3128), routing_key=key)
    assert tasks.ingest(settings, sqlite_engine)["messages"] == 1
