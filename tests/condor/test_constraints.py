"""The one quoting helper: whatever the value, the constraint means exactly ``attr == value``."""

from __future__ import annotations

import classad2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from include.condor.constraints import any_of, equals, identical, quote

HOSTILE = [
    'x" || true || "',
    "back\\slash",
    'a"b',
    "new\nline",
    "tab\there",
    "",
    "ünïcødé",
    '\\"',
    "$(DOLLAR)",
]


def matches(constraint: str, **attrs) -> object:
    return classad2.ExprTree(constraint).eval(scope=classad2.ClassAd(attrs))


@pytest.mark.parametrize("value", HOSTILE)
def test_quoted_value_is_the_value(value):
    assert classad2.ExprTree(quote(value)).eval() == value
    assert matches(equals("Machine", value), Machine=value) is True
    assert matches(equals("Machine", value), Machine=value + "x") is False


@pytest.mark.properties
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
def test_quote_round_trips_any_text(value):
    assert classad2.ExprTree(quote(value)).eval() == value


def test_injection_selects_nothing_more():
    constraint = equals("Name", 'x" || true || "')
    assert matches(constraint, Name="somebody-else") is False


def test_identical_is_false_when_missing():
    assert matches(identical("group_name", "atlas")) is False
    assert matches(equals("group_name", "atlas")) is classad2.Value.Undefined


def test_any_of():
    c = any_of("Name", ["a", 'b"'])
    assert matches(c, Name='b"') is True and matches(c, Name="c") is False
    assert any_of("Name", []) == "false"


@pytest.mark.parametrize("bad", ["Name == 1 || true", "a b", "", "1abc", 'x"'])
def test_attribute_names_are_checked(bad):
    with pytest.raises(ValueError, match="attribute name"):
        equals(bad, "v")


def test_non_strings_are_rendered_not_quoted():
    assert equals("JobStatus", 1) == "JobStatus == 1"
    assert equals("Draining", True) == "Draining == true"
    with pytest.raises(TypeError):
        quote(5)  # type: ignore[arg-type]
