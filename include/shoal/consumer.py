"""A consumer of the agents' queue that runs for as long as its owner (the triggerer) keeps it: each
batch of heartbeats goes into the registry as it arrives, and the uuids of caches registered by a batch
go to ``on_registered``, so their verification can start at once instead of on the next schedule.

It runs in a thread of its own (pika's blocking connection is not async). Messages are acknowledged after
their batch is committed, as in ``amqp.drain``: a crash redelivers, and applying a heartbeat twice is
harmless. A broker that is down or restarts is retried with back-off, forever, and never raises to the
owner: the triggerer would otherwise stop the watcher until someone noticed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from sqlalchemy import Engine

from include.shoal import amqp, registry
from include.shoal.settings import ShoalSettings
from include.store.db import session_scope

log = logging.getLogger(__name__)

BACKOFF_S = (1, 2, 5, 10, 30)  # after the last, every 30 s


class HeartbeatConsumer:
    def __init__(
        self,
        settings: ShoalSettings,
        engine: Engine,
        on_registered: Callable[[list[str]], object],
        broker: Mapping | None = None,
        batch_size: int = 500,
        flush_seconds: float = 0.2,
    ):
        self.settings, self.engine, self.broker = settings, engine, broker
        self.on_registered = on_registered
        self.batch_size, self.flush_seconds = batch_size, flush_seconds
        self.totals: Counter = Counter()  # outcomes since start, for the owner's log
        self.connected = threading.Event()  # set while a connection is consuming (tests wait on it)

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, reconnecting after any broker or store failure."""
        failures = 0
        while not stop.is_set():
            try:
                self._consume(stop)
                failures = 0
            except Exception as err:  # noqa: BLE001 - any failure: log, wait, reconnect (see module doc)
                self.connected.clear()
                wait = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
                failures += 1
                log.warning("Shoal heartbeat consumer: %s; retrying in %s s", err, wait)
                stop.wait(wait)

    def _consume(self, stop: threading.Event) -> None:
        locator = self.settings.locator()
        connection = amqp._connect(self.settings, self.broker)
        try:
            channel = connection.channel()
            amqp.declare(channel, self.settings)
            channel.basic_qos(prefetch_count=self.batch_size)
            self.connected.set()
            bodies: list[bytes] = []
            last_tag = None
            for method, _properties, body in channel.consume(
                self.settings.queue, inactivity_timeout=self.flush_seconds
            ):
                if method is not None:
                    bodies.append(body)
                    last_tag = method.delivery_tag
                if bodies and (method is None or len(bodies) >= self.batch_size):
                    new = self._apply(bodies, locator)
                    channel.basic_ack(last_tag, multiple=True)
                    bodies = []
                    if new:
                        self.on_registered(new)
                if stop.is_set():
                    break
            channel.cancel()  # what was prefetched and not applied goes back to the queue
        finally:
            self.connected.clear()
            locator.close()
            if connection.is_open:
                connection.close()

    def _apply(self, bodies: list[bytes], locator) -> list[str]:
        new: list[str] = []
        began = time.monotonic()
        with session_scope(self.engine) as session:
            counts = registry.ingest(
                session, bodies, locator, datetime.now(UTC), self.settings.inactive_time, new_uuids=new
            )
        self.totals.update(counts)
        rejected = {k: v for k, v in counts.items() if k.startswith("rejected:")}
        if new or rejected:
            log.info(
                "Shoal heartbeats: %d applied in %.3f s, new caches %s, rejected %s",
                len(bodies),
                time.monotonic() - began,
                new,
                rejected,
            )
        return new
