"""Configuration pages: every write goes through the CLI's validation, is applied in one transaction and
audited; a problem is shown next to its field and changes nothing."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select
from sqlalchemy.orm import Session

from include.store.models import (
    AliasCloud,
    AuditEntry,
    Cloud,
    CloudFlavor,
    FlavorExclusion,
    Group,
    GroupMetadata,
    MetadataExclusion,
)
from tests.plugin.conftest import form_fields, with_values
from tests.status import builders as b

CLOUD = "/groups/atlas/clouds/arbutus"


def field_errors(html: str) -> dict[str, list[str]]:
    soup = BeautifulSoup(html, "html.parser")
    errors: dict[str, list[str]] = {}
    for span in soup.select(".field-error"):
        errors.setdefault(span["data-field"], []).append(span.get_text(strip=True))
    return errors


def input_value(html: str, name: str) -> str:
    el = BeautifulSoup(html, "html.parser").find(attrs={"name": name})
    return el.get("value", el.text)


def cloud_row(engine, name: str = "arbutus") -> Cloud | None:
    with Session(engine) as s:
        return s.get(Cloud, ("atlas", name))


def config_audit(engine) -> list[tuple[str, str, str, str]]:
    with Session(engine) as s:
        return [
            (a.actor, a.action, a.object_type, a.object_key)
            for a in s.scalars(
                select(AuditEntry).where(AuditEntry.actor != "test-setup").order_by(AuditEntry.id)
            )
        ]


def test_cloud_page_shows_every_setting_and_a_slider_bounded_by_the_quota(store, login):
    with Session(store) as s:
        b.limits(s, "atlas", "arbutus", cores_max=96, ram_max_mb=400000)
        s.commit()
    html = login("olga", "op").get(CLOUD).text  # a site operator: every field editable
    names = {name for name, _ in form_fields(html, "/clouds/arbutus")}
    for path in (
        "type",
        "enabled",
        "priority",
        "auth_url",
        "region",
        "project",
        "connection_id",
        "ca_bundle",
        "credential_expiry",
        "vm.image",
        "vm.flavor",
        "vm.keyname",
        "vm.network",
        "vm.security_groups",
        "vm.keep_alive",
        "vm.boot_volume.gb",
        "spot_price",
        "limits.cores_ctl",
        "limits.cores_softmax",
        "limits.ram_ctl",
        "limits.max_vms",
    ):
        assert path in names, path
    soup = BeautifulSoup(html, "html.parser")
    slider = soup.select_one('input[type=range][data-for="f-limits.cores_ctl"]')
    assert slider["max"] == "96" and slider["value"] == "64"
    assert soup.select_one('input[type=range][data-for="f-limits.ram_ctl"]')["max"] == "400000"
    assert (
        "password" not in html.lower() or "password" in soup.select_one('[for="f-connection_id"]').parent.text
    )


def test_saving_a_cloud_is_validated_applied_and_audited(store, login):
    alice = login("alice")
    fields = form_fields(alice.get(CLOUD).text, "/clouds/arbutus")
    response = alice.post(
        CLOUD,
        with_values(
            fields,
            priority="3",
            limits__cores_ctl="48",
            vm__keep_alive="600",
            vm__security_groups="default, condor",
        ),
    )
    assert response.status_code == 303, response.text
    row = cloud_row(store)
    assert (row.priority, row.cores_ctl, row.vm_keep_alive, row.vm_security_groups) == (
        3,
        48,
        600,
        ["default", "condor"],
    )
    assert ("alice", "config.update", "clouds", "atlas/arbutus") in config_audit(store)
    with Session(store) as s:
        detail = s.scalars(select(AuditEntry.detail).where(AuditEntry.actor == "alice")).one()
    assert detail["cores_ctl"] == [64, 48] and detail["priority"] == [0, 3]


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"limits__cores_ctl": "-5"}, "limits.cores_ctl", "greater than or equal to -1"),
        ({"priority": "first"}, "priority", "valid integer"),
        ({"spot_price": "0.5"}, "spot_price", "amazon clouds only"),
        ({"type": "openstack"}, "type", "cannot serve a 'simulated' pool"),
        ({"auth_url": "http://127.0.0.1:9/v3"}, "auth_url", "where the cloud's credentials are sent"),
        ({"credential_expiry": "next tuesday"}, "credential_expiry", "isoformat"),
        ({"rate_limit__burst": "5"}, "rate_limit.per_second", "valid number"),
    ],
)
def test_a_bad_value_is_shown_next_to_its_field_and_changes_nothing(store, login, changes, field, words):
    alice = login("alice")
    fields = form_fields(alice.get(CLOUD).text, "/clouds/arbutus")
    response = alice.post(CLOUD, with_values(fields, vm__image="changed-too", **changes))
    assert response.status_code == 422
    errors = field_errors(response.text)
    assert field in errors and words in " ".join(errors[field]), errors
    assert input_value(response.text, "vm.image") == "changed-too"  # the user's input is kept
    assert cloud_row(store).vm_image is None and config_audit(store) == []


def test_a_save_over_a_newer_change_is_refused(store, login):
    alice = login("alice")
    fields = form_fields(alice.get(CLOUD).text, "/clouds/arbutus")
    assert alice.post(CLOUD, with_values(fields, priority="7")).status_code == 303
    stale = alice.post(CLOUD, with_values(fields, priority="9"))  # the old form, old version
    assert stale.status_code == 422 and "changed by someone else" in stale.text
    assert cloud_row(store).priority == 7
    again = alice.post(CLOUD, form_fields(stale.text, "/clouds/arbutus"))  # re-submitting the shown form
    assert again.status_code == 303 and cloud_row(store).priority == 9


def test_creating_a_cloud(store, login):
    alice = login("alice")
    fields = form_fields(alice.get("/groups/atlas/clouds/new").text, "/clouds/new")
    bad = alice.post("/groups/atlas/clouds/new", with_values(fields, name="Bad Name", type="simulated"))
    assert bad.status_code == 422 and "name" in field_errors(bad.text)
    good = alice.post(
        "/groups/atlas/clouds/new", with_values(fields, name="east", type="simulated", priority="2")
    )
    assert good.status_code == 303 and good.headers["location"].endswith(
        "/groups/atlas/clouds/east?done=created"
    )
    assert cloud_row(store, "east").priority == 2
    assert ("alice", "config.create", "clouds", "atlas/east") in config_audit(store)


def test_removing_a_cloud_with_vms_is_refused_and_without_takes_its_references(store, login):
    alice = login("alice")
    with Session(store) as s:
        b.vm_row(s, "atlas", "arbutus", state="running")
        s.commit()
    refused = alice.post("/groups/atlas/clouds/arbutus/delete", {"confirm": "yes"})
    assert refused.status_code == 422 and "still has 1 VMs" in refused.text
    assert alice.post("/groups/atlas/clouds/cedar/delete", {}).status_code == 400  # no confirm box
    assert alice.post("/groups/atlas/clouds/cedar/delete", {"confirm": "yes"}).status_code == 303
    with Session(store) as s:
        assert s.get(Cloud, ("atlas", "cedar")) is None
        assert [a.cloud_name for a in s.scalars(select(AliasCloud))] == ["arbutus"]


def test_exclusions(store, login):
    alice = login("alice")
    with Session(store) as s:
        s.add(CloudFlavor(group_name="atlas", cloud_name="arbutus", name="c16-60gb", cores=16, ram_mb=60000))
        s.commit()
    response = alice.post(
        "/groups/atlas/clouds/arbutus/exclusions",
        [
            ("flavor_exclusions", "c16-60gb"),
            ("flavor_extra", "gpu-1, gpu-2"),
            ("metadata_exclusions", "condor-worker.yaml.j2"),
        ],
    )
    assert response.status_code == 303
    with Session(store) as s:
        assert sorted(f.flavor_name for f in s.scalars(select(FlavorExclusion))) == [
            "c16-60gb",
            "gpu-1",
            "gpu-2",
        ]
        assert [m.metadata_name for m in s.scalars(select(MetadataExclusion))] == ["condor-worker.yaml.j2"]
    bad = alice.post("/groups/atlas/clouds/arbutus/exclusions", [("metadata_exclusions", "nope")])
    assert bad.status_code == 422 and "no group metadata named" in " ".join(
        field_errors(bad.text)["metadata_exclusions"]
    )


def test_group_defaults(store, login):
    alice = login("alice")
    fields = form_fields(alice.get("/groups/atlas/defaults").text, "/groups/atlas/defaults")
    bad = alice.post("/groups/atlas/defaults", with_values(fields, job_defaults__cores="0"))
    assert bad.status_code == 422 and "job_defaults.cores" in field_errors(bad.text)
    ok = alice.post(
        "/groups/atlas/defaults", with_values(fields, job_defaults__cores="4", vm_defaults__keep_alive="900")
    )
    assert ok.status_code == 303
    with Session(store) as s:
        g = s.get(Group, "atlas")
        assert (g.job_cores, g.vm_keep_alive, g.job_ram_mb) == (4, 900, 16000)
    page = alice.get("/groups/atlas/defaults").text
    assert "alice" in page and "carol" in page  # members are listed


def test_aliases(store, login):
    alice = login("alice")
    fields = form_fields(alice.get("/groups/atlas/aliases").text, "/groups/atlas/aliases")
    bad = alice.post(
        "/groups/atlas/aliases", fields + [("new_alias", "Not Valid"), ("new_alias_clouds", "cedar")]
    )
    assert bad.status_code == 422 and "Not Valid" in field_errors(bad.text)
    added = fields + [("new_alias", "fast"), ("new_alias_clouds", "arbutus")]
    assert alice.post("/groups/atlas/aliases", added).status_code == 303
    dropped = [
        (k, v)
        for k, v in form_fields(alice.get("/groups/atlas/aliases").text, "/groups/atlas/aliases")
        if k != "clouds:ca-west"
    ]
    assert alice.post("/groups/atlas/aliases", dropped).status_code == 303
    with Session(store) as s:
        assert [(a.alias, a.cloud_name) for a in s.scalars(select(AliasCloud))] == [("fast", "arbutus")]


def test_metadata_editor(store, login):
    alice = login("alice")
    new = form_fields(alice.get("/groups/atlas/metadata?new=1").text, "/groups/atlas/metadata")
    bad = alice.post(
        "/groups/atlas/metadata", with_values(new, name="extra.yaml", text="a: [1,\n", priority="5")
    )
    assert bad.status_code == 422 and "not valid YAML" in " ".join(field_errors(bad.text)["text"])
    good = alice.post(
        "/groups/atlas/metadata", with_values(new, name="extra.yaml", text="a: 1\n", priority="5")
    )
    assert good.status_code == 303
    order = alice.post(
        "/groups/atlas/metadata/order",
        [
            ("item", "extra.yaml"),
            ("priority:extra.yaml", "1"),
            ("item", "condor-worker.yaml.j2"),
            ("enabled:condor-worker.yaml.j2", "on"),
            ("priority:condor-worker.yaml.j2", "0"),
        ],
    )
    assert order.status_code == 303
    with Session(store) as s:
        items = {
            m.name: (m.enabled, m.priority)
            for m in s.scalars(select(GroupMetadata).where(GroupMetadata.group_name == "atlas"))
        }
    assert items == {"extra.yaml": (False, 1), "condor-worker.yaml.j2": (True, 0)}
    cloud_item = form_fields(
        alice.get("/groups/atlas/metadata?new=1&cloud=cedar").text, "/groups/atlas/metadata"
    )
    assert (
        alice.post(
            "/groups/atlas/metadata",
            with_values(cloud_item, name="c.sh", text="#!/bin/sh\n", mime_type="text/x-shellscript"),
        ).status_code
        == 303
    )
    assert alice.post("/groups/atlas/metadata/delete", {"name": "extra.yaml"}).status_code == 303
    assert alice.get("/groups/atlas/metadata?name=extra.yaml").status_code == 404
    assert "c.sh" in alice.get("/groups/atlas/clouds/cedar").text


def test_every_config_page_renders_for_a_viewer_without_edit_controls(store, login):
    bob = login("bob")
    for path in (
        "/groups/belle2/clouds",
        "/groups/belle2/clouds/melbourne",
        "/groups/belle2/aliases",
        "/groups/belle2/defaults",
        "/groups/belle2/images",
        "/groups/belle2/keys",
        "/groups/belle2/metadata?name=condor-worker.yaml.j2",
    ):
        soup = BeautifulSoup(bob.get(path).text, "html.parser")
        for form in soup.select('form[method="post"]'):
            assert form.select("button") == [], (path, form.get("action"))
            assert all(
                el.has_attr("disabled") for el in form.select("input:not([type=hidden]), select, textarea")
            )


def test_a_libvirt_farm_is_edited_on_its_page_like_any_cloud(store, login):
    from include.config import apply_config, parse_document
    from include.store.db import session_scope
    from tests.plugin.conftest import demo_users_doc

    doc = demo_users_doc()
    farm = {
        "name": "p1",
        "type": "libvirt",
        "libvirt": {
            "hypervisors": ["qemu+ssh://pc-tdq-01/system", "qemu+ssh://pc-tdq-02/system"],
            "flavors": [{"name": "c8", "cores": 8, "ram_mb": 16000}],
        },
    }
    doc["groups"].append(
        {"name": "tdaq", "pool": {"kind": "htcondor", "collector": "p1-cm"}, "clouds": [farm]}
    )
    doc["users"]["olga"] = doc["users"].get("olga", {}) | {"tdaq": "editor"}
    with session_scope(store) as s:
        apply_config(s, parse_document(doc), actor="test-setup")
    olga = login("olga", "op")
    page = olga.get("/groups/tdaq/clouds/p1").text
    assert (
        input_value(page, "libvirt.hypervisors") == "qemu+ssh://pc-tdq-01/system, qemu+ssh://pc-tdq-02/system"
    )
    fields = form_fields(page, "/clouds/p1")
    saved = olga.post("/groups/tdaq/clouds/p1", with_values(fields, libvirt__cpu_allocation_ratio="1.5"))
    assert saved.status_code == 303, field_errors(saved.text)
    with Session(store) as s:
        block = s.get(Cloud, ("tdaq", "p1")).libvirt
    assert (
        block["cpu_allocation_ratio"] == 1.5 and block["flavors"][0]["name"] == "c8"
    )  # the YAML's flavours kept
    assert block["domain_type"] == "kvm" and len(block["hypervisors"]) == 2

    new = form_fields(olga.get("/groups/tdaq/clouds/new").text, "/clouds/new")
    refused = olga.post(
        "/groups/tdaq/clouds/new",
        with_values(new, name="p2", type="libvirt", libvirt__hypervisors="qemu+ssh://pc-tdq-03/system"),
    )
    assert refused.status_code == 422 and "libvirt.flavors" in refused.text  # flavours come from the YAML
