"""Over-limit: when a cloud row uses more than a limit allows (an operator lowered a control, or
foreign usage grew past the soft-max), retire the excess, least valuable first. VMs already leaving
(retiring, or retired or deleted by this plan) count as gone; manual VMs count but are never picked.
Unregistered VMs have no startd to retire: they are deleted. Running work is retired, never killed."""

from __future__ import annotations

import numpy as np

from include.scheduler.fleet import Fleet
from include.scheduler.lifecycle import code_of
from include.scheduler.limits import Ledger
from include.scheduler.model import CloudConfig
from include.scheduler.reasons import DeleteReason as D
from include.scheduler.reasons import RetireReason as R
from include.scheduler.states import VmStatus
from include.scheduler.value import least_valuable_first


def over_limit(
    fleet: Fleet,
    label: np.ndarray,
    leaving: np.ndarray,
    view: dict[str, np.ndarray],
    clouds: dict[tuple[str, str], CloudConfig],
    ledger: Ledger,
    young: np.ndarray,
) -> dict[int, tuple[int, str]]:
    """Row -> (label code, detail) for the VMs to retire or delete because their cloud is over a limit."""
    frozen = ~view["known"] | view["stale"] | view["pool_stale"]
    gone = leaving & ~fleet.status_in(VmStatus.GONE)
    pickable = ~leaving & ~fleet.col("manual") & (label == 0) & ~fleet.status_in(VmStatus.ERROR) & ~young
    out: dict[int, tuple[str, str]] = {}
    for code, key in enumerate(fleet.keys):
        cloud = clouds.get(key)
        excess = _excess(ledger, cloud) if cloud is not None else {}
        if not excess:
            continue
        rows = np.flatnonzero(fleet.codes == code)
        if frozen[rows].any():
            continue
        going = rows[gone[rows]]
        excess = {r: excess.get(r, 0) - int(fleet.col(r)[going].sum()) for r in ("cores", "ram_mb")} | {
            "vms": excess.get("vms", 0) - len(going)
        }
        out.update(_pick(fleet, rows[pickable[rows]], excess, _detail(ledger, cloud)))
    return out


def _excess(ledger: Ledger, cloud: CloudConfig) -> dict[str, int]:
    """Resource -> amount over the tightest limit, for the resources that are over."""
    over: dict[str, int] = {}
    for t in ledger.terms(cloud, with_guard=False):
        if t.headroom < 0:
            over[t.resource] = max(over.get(t.resource, 0), -t.headroom)
    return over


def _pick(fleet: Fleet, rows: np.ndarray, excess: dict[str, int], detail: str) -> dict[int, tuple[int, str]]:
    """The shortest prefix of ``rows`` (least valuable first) whose resources cover every excess."""
    ordered = least_valuable_first(fleet, rows)
    need = 0
    for column, amount in (("cores", excess["cores"]), ("ram_mb", excess["ram_mb"]), (None, excess["vms"])):
        if amount > 0:
            freed = np.cumsum(fleet.col(column)[ordered]) if column else np.arange(1, len(ordered) + 1)
            need = max(need, int(np.searchsorted(freed, amount)) + 1)  # all of them if it never covers
    chosen = ordered[: min(need, len(ordered))]
    how = np.where(fleet.col("registered")[chosen], code_of(R.OVER_LIMIT), code_of(D.OVER_LIMIT))
    return {int(row): (int(code), detail) for row, code in zip(chosen, how, strict=True)}


def _detail(ledger: Ledger, cloud: CloudConfig) -> str:
    over = [f"{t.detail} by {-t.headroom}" for t in ledger.terms(cloud, with_guard=False) if t.headroom < 0]
    return "over " + ", ".join(over)
