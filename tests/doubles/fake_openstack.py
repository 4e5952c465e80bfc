"""A fake OpenStack (Keystone v3, Nova v2.1, Neutron, Glance v2) on one loopback port, fast enough for
10,000+ servers, speaking what openstacksdk 4.22 sends (reference/testdoubles.md section 2, Appendix A).

Honest where our adapter depends on it: real HTTP, tokens checked (and expirable: keystoneauth must
re-authenticate), Nova's paging (``limit``/``marker``, ``servers_links``), its ``name`` regex filter, its
quota rule (403 "Quota exceeded"), asynchronous capacity failure (server in ERROR with a "No valid host"
fault), error wrappers (``{"badRequest": {...}}``), and scripted faults (429/503 throttling, 500s).

In process: ``fake = FakeOpenStack(); fake.start(); ...; fake.stop()``. As its own process (benchmarks):
``python -m tests.doubles.fake_openstack`` prints the port; ``/_fake/*`` routes seed and inspect it.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.doubles.fake_openstack_views import flavor_view, server_view, token_body

LOSE_REPLY = -1  # a Fault status: do it, then hang up (the reply is lost)
NO_VALID_HOST = "No valid host was found. There are not enough hosts available."


@dataclass
class Fault:
    """Answer requests matching ``method`` and ``path`` (regex) with ``status``, ``times`` times. Status
    ``LOSE_REPLY`` carries the request out and then drops the connection without an answer."""

    method: str
    path: str
    status: int
    message: str = "injected fault"
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    wrapper: str = "computeFault"
    delay_s: float = 0.0  # status 0: wait this long, then answer normally (a slow or hung endpoint)


class FakeOpenStack:
    def __init__(
        self, *, password: str = "pw", project: str = "htc", max_limit: int = 1000, token_check=None
    ):
        self.password, self.project, self.project_id = password, project, "p-" + project
        self.app_creds = {"ac-1": "ac-secret"}  # id -> secret
        self.app_cred_expiry: dict[
            str, str | None
        ] = {}  # id -> Keystone's expires_at (naive UTC), None = never
        self.max_limit = max_limit
        self.lock = threading.RLock()
        self.servers: dict[str, dict] = {}
        self.order: list[str] = []
        self.flavors = {
            "1": dict(id="1", name="m1.small", ram=2048, vcpus=1, disk=20),
            "2": dict(id="2", name="c8.large", ram=16384, vcpus=8, disk=40),
        }
        self.images = {
            "img-1": dict(
                id="img-1",
                name="cernvm4",
                status="active",
                visibility="public",
                checksum="0" * 32,
                size=1024,
                disk_format="qcow2",
                container_format="bare",
                created_at="2024-01-01T00:00:00Z",
            )
        }
        self.networks = {
            "net-1": dict(
                id="net-1", name="private", status="ACTIVE", shared=False, **{"router:external": False}
            )
        }
        self.security_groups = {"sg-1": dict(id="sg-1", name="default")}
        self.keypairs = {
            "default": dict(name="default", fingerprint="aa:bb", public_key="ssh-ed25519 AAAA x")
        }
        self.quota = dict(instances=-1, cores=-1, ram=-1)
        self.volume_quota = dict(volumes=-1, gigabytes=-1)
        self.capacity_cores: int | None = None  # beyond this, new servers go to ERROR "No valid host"
        self.build_seconds = 0.0
        self.faults: list[Fault] = []
        self.tokens: set[str] = set()
        self.token_check = token_check  # callable(token) -> bool; None = our own issued tokens
        self.requests: Counter[str] = Counter()  # "METHOD /path" (ids replaced by {id})
        self.posts: Counter[str] = Counter()  # server name -> POST /servers accepted for it
        self.httpd: ThreadingHTTPServer | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self, port: int = 0) -> FakeOpenStack:
        fake = self

        class Handler(_Handler):
            state = fake

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def auth_url(self) -> str:
        return self.url + "/identity/v3"

    # --- state helpers for tests ---------------------------------------------------------------
    def reset(self) -> None:
        """Forget servers, faults, quotas and counters (a fake shared by a session of tests)."""
        with self.lock:
            self.servers.clear()
            self.order.clear()
            self.faults.clear()
            self.requests.clear()
            self.posts.clear()
            self.quota = dict(instances=-1, cores=-1, ram=-1)
            self.capacity_cores = None

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def add_server(
        self,
        name: str,
        metadata: dict | None = None,
        flavor_id: str = "1",
        status: str | None = None,
        fault: str | None = None,
        user_data: str | None = None,
        bdm: list | None = None,
        image_id: str = "img-1",
    ) -> dict:
        sid = str(uuid.uuid4())
        fl = self.flavors[flavor_id]
        s = {
            "id": sid,
            "name": name,
            "status": status or "BUILD",
            "metadata": metadata or {},
            "_flavor": fl,
            "image": {"id": image_id} if not bdm else "",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "_t": time.time(),
            "_ip": f"10.{len(self.order) // 62500 % 250}.{len(self.order) // 250 % 250}.{len(self.order) % 250 + 2}",
            "user_data": user_data,
            "bdm": bdm,
            "tenant_id": self.project_id,
        }
        if fault:
            s["status"], s["fault"] = "ERROR", {"code": 500, "message": fault, "created": s["created"]}
        with self.lock:
            self.servers[sid] = s
            self.order.append(sid)
        return s

    def seed(
        self, count: int, prefix: str = "vm", metadata=None, flavor_id: str = "1", status: str = "ACTIVE"
    ) -> None:
        """``count`` servers named ``{prefix}-{i}`` straight into the state (no HTTP), for listing tests."""
        for i in range(1, count + 1):
            name = f"{prefix}-{i}"
            self.add_server(name, metadata(name) if metadata else {}, flavor_id, status)

    def used(self) -> tuple[int, int, int]:
        live = list(self.servers.values())
        return len(live), sum(s["_flavor"]["vcpus"] for s in live), sum(s["_flavor"]["ram"] for s in live)

    def volumes_used(self) -> tuple[int, int]:
        """Boot volumes of live servers (delete_on_termination: they go with the server)."""
        sizes = [bdm[0].get("volume_size", 0) for s in self.servers.values() if (bdm := s.get("bdm"))]
        return len(sizes), sum(sizes)

    def names(self) -> list[str]:
        return [s["name"] for s in self.servers.values()]

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.times > 0 and f.method == method and re.search(f.path, path):
                    f.times -= 1
                    return f
        return None

    def create(self, body: dict) -> tuple[int, dict]:
        s = body.get("server", {})
        if s.get("flavorRef") not in self.flavors:
            return 400, {
                "badRequest": {"code": 400, "message": f"Flavor {s.get('flavorRef')} could not be found."}
            }
        image = s.get("imageRef") or ((s.get("block_device_mapping_v2") or [{}])[0].get("uuid"))
        if image not in self.images:
            return 400, {"badRequest": {"code": 400, "message": f"Image {image} could not be found."}}
        if s.get("key_name") and s["key_name"] not in self.keypairs:
            return 400, {"badRequest": {"code": 400, "message": "Invalid key_name provided."}}
        networks = s.get("networks")
        for net in networks if isinstance(networks, list) else ():  # "auto" / "none", or [{"uuid": ...}]
            if net.get("uuid") not in self.networks:
                return 400, {
                    "badRequest": {"code": 400, "message": f"Network {net.get('uuid')} could not be found."}
                }
        fl = self.flavors[s["flavorRef"]]
        with self.lock:  # quota check and insert are one step, as in Nova
            n, cores, ram = self.used()
            for res, have, want in (
                ("instances", n, 1),
                ("cores", cores, fl["vcpus"]),
                ("ram", ram, fl["ram"]),
            ):
                limit = self.quota[res]
                if limit >= 0 and have + want > limit:
                    msg = f"Quota exceeded for {res}: Requested {want}, but already used {have} of {limit} {res}."
                    return 403, {"forbidden": {"code": 403, "message": msg}}
            busy = sum(x["_flavor"]["vcpus"] for x in self.servers.values() if x["status"] != "ERROR")
            full = self.capacity_cores is not None and busy + fl["vcpus"] > self.capacity_cores
            srv = self.add_server(
                s["name"],
                s.get("metadata"),
                s["flavorRef"],
                fault=NO_VALID_HOST if full else None,
                user_data=s.get("user_data"),
                bdm=s.get("block_device_mapping_v2"),
                image_id=image,
            )
            srv["networks"] = networks if isinstance(networks, list) else []
        self.posts[s["name"]] += 1
        return 202, {
            "server": {"id": srv["id"], "links": [], "adminPass": "x", "OS-DCF:diskConfig": "MANUAL"}
        }

    def advance(self, s: dict) -> None:
        if s["status"] == "BUILD" and time.time() - s["_t"] >= self.build_seconds:
            s["status"] = "ACTIVE"


def _route_key(method: str, path: str) -> str:
    return f"{method} " + re.sub(r"/[0-9a-f]{8}-[0-9a-f-]{27}", "/{id}", path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: FakeOpenStack

    def log_message(self, *a):
        pass

    def send(self, code: int, body=None, headers=None) -> None:
        data = json.dumps(body).encode() if body is not None and code != 204 else b""
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self) -> None:
        from tests.doubles.fake_openstack_routes import route

        st = self.state
        u = urlsplit(self.path)
        path, query = u.path.rstrip("/") or "/", parse_qs(u.query, keep_blank_values=True)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        st.requests[_route_key(self.command, path)] += 1
        fault = st.take_fault(self.command, path)
        if fault and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault and fault.status == LOSE_REPLY:
            route(st, self, path, query, raw)
            self.close_connection = True
            return None
        if fault and fault.status:
            return self.send(
                fault.status, {fault.wrapper: {"code": fault.status, "message": fault.message}}, fault.headers
            )
        code, body, headers = route(st, self, path, query, raw)
        self.send(code, body, headers)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any


__all__ = [
    "LOSE_REPLY",
    "NO_VALID_HOST",
    "Fault",
    "FakeOpenStack",
    "flavor_view",
    "server_view",
    "token_body",
]


if __name__ == "__main__":
    fake = FakeOpenStack().start(0)
    print(fake.httpd.server_address[1], flush=True)
    threading.Event().wait()
