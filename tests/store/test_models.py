"""The store on both backends: UTC timestamps, JSON columns, cascades and constraints behave the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError

from include.store.models import AliasCloud, Cloud, CloudMetadata, Group, TimeseriesSample, Vm


def _group_and_cloud(session):
    session.add(Group(name="atlas", pool_kind="simulated", schedds=["s1"], other_submitters=["ALL"]))
    session.flush()  # no ORM relationships: parents are flushed first explicitly
    session.add(
        Cloud(
            group_name="atlas",
            name="east",
            cloud_type="simulated",
            boot_volume={"gb": 20, "gb_per_core": 2, "volume_type": None},
        )
    )
    session.commit()


def test_timestamps_come_back_as_utc_and_json_round_trips(session):
    _group_and_cloud(session)
    eastern = timezone(timedelta(hours=-5))
    session.add(
        Vm(
            vm_id="atlas-east-0001-1",
            group_name="atlas",
            cloud_name="east",
            requested_at=datetime(2026, 1, 1, 7, 0, tzinfo=eastern),
            ips=["10.0.0.5"],
        )
    )
    session.commit()
    session.expunge_all()
    vm = session.get(Vm, "atlas-east-0001-1")
    assert vm.requested_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert vm.requested_at.tzinfo is not None
    assert vm.ips == ["10.0.0.5"]
    cloud = session.get(Cloud, ("atlas", "east"))
    assert cloud.boot_volume == {"gb": 20, "gb_per_core": 2, "volume_type": None}
    assert session.get(Group, "atlas").schedds == ["s1"]


def test_naive_datetimes_are_refused(session):
    _group_and_cloud(session)
    session.add(Vm(vm_id="x", group_name="atlas", cloud_name="east", requested_at=datetime(2026, 1, 1)))
    with pytest.raises(StatementError, match="naive datetime"):
        session.commit()
    session.rollback()


def test_deleting_a_cloud_cascades_to_its_configuration_rows(session):
    _group_and_cloud(session)
    session.add(AliasCloud(group_name="atlas", alias="west", cloud_name="east"))
    session.add(CloudMetadata(group_name="atlas", cloud_name="east", name="a.yaml", text="x: 1"))
    session.commit()
    session.delete(session.get(Cloud, ("atlas", "east")))
    session.commit()
    assert session.scalars(select(AliasCloud)).all() == []
    assert session.scalars(select(CloudMetadata)).all() == []


def test_alias_must_name_an_existing_cloud(session):
    _group_and_cloud(session)
    session.add(AliasCloud(group_name="atlas", alias="west", cloud_name="nowhere"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_timeseries_has_one_column_per_original_measurement(session):
    sample = TimeseriesSample(ts=datetime(2026, 1, 1, tzinfo=UTC), group_name="atlas", cloud_name="east")
    sample.VMs_running = 3
    sample.jobs_idle = 40
    session.add(sample)
    session.commit()
    row = session.scalars(select(TimeseriesSample)).one()
    assert (row.VMs_running, row.jobs_idle, row.VMs_idle) == (3, 40, 0)
