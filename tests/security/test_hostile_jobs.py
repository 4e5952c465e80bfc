"""What anyone who can submit a job to a polled schedd can do to the poller: nothing slow.

A Requirements string is the submitter's text; the group and alias in it are read in one pass (the
backtracking pattern this replaced took 2.5 s for 16 KiB of ``"\\``). A schedd that does not answer
costs one deadline even when it is the only one."""

from __future__ import annotations

import socket
import threading
import time

import classad2
import pytest

from include.condor.classads import job_record
from include.condor.htcondor import run_parallel
from include.condor.requirements import requirement_targets

pytestmark = pytest.mark.security
KIB16 = 16 * 1024

HOSTILE = {
    "quotes": '"' * KIB16,
    "escaped quotes": '"\\' * (KIB16 // 2),
    "quote-backslash-quote": '"\\"' * (KIB16 // 3),
    "open string after a comparison": 'group_name == "' + "\\" * (KIB16 - 15),
    "nested toLower": "toLower(" * (KIB16 // 8),
    "many comparisons": 'group_name == "x" && ' * (KIB16 // 21),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_16_kib_of_hostile_requirements_is_read_in_under_50_ms(kind):
    text = HOSTILE[kind]
    assert len(text) >= KIB16 - 32
    requirement_targets.cache_clear()
    began = time.perf_counter()
    requirement_targets(text)
    took = time.perf_counter() - began
    assert took < 0.05, f"{kind}: {took * 1000:.1f} ms"


def test_a_whole_job_ad_with_such_requirements_is_read_quickly():
    literal = '\\"' * 4096  # a ClassAd string of 4,096 quotes: 8 KiB escaped in the unparsed text
    ad = classad2.ClassAd(
        f'[ GlobalJobId = "s#1.0#1"; JobStatus = 1; '
        f'Requirements = (group_name == "atlas") && (Foo == "{literal}") ]'
    )
    requirement_targets.cache_clear()
    began = time.perf_counter()
    record = job_record(ad, pool="p", schedd="s", defaults={})
    took = time.perf_counter() - began
    assert record.group_name == "atlas" and took < 0.05, took


@pytest.fixture
def silent_schedd():
    """A port that accepts connections and never answers: a schedd stuck on a submitter's queue."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.extend(iter(lambda: server.accept()[0], None)), daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


def test_the_only_schedd_of_a_pool_has_a_deadline_too(silent_schedd):
    from include.condor.htcondor import query_schedd
    from tests.condor.test_htcondor import location

    ad = repr(location("only", silent_schedd)).replace("10.0.0.1", "127.0.0.1")
    began = time.monotonic()
    [part] = run_parallel(query_schedd, [(ad, "only", "cm", {})], processes=1, timeout_s=3)
    assert time.monotonic() - began < 8  # the bindings alone would wait about 20 s
    assert not part.ok and "no answer in 3 s" in str(part.error)
