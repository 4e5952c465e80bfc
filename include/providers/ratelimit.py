"""Client-side pacing for one cloud: a token bucket for requests, and bounded retries with full jitter.

EC2 meters every account with token buckets (RunInstances: burst 5 requests, 2/s; describes: burst 100,
20/s); going over answers ``RequestLimitExceeded``. Pacing ourselves below the cloud's bucket avoids
most throttling; the retry loop absorbs the rest (and Nova's or a proxy's 429/503) without a storm:
full-jitter exponential back-off (AWS architecture blog) and a small, fixed number of attempts.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from include.providers.base import TransientError

T = TypeVar("T")


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up. Thread-safe; ``acquire`` blocks."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst = float(rate), float(burst)
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def _reserve(self, n: float) -> float:
        """Take ``n`` tokens (possibly going negative) and return how long to wait for them."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= n
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self, n: float = 1.0) -> float:
        """Block until ``n`` tokens are ours; returns the seconds waited."""
        wait = self._reserve(n)
        if wait > 0:
            self._sleep(wait)
        return wait


class Unlimited:
    """A bucket that never waits (rate limiting switched off)."""

    def acquire(self, n: float = 1.0) -> float:
        return 0.0


def in_flight(bucket, call_seconds: float = 2.0, low: int = 4, high: int = 32) -> int:
    """How many create calls to keep in flight so that calls taking up to ``call_seconds`` (EC2
    RunInstances: 0.5-1.5 s) do not leave the bucket's rate unused; 16 when unlimited."""
    rate = getattr(bucket, "rate", None)
    return 16 if rate is None else max(low, min(high, math.ceil(rate * call_seconds)))


def retry_transient(
    call: Callable[[], T],
    *,
    attempts: int = 4,
    base_s: float = 0.2,
    cap_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run ``call``; on ``TransientError`` wait a full-jitter back-off and try again, ``attempts`` times
    in all. A ``retry_after`` attribute on the error (HTTP Retry-After) is honoured as a lower bound."""
    rng = rng or random.Random()
    for attempt in range(attempts):
        try:
            return call()
        except TransientError as err:
            if attempt == attempts - 1:
                raise
            delay = rng.uniform(0, min(cap_s, base_s * 2**attempt))
            delay = max(delay, min(cap_s, getattr(err, "retry_after", 0.0) or 0.0))
            sleep(delay)
    raise AssertionError("unreachable")
