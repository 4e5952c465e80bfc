"""An in-memory image store with Glance's answers (status, md5 checksum, sha512 multihash, custom
properties, Range), for the fast tests of planning and transfers; the keystone tier runs the real one."""

from __future__ import annotations

import hashlib
import uuid
from contextlib import contextmanager

from include.providers.base import ProviderError
from include.providers.openstack_images import Download, StoredImage


class MemoryGlance:
    def __init__(self, name: str):
        self.name = name
        self.images: dict[str, dict] = {}
        self.data: dict[str, bytes] = {}
        self.calls: list[str] = []
        self.fail_upload: str | None = None  # a message: the next upload fails with it

    def add(self, name: str, data: bytes, **props) -> str:
        image = self.create(name, "raw", "bare", props)
        self.upload(image.image_id, _Reader(data), len(data))
        return image.image_id

    def _view(self, i: dict) -> StoredImage:
        return StoredImage(
            i["id"],
            i["name"],
            i["status"],
            i.get("checksum"),
            i.get("size"),
            i.get("algo"),
            i.get("hash"),
            i["disk_format"],
            i["container_format"],
            "private",
            dict(i["props"]),
        )

    def find(self, name: str) -> list[StoredImage]:
        self.calls.append(f"find {name}")
        return [self._view(i) for i in self.images.values() if i["name"] == name]

    def get(self, image_id: str) -> StoredImage | None:
        i = self.images.get(image_id)
        return self._view(i) if i else None

    def create(self, name, disk_format, container_format, properties) -> StoredImage:
        self.calls.append(f"create {name}")
        iid = str(uuid.uuid4())
        self.images[iid] = {
            "id": iid,
            "name": name,
            "status": "queued",
            "disk_format": disk_format,
            "container_format": container_format,
            "props": dict(properties),
        }
        return self._view(self.images[iid])

    def upload(self, image_id, source, size, on_chunk=None) -> None:
        self.calls.append(f"upload {image_id}")
        if self.fail_upload:
            message, self.fail_upload = self.fail_upload, None
            raise ProviderError(self.name, message)
        data = b""
        while chunk := source.read(1 << 16):
            if on_chunk:
                on_chunk(chunk)
            data += chunk
        self.data[image_id] = data
        self.images[image_id].update(
            status="active",
            size=len(data),
            checksum=hashlib.md5(data).hexdigest(),
            algo="sha512",
            hash=hashlib.sha512(data).hexdigest(),
        )

    @contextmanager
    def download(self, image_id, offset=0):
        self.calls.append(f"download {image_id} from {offset}")
        data = self.data[image_id]
        yield Download(offset, iter([data[i : i + 4096] for i in range(offset, len(data), 4096)]))

    def delete(self, image_id) -> None:
        self.calls.append(f"delete {image_id}")
        self.images.pop(image_id, None)
        self.data.pop(image_id, None)


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def read(self, n: int) -> bytes:
        chunk = self.data[self.at : self.at + n]
        self.at += len(chunk)
        return chunk
