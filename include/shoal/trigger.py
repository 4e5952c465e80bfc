"""Event-driven Shoal ingest: an Airflow event trigger, run by the triggerer for as long as the asset it
watches is scheduled on, that consumes the agents' queue (``consumer.HeartbeatConsumer``) and fires an
asset event whenever heartbeats register new caches. ``cs_shoal_verify`` is scheduled on that asset (or
its 30 s timetable), so a new cache is function-tested seconds after its first advert; the health check
itself stays a DAG task, with its retries, logs and alerts.

Refreshes of known caches are applied here and fire nothing: an agent talks every 30 s, and a DAG run per
heartbeat would flood Airflow's tables for nothing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

log = logging.getLogger(__name__)


class NewCacheTrigger(BaseEventTrigger):
    """Fires ``{"registered": [uuid, ...]}`` for each batch of heartbeats that registers new caches.

    The settings are read in the triggerer from ``CS_SHOAL_*`` (the DAG file passes nothing), so the
    trigger's identity does not change when a setting does: Airflow keys asset watchers on their
    arguments, and a changed key would start a second consumer beside the first.
    """

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from include.shoal.consumer import HeartbeatConsumer
        from include.shoal.settings import ShoalSettings
        from include.store.db import get_engine

        settings = ShoalSettings.from_env()
        broker = None
        if settings.amqp_connection:
            from include.airflow_glue import amqp_connection_async

            broker = await amqp_connection_async(settings.amqp_connection)
        loop = asyncio.get_running_loop()
        news: asyncio.Queue[list[str]] = asyncio.Queue()
        consumer = HeartbeatConsumer(
            settings,
            get_engine(),
            on_registered=lambda uuids: loop.call_soon_threadsafe(news.put_nowait, uuids),
            broker=broker,
        )
        stop = threading.Event()
        worker = threading.Thread(target=consumer.run, args=(stop,), name="shoal-heartbeats", daemon=True)
        worker.start()
        log.info("consuming Shoal heartbeats from queue %r", settings.queue)
        try:
            while True:
                uuids = await news.get()
                while not news.empty():  # batches that arrived meanwhile: one event, one verify run
                    uuids += news.get_nowait()
                yield TriggerEvent({"registered": uuids})
        finally:
            stop.set()
            await asyncio.to_thread(worker.join, 10)
            log.info("stopped consuming Shoal heartbeats: %s", dict(consumer.totals))
