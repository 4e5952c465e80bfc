"""The bodies of the control loop's tasks, as the DAG files call them; each lives in the module of its
concern: ``polling``, ``planning``, ``work`` (what a plan leaves to do), ``acting`` and ``finishing``.

Every function takes plain values and returns JSON-able summaries (what goes through XCom stays small:
ids and counts, never snapshots). Each opens its own sessions on the state database.
"""

from __future__ import annotations

from include.loop.acting import act_cloud, act_on, act_pool
from include.loop.finishing import finish_cycle, finish_run
from include.loop.planning import (
    dry_run_report,
    lease_ttl,
    plan_cycle,
    plan_lines,
    release_run,
    settings_now,
    still_ours,
)
from include.loop.polling import (
    CloudPollsFailed,
    cloud_adapter,
    cloud_batches,
    clouds_to_poll,
    poll_batch,
    poll_cloud,
    poll_pools,
)
from include.loop.work import cloud_work, pool_work, work_items

__all__ = [
    "CloudPollsFailed", "act_cloud", "act_on", "act_pool", "cloud_adapter", "cloud_batches", "cloud_work", "clouds_to_poll", "dry_run_report", "finish_cycle",
    "finish_run", "lease_ttl", "plan_cycle", "plan_lines", "poll_batch", "poll_cloud", "poll_pools", "pool_work",
    "release_run", "settings_now", "still_ours", "work_items",
]  # fmt: skip
