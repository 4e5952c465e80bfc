"""The README says the ``plan`` task logs the plan and its reasons: the task log has a line per boot and
per skip, with the reason an operator reads on the status page."""

from __future__ import annotations

import logging

import pytest

pytestmark = pytest.mark.edges


def test_the_plan_task_logs_its_boots_and_every_skip(world, caplog):
    caplog.set_level(logging.INFO, logger="include.loop.cycle")
    world.submit(2)
    world.submit(1, cores=512)  # fits no flavour: a skip with its reason
    world.run(30)
    lines = [r.getMessage() for r in caplog.records if r.name == "include.loop.cycle"]
    assert any(line.startswith("plan of atlas in ") and '"boots": 1' in line for line in lines), lines
    assert any(line.startswith("BOOT    atlas/east: ") for line in lines), lines
    assert any(line.startswith("SKIP    atlas/") and "no_flavor_fits" in line for line in lines), lines
