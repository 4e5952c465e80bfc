"""Event-driven ingest, from the side of a site's agents: the trigger the triggerer runs consumes the real
broker, puts heartbeats into the registry as they arrive, and fires only when a new cache appears (a
refresh fires nothing). A broker that is not there yet, or goes away, is waited for, never given up on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import threading
import time
import uuid as uuidlib
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from include.shoal import amqp, tasks
from include.shoal.trigger import NewCacheTrigger
from include.store.db import get_engine
from include.store.models import ShoalCache
from tests.shoal import doubles
from tests.shoal.test_live import agent_102_message

pytestmark = [pytest.mark.rabbitmq]


@pytest.fixture
def shoal_env(make_settings, sqlite_engine, monkeypatch):
    """The triggerer's view: settings and the state database from the environment."""

    def configure(**overrides):
        settings = make_settings(**overrides)
        for name, value in {
            "CS_SHOAL_EXCHANGE": settings.exchange,
            "CS_SHOAL_QUEUE": settings.queue,
            "CS_SHOAL_GEOIP_DB": settings.geoip_db,
            "CS_SHOAL_REVERSE_DNS": "false",
            "CS_SHOAL_AMQP_URL": settings.amqp_url,
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("CLOUDSCHEDULER_DB_URL", str(sqlite_engine.url))
        get_engine.cache_clear()  # the process's engine is cached; this test's database is new
        configured.append(settings)
        return settings

    configured: list = []
    yield configure
    for settings in configured:
        with contextlib.suppress(amqp.BrokerUnreachable):
            connection = amqp._connect(settings.__class__(**{**settings.__dict__, "amqp_url": BROKER}))
            channel = connection.channel()
            channel.queue_delete(settings.queue)
            channel.exchange_delete(settings.exchange)
            connection.close()


BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"


class TriggerRun:
    """The trigger's event stream driven in a loop of its own thread, as the triggerer drives it."""

    def __init__(self):
        self.events: list[dict] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.stream = NewCacheTrigger().run()
        self.task = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(5)

    async def _start(self) -> asyncio.Task:
        return asyncio.get_running_loop().create_task(self._collect())

    async def _collect(self):
        async for event in self.stream:
            self.events.append(event.payload)

    def wait_events(self, count: int, timeout: float = 20) -> list[dict]:
        end = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < end:
            time.sleep(0.05)
        return list(self.events)

    def stop(self):
        async def cancel():  # what the triggerer does when the watcher's DAG goes away or it shuts down
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

        asyncio.run_coroutine_threadsafe(cancel(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def registered(engine) -> dict[str, float]:
    with Session(engine) as session:
        return {row.uuid: row.load for row in session.scalars(select(ShoalCache))}


def test_a_new_cache_fires_one_event_and_a_refresh_fires_none(shoal_env, sqlite_engine):
    settings = shoal_env()
    tasks.ingest(settings, sqlite_engine)  # the queue exists before agents publish, as in production
    run = TriggerRun()
    try:
        first = uuidlib.uuid4().hex
        amqp.publish(settings, agent_102_message(first, "first.example.org", "127.0.0.2", 3128))
        assert run.wait_events(1) == [{"registered": [first]}]

        second = uuidlib.uuid4().hex
        amqp.publish(settings, agent_102_message(first, "first.example.org", "127.0.0.2", 3128, load=7.0))
        amqp.publish(settings, agent_102_message(second, "second.example.org", "127.0.0.3", 3128))
        events = run.wait_events(2)
        assert [e["registered"] for e in events] == [[first], [second]]  # the refresh fired nothing
        time.sleep(1)
        assert len(run.events) == 2
        assert registered(sqlite_engine) == {first: 7.0, second: 0.0}  # the refresh was applied
    finally:
        run.stop()
    assert "shoal-heartbeats" not in {t.name for t in threading.enumerate()}  # the consumer stopped with it
    connection = amqp._connect(settings)
    try:  # nothing left unacknowledged or waiting once the trigger is gone
        depth = connection.channel().queue_declare(settings.queue, passive=True).method.message_count
    finally:
        connection.close()
    assert depth == 0


class Relay:
    """A TCP relay to the real broker on a port of its own, which the test can cut and restore: a
    broker that restarts or a network that drops, seen from the trigger. While down, it cuts every
    relayed connection and resets new ones at once."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.open = False
        self.pairs: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def up(self):
        self.open = True

    def down(self):
        self.open = False
        for sock in self.pairs:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        self.pairs.clear()

    def close(self):
        self.down()
        self.server.close()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", 5672))
            self.pairs += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def test_a_broker_that_is_away_is_waited_for_and_nothing_is_lost(shoal_env, sqlite_engine):
    relay = Relay()
    settings = shoal_env(amqp_url=f"amqp://guest:guest@127.0.0.1:{relay.port}/%2F")
    direct = settings.__class__(**{**settings.__dict__, "amqp_url": BROKER})
    tasks.ingest(direct, sqlite_engine)
    run = TriggerRun()  # the broker is unreachable: the trigger waits, it does not fail
    try:
        early = uuidlib.uuid4().hex
        amqp.publish(direct, agent_102_message(early, "early.example.org", "127.0.0.2", 3128))
        time.sleep(1.5)
        assert run.events == [] and not run.task.done()
        relay.up()
        assert run.wait_events(1, timeout=30) == [{"registered": [early]}]  # published while it was away

        relay.down()  # the connection drops under the consumer
        late = uuidlib.uuid4().hex
        amqp.publish(direct, agent_102_message(late, "late.example.org", "127.0.0.3", 3128))
        time.sleep(1)
        relay.up()
        assert [e["registered"] for e in run.wait_events(2, timeout=40)] == [[early], [late]]
        assert set(registered(sqlite_engine)) == {early, late}
    finally:
        run.stop()
        relay.close()


@pytest.mark.airflow
@pytest.mark.parametrize("mode", ["events", "schedule"])
def test_the_dags_follow_the_ingest_mode(monkeypatch, mode):
    """events: the verify DAG watches the new-caches asset and the ingest DAG runs only by hand;
    schedule (a stack without a triggerer): both on their 30 s timetables, nothing watching the broker."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("CS_SHOAL_ENABLED", "true")
    monkeypatch.setenv("CS_SHOAL_INGEST", mode)
    dags = Path(__file__).resolve().parents[2] / "dags"
    bag = DagBag(dag_folder=str(dags / "cs_shoal_verify.py"), safe_mode=False)
    bag.collect_dags(dag_folder=str(dags / "cs_shoal_ingest.py"), safe_mode=False)
    assert bag.import_errors == {}
    verify, ingest = bag.dags["cs_shoal_verify"], bag.dags["cs_shoal_ingest"]
    if mode == "events":
        assets = verify.timetable.asset_condition.objects
        assert [type(w.trigger).__name__ for a in assets for w in a.watchers] == ["NewCacheTrigger"]
        assert verify.timetable.timetable.delta == timedelta(seconds=30)  # still every 30 s for re-checks
        assert ingest.schedule is None
    else:
        assert verify.schedule == ingest.schedule == timedelta(seconds=30)


@pytest.mark.airflow
@pytest.mark.squid
@pytest.mark.slow
def test_the_running_stack_serves_a_new_cache_seconds_after_its_first_advert(tmp_path, make_settings, origin):
    """`make run` with Shoal on: the triggerer consumes the agents' queue, the new cache's first
    heartbeat starts a verify run by asset event, and clients are sent to it; nobody triggers anything.
    The broker comes from an Airflow Connection, as a site keeps its credentials (the URL setting points
    nowhere), so the trigger reads it in the triggerer."""
    from bench.stack import embedded_stack, wait_for

    settings = make_settings()
    squid = doubles.Squid(origin.port, ip="127.0.0.6")
    port = doubles.free_port("127.0.0.1")
    env = {
        "CS_SHOAL_ENABLED": "true",
        "CS_SHOAL_EXCHANGE": settings.exchange,
        "CS_SHOAL_QUEUE": settings.queue,
        "CS_SHOAL_GEOIP_DB": settings.geoip_db,
        "CS_SHOAL_VERIFY_URLS": " ".join(settings.verify_urls),
        "CS_SHOAL_REVERSE_DNS": "false",
        "CS_SHOAL_AMQP_URL": "amqp://guest:guest@127.0.0.1:9/%2F",
        "CS_SHOAL_AMQP_CONNECTION": "cs_shoal_broker",
        "AIRFLOW_CONN_CS_SHOAL_BROKER": json.dumps(
            {"conn_type": "amqp", "host": "127.0.0.1", "port": 5672, "login": "guest", "password": "guest"}
        ),
    }
    try:
        with embedded_stack(tmp_path, port, env):
            assert wait_for(lambda: amqp.consumers(settings), timeout=240, step=1), "the triggerer consumes"
            amqp.publish(settings, agent_102_message("evt1", "new.example.org", "127.0.0.6", squid.port))
            url = f"http://127.0.0.1:{port}/cloudscheduler/shoal/nearest"
            listed = wait_for(lambda: nearest_hosts(url).get("new.example.org"), timeout=60, step=0.2)
            assert listed is True, "served, verified"
            airflow_db = tmp_path / "airflow" / "airflow.db"
            # The trigger fired for this cache, and Airflow started a verify run for that event (a
            # scheduled run may have verified it first: the two race, and either serves it).
            assert wait_for(lambda: "evt1" in asset_events(airflow_db), timeout=30, step=0.5)
            assert wait_for(lambda: shoal_runs(airflow_db).get("cs_shoal_verify:asset_triggered"), 30, 0.5)
            assert not {"cs_shoal_ingest:scheduled", "cs_shoal_ingest:manual"} & set(shoal_runs(airflow_db))
    finally:
        squid.stop()
        with contextlib.suppress(amqp.BrokerUnreachable):
            connection = amqp._connect(settings)
            connection.channel().queue_delete(settings.queue)
            connection.close()


def asset_events(airflow_db: Path) -> str:
    with sqlite3.connect(airflow_db) as db:
        return " ".join(str(row[0]) for row in db.execute("SELECT extra FROM asset_event"))


def shoal_runs(airflow_db: Path) -> dict[str, int]:
    with sqlite3.connect(airflow_db) as db:
        query = "SELECT dag_id || ':' || run_type, count(*) FROM dag_run WHERE dag_id LIKE 'cs_shoal_%' GROUP BY 1"
        return dict(db.execute(query).fetchall())


def nearest_hosts(url: str) -> dict[str, bool]:
    session = requests.Session()
    session.trust_env = False
    try:
        body = session.get(url, timeout=5).json()
    except (requests.RequestException, ValueError):
        return {}
    return {c["hostname"]: c["verified"] for c in (body or {}).values()}
