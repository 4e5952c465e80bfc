"""Agent heartbeats: parse the JSON body of every published agent version into one ``Heartbeat``.

Versions differ in field names and types (reference section 2.2): ``squid_port`` (0.6 to 1.0.2, int or
string) or ``cache_port`` (git master); ``max_load`` int, string or negative; ``global_access`` and
``domain_access`` as "True"/"False" strings (0.9.x); IPs possibly as "ip:port" (2013 agents). Anything
else malformed is a ``Rejection`` with a reason, never an exception: the broker delivers bytes from
anyone who can publish.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from dataclasses import dataclass

REQUIRED = ("uuid", "hostname", "timestamp", "load")
CACHE_TYPES = ("squid", "varnish")
UPSTREAMS = ("both", "cvmfs", "frontier")
# Hostnames reach the WPAD script, the HTML page and a regex-parsing client: letters, digits, dots,
# hyphens and underscores only, so nothing can break out of a string there.
_HOSTNAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252}[A-Za-z0-9_])?$")
_UUID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Heartbeat:
    uuid: str
    hostname: str
    port: int
    load: float
    timestamp: float  # the agent's clock, epoch seconds
    public_ip: str | None
    private_ip: str | None
    external_ip: str | None
    max_load: float | None
    global_access: bool | None
    domain_access: bool | None
    cache_type: str
    upstream: str
    agent_version: str  # "0.6", "0.9", "1.0" or "master": which message shape it was

    @property
    def address(self) -> str | None:
        """The address clients and the verifier use: public, else external (NAT), else private."""
        return self.public_ip or self.external_ip or self.private_ip


@dataclass(frozen=True)
class Rejection:
    reason: str  # short machine-readable word, e.g. "not_json", "missing:uuid", "bad:squid_port"


class _Bad(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse(body: bytes | str) -> Heartbeat | Rejection:
    """The heartbeat in ``body``, or why it was rejected."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Rejection("not_json")
    if not isinstance(data, dict):
        return Rejection("not_object")
    try:
        return _heartbeat(data)
    except _Bad as bad:
        return Rejection(bad.reason)


def _heartbeat(data: dict) -> Heartbeat:
    for name in REQUIRED:
        if data.get(name) is None:
            raise _Bad(f"missing:{name}")
    port_field = "cache_port" if data.get("cache_port") is not None else "squid_port"
    if data.get(port_field) is None:
        raise _Bad("missing:squid_port")
    uuid = data["uuid"]
    if not isinstance(uuid, str) or not _UUID.match(uuid):
        raise _Bad("bad:uuid")
    hostname = data["hostname"]
    if not isinstance(hostname, str) or not _HOSTNAME.match(hostname):
        raise _Bad("bad:hostname")
    return Heartbeat(
        uuid=uuid,
        hostname=hostname,
        port=_port(data[port_field], port_field),
        load=max(0.0, _number(data["load"], "load")),
        timestamp=_number(data["timestamp"], "timestamp"),
        public_ip=_ip(data.get("public_ip"), "public_ip"),
        private_ip=_ip(data.get("private_ip"), "private_ip"),
        external_ip=_ip(data.get("external_ip"), "external_ip"),
        max_load=_number(data["max_load"], "max_load") if data.get("max_load") is not None else None,
        global_access=_flag(data.get("global_access")),
        domain_access=_flag(data.get("domain_access")),
        cache_type=_choice(data.get("cache_type"), CACHE_TYPES, "cache_type"),
        upstream=_choice(data.get("upstream"), UPSTREAMS, "upstream"),
        agent_version=_version(data),
    )


def _number(value, name: str) -> float:
    if isinstance(value, bool):
        raise _Bad(f"bad:{name}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _Bad(f"bad:{name}") from None
    if not isinstance(value, int | float):
        raise _Bad(f"bad:{name}")
    value = float(value)
    if not math.isfinite(value):
        raise _Bad(f"bad:{name}")
    return value


def _port(value, name: str) -> int:
    number = _number(value, name)
    if number != int(number) or not 0 < number < 65536:
        raise _Bad(f"bad:{name}")
    return int(number)


def _ip(value, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _Bad(f"bad:{name}")
    text = value.strip()
    if text.count(":") == 1:  # 2013 agents sent "ip:port"
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise _Bad(f"bad:{name}") from None


def _flag(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _choice(value, allowed: tuple[str, ...], name: str) -> str:
    if value is None:
        return allowed[0]
    if isinstance(value, str) and value.strip().lower() in allowed:
        return value.strip().lower()
    raise _Bad(f"bad:{name}")


def _version(data: dict) -> str:
    if "cache_port" in data or "cache_type" in data or "upstream" in data:
        return "master"
    if "global_access" in data or "domain_access" in data:
        return "0.9"
    if "verified" in data or "max_load" in data:
        return "1.0"
    return "0.6"
