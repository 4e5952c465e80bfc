"""Apply is all or nothing, audited, declarative; export then apply changes nothing. Both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from include.config import ConfigError, apply_config, dump_yaml, export_config, parse_document, parse_yaml
from include.store.models import (
    AliasCloud,
    AuditEntry,
    Cloud,
    CloudFlavor,
    Group,
    KeyTarget,
    PollStatus,
    Vm,
)
from tests.config.builders import demo_doc, minimal_doc, with_change


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_apply_demo_then_export_then_apply_is_a_no_op(session):
    changes = apply_config(session, parse_document(demo_doc()), actor="test")
    session.commit()
    assert len(changes) > 10
    audit_rows = count(session, AuditEntry)
    assert audit_rows == len(changes)
    exported = dump_yaml(export_config(session))
    assert apply_config(session, parse_yaml(exported), actor="test") == []
    session.commit()
    assert count(session, AuditEntry) == audit_rows
    assert dump_yaml(export_config(session)) == exported


def test_export_reproduces_what_was_applied(session):
    cfg = parse_document(demo_doc())
    apply_config(session, cfg, actor="test")
    session.commit()
    again = export_config(session)
    assert [g.name for g in again.groups] == ["atlas", "belle2"]
    atlas = again.groups[0]
    assert atlas.aliases == {"ca-west": ["arbutus", "cedar"]}
    assert atlas.clouds[0].simulation.quota_cores == 96
    assert atlas.metadata[0].text == cfg.groups[0].metadata[0].text


def test_update_writes_audit_with_old_and_new_values(session):
    apply_config(session, parse_document(minimal_doc()), actor="alice")
    session.commit()
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 0, "limits", "cores_ctl"], 40)
    [change] = apply_config(session, parse_document(doc), actor="bob")
    session.commit()
    assert str(change) == "update clouds atlas/east (cores_ctl)"
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (entry.actor, entry.action, entry.object_key) == ("bob", "config.update", "atlas/east")
    assert entry.detail == {"cores_ctl": [100, 40]}


def test_objects_left_out_are_removed(session):
    apply_config(session, parse_document(minimal_doc()), actor="t")
    session.commit()
    doc = minimal_doc()
    del doc["groups"][0]["clouds"][1]
    doc["groups"][0]["aliases"] = {}
    apply_config(session, parse_document(doc), actor="t")
    session.commit()
    assert [c.name for c in session.scalars(select(Cloud))] == ["east"]
    assert count(session, AliasCloud) == 0


def test_refused_apply_changes_nothing(session):
    """A cloud with VMs cannot be removed; the other changes of the same apply are not made either."""
    doc = minimal_doc()
    doc["groups"][0]["keys"] = [
        {"name": "ops", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOps ops", "clouds": ["east"]}
    ]
    apply_config(session, parse_document(doc), actor="t")
    session.add(Vm(vm_id="atlas-aws-1", group_name="atlas", cloud_name="aws"))
    session.commit()
    before = dump_yaml(export_config(session))
    audit_before = count(session, AuditEntry)
    changed = with_change(doc, ["groups", 0, "clouds", 0, "priority"], 5)
    del changed["groups"][0]["clouds"][1]
    changed["groups"][0]["keys"][0]["clouds"] = []
    with pytest.raises(ConfigError) as info:
        apply_config(session, parse_document(changed), actor="t")
    session.rollback()
    assert str(info.value) == (
        "group 'atlas' / cloud 'aws': field '(removal)': still has 1 VMs: disable it and let them retire first"
    )
    assert dump_yaml(export_config(session)) == before
    assert count(session, AuditEntry) == audit_before
    assert count(session, KeyTarget) == 1


def test_pointing_a_cloud_elsewhere_flushes_its_inventory(session):
    apply_config(session, parse_document(minimal_doc()), actor="t")
    for cloud in ("east", "aws"):
        session.add(CloudFlavor(group_name="atlas", cloud_name=cloud, name="m1", cores=1, ram_mb=1))
        session.add(
            PollStatus(source=f"cloud/atlas/{cloud}", kind="cloud", group_name="atlas", cloud_name=cloud)
        )
    session.commit()
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 0, "project"], "other-project")
    doc["groups"][0]["clouds"][1]["priority"] = 3  # not an identity change: aws keeps its inventory
    apply_config(session, parse_document(doc), actor="t")
    session.commit()
    assert [f.cloud_name for f in session.scalars(select(CloudFlavor))] == ["aws"]
    assert [p.cloud_name for p in session.scalars(select(PollStatus))] == ["aws"]


def test_group_removal_refused_while_it_has_vms(session):
    apply_config(session, parse_document(minimal_doc()), actor="t")
    session.add(Vm(vm_id="v1", group_name="atlas", cloud_name="east"))
    session.commit()
    with pytest.raises(ConfigError, match="group 'atlas': field '\\(removal\\)': still has 1 VMs"):
        apply_config(session, parse_document({"groups": []}), actor="t")
    session.rollback()
    assert count(session, Group) == 1
