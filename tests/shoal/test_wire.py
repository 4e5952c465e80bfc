"""The JSON and PAC text, checked the way shoal-client 1.0.4 reads it (regexes, not json.loads)."""

from __future__ import annotations

import json
import re

from include.shoal.ranking import Ranker, Requester
from include.shoal.wire import WPAD_EMPTY, Fragments, all_json, nearest_json, wpad
from tests.shoal.builders import COORDS, cache

CLIENT_KEYS = [
    "load",
    "distance",
    "squid_port",
    "last_active",
    "created",
    "external_ip",
    "hostname",
    "public_ip",
    "private_ip",
    "local",
]


def client_parse(text: str) -> dict:
    """shoal-client 1.0.4's parseServerData, reduced to its regexes (reference section 4.4)."""
    count = len(re.findall('"load": ([^,}]+)', text))
    out = {str(i): {} for i in range(count)}
    for key in CLIENT_KEYS:
        for i, value in enumerate(re.findall(f'"{key}": ([^,]+)[,|}}]', text)):
            out[str(i)][key] = None if "null" in value else value.strip('"')
    return out


VICTORIA = Requester("127.0.0.1", *COORDS["victoria"])


def ranked(caches, requester=VICTORIA):
    return Ranker(caches).nearest(requester, 10, now=1000, inactive_time=180)


def test_nearest_is_python_default_json_keyed_by_rank_with_every_client_key():
    caches = [cache("a", "geneva", max_load=-112.0), cache("b", "victoria", private_ip="10.0.0.1", load=3.5)]
    text = nearest_json(Fragments(caches), ranked(caches))
    data = json.loads(text)
    assert text == json.dumps(data)  # separators and spacing exactly as json.dumps' defaults
    assert list(data) == ["0", "1"] and data["0"]["hostname"] == "b.example.org"
    assert list(data["0"]) == [
        "created",
        "last_active",
        "hostname",
        "squid_port",
        "public_ip",
        "private_ip",
        "external_ip",
        "geo_data",
        "load",
        "verified",
        "global_access",
        "max_load",
        "local",
        "cache_type",
        "upstream",
        "distance",
    ]
    assert data["1"]["max_load"] == -112 and "-112," in text  # an agent's int stays an int
    assert data["0"]["local"] is None and '"local": null' in text  # the client takes false as true
    parsed = client_parse(text)
    assert len(parsed) == 2 and all(set(CLIENT_KEYS) <= set(c) for c in parsed.values())
    assert parsed["1"]["public_ip"] == "192.0.2.2" and parsed["0"]["squid_port"] == "3128"


def test_local_caches_are_marked_true():
    site = cache("s", private_ip="10.1.0.5")
    text = nearest_json(Fragments([site]), ranked([site], Requester("10.1.9.9")))
    assert json.loads(text)["0"]["local"] is True


def test_external_ip_stands_in_for_a_missing_public_ip():
    natted = cache("n", public_ip=None, external_ip="198.51.100.7")
    assert json.loads(all_json(Fragments([natted]), [natted]))["0"]["public_ip"] == "198.51.100.7"


def test_all_has_no_distance_and_empty_answers_are_null():
    caches = [cache("a"), cache("b", verified=False)]
    data = json.loads(all_json(Fragments(caches), caches))
    assert [d["hostname"] for d in data.values()] == ["a.example.org", "b.example.org"]
    assert all("distance" not in d for d in data.values())
    assert nearest_json(Fragments([]), []) == "null" and all_json(Fragments([]), []) == "null"


def test_wpad_text_is_the_originals():
    caches = [cache("drift", "victoria"), cache("old09x", "chicago")]
    assert wpad(ranked(caches)) == (
        "function FindProxyForURL(url, host)\n{\n"
        '    return "PROXY http://drift.example.org:3128;PROXY http://old09x.example.org:3128; DIRECT";\n}\n'
    )
    assert wpad([]) == WPAD_EMPTY == 'function FindProxyForURL(url, host)\n{\n    return "DIRECT";\n}\n'
