"""The Glance image store under faults (tier ``faults``): throttling, server errors, a full store, a
connection cut mid-download, each surfaces as our error types with a message naming the cloud, and a
transfer meeting them ends in ``error`` (retried later), never half-recorded as done."""

from __future__ import annotations

import socket
import threading

import pytest

from include.providers.base import QuotaError, TransientError
from include.providers.openstack_http import OpenStackCredentials
from include.providers.openstack_images import GlanceImages
from tests.doubles.fake_openstack import FakeOpenStack, Fault

pytestmark = pytest.mark.faults
FILE = r"/image/v2/images/[^/]+/file$"


@pytest.fixture
def fake():
    server = FakeOpenStack().start()
    yield server
    server.stop()


def store(fake: FakeOpenStack, attempts: int = 1) -> GlanceImages:
    creds = OpenStackCredentials(auth_url=fake.auth_url, project_name="htc", username="u", password="pw")
    return GlanceImages("east", creds, attempts=attempts, data_timeout_s=5)


def test_throttling_and_server_errors_are_transient_with_the_cloud_named(fake):
    fake.faults.append(Fault("GET", FILE, 503, "busy", wrapper="error"))
    with pytest.raises(TransientError, match="cloud east: HTTP 503"), store(fake).download("img-1"):
        pass
    fake.faults.append(
        Fault("GET", r"/image/v2/images/img-1$", 429, "slow down", headers={"Retry-After": "0"})
    )
    fake.faults.append(Fault("GET", r"/image/v2/images/img-1$", 500, "oops"))
    # metadata calls are retried by our policy alone (3 attempts here): 429, 500, then the fake's 404 (gone)
    assert store(fake, attempts=3).get("img-1") is None
    assert fake.requests["GET /image/v2/images/img-1"] == 3


def test_a_full_image_store_is_a_quota_error_and_an_upload_is_never_retried(fake, tmp_path):
    fake.faults.append(Fault("PUT", FILE, 413, "Image storage media is full", times=5))
    data = tmp_path / "x"
    data.write_bytes(b"x" * 1000)
    with data.open("rb") as f, pytest.raises(QuotaError, match="storage media is full"):
        store(fake, attempts=4).upload("img-1", f, 1000)
    assert fake.requests["PUT /image/v2/images/img-1/file"] == 1


def test_a_connection_cut_mid_download_is_transient():
    """A server that promises 10 MB and hangs up after 3 MB (below the SDK, a raw socket): the chunks that
    arrived whole were handed on (a resume starts after them), then the cut is a TransientError."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()

    def serve():
        conn, _ = sock.accept()
        conn.recv(65536)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n"
        )
        conn.sendall(b"\0" * 3_000_000)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    glance = GlanceImages("east", conn=_Direct(f"http://127.0.0.1:{sock.getsockname()[1]}"), attempts=1)
    got = 0
    with pytest.raises(TransientError, match="interrupted"), glance.download("img") as stream:
        for chunk in stream.chunks:
            got += len(chunk)
    assert got == 2 * (1 << 20)
    sock.close()


class _Direct:
    """A stand-in for the SDK connection whose ``image.request`` goes straight to one URL (no auth)."""

    def __init__(self, base: str):
        import requests

        session = requests.Session()

        class Image:
            def request(self, url, method, timeout=None, status_code_retries=0, connect_retries=0, **kw):
                return session.request(method, base + url, timeout=timeout, **kw)

        self.image = Image()
