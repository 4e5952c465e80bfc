"""The plugin's image upload endpoint: Airflow's real authentication, the plugin's CSRF check, group
rights, the file streamed into the cache, the chosen clouds ticked through the audited configuration."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from include.store.models import AuditEntry, ImageCacheEntry, ImageTarget
from tests.plugin.conftest import Client, app, auth_manager, login, store, with_csrf  # noqa: F401 - fixtures

PAGE = "/groups/atlas/images/upload"
DATA = b"QFI\xfb" + bytes(range(256)) * 4096  # a qcow2 magic and 1 MiB of data


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDSCHEDULER_IMAGE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def post(client: Client, data: dict, file: tuple | None = ("cvm.qcow2", DATA), csrf: bool = True, **headers):
    url = with_csrf(PAGE, client.csrf(PAGE)) if csrf else PAGE
    files = (
        {"file": (*file, "application/octet-stream")}
        if file
        else {"file": ("", b"", "application/octet-stream")}
    )
    return client.http.post(url, data=data, files=files, headers=headers)


def test_an_editor_uploads_and_distributes_with_an_audit_trail(store, login, cache_dir):  # noqa: F811 - fixtures imported above
    alice = login("alice")
    page = alice.get(PAGE)
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    resp = post(alice, {"name": "cernvm5", "cloud": ["arbutus", "cedar"]})
    assert resp.status_code == 303 and resp.headers["location"].endswith(
        "/groups/atlas/images?done=uploaded&q=cernvm5"
    )
    md5 = hashlib.md5(DATA).hexdigest()
    assert (cache_dir / f"{md5}.img").read_bytes() == DATA
    with Session(store) as s:
        assert sorted((t.image_name, t.cloud_name, t.checksum) for t in s.scalars(select(ImageTarget))) == [
            ("cernvm5", "arbutus", md5),
            ("cernvm5", "cedar", md5),
        ]
        entry = s.get(ImageCacheEntry, md5)
        assert (entry.disk_format, entry.origin, entry.group_name) == ("qcow2", "upload by alice", "atlas")
        assert "alice" in {a.actor for a in s.scalars(select(AuditEntry))}


def test_json_clients_get_the_checksum(store, login):  # noqa: F811 - fixtures imported above
    resp = post(login("alice"), {"disk_format": "raw"}, Accept="application/json")
    assert resp.status_code == 201
    body = resp.json()
    assert (body["name"], body["checksum"], body["size"], body["disk_format"], body["clouds"]) == (
        "cvm.qcow2",
        hashlib.md5(DATA).hexdigest(),
        len(DATA),
        "raw",
        [],
    )


def test_refusals(store, login, app, cache_dir):  # noqa: F811
    anonymous = Client(app, None)
    assert anonymous.get(PAGE).status_code == 401
    assert anonymous.http.post(PAGE, files={"file": ("x", b"x")}).status_code == 401
    assert login("bob").get(PAGE).status_code == 403  # another group's viewer
    carol = login("carol", role="viewer")  # editor in our table, read-only in Airflow
    assert carol.get(PAGE).status_code == 403
    # a browser's post rides on the cookie: it needs the page's CSRF token (the remote CLI's Bearer
    # header needs none: no other site can make a browser send it)
    assert post(login("alice", cookie=True), {}, csrf=False).status_code == 403
    alice = login("alice")
    bad = post(alice, {"disk_format": "exe"})
    assert bad.status_code == 422 and "disk format must be one of" in bad.text
    assert post(alice, {}, file=None).status_code == 422
    unknown = post(alice, {"cloud": ["mars"]})
    assert unknown.status_code == 422 and re.search(r"mars", unknown.text)
    with Session(store) as s:
        assert s.scalars(select(ImageTarget)).all() == []
