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


def test_a_site_full_of_skips_logs_twenty_and_says_how_many_more(world, caplog):
    """A site at its quota repeats the same skips every run: at P10's size, 200 lines a run made the plan
    task's logs 1 GB a day. Every action is still logged; the skips are counted, and listed in full on
    the status page and by cs_plan_dry_run."""
    from include.loop import cycle

    caplog.set_level(logging.INFO, logger="include.loop.cycle")
    for i in range(25):
        world.submit(1, cores=512 + i)  # 25 shapes no flavour fits: 25 skips
    world.submit(2)
    world.run(30)
    lines = [r.getMessage() for r in caplog.records if r.name == "include.loop.cycle"]
    first_plan = lines.index(next(line for line in lines if line.startswith("plan of atlas in ")))
    run = lines[first_plan + 1 : first_plan + 1 + 22]
    assert sum(line.startswith("BOOT    ") for line in run) == 1
    assert sum(line.startswith("SKIP    ") for line in run) == 20
    assert "... and 5 more skips" in run[-1], run[-1]
    report, _ = cycle.dry_run_report(world.now)
    assert report.count("\nSKIP    ") == 25, "the dry run lists every skip"
