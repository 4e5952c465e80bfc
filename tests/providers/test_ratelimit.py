"""Token bucket pacing and bounded, jittered retries."""

from __future__ import annotations

import random

import pytest

from include.providers.base import ProviderError, TransientError
from include.providers.ratelimit import TokenBucket, retry_transient


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_bucket_allows_the_burst_then_paces_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=5, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(15)]
    assert waits[:5] == [0.0] * 5 and all(w > 0 for w in waits[5:])
    assert clock.t == pytest.approx(10 / 2.0)  # 10 beyond the burst at 2/s


def test_bucket_refills_while_idle_but_not_beyond_the_burst():
    clock = FakeClock()
    bucket = TokenBucket(rate=10.0, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        bucket.acquire()
    clock.t += 100
    assert [bucket.acquire() for _ in range(3)] == [0.0] * 3
    assert bucket.acquire() == pytest.approx(0.1)


def test_bucket_rejects_nonsense():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)


def test_retry_is_bounded_jittered_and_honours_retry_after():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        err = TransientError("c1", "HTTP 429")
        err.retry_after = 0.5 if len(calls) == 1 else 0.0
        raise err

    with pytest.raises(TransientError):
        retry_transient(flaky, attempts=4, base_s=0.2, cap_s=5, sleep=sleeps.append, rng=random.Random(1))
    assert len(calls) == 4 and len(sleeps) == 3
    assert sleeps[0] >= 0.5  # Retry-After is a floor
    assert all(0 <= s <= 0.2 * 2**i for i, s in enumerate(sleeps) if i > 0)


def test_retries_of_many_clients_spread_out_rather_than_stampede():
    """Full jitter: a hundred clients throttled at the same moment do not come back at the same moment."""
    waits: list[list[float]] = []
    for _ in range(100):
        sleeps: list[float] = []

        def throttled():
            raise TransientError("c1", "RequestLimitExceeded")

        with pytest.raises(TransientError):
            retry_transient(throttled, attempts=3, base_s=0.2, cap_s=5, sleep=sleeps.append)
        waits.append(sleeps)
    second = sorted(w[1] for w in waits)  # the wait before the third try: uniform in [0, 0.4]
    assert len(set(second)) == 100  # no two clients wait the same
    assert second[10] < 0.1 and second[89] > 0.3  # spread over the whole window, not clustered
    assert all(0 <= w[1] <= 0.4 for w in waits)


def test_retry_does_not_touch_other_errors():
    calls = []

    def broken():
        calls.append(1)
        raise ProviderError("c1", "HTTP 400 bad flavor")

    with pytest.raises(ProviderError):
        retry_transient(broken, sleep=lambda s: None)
    assert calls == [1]


def test_calls_in_flight_follow_the_rate():
    from include.providers.ratelimit import Unlimited, in_flight

    assert in_flight(TokenBucket(2.0, 20)) == 4  # floor
    assert in_flight(TokenBucket(10.0, 20)) == 20  # 10/s with calls of up to 2 s
    assert in_flight(TokenBucket(500.0, 20)) == 32  # cap
    assert in_flight(Unlimited()) == 16
