"""csv2's public status page: anyone may see the totals of the groups that publish them, and nothing
else (no other group, no VM, no error text)."""

from __future__ import annotations

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
