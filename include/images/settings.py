"""Tunables of image distribution. Where the cache lives and how much disk it may take describe the host,
not the configuration, so they come from the environment; the rest are fixed rules with names.

``CLOUDSCHEDULER_IMAGE_CACHE``: the cache directory (default ``<checkout>/.state/image-cache``). Every
process that uploads (the plugin, the CLI) or copies (the workers) must see the same directory.
``CLOUDSCHEDULER_IMAGE_CACHE_MAX_GB``: the cache's size bound (default 50); least recently used
entries are evicted beyond it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from include.store.db import ROOT

CACHE_DIR_ENV = "CLOUDSCHEDULER_IMAGE_CACHE"
CACHE_MAX_GB_ENV = "CLOUDSCHEDULER_IMAGE_CACHE_MAX_GB"
GB = 1000**3


@dataclass(frozen=True)
class ImageSettings:
    cache_dir: Path
    cache_max_bytes: int = 50 * GB
    retention: timedelta = timedelta(days=30)  # cache entries unused this long go (the original's month)
    min_age: timedelta = timedelta(hours=1)  # never evicted younger: an upload waits for its transfers
    disk_warn_fraction: float = 0.8  # warn when the cache's file system is fuller than this
    max_attempts: int = 3  # automatic retries of a failing transfer; then it waits for an operator
    retry_base: timedelta = timedelta(minutes=10)  # first retry delay, doubling
    lease_ttl: timedelta = timedelta(minutes=10)  # a claimed transfer silent this long is taken over
    heartbeat: timedelta = timedelta(seconds=30)  # how often a running transfer renews its lease
    defaults_interval: timedelta = timedelta(hours=6)  # default-image replication (the original's 6 h)


def image_settings(env: Mapping[str, str] | None = None) -> ImageSettings:
    env = os.environ if env is None else env
    cache_dir = Path(env.get(CACHE_DIR_ENV) or ROOT / ".state" / "image-cache")
    max_gb = float(env.get(CACHE_MAX_GB_ENV) or 50)
    if max_gb <= 0:
        raise ValueError(f"{CACHE_MAX_GB_ENV} must be > 0, got {max_gb}")
    return ImageSettings(cache_dir=cache_dir, cache_max_bytes=int(max_gb * GB))
