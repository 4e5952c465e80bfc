"""EC2 over real HTTP: moto's server on a free loopback port, and a fault-injecting proxy in front of it
(reference/testdoubles.md section 1 and Appendix B).

moto never throttles, never runs out of capacity and has no quotas; the proxy answers chosen Actions
with EC2's error documents (``RequestLimitExceeded``, ``InsufficientInstanceCapacity``,
``VcpuLimitExceeded``, ``AuthFailure``), so the real botocore parsers and our retry logic meet them.
``instance_quota`` makes the proxy refuse RunInstances beyond a number of live instances, as EC2 does.

In process: ``MotoEc2().start()``; as its own process (benchmarks): ``python -m tests.doubles.moto_ec2``
prints the port.
"""

from __future__ import annotations

import http.client
import logging
import os
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VALIDATION = {
    "MOTO_ENABLE_AMI_VALIDATION": "true",
    "MOTO_ENABLE_KEYPAIR_VALIDATION": "true",
    "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true",
}


class MotoEc2:
    """moto's ThreadedMotoServer on 127.0.0.1:0 with AMI, key pair and instance type validation on."""

    def __init__(self):
        self.server = None

    def start(self) -> MotoEc2:
        os.environ.update(VALIDATION)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
        from moto import settings
        from moto.server import ThreadedMotoServer

        settings.ENABLE_AMI_VALIDATION = settings.ENABLE_KEYPAIR_VALIDATION = True
        settings.EC2_ENABLE_INSTANCE_TYPE_VALIDATION = True
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        return self

    @property
    def url(self) -> str:
        host, port = self.server.get_host_and_port()
        return f"http://{host}:{port}"

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset", method="POST")).read()

    def stop(self) -> None:
        self.server.stop()


@dataclass
class Rule:
    action: str
    code: str
    status: int = 400
    times: int = 1
    message: str = "injected by the fault proxy"


LOSE_REPLY = "(lose the reply)"


class FaultProxy:
    """A reverse proxy for the EC2 query protocol that fails chosen Actions ``times`` times."""

    def __init__(self, upstream_url: str):
        u = urllib.parse.urlsplit(upstream_url)
        self.upstream = (u.hostname, u.port)
        self.rules: list[Rule] = []
        self.seen: list[str] = []
        self.instance_quota: int | None = None  # RunInstances launched through this proxy, at most
        self.launched = 0
        self.lock = threading.Lock()
        self.httpd: ThreadingHTTPServer | None = None

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_ProxyHandler):
            state = proxy

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def fail(self, action: str, code: str, status: int = 400, times: int = 1) -> None:
        self.rules.append(Rule(action, code, status, times))

    def lose_reply(self, action: str, times: int = 1) -> None:
        """Forward ``action`` to moto, then drop the connection instead of answering: EC2 acted, the
        client never heard (a network cut, a proxy timeout)."""
        self.rules.append(Rule(action, LOSE_REPLY, 0, times))

    def take(self, action: str) -> Rule | None:
        with self.lock:
            for r in self.rules:
                if r.action == action and r.times > 0:
                    r.times -= 1
                    return r
            if action == "RunInstances":
                if self.instance_quota is not None and self.launched >= self.instance_quota:
                    return Rule(
                        action,
                        "InstanceLimitExceeded",
                        400,
                        1,
                        "You have requested more instances than your limit",
                    )
                self.launched += 1
        return None

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: FaultProxy

    def log_message(self, *a):
        pass

    def reply(self, status: int, data: bytes, headers) -> None:
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        action = urllib.parse.parse_qs(body.decode()).get("Action", [""])[0]
        self.state.seen.append(action)
        rule = self.state.take(action)
        if rule and rule.code != LOSE_REPLY:
            xml = (
                f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{rule.code}</Code>'
                f"<Message>{rule.message}</Message></Error></Errors><RequestID>fault-1</RequestID></Response>"
            ).encode()
            return self.reply(rule.status, xml, [("Content-Type", "text/xml")])
        conn = http.client.HTTPConnection(*self.state.upstream, timeout=300)
        conn.request("POST", self.path, body, {k: v for k, v in self.headers.items() if k.lower() != "host"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if rule:  # LOSE_REPLY: moto did it; the client hears nothing
            self.close_connection = True
            return None
        self.reply(resp.status, data, resp.getheaders())


if __name__ == "__main__":
    moto = MotoEc2().start()
    print(moto.server.get_host_and_port()[1], flush=True)
    threading.Event().wait()
