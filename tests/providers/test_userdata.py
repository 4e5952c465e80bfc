"""User-data assembly: order, Jinja rendering with the cs_* variables, MIME multipart, gzip, errors."""

from __future__ import annotations

import gzip

import pytest

from include.simulated.cloud import startd_attrs
from include.store.models import Cloud, CloudMetadata, Group, GroupMetadata, MetadataExclusion
from include.userdata.builder import (
    MetadataPart,
    UserDataBuilder,
    UserDataError,
    collate_metadata,
    decode_user_data,
    template_variables,
)

CONDOR = (
    'cs_vm_id = "{{ cs_vm_id }}"\ngroup_name = "{{ cs_group_name }}"\nCONDOR_HOST = {{ cs_condor_host }}\n'
)


def test_parts_render_per_vm_in_mime_gzip():
    build = UserDataBuilder(
        "c1",
        [
            MetadataPart("boot.sh", "#!/bin/sh\n# a comment\necho hi\n", "text/x-shellscript"),
            MetadataPart("condor.yaml.j2", "#cloud-config\n" + CONDOR),
        ],
        {"cs_group_name": "atlas", "cs_condor_host": "cm.example.org"},
    )
    blob = build("req-1")
    assert blob[:2] == b"\x1f\x8b" and gzip.decompress(blob).startswith(b"Content-Type: multipart/mixed")
    parts = decode_user_data(blob)
    assert [name for name, _ in parts] == ["boot.sh", "condor.yaml"]
    assert parts[0][1] == "#!/bin/sh\necho hi"  # comments dropped, the shebang kept
    assert parts[1][1].splitlines() == [
        "#cloud-config",
        'cs_vm_id = "req-1"',
        'group_name = "atlas"',
        "CONDOR_HOST = cm.example.org",
    ]
    assert startd_attrs(blob) == {"cs_vm_id": "req-1", "group_name": "atlas"}
    assert build("req-1") == blob and build("req-2") != blob  # stable per VM, different across VMs


def test_non_template_parts_are_not_rendered():
    build = UserDataBuilder("c1", [MetadataPart("raw.yaml", "x: {{ not_a_var }}")], {})
    assert decode_user_data(build("v-1"))[0][1] == "x: {{ not_a_var }}"


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("{{ cs_vm_idd }}", "cs_vm_idd"),
        ("{% if %}", "does not compile"),
        ("{{ ''.__class__.__mro__ }}", "render"),
    ],
)
def test_a_broken_template_refuses_with_its_error(text, word):
    with pytest.raises(UserDataError) as info:
        UserDataBuilder("c9", [MetadataPart("bad.yaml.j2", text)], {}).check()
    assert info.value.cloud == "c9" and "bad.yaml.j2" in str(info.value) and word in str(info.value)


def test_every_original_variable_exists():
    text = " ".join(
        "{{ " + v + " }}" for v in ("cs_user", "cs_host_ip", "cs_condorworker_cert", "cs_condor_token")
    )
    UserDataBuilder("c1", [MetadataPart("all.j2", text)], {}).check()


def test_collation_order_exclusions_and_disabled(session):
    session.add(Group(name="g1", collector="cm.example.org", other_submitters=["alice"]))
    session.flush()
    session.add(Cloud(group_name="g1", name="c1", cloud_type="simulated"))
    session.flush()
    session.add_all(
        [
            GroupMetadata(group_name="g1", name="b.yaml", priority=1, text="gb"),
            GroupMetadata(group_name="g1", name="a.yaml", priority=1, text="ga"),
            GroupMetadata(group_name="g1", name="first.yaml", priority=0, text="g0"),
            GroupMetadata(group_name="g1", name="off.yaml", enabled=False, text="off"),
            GroupMetadata(group_name="g1", name="excluded.yaml", text="ex"),
            MetadataExclusion(group_name="g1", cloud_name="c1", metadata_name="excluded.yaml"),
            CloudMetadata(group_name="g1", cloud_name="c1", name="a.yaml", priority=1, text="ca"),
            CloudMetadata(group_name="g1", cloud_name="c1", name="z.yaml", priority=0, text="cz"),
        ]
    )
    session.commit()
    job = MetadataPart("job.sh", "echo job", "text/x-shellscript")
    parts = collate_metadata(session, "g1", "c1", [job])
    assert [(p.name, p.text) for p in parts] == [
        ("job.sh", "echo job"),
        ("first.yaml", "g0"),
        ("z.yaml", "cz"),
        ("a.yaml", "ga"),
        ("a.yaml", "ca"),
        ("b.yaml", "gb"),
    ]
    values = template_variables(
        session.get(Group, "g1"),
        session.get(Cloud, ("g1", "c1")),
        deployment="cs",
        flavor="m1",
        users=["alice@example.org", "bob"],
    )
    assert values["cs_condor_host"] == "cm.example.org" and values["cs_user"] == "alice"
    assert values["cs_start_owners"] == '(Owner == "alice") || (Owner == "bob")'
    assert values["cs_cloud_type"] == "simulated" and values["cs_deployment"] == "cs"
