"""Big bodies from people who may or may not write: nothing is read before the login, the role and the
CSRF token are checked, and what an authorised user sends is capped while it streams.

The plugin runs under a real uvicorn on loopback; a raw socket sends each POST route a body announced as
1 GB (or sent chunked, without a length) and keeps writing until the server answers. A counting layer
between uvicorn and the app records how many body bytes the app actually read."""

from __future__ import annotations

import re
import socket
import threading
import time
from urllib.parse import quote

import pytest

from tests.plugin.conftest import token_for

pytestmark = pytest.mark.security
GB = 1_000_000_000
MIB = 1 << 20
CLI_API = "/api/cli"  # the remote CLI: any logged-in user may post reads (its own test below)


class Counting:
    """ASGI layer: how many request-body bytes the app pulled, per request path."""

    def __init__(self, app):
        self.app, self.read = app, {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        self.read[path] = 0

        async def counted():
            message = await receive()
            self.read[path] += len(message.get("body", b""))
            return message

        return await self.app(scope, counted, send)


@pytest.fixture
def served(app, monkeypatch):
    import uvicorn

    counting = Counting(app)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(counting, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield counting, sock.getsockname()[1]
    server.should_exit = True
    thread.join(5)


def post_huge(
    port: int, path: str, token: str, *, chunked: bool = False, limit: int = 64 * MIB
) -> tuple[int, int]:
    """POST a 1 GB body (announced, or chunked) until the server answers; (status, bytes we got to send)."""
    conn = socket.create_connection(("127.0.0.1", port))
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {GB}"
    conn.sendall(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n{length}\r\n\r\n"
        ).encode()
    )
    block = b"a=" + b"x" * (64 * 1024 - 2)
    sent, answer = 0, b""
    conn.settimeout(0.05)
    while sent < limit:
        try:
            answer += conn.recv(4096)
            if answer:
                break
        except TimeoutError:
            pass
        except OSError:
            break
        try:
            conn.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block)
            sent += len(block)
        except OSError:
            break
    conn.settimeout(5)
    try:
        while b"\r\n" not in answer:
            more = conn.recv(4096)
            if not more:
                break
            answer += more
    except OSError:
        pass
    conn.close()
    status = re.match(rb"HTTP/1.1 (\d+)", answer)
    return (int(status.group(1)) if status else 0), sent


def post_routes(app) -> list[str]:
    from fastapi.routing import APIRoute

    values = {"group": "belle2", "cloud": "os"}
    return sorted(
        re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], r.path)
        for r in app.routes
        if isinstance(r, APIRoute) and "POST" in r.methods and r.path != CLI_API
    )


def test_a_viewer_gets_403_before_a_byte_of_1_gb_is_read(app, served, auth_manager):
    counting, port = served
    viewer = token_for(auth_manager, "victor", "user")  # viewer of belle2
    routes = post_routes(app)
    assert len(routes) >= 15 and "/groups/belle2/images/upload" in routes
    for path in routes:
        status, _ = post_huge(port, path, viewer)  # announced: over the cap, or not allowed
        assert status in (403, 413) and counting.read[path] == 0, (path, status, counting.read[path])
        status, sent = post_huge(port, path, viewer, chunked=True)  # no length: only the role check stops it
        assert status == 403 and counting.read[path] == 0, (path, status, counting.read[path])
    print(f"\n{len(routes)} POST routes: 0 bytes read from a viewer's 1 GB body on each")


def test_the_remote_cli_reads_nothing_from_a_stranger_and_caps_a_viewer(served, auth_manager):
    """POST /api/cli runs a viewer's reads too, so a viewer's body is read: but only up to the form cap."""
    counting, port = served
    status, _ = post_huge(port, CLI_API, "not-a-token", chunked=True)
    assert status in (401, 403) and counting.read[CLI_API] == 0
    viewer = token_for(auth_manager, "victor", "viewer")
    status, _ = post_huge(port, CLI_API, viewer)
    assert status == 413 and counting.read[CLI_API] == 0  # announced too large: refused unread
    status, _ = post_huge(port, CLI_API, viewer, chunked=True)
    assert status == 413 and counting.read[CLI_API] <= MIB + 64 * 1024


def test_an_editor_is_capped_announced_or_streamed(app, served, auth_manager, login):
    counting, port = served
    eve = login("eve")
    token = token_for(auth_manager, "eve", "user")
    path = "/groups/belle2/aliases"
    url = f"{path}?csrf={quote(eve.csrf())}"
    status, _ = post_huge(port, url, token)
    assert status == 413 and counting.read[path] == 0  # announced too large: refused unread
    status, sent = post_huge(port, url, token, chunked=True)
    assert status == 413 and counting.read[path] <= MIB + 64 * 1024, counting.read[
        path
    ]  # cut while streaming
    print(f"\nchunked 1 GB to {path}: the app read {counting.read[path]:,} bytes, the client sent {sent:,}")


def test_uploads_have_their_own_cap_and_a_full_cache_says_so(
    app, served, auth_manager, login, tmp_path, monkeypatch
):
    counting, port = served
    eve = login("eve")
    token = token_for(auth_manager, "eve", "user")
    path = "/groups/belle2/images/upload"
    status, _ = post_huge(port, f"{path}?csrf={quote(eve.csrf())}", token)
    assert status != 413 or counting.read[path] == 0  # 1 GB is within the default upload cap (20 GB)

    from cloudscheduler.bodylimit import caps

    assert caps({"CLOUDSCHEDULER_FORM_MAX_KB": "64", "CLOUDSCHEDULER_UPLOAD_MAX_GB": "2"}) == (
        64 * 1024,
        2 * GB,
    )
    with pytest.raises(ValueError, match="CLOUDSCHEDULER_UPLOAD_MAX_GB must be a positive number"):
        caps({"CLOUDSCHEDULER_UPLOAD_MAX_GB": "lots"})

    monkeypatch.setenv("CLOUDSCHEDULER_IMAGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CLOUDSCHEDULER_IMAGE_CACHE_MAX_GB", "0.000001")  # a 1 kB cache: full at once
    data = b"QFI\xfb" + b"\0" * 4096
    response = eve.http.post(
        f"{path}?csrf={quote(eve.csrf())}",
        data={"name": "big"},
        files={"file": ("big.qcow2", data, "application/octet-stream")},
    )
    assert response.status_code == 507 and "the image cache cannot hold" in response.text
