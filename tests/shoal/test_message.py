"""Heartbeats of every published agent version parse; anything else is a rejection, never an exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from include.shoal.message import Heartbeat, Rejection, parse

# Captured from shoal-agent 1.0.2 by a tap queue (reference section 2.2), byte for byte.
AGENT_102 = (
    b'{"uuid": "0f0f4072e83f11f18fe402fc00000001", "hostname": "squid-test.example.org", '
    b'"squid_port": "3128", "verified": false, "max_load": -112, "public_ip": "192.0.2.2", '
    b'"timestamp": 1795549295.8526292, "load": 0.0}'
)
AGENT_09X = {
    "uuid": "a1",
    "hostname": "old09x.example.org",
    "squid_port": 3128,
    "public_ip": "192.0.2.3",
    "private_ip": "10.1.2.3",
    "timestamp": 1795549295,
    "load": 12.5,
    "verified": False,
    "max_load": "122000",
    "global_access": "False",
    "domain_access": "True",
}
AGENT_MASTER = {
    "uuid": "m1",
    "hostname": "newstyle.example.org",
    "cache_port": 6081,
    "private_ip": "10.0.0.5",
    "external_ip": "198.51.100.7",
    "timestamp": 1795549295.0,
    "load": 3,
    "cache_type": "varnish",
    "upstream": "cvmfs",
    "verified": False,
    "max_load": 1000,
}
AGENT_2013 = {
    "uuid": "x",
    "hostname": "h.example",
    "squid_port": 3128,
    "public_ip": "192.0.2.9:3128",
    "timestamp": 1.0e9,
    "load": 1,
}


def test_the_captured_1_0_2_message():
    beat = parse(AGENT_102)
    assert isinstance(beat, Heartbeat)
    assert (beat.uuid, beat.hostname, beat.port, beat.public_ip) == (
        "0f0f4072e83f11f18fe402fc00000001",
        "squid-test.example.org",
        3128,
        "192.0.2.2",
    )
    assert beat.max_load == -112 and beat.load == 0.0 and beat.timestamp == 1795549295.8526292
    assert (beat.private_ip, beat.external_ip, beat.global_access, beat.domain_access) == (
        None,
        None,
        None,
        None,
    )
    assert (beat.cache_type, beat.upstream, beat.agent_version) == ("squid", "both", "1.0")


def test_0_9_access_strings_and_string_max_load():
    beat = parse(json.dumps(AGENT_09X))
    assert beat.global_access is False and beat.domain_access is True
    assert beat.max_load == 122000 and beat.agent_version == "0.9" and beat.private_ip == "10.1.2.3"
    booleans = parse(json.dumps(AGENT_09X | {"global_access": True, "domain_access": False}))
    assert (booleans.global_access, booleans.domain_access) == (True, False)


def test_master_cache_port_type_upstream_and_external_ip():
    beat = parse(json.dumps(AGENT_MASTER).encode())
    assert (beat.port, beat.cache_type, beat.upstream, beat.agent_version) == (
        6081,
        "varnish",
        "cvmfs",
        "master",
    )
    assert beat.public_ip is None and beat.address == "198.51.100.7"


def test_2013_ip_with_port_and_0_6_shape():
    beat = parse(json.dumps(AGENT_2013))
    assert beat.public_ip == "192.0.2.9" and beat.agent_version == "0.6"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not_json"),
        (b"\xff\xfe", "not_json"),
        (b"[1, 2]", "not_object"),
        (b"null", "not_object"),
        (json.dumps({k: v for k, v in AGENT_09X.items() if k != "load"}), "missing:load"),
        (json.dumps({k: v for k, v in AGENT_09X.items() if k != "uuid"}), "missing:uuid"),
        (json.dumps({k: v for k, v in AGENT_09X.items() if k != "squid_port"}), "missing:squid_port"),
        (json.dumps(AGENT_09X | {"squid_port": "http"}), "bad:squid_port"),
        (json.dumps(AGENT_09X | {"squid_port": 70000}), "bad:squid_port"),
        (json.dumps(AGENT_09X | {"squid_port": True}), "bad:squid_port"),
        (json.dumps(AGENT_09X | {"timestamp": "yesterday"}), "bad:timestamp"),
        (json.dumps(AGENT_09X | {"load": [1]}), "bad:load"),
        (json.dumps(AGENT_09X | {"public_ip": "999.1.1.1"}), "bad:public_ip"),
        (json.dumps(AGENT_09X | {"hostname": 'evil"; alert(1); "'}), "bad:hostname"),
        (json.dumps(AGENT_09X | {"hostname": "a,b"}), "bad:hostname"),
        (json.dumps(AGENT_09X | {"uuid": "../../etc"}), "bad:uuid"),
        (json.dumps(AGENT_09X | {"cache_type": "nginx"}), "bad:cache_type"),
        (b'{"uuid": "a", "hostname": "h", "squid_port": 1, "timestamp": NaN, "load": 1}', "bad:timestamp"),
        (b"[" * 100_000, "not_json"),
    ],
)
def test_malformed_messages_are_rejected_with_a_reason(body, reason):
    assert parse(body) == Rejection(reason)


@pytest.mark.properties
@settings(deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.dictionaries(
            st.sampled_from(list(AGENT_09X) + ["cache_port", "external_ip", "cache_type"]),
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(),
                st.floats(),
                st.text(max_size=20),
                st.lists(st.integers(), max_size=2),
            ),
            max_size=12,
        ).map(json.dumps),
    )
)
def test_parse_never_raises(body):
    result = parse(body)
    assert isinstance(result, Heartbeat | Rejection)
    if isinstance(result, Heartbeat):
        assert 0 < result.port < 65536 and result.load >= 0
