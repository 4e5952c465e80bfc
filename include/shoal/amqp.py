"""The agents' side of the broker: declare what they publish to, and drain what they sent.

Agents never declare anything; they publish to topic exchange ``shoal`` with routing key ``info`` and fail
(channel 404) until someone has declared it. We declare it exactly as the original server does
(``topic``, ``durable=False``, ``auto_delete=False``) so both can share a broker. Unlike the original's
per-process auto-delete queue, ours is a named queue that outlives a drain: a scheduled task drains it.
Its message TTL equals the expiry time (an older heartbeat says nothing about a cache now) and its
length is capped, so a stopped ingest cannot fill the broker.

Messages are acknowledged only after the batch they are in has been committed to the store, so a crash
redelivers rather than loses; applying a heartbeat twice is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from include.shoal.settings import ShoalSettings

# Every routing key, as the original server binds (`#`): 1.0.x and 0.9.x agents send "info", 2013 agents
# "<cloud>.info", and a site's own relay may use anything; what arrives is parsed and checked anyway.
ROUTING_KEYS = ("#",)


def _connect(settings: ShoalSettings, broker: Mapping | None = None):
    """A blocking connection to the agents' broker: ``settings.amqp_url``, or ``broker`` (what
    ``include.airflow_glue.amqp_connection`` read from the Airflow Connection the settings name)."""
    import pika

    broker = broker or {}
    params = pika.URLParameters(broker.get("url") or settings.amqp_url)
    if (broker.get("url") or settings.amqp_url).startswith("amqps://"):
        verify = settings.amqp_verify and broker.get("verify", True)
        context = tls_context(
            broker.get("ca_cert"), broker.get("client_cert"), broker.get("client_key"), verify
        )
        params.ssl_options = pika.SSLOptions(context, server_hostname=params.host if verify else None)
    params.socket_timeout = 10
    params.blocked_connection_timeout = 30
    params.connection_attempts = 2
    params.retry_delay = 1
    try:
        return pika.BlockingConnection(params)
    except (pika.exceptions.AMQPConnectionError, OSError) as err:  # OSError: TLS and socket errors
        source = (
            f"CS_SHOAL_AMQP_CONNECTION {settings.amqp_connection!r}"
            if broker.get("url")
            else "CS_SHOAL_AMQP_URL"
        )
        raise BrokerUnreachable(
            f"the Shoal broker {params.host}:{params.port} ({source}): {_why(err)}"
        ) from err


class BrokerUnreachable(ConnectionError):
    """The agents' broker refused us or could not be reached; the message names the setting to fix."""


def _why(err: Exception) -> str:
    """pika wraps the TLS or socket error a few levels down; the innermost says what happened."""
    while err.args and isinstance(err.args[0], Exception):
        err = err.args[0]
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def tls_context(ca_cert: str | None, client_cert: str | None, client_key: str | None, verify: bool):
    """TLS for AMQPS: trust ``ca_cert`` (PEM text) or the system's CAs; present ``client_cert`` and
    ``client_key`` (PEM text) when given; ``verify`` false checks neither the certificate nor the name
    (a test broker with a self-signed certificate; never for a broker across the Internet)."""
    import ssl
    import tempfile

    context = ssl.create_default_context(cadata=ca_cert) if ca_cert else ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert:
        # The ssl module loads a certificate chain from files only: a private folder, gone at once.
        with tempfile.TemporaryDirectory(prefix="cs-amqp-") as folder:
            cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert.write_text(client_cert)
            if client_key:
                key.touch(mode=0o600)
                key.write_text(client_key)
            context.load_cert_chain(cert, key if client_key else None)
    return context


def declare(channel, settings: ShoalSettings) -> None:
    channel.exchange_declare(settings.exchange, exchange_type="topic", durable=False, auto_delete=False)
    channel.queue_declare(
        settings.queue,
        durable=True,
        arguments={
            "x-message-ttl": int(settings.inactive_time * 1000),
            "x-max-length": settings.queue_max_length,
        },
    )
    for key in ROUTING_KEYS:
        channel.queue_bind(settings.queue, settings.exchange, routing_key=key)


@dataclass
class DrainStats:
    messages: int = 0
    batches: int = 0
    seconds: float = 0.0


def drain(
    settings: ShoalSettings,
    apply: Callable[[Sequence[bytes]], object],
    *,
    batch_size: int = 500,
    max_messages: int = 100_000,
    max_seconds: float = 20.0,
    idle_seconds: float = 0.3,
    broker: Mapping | None = None,
) -> DrainStats:
    """Hand every queued message body to ``apply`` in batches until the queue stays empty for
    ``idle_seconds`` (or a limit is hit); acknowledge each batch after ``apply`` returns."""
    stats, began = DrainStats(), time.monotonic()
    connection = _connect(settings, broker)
    try:
        channel = connection.channel()
        declare(channel, settings)
        channel.basic_qos(prefetch_count=batch_size)
        bodies: list[bytes] = []
        last_tag = None
        for method, _properties, body in channel.consume(settings.queue, inactivity_timeout=idle_seconds):
            if method is not None:
                bodies.append(body)
                last_tag = method.delivery_tag
            full = len(bodies) >= batch_size
            over = stats.messages + len(bodies) >= max_messages or time.monotonic() - began > max_seconds
            if bodies and (method is None or full or over):
                apply(bodies)
                channel.basic_ack(last_tag, multiple=True)
                stats.messages, stats.batches, bodies = stats.messages + len(bodies), stats.batches + 1, []
            if method is None or over:
                break
        channel.cancel()  # unacknowledged prefetched messages go back to the queue
    finally:
        if connection.is_open:
            connection.close()
    stats.seconds = round(time.monotonic() - began, 3)
    return stats


def consumers(settings: ShoalSettings, broker: Mapping | None = None) -> int:
    """How many consumers the agents' queue has now (0 if it does not exist yet): 1 while the triggerer's
    watcher is consuming it."""
    import pika

    connection = _connect(settings, broker)
    try:
        return connection.channel().queue_declare(settings.queue, passive=True).method.consumer_count
    except pika.exceptions.ChannelClosedByBroker:  # 404: nobody has declared it
        return 0
    finally:
        if connection.is_open:
            connection.close()


def publish(
    settings: ShoalSettings, body: bytes, routing_key: str = "info", broker: Mapping | None = None
) -> None:
    """Publish one heartbeat the way shoal-agent 1.0.2 does (for tests, demos and the benchmark)."""
    import pika

    connection = _connect(settings, broker)
    try:
        connection.channel().basic_publish(
            exchange=settings.exchange,
            routing_key=routing_key,
            body=body,
            properties=pika.BasicProperties(content_type="application/json"),
        )
    finally:
        connection.close()
