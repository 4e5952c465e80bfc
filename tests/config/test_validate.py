"""Validation names the object and the field of every problem, one test per error class."""

from __future__ import annotations

import pytest

from include.config import ConfigError, parse_document, parse_yaml
from tests.config.builders import demo_doc, minimal_doc, with_change


def problems_of(doc) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_document(doc)
    return [str(p) for p in info.value.problems]


def test_demo_and_minimal_documents_are_valid():
    assert len(parse_document(demo_doc()).groups) == 2
    cfg = parse_document(minimal_doc())
    assert cfg.groups[0].clouds[1].spot_price == 0.05


def test_unknown_key_names_object_and_key():
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 0, "prority"], 3)
    assert problems_of(doc) == ["group 'atlas' / cloud 'east': field 'prority': unknown key"]


def test_secret_in_the_file_is_refused_with_a_pointer_to_connections():
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 0, "password"], "hunter2")
    [msg] = problems_of(doc)
    assert msg.startswith("group 'atlas' / cloud 'east': field 'password': secrets do not belong")
    assert "hunter2" not in msg


def test_wrong_type_names_nested_field():
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 0, "limits", "cores_ctl"], "lots")
    [msg] = problems_of(doc)
    assert msg.startswith(
        "group 'atlas' / cloud 'east': field 'limits.cores_ctl': Input should be a valid integer"
    )


def test_quoted_number_is_a_type_error_not_coerced():
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 0, "priority"], "2")
    [msg] = problems_of(doc)
    assert "field 'priority'" in msg and "valid integer" in msg


def test_missing_reference_alias_to_unknown_cloud():
    doc = with_change(minimal_doc(), ["groups", 0, "aliases"], {"west": ["east", "nowhere"]})
    assert problems_of(doc) == ["group 'atlas': field 'aliases.west': no such cloud 'nowhere'"]


def test_missing_reference_metadata_exclusion_and_user_group():
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 0, "metadata_exclusions"], ["nope.yaml"])
    doc["users"] = {"alice": {"belle2": "editor"}}
    assert sorted(problems_of(doc)) == [
        "group 'atlas' / cloud 'east': field 'metadata_exclusions': no group metadata named 'nope.yaml'",
        "user 'alice': field 'belle2': no such group",
    ]


def test_duplicate_cloud_name():
    doc = minimal_doc()
    doc["groups"][0]["clouds"][1]["name"] = "east"
    assert "group 'atlas': field 'clouds': duplicate name 'east'" in problems_of(doc)


def test_duplicate_group_name():
    doc = minimal_doc()
    doc["groups"].append(dict(doc["groups"][0]))
    assert "field 'groups': duplicate name 'atlas'" in problems_of(doc)


@pytest.mark.parametrize(
    "field,value", [("cores_ctl", -2), ("cores_softmax", -5), ("ram_ctl", -3), ("max_vms", -9)]
)
def test_out_of_range_limit(field, value):
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 0, "limits", field], value)
    [msg] = problems_of(doc)
    assert (
        msg
        == f"group 'atlas' / cloud 'east': field 'limits.{field}': Input should be greater than or equal to -1"
    )


def test_cloud_type_requirements_and_bad_spot_price():
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 0, "connection_id"], None)
    doc["groups"][0]["clouds"][0]["spot_price"] = 0.1
    assert sorted(problems_of(doc)) == [
        "group 'atlas' / cloud 'east': field 'connection_id': required for a cloud of type 'openstack'",
        "group 'atlas' / cloud 'east': field 'spot_price': spot prices apply to amazon clouds only",
    ]
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 1, "spot_price"], 0)
    assert problems_of(doc) == [
        "group 'atlas' / cloud 'aws': field 'spot_price': Value error, must be -1 (on demand) or a positive bid"
    ]


def test_name_that_is_not_a_dns_label():
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 0, "name"], "East_1")
    [msg] = problems_of(doc)
    assert msg.startswith("group 'atlas' / cloud 'East_1': field 'name': String should match pattern")


def test_settings_checked_by_key():
    doc = minimal_doc()
    doc["settings"] = {
        "max_boot_per_cycle": -1,
        "max_boot_per_cylce": 3,
        "deployment_id": "Prod_1",
        "consolidate_below": 150,
    }
    found = problems_of(doc)
    assert (
        "settings: field 'consolidate_below': must be a percent of a VM's cores, 0-100 (0: never drain)"
        in found
    )
    assert "settings: field 'max_boot_per_cycle': must be >= 0" in found
    assert any(p.startswith("settings: field 'max_boot_per_cylce': unknown setting") for p in found)
    assert "settings: field 'deployment_id': must be 1-8 lowercase letters or digits" in found


def test_template_and_yaml_errors_name_the_metadata_item():
    doc = with_change(
        minimal_doc(),
        ["groups", 0, "metadata"],
        [
            {"name": "worker.yaml.j2", "text": "a: {{ cs_group_name }"},
            {"name": "plain.yaml", "text": "a: [1, 2"},
        ],
    )
    found = sorted(problems_of(doc))
    assert found[0].startswith("group 'atlas' / metadata 'plain.yaml': field 'text': not valid YAML")
    assert found[1].startswith(
        "group 'atlas' / metadata 'worker.yaml.j2': field 'text': does not compile: line 1"
    )


def test_yaml_syntax_error_names_line():
    with pytest.raises(ConfigError) as info:
        parse_yaml("groups:\n  - name: a\n   bad: [\n")
    assert str(info.value).startswith("field 'line ")


def test_every_problem_is_reported_at_once():
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 0, "limits", "cores_ctl"], -7)
    doc["groups"][0]["clouds"][1]["prioriti"] = 1
    assert len(problems_of(doc)) == 2


@pytest.mark.parametrize("value", [float("inf"), float("nan"), float("-inf")])
def test_non_finite_numbers_are_refused(value):
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 1, "spot_price"], value)
    [msg] = problems_of(doc)
    assert msg.startswith("group 'atlas' / cloud 'aws': field 'spot_price': Input should be a finite number")


def test_numbers_the_database_cannot_hold_are_refused():
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 0, "priority"], 10**20)
    [msg] = problems_of(doc)
    assert (
        msg
        == "group 'atlas' / cloud 'east': field 'priority': Input should be less than or equal to 2147483647"
    )
    doc = minimal_doc()
    doc["settings"] = {"vm_come_alive": 10**12}
    assert problems_of(doc) == ["settings: field 'vm_come_alive': must be <= 2147483647"]
