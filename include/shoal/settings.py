"""Shoal settings, read from ``CS_SHOAL_*`` environment variables (the DAGs and the plugin run in
different processes; the environment is what they share). Defaults are the original server's.

Every URL is configurable so tests can point verification at a local origin behind a local squid.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

PREFIX = "CS_SHOAL_"
INGEST_MODES = ("events", "schedule")

# The original server's function test: four stratum-1 hosts x four repositories (reference section 3.3).
STRATUM_ONES = (
    "cvmfs-stratum-one.cern.ch",
    "cernvmfs.gridpp.rl.ac.uk",
    "cvmfs.racf.bnl.gov",
    "cvmfs.fnal.gov",
)
REPOSITORIES = ("atlas.cern.ch", "atlas-condb.cern.ch", "sft.cern.ch", "grid.cern.ch")
DEFAULT_VERIFY_URLS = tuple(
    f"http://{h}/cvmfs/{r}/.cvmfswhitelist" for h in STRATUM_ONES for r in REPOSITORIES
)


@dataclass(frozen=True)
class ShoalSettings:
    enabled: bool = False  # schedules the Shoal DAGs; off, they run only when triggered by hand
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"  # amqps://... for TLS
    # An Airflow Connection holding the broker, its credentials and TLS client certificate (replaces
    # amqp_url; include/airflow_glue.py: amqp_connection).
    amqp_connection: str = ""
    amqp_verify: bool = True  # false: AMQPS without checking the broker's certificate or name
    exchange: str = "shoal"  # agents publish here; 1.0.2 agents cannot change the vhost ("/")
    queue: str = "cloudscheduler-shoal"
    queue_max_length: int = 100_000  # bounds the broker's memory if ingest stops; oldest dropped
    # "events": the triggerer consumes the queue as heartbeats arrive and a new cache starts its verify
    # run at once; "schedule": cs_shoal_ingest drains it every 30 s (a stack without a triggerer).
    ingest: str = "events"
    geoip_db: str = "/var/lib/GeoIP/GeoLite2-City.mmdb"  # GeoLite2-City or DB-IP City Lite
    geoip_domain_db: str = ""  # optional GeoIP2-Domain database for the same-domain rule
    # Without it, the same-domain rule asks reverse DNS (PTR name -> registrable domain), as the original.
    reverse_dns: bool = True
    dns_server: str = ""  # host[:port]; empty: the system's resolvers
    dns_timeout: float = 0.5  # seconds a reverse lookup may take (answers are kept an hour)
    verify_urls: tuple[str, ...] = DEFAULT_VERIFY_URLS  # CVMFS whitelists and/or Frontier URLs
    verify_timeout: float = 2.0  # seconds per fetch through the cache
    varnish_cvmfs_path: str = "/cvmfs/oasis.opensciencegrid.org/.cvmfspublished"  # a CVMFS varnish's probe
    varnish_frontier_path: str = "/atlr"  # a Frontier varnish's probe (with X-frontier-id)
    verify_max_bad: int = 4  # failed fetches (of one kind) that fail a cache, as the original
    verify_interval: int = 3600  # seconds between re-checks of a verified cache
    recheck_interval: int = 300  # seconds between re-checks of an unverified cache
    verify_workers: int = 16
    verify_batch: int = 500  # caches checked per run at most (oldest check first)
    inactive_time: int = 180  # seconds of silence after which a cache expires
    drift_tolerance: int = 10  # seconds of clock difference flagged on the status page
    max_load: float = 122_000.0  # KiB/s; the original always ranks with this, never the agent's value
    distload_weight: float = 0.5
    load_constant: float = 1.0
    # A requester GeoIP cannot place gets its local caches only, else null / DIRECT, as the original did
    # (its client then uses its own defaults); true ranks every cache by load for it instead.
    rank_unplaced_by_load: bool = False
    default_count: int = 5
    wpad_count: int = 10
    trusted_proxies: tuple[str, ...] = ()  # CIDRs whose X-Forwarded-For is believed
    snapshot_ttl: float = 2.0  # seconds the HTTP API reuses its in-memory registry copy (0: never)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ShoalSettings:
        """Settings from ``CS_SHOAL_<FIELD>`` variables; a bad value raises ValueError naming it."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            name = PREFIX + f.name.upper()
            raw = env.get(name)
            if raw is None:
                continue
            try:
                values[f.name] = _convert(raw, type(f.default))
            except ValueError as exc:
                raise ValueError(f"{name}={raw!r}: {exc}") from None
        settings = cls(**values)
        settings.check()
        return settings

    def locator(self):
        """The GeoIP locator these settings describe; raises GeoIPMissing without a city database."""
        from include.shoal.geo import Locator, ReverseDns

        rdns = (
            ReverseDns(self.dns_server, self.dns_timeout)
            if self.reverse_dns and not self.geoip_domain_db
            else None
        )
        return Locator(self.geoip_db, self.geoip_domain_db, reverse_dns=rdns)

    def check(self) -> None:
        if not 0.0 <= self.distload_weight <= 1.0:
            raise ValueError(f"{PREFIX}DISTLOAD_WEIGHT must be within 0..1, got {self.distload_weight}")
        for name in ("verify_timeout", "max_load", "inactive_time", "verify_workers", "verify_max_bad"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{PREFIX}{name.upper()} must be > 0")
        if self.dns_timeout <= 0:
            raise ValueError(f"{PREFIX}DNS_TIMEOUT must be > 0")
        if not self.verify_urls:
            raise ValueError(f"{PREFIX}VERIFY_URLS must name at least one URL")
        if self.ingest not in INGEST_MODES:
            raise ValueError(f"{PREFIX}INGEST must be one of {', '.join(INGEST_MODES)}, got {self.ingest!r}")


def _convert(raw: str, kind: type):
    if kind is bool:
        if raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if raw.strip().lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError("expected true or false")
    if kind is int:
        return int(raw)
    if kind is float:
        return float(raw)
    if kind is tuple:  # whitespace- or comma-separated list
        return tuple(part for part in raw.replace(",", " ").split() if part)
    return raw


def scheduling_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether the Shoal DAGs run on their schedules; read at DAG parse time, so it never raises."""
    env = os.environ if env is None else env
    return env.get(PREFIX + "ENABLED", "").strip().lower() in ("1", "true", "yes", "on")


def ingest_by_events(env: Mapping[str, str] | None = None) -> bool:
    """Whether the triggerer consumes the agents' queue (read at DAG parse time: never raises; a value
    that is not a mode is reported by the tasks, which check the settings)."""
    env = os.environ if env is None else env
    return scheduling_enabled(env) and env.get(PREFIX + "INGEST", "events").strip().lower() != "schedule"
