"""Odd input never breaks a page: random text in any cloud field is either saved or refused with a
message next to a field (never a 500, never a stack trace); odd paths and parameters get a 4xx."""

from __future__ import annotations

import pytest
from cloudscheduler.fields import CLOUD_FIELDS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.plugin.conftest import form_fields, with_values

TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["-1", "0", "1e309", "nan", "true", "<script>x</script>", "9" * 30, " ", "a,b,,c", "2026-13-40T99:00"]
    ),
)


@pytest.fixture
def alice(store, login):
    return login("alice")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from([f.path for f in CLOUD_FIELDS]), TEXT, min_size=1, max_size=4))
def test_random_cloud_field_values(alice, changes):
    page = alice.get("/groups/atlas/clouds/cedar")
    fields = form_fields(page.text, "/clouds/cedar")
    response = alice.post(
        "/groups/atlas/clouds/cedar",
        with_values(fields, **{k.replace(".", "__"): v for k, v in changes.items()}),
    )
    assert response.status_code in (303, 422), response.text[-500:]
    assert "Traceback" not in response.text and "<script>x</script>" not in response.text
    if response.status_code == 422:
        assert "field-error" in response.text or "flash error" in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/vms?group=atlas&state=%3Cb%3E",
        "/status?group=%00",
        "/groups/atlas/clouds/%2e%2e",
        "/plots?group=atlas&range=",
        "/groups/atlas/metadata?name=%00&cloud=nope",
        "/api/series?group=atlas&range=%27%3B--",
        "/config/nothing",
        "/groups/atlas/images?public=maybe",
        "/audit?group=" + "x" * 500,
    ],
)
def test_odd_paths_and_parameters_are_4xx(alice, path):
    response = alice.get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert "Traceback" not in response.text


@pytest.mark.parametrize("value", ["nan", "inf", "1e309"])
def test_non_finite_numbers_are_refused(alice, value):
    fields = form_fields(alice.get("/groups/atlas/clouds/cedar").text, "/clouds/cedar")
    response = alice.post("/groups/atlas/clouds/cedar", with_values(fields, spot_price=value))
    assert response.status_code == 422 and "valid number" in response.text
