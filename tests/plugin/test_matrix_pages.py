"""The images x clouds and keys x clouds matrices write image_targets and key_targets through the
configuration (validated, audited); filters never lose ticks of rows they hide."""

from __future__ import annotations

from bs4 import BeautifulSoup
from sqlalchemy import select
from sqlalchemy.orm import Session

from include.store.models import AuditEntry, CloudImage, CloudKeypair, ImageTarget, KeyTarget
from tests.plugin.conftest import form_fields

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd9mT0Zx8XqmKQ6wl0ZcD7xT1Xg4p3Uoq7cD3YbT0aV ops@site"
IMAGES = "/groups/atlas/images"


def seed_images(engine) -> None:
    with Session(engine) as s:
        s.add_all(
            [
                CloudImage(
                    group_name="atlas",
                    cloud_name="arbutus",
                    image_id="i1",
                    name="cernvm4-micro-2020.07-1",
                    checksum="aa11",
                    visibility="private",
                ),
                CloudImage(
                    group_name="atlas",
                    cloud_name="arbutus",
                    image_id="i2",
                    name="centos7-worker",
                    checksum="bb22",
                    visibility="private",
                ),
                CloudImage(
                    group_name="atlas",
                    cloud_name="cedar",
                    image_id="i3",
                    name="ubuntu-22.04",
                    checksum="cc33",
                    visibility="public",
                ),
            ]
        )
        s.commit()


def targets(engine) -> list[tuple[str, str, str | None]]:
    with Session(engine) as s:
        return sorted((t.image_name, t.cloud_name, t.checksum) for t in s.scalars(select(ImageTarget)))


def test_image_matrix_ticks_write_targets_and_audit(store, login):
    seed_images(store)
    alice = login("alice")
    html = alice.get(IMAGES).text
    soup = BeautifulSoup(html, "html.parser")
    assert [th.contents[0].strip() for th in soup.select("#image-matrix tbody th")] == [
        "centos7-worker",
        "cernvm4-micro-2020.07-1",
    ]  # public images hidden by default
    fields = form_fields(html, IMAGES)
    row = dict(fields)
    index = next(k.split(":")[1] for k, v in fields if k.startswith("name:") and v == "centos7-worker")
    assert row[f"checksum:{index}"] == "bb22"
    response = alice.post(IMAGES, fields + [(f"tick:{index}", "cedar")])
    assert response.status_code == 303
    assert targets(store) == [("centos7-worker", "cedar", "bb22")]
    with Session(store) as s:
        audit = [
            (a.actor, a.action, a.object_key)
            for a in s.scalars(select(AuditEntry).where(AuditEntry.object_type == "image_targets"))
        ]
    assert audit == [("alice", "config.create", "atlas/centos7-worker/cedar")]
    # unticking removes it again
    fields = form_fields(alice.get(IMAGES).text, IMAGES)
    assert alice.post(IMAGES, [(k, v) for k, v in fields if not k.startswith("tick:")]).status_code == 303
    assert targets(store) == []


def test_filter_and_public_toggle_keep_hidden_rows(store, login):
    seed_images(store)
    alice = login("alice")
    full = form_fields(alice.get(IMAGES).text, IMAGES)
    idx = {v: k.split(":")[1] for k, v in full if k.startswith("name:")}
    alice.post(IMAGES, full + [(f"tick:{idx['cernvm4-micro-2020.07-1']}", "cedar")])
    filtered_html = alice.get(IMAGES + "?q=centos").text
    filtered = form_fields(filtered_html, IMAGES)
    assert {v for k, v in filtered if k.startswith("name:")} == {"centos7-worker"}
    assert alice.post(IMAGES, filtered).status_code == 303  # saves the centos row only
    assert targets(store) == [("cernvm4-micro-2020.07-1", "cedar", "aa11")]
    public = BeautifulSoup(alice.get(IMAGES + "?public=1").text, "html.parser")
    assert "ubuntu-22.04" in public.select_one("#image-matrix").get_text()


def test_key_matrix_add_tick_and_remove(store, login):
    alice = login("alice")
    with Session(store) as s:
        s.add(CloudKeypair(group_name="atlas", cloud_name="cedar", name="ops", fingerprint="00:11"))
        s.commit()
    bad = alice.post("/groups/atlas/keys/add", {"name": "ops", "public_key": "not a key"})
    assert bad.status_code == 422
    soup = BeautifulSoup(bad.text, "html.parser")
    assert soup.select_one('.field-error[data-field="public_key"]') is not None
    assert alice.post("/groups/atlas/keys/add", {"name": "ops", "public_key": KEY}).status_code == 303
    html = alice.get("/groups/atlas/keys").text
    assert "≠" in html  # cedar has a different key under that name: reported
    fields = form_fields(html, "/groups/atlas/keys")
    assert (
        alice.post(
            "/groups/atlas/keys", fields + [("tick:ops", "arbutus"), ("tick:ops", "cedar")]
        ).status_code
        == 303
    )
    with Session(store) as s:
        assert sorted(t.cloud_name for t in s.scalars(select(KeyTarget))) == ["arbutus", "cedar"]
    assert alice.post("/groups/atlas/keys/delete", {"name": "ops"}).status_code == 303
    with Session(store) as s:
        assert list(s.scalars(select(KeyTarget))) == []
    assert alice.post("/groups/atlas/keys/delete", {"name": "ops"}).status_code == 404


def test_the_image_matrix_links_editors_to_the_upload_form(store, login):
    def upload_links(user, group):
        soup = BeautifulSoup(login(user).get(f"/groups/{group}/images").text, "html.parser")
        return [a["href"] for a in soup.select("a") if a["href"].endswith("/images/upload")]

    (link,) = upload_links("alice", "atlas")
    assert link.endswith("/groups/atlas/images/upload")
    assert login("alice").get("/groups/atlas/images/upload").status_code == 200
    assert upload_links("bob", "belle2") == []  # a viewer cannot upload


def test_each_cell_shows_its_transfer_state(store, login):
    """What the CLI's `image list` shows, the page shows: a copy under way with its progress, a failed
    one with its error, a tick nothing has started yet."""
    from include.store.models import ImageTransfer

    seed_images(store)
    with Session(store) as s:
        s.add_all(
            [
                ImageTarget(
                    group_name="atlas", image_name="centos7-worker", cloud_name="cedar", checksum="bb22"
                ),
                ImageTransfer(
                    group_name="atlas",
                    cloud_name="cedar",
                    image_name="centos7-worker",
                    checksum="bb22",
                    state="claimed",
                    phase="uploading",
                    size=1000,
                    bytes_done=400,
                    source_cloud="arbutus",
                ),
                ImageTarget(
                    group_name="atlas",
                    image_name="cernvm4-micro-2020.07-1",
                    cloud_name="cedar",
                    checksum="aa11",
                ),
                ImageTransfer(
                    group_name="atlas",
                    cloud_name="cedar",
                    image_name="cernvm4-micro-2020.07-1",
                    checksum="aa11",
                    state="error",
                    attempts=2,
                    message="checksum mismatch after upload",
                ),
            ]
        )
        s.commit()
    soup = BeautifulSoup(login("alice").get(IMAGES).text, "html.parser")
    badges = {
        (b.find_parent("tr")["data-name"], b.text, b.get("title"))
        for b in soup.select("#image-matrix .badge")
        if b.text != "public"
    }
    assert ("centos7-worker", "claimed", "uploading 40%") in badges
    assert ("cernvm4-micro-2020.07-1", "error", "attempt 2: checksum mismatch after upload") in badges
