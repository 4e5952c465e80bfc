"""Glance v2 image data through openstacksdk's authenticated session (the OpenStack adapter's transport):
find, create, stream a download (resumable with ``Range``), stream an upload (the image-data PUT),
read back what Glance recorded (size, md5 ``checksum``, ``os_hash_algo``/``os_hash_value``), delete.

Data never sits whole in memory: downloads come as 1 MiB chunks, uploads go out as 1 MiB chunks read
from a file with a known length (so Glance gets a Content-Length). An upload is never retried inside a
call (its body is consumed); the caller restarts the transfer instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import quote

from include.providers.base import ProviderError, TransientError
from include.providers.openstack_http import (
    OpenStackCredentials,
    OpenStackSession,
    connect,
    http_error,
    map_exception,
)

CHUNK = 1 << 20
CORE_FIELDS = frozenset(
    {
        "id",
        "name",
        "status",
        "checksum",
        "size",
        "virtual_size",
        "os_hash_algo",
        "os_hash_value",
        "disk_format",
        "container_format",
        "visibility",
        "protected",
        "owner",
        "min_ram",
        "min_disk",
        "created_at",
        "updated_at",
        "tags",
        "self",
        "file",
        "schema",
        "os_hidden",
        "direct_url",
        "locations",
        "stores",
    }
)


@dataclass(frozen=True)
class StoredImage:
    image_id: str
    name: str
    status: str  # queued | saving | active | killed | deleted | pending_delete | deactivated | importing
    checksum: str | None = None
    size: int | None = None
    hash_algo: str | None = None
    hash_value: str | None = None
    disk_format: str | None = None
    container_format: str | None = None
    visibility: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)  # custom properties (ours are cs_*)


def stored_image(body: dict) -> StoredImage:
    return StoredImage(
        image_id=body["id"],
        name=body.get("name") or "",
        status=body.get("status") or "",
        checksum=body.get("checksum"),
        size=body.get("size"),
        hash_algo=body.get("os_hash_algo"),
        hash_value=body.get("os_hash_value"),
        disk_format=body.get("disk_format"),
        container_format=body.get("container_format"),
        visibility=body.get("visibility"),
        properties={
            k: str(v) for k, v in body.items() if k not in CORE_FIELDS and isinstance(v, str | int | float)
        },
    )


@dataclass
class Download:
    """An open image download: ``start`` is the byte it begins at (0 when the server ignored a Range)."""

    start: int
    chunks: Iterator[bytes]
    content_md5: str | None = None


class ChunkedBody:
    """An upload body with a length: requests sends it with Content-Length, one chunk per read."""

    def __init__(self, source: BinaryIO, size: int, on_chunk: Callable[[bytes], None] | None = None):
        self.source, self.size, self.on_chunk = source, size, on_chunk

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.source.read(CHUNK):
            if self.on_chunk:
                self.on_chunk(chunk)
            yield chunk


class GlanceImages:
    """The images of one OpenStack project (one group's cloud)."""

    def __init__(
        self,
        name: str,
        creds: OpenStackCredentials | None = None,
        *,
        bucket=None,
        conn=None,
        attempts: int = 4,
        data_timeout_s: float = 600.0,
    ):
        self.name = name
        self.http = OpenStackSession(name, conn if conn is not None else connect(creds), bucket, attempts)
        self.data_timeout_s = data_timeout_s  # between bytes of a transfer, and for Glance's final answer

    def find(self, name: str) -> list[StoredImage]:
        rows, url = [], f"/images?name={quote(name, safe='')}&limit=100"
        while url:
            body = self._call("GET", url)
            rows += body.get("images", [])
            url = (body.get("next") or "").removeprefix("/v2") or None
        return [stored_image(r) for r in rows]

    def get(self, image_id: str) -> StoredImage | None:
        try:
            return stored_image(self._call("GET", f"/images/{image_id}"))
        except ProviderError as err:
            if type(err) is ProviderError and "HTTP 404" in err.message:
                return None
            raise

    def create(
        self, name: str, disk_format: str, container_format: str, properties: Mapping[str, str]
    ) -> StoredImage:
        body = {
            **properties,
            "name": name,
            "disk_format": disk_format,
            "container_format": container_format,
            "visibility": "private",
        }
        return stored_image(self._call("POST", "/images", json=body, retry_ambiguous=False))

    def delete(self, image_id: str) -> None:
        """Delete an image; one that is already gone is success."""
        resp = self._raw("DELETE", f"/images/{image_id}")
        if resp.status_code not in (200, 204, 404):
            raise http_error(self.name, resp)

    @contextmanager
    def download(self, image_id: str, offset: int = 0) -> Iterator[Download]:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = self._raw("GET", f"/images/{image_id}/file", stream=True, headers=headers)
        try:
            if resp.status_code == 416:  # the part we hold is already the whole image
                yield Download(offset, iter(()))
                return
            if resp.status_code == 204:
                raise ProviderError(self.name, f"image {image_id} has no data")
            if resp.status_code not in (200, 206):
                raise http_error(self.name, resp)
            start = offset if resp.status_code == 206 else 0
            yield Download(start, self._chunks(resp), resp.headers.get("Content-MD5"))
        finally:
            resp.close()

    def upload(
        self, image_id: str, source: BinaryIO, size: int, on_chunk: Callable[[bytes], None] | None = None
    ) -> None:
        """PUT the image data (``size`` bytes from ``source``); Glance computes checksum and multihash."""
        resp = self._raw(
            "PUT",
            f"/images/{image_id}/file",
            data=ChunkedBody(source, size, on_chunk),
            headers={"Content-Type": "application/octet-stream"},
            allow_reauth=False,
        )
        if resp.status_code not in (200, 201, 204):
            raise http_error(self.name, resp)

    def _call(self, method: str, url: str, **kw):
        """A JSON call, retried by our bounded jittered policy only: openstacksdk's image proxy would also
        retry a 503 five times by itself (``retriable_status_codes = [503]``)."""
        return self.http.call("image", method, url, status_code_retries=0, **kw)

    def _raw(self, method: str, url: str, **kw):
        """One request returning the response itself (streams); errors of the transport translated."""
        from keystoneauth1 import exceptions as ks
        from openstack.exceptions import SDKException

        self.http.bucket.acquire()
        try:
            # No retries below us: a repeated PUT would send an already consumed body.
            return self.http.conn.image.request(
                url, method, timeout=self.data_timeout_s, status_code_retries=0, connect_retries=0, **kw
            )
        except (ks.ClientException, SDKException) as err:
            raise map_exception(self.name, err) from None
        except OSError as err:  # requests' ConnectionError & co. (a reset while sending the body)
            raise TransientError(
                self.name, f"{method} image data interrupted: {type(err).__name__}"
            ) from None

    def _chunks(self, resp) -> Iterator[bytes]:
        import requests

        try:
            yield from resp.iter_content(CHUNK)
        except (requests.RequestException, OSError) as err:
            raise TransientError(self.name, f"image download interrupted: {type(err).__name__}") from None
