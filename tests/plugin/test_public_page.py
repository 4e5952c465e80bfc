"""csv2's public status page: anyone may see the totals of the groups that publish them, and nothing
else (no other group, no VM, no error text)."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import update
from sqlalchemy.orm import Session

from include.store.models import Group, Vm
from tests.plugin.conftest import Client


def test_anyone_sees_the_totals_of_groups_that_publish_and_nothing_else(app, store):
    from cloudscheduler import pages_public

    pages_public._cache.clear()
    with Session(store) as s:
        s.execute(update(Group).where(Group.name == "atlas").values(public_visibility=True))
        s.add(
            Vm(
                vm_id="atlas-arbutus-secretive-1",
                group_name="atlas",
                cloud_name="arbutus",
                status="active",
                cores=8,
                ram_mb=16000,
                error="boom: internal detail",
            )
        )
        s.commit()
    anonymous = Client(app, token=None)
    page = anonymous.get("/public")
    assert page.status_code == 200 and 'id="public-atlas"' in page.text
    assert "belle2" not in page.text  # did not opt in
    assert "atlas-arbutus-secretive-1" not in page.text and "internal detail" not in page.text
    assert ">arbutus<" in page.text and ">total<" in page.text
    assert anonymous.get("/public/style.css").status_code == 200
    assert anonymous.get("/status").status_code == 401  # the rest still needs a login


def test_names_the_site_marks_private_are_not_on_the_public_page(app, store):
    """A site lists a partner cloud and an alias as private: an anonymous visitor sees their VMs only
    folded into "other clouds" and the group's totals, never their names."""
    from cloudscheduler import pages_public

    from include.store.models import Job, Setting

    pages_public._cache.clear()
    with Session(store) as s:
        s.execute(update(Group).where(Group.name == "atlas").values(public_visibility=True))
        s.add(Setting(key="public_private_names", value=["arb*", "ca-west"]))
        for i, cloud in enumerate(("arbutus", "arbutus", "cedar")):
            s.add(
                Vm(
                    vm_id=f"atlas-{cloud}-{i}",
                    group_name="atlas",
                    cloud_name=cloud,
                    status="active",
                    cores=8,
                    ram_mb=16000,
                )
            )
        s.add(
            Job(pool="p", global_job_id="j1", group_name="atlas", target_alias="ca-west", status=1, cores=8)
        )
        s.commit()
    page = Client(app, token=None).get("/public").text
    assert "arbutus" not in page and "ca-west" not in page
    rows = {
        th.get_text(): [td.get_text() for td in th.find_next_siblings("td")]
        for th in BeautifulSoup(page, "html.parser").select("#public-atlas tbody th")
    }
    assert rows["other clouds"][0] == "2" and rows["cedar"][0] == "1" and rows["total"][0] == "3"
    assert rows["all"][0] == "1", "the private alias's job still counts in the group's row"


def test_a_private_name_that_is_not_a_name_is_refused_at_apply(store):
    from include.config import apply_config, parse_document
    from include.config.validate import ConfigError
    from include.store.db import session_scope
    from tests.plugin.conftest import demo_users_doc

    doc = demo_users_doc()
    doc["settings"] = {"public_private_names": ["arbutus", 7]}
    with pytest.raises(ConfigError, match="public_private_names"), session_scope(store) as s:
        apply_config(s, parse_document(doc), actor="test")
