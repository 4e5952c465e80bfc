"""An editor of belle2 tries every field and route that could send atlas's credentials somewhere.

Each attempt goes through the real plugin as ``eve`` (editor of belle2 only). Afterwards the real cloud
polls run (the production task body, real openstacksdk and boto3 against fake Keystone/Nova and moto):
the listener on 127.0.0.1 receives nothing, the stored configuration is byte-for-byte what it was, and
each refusal names the field."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import form_fields, with_values
from tests.security.conftest import ATLAS_AWS_SECRET, ATLAS_PASSWORD, export_hash

pytestmark = pytest.mark.security
BELLE2_CLOUD = "/groups/belle2/clouds/os"


def cloud_form(client, path: str = BELLE2_CLOUD, **changes):
    return with_values(form_fields(client.get(path).text, path), **changes)


def poll_everything() -> dict[str, dict]:
    from include.loop.cycle import clouds_to_poll, poll_cloud

    return {f"{c['group']}/{c['cloud']}": poll_cloud(c["group"], c["cloud"]) for c in clouds_to_poll()}


def test_an_editor_cannot_point_any_group_credentials_at_her_server(site, login, listener):
    eve = login("eve")
    before = export_hash(site.engine)
    attempts = {
        "auth_url": eve.post(BELLE2_CLOUD, cloud_form(eve, auth_url=listener.url), page=BELLE2_CLOUD),
        "connection_id": eve.post(
            BELLE2_CLOUD, cloud_form(eve, connection_id="cs_cloud_atlas_os"), page=BELLE2_CLOUD
        ),
        "ca_bundle": eve.post(BELLE2_CLOUD, cloud_form(eve, ca_bundle="/tmp/eve-ca.pem"), page=BELLE2_CLOUD),
        "type": eve.post(BELLE2_CLOUD, cloud_form(eve, type="amazon", region="us-east-1"), page=BELLE2_CLOUD),
    }
    for field, response in attempts.items():
        assert response.status_code == 422, field
        assert f'data-field="{field}"' in response.text, field  # the refusal sits next to the field
    assert "site operator" in attempts["auth_url"].text
    assert "is not one group &#39;belle2&#39; may use" in attempts["connection_id"].text

    new = "/groups/belle2/clouds/new"
    created = [
        eve.post(
            new,
            {
                "name": "grab",
                "type": "openstack",
                "connection_id": "cs_cloud_atlas_os",
                "priority": "0",
                "spot_price": "-1",
                "limits.cores_ctl": "-1",
                "limits.cores_softmax": "-1",
                "limits.ram_ctl": "-1",
                "limits.max_vms": "-1",
            },
            page=new,
        ),
        eve.post(
            new,
            {
                "name": "grab2",
                "type": "amazon",
                "region": "us-east-1",
                "connection_id": "cs_cloud_atlas_aws",
                "auth_url": listener.url,
                "priority": "0",
                "spot_price": "-1",
                "limits.cores_ctl": "-1",
                "limits.cores_softmax": "-1",
                "limits.ram_ctl": "-1",
                "limits.max_vms": "-1",
            },
            page=new,
        ),
    ]
    assert [r.status_code for r in created] == [422, 422]
    defaults = "/groups/belle2/defaults"
    pool = eve.post(
        defaults,
        with_values(
            form_fields(eve.get(defaults).text, defaults), pool__collector=f"127.0.0.1:{listener.port}"
        ),
        page=defaults,
    )
    assert pool.status_code == 422 and 'data-field="pool.collector"' in pool.text
    atlas = eve.post("/groups/atlas/clouds/os", {"auth_url": listener.url}, page=BELLE2_CLOUD)
    assert atlas.status_code == 403  # another group's cloud: not even a form

    assert export_hash(site.engine) == before  # nothing of any attempt was applied
    results = poll_everything()
    assert all(r.get("ok", True) for r in results.values()), results
    assert listener.connections == 0 and bytes(listener.received) == b""
    assert len(site.atlas_nova.tokens) >= 1  # atlas's password went to atlas's Keystone, as configured


def test_the_editor_may_use_the_connections_the_operator_gave_her_group(site, login, listener):
    eve = login("eve")
    new = "/groups/belle2/clouds/new"
    fields = with_values(
        cloud_form(eve, new),
        name="spare",
        type="openstack",
        connection_id="cs_cloud_belle2_spare",
        project="htc",
    )
    assert ("auth_url", "") not in fields  # shown, but disabled for an editor: the browser does not send it
    response = eve.post(new, fields, page=new)
    assert response.status_code == 303, response.text
    results = poll_everything()
    assert results["belle2/spare"]["ok"] is not False, results  # credentials went where the Connection says
    assert listener.connections == 0


def test_a_site_operator_may_repoint_but_the_connection_still_decides(site, login, listener):
    olga = login("olga", "op")
    response = olga.post(
        "/groups/atlas/clouds/os",
        cloud_form(olga, "/groups/atlas/clouds/os", auth_url=listener.url),
        page="/groups/atlas/clouds/os",
    )
    assert response.status_code == 303  # a site operator may change it ...
    results = poll_everything()
    error = results["atlas/os"]["error"]
    assert "field 'auth_url'" in error and "its Connection says" in error  # ... but it is refused at run time
    assert ATLAS_PASSWORD not in error
    assert listener.connections == 0  # and nothing was sent to the listener


def test_yaml_applied_as_an_editor_obeys_the_same_rule(site):
    from include.config import ConfigError, apply_config, export_config, parse_document
    from include.config.authority import Authority
    from include.store.db import session_scope

    eve = Authority("eve", site_operator=False, editable=frozenset({"belle2"}))
    with session_scope(site.engine) as s:
        doc = export_config(s).model_dump(mode="python")
    doc["groups"][1]["clouds"][0]["connection_id"] = "cs_cloud_atlas_os"
    doc["groups"][0]["clouds"][0]["auth_url"] = "http://127.0.0.1:1"
    doc["settings"] = {"connection_rule": "{group}*"}
    with pytest.raises(ConfigError) as refused, session_scope(site.engine) as s:
        apply_config(s, parse_document(doc), actor="eve", authority=eve)
    found = {(p.obj, p.field) for p in refused.value.problems}
    assert found == {
        ("group 'belle2' / cloud 'os'", "connection_id"),
        ("group 'atlas'", "(group)"),
        ("settings", "connection_rule"),
    }


def test_validate_reports_clouds_outside_their_groups_allowance(tmp_path):
    import subprocess
    import sys

    import yaml

    from tests.security.conftest import site_doc

    doc = site_doc("https://k1/v3", "https://k2/v3")
    doc["groups"][1]["clouds"][0]["connection_id"] = "openstack_belle2"  # an older site's name
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = subprocess.run(
        [sys.executable, "-m", "include.cli.main", "config", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr  # existing configurations keep working ...
    assert (
        "warning: group 'belle2' / cloud 'os': field 'connection_id': Connection 'openstack_belle2' is "
        "outside the group's allowance (names matching 'cs_cloud_belle2_*'" in out.stderr
    )


def test_no_secret_in_any_error_row_or_result(site, login, monkeypatch):
    """Wrong credentials everywhere: the errors name clouds and fields, never a secret."""
    import json

    from sqlalchemy import select

    from include.store.db import session_scope
    from include.store.models import PollStatus

    monkeypatch.setenv(
        "AIRFLOW_CONN_CS_CLOUD_ATLAS_OS",
        json.dumps(
            {
                "conn_type": "generic",
                "host": site.atlas_nova.auth_url,
                "login": "u",
                "password": ATLAS_PASSWORD + "x",
            }
        ),
    )
    results = poll_everything()
    assert results["atlas/os"]["ok"] is False
    text = json.dumps(results)
    with session_scope(site.engine) as s:
        text += " ".join(p.error or "" for p in s.scalars(select(PollStatus)))
    for secret in (ATLAS_PASSWORD, ATLAS_AWS_SECRET):
        assert secret not in text
