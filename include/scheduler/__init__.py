"""The planner: pure functions from a snapshot of the pool and the clouds to a plan. No I/O, no Airflow.

    from include.scheduler import Policy, Snapshot, plan
    result = plan(snapshot, Policy.from_settings(settings), now)

Names are loaded on first use, so that ``include.scheduler.states`` (imported by the adapters and the
plugin) stays cheap to import: the planner itself pulls in pandas.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "include.scheduler.actions": ("Boot", "Delete", "Plan", "Retire", "Served", "Skip"),
    "include.scheduler.model": (
        "Backoff",
        "BootVolume",
        "CloudConfig",
        "Flavor",
        "GroupConfig",
        "JobDefaults",
        "Limits",
        "Quota",
        "Snapshot",
        "VmSettings",
    ),
    "include.scheduler.operator_actions": ("kill_n", "retain_n", "retire_n"),
    "include.scheduler.planner": ("plan",),
    "include.scheduler.policy": ("Policy",),
    "include.scheduler.reasons": ("DeleteReason", "RetireReason", "SkipReason"),
    "include.scheduler.tables": (
        "JOB_COLUMNS",
        "SLOT_COLUMNS",
        "VM_COLUMNS",
        "jobs_frame",
        "slots_frame",
        "vms_frame",
    ),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'include.scheduler' has no attribute '{name}'")
    return getattr(import_module(_WHERE[name]), name)
