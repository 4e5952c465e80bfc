"""Per-VM lifecycle rules: retire, delete or leave alone. First match wins, in this order:

frozen (unknown or stale cloud) -> gone/deleting -> manual -> operator kill -> stale pool (hold) ->
retiring (delete once its startd has left; send or re-send the retire; give up) -> error timeout ->
cloud disabled -> credential expiring -> never listed / never registered -> startd left -> never ran
a job -> job completed -> keep-alive. A delete of a VM the cloud does not list yet and that is younger
than two cloud polls is held (polling safety).

Each VM gets a label, an index into ``LABELS``: "" (nothing), "R:<RetireReason>", "D:<DeleteReason>"
or "S:<SkipReason>"; "R:send" / "R:resend" carry the retire reason recorded on the VM. Small integers
keep every test on 50,000 VMs a plain numpy comparison.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from include.scheduler.fleet import Fleet
from include.scheduler.model import CloudConfig, GroupConfig
from include.scheduler.policy import Policy
from include.scheduler.reasons import DeleteReason as D
from include.scheduler.reasons import RetireReason as R
from include.scheduler.reasons import SkipReason as S
from include.scheduler.states import VmStatus
from include.scheduler.tables import any_of

_ATTRS = ("known", "stale", "enabled", "expiring", "pool_stale", "on_completion", "keep_alive", "last_poll")


def cloud_view(
    fleet: Fleet,
    groups: dict[str, GroupConfig],
    clouds: dict[tuple[str, str], CloudConfig],
    policy: Policy,
    now: datetime,
) -> dict[str, np.ndarray]:
    """Per VM row: its cloud's and group's settings, looked up once per cloud row, then spread."""
    expiry_limit = now + timedelta(days=policy.credential_expiry_days)
    rows = [_cloud_row(groups.get(g), clouds.get((g, c)), expiry_limit) for g, c in fleet.keys]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(_ATTRS)
    view = {}
    for name, values in zip(_ATTRS, columns, strict=True):
        dtype = float if name in ("keep_alive", "last_poll") else bool
        view[name] = np.asarray(values, dtype=dtype)[fleet.codes] if rows else np.zeros(0, dtype=dtype)
    return view


def _cloud_row(g: GroupConfig | None, c: CloudConfig | None, expiry_limit: datetime) -> tuple:
    if c is None or g is None:
        return (False, False, True, False, False, False, np.nan, np.nan)
    keep = c.vm.keep_alive if c.vm.keep_alive is not None else g.vm.keep_alive
    on_completion = (
        g.delete_on_job_completion if c.delete_on_job_completion is None else c.delete_on_job_completion
    )
    expiring = c.credential_expiry is not None and c.credential_expiry <= expiry_limit
    return (
        True,
        c.stale,
        c.enabled,
        expiring,
        g.pool_stale,
        on_completion,
        np.nan if keep is None else float(keep),
        np.nan if c.last_poll_at is None else c.last_poll_at.timestamp(),
    )


def young(fleet: Fleet, policy: Policy, now: datetime) -> np.ndarray:
    """Not listed by the cloud yet and younger than two cloud polls: never deleted (polling safety)."""
    return (fleet.col("status").astype(object) == VmStatus.REQUESTED) & (
        now.timestamp() - fleet.col("requested_at") < 2 * policy.cloud_poll_interval
    )


def verdicts(fleet: Fleet, view: dict[str, np.ndarray], policy: Policy, now: datetime) -> np.ndarray:
    """One label per VM row (see the module doc)."""
    t = now.timestamp()
    status = fleet.col("status")
    registered, busy, manual = fleet.col("registered"), fleet.col("busy"), fleet.col("manual")
    asked = ~np.isnan(fleet.col("retire_requested_at"))
    retiring = asked | fleet.col("slot_retiring")
    kill = ~np.isnan(fleet.col("kill_requested_at"))
    enabled, expiring = view["enabled"], view["expiring"]
    resend_due = (
        asked
        & registered
        & (t - fleet.col("retire_sent_at") >= policy.retire_interval)
        & ~fleet.col("all_retiring")
    )
    out_of_sends = fleet.col("retire_count") >= policy.retire_max_sends
    error = status == VmStatus.ERROR
    error_due = error & (
        t - _fill(fleet.col("status_changed_at"), fleet.col("requested_at")) > policy.vm_error_delay
    )
    never_registered = ~registered & np.isnan(fleet.col("registered_since"))
    booting = any_of(status, [VmStatus.REQUESTED, VmStatus.BUILDING, VmStatus.ACTIVE, VmStatus.UNKNOWN])
    unlisted = (status == VmStatus.REQUESTED) & (
        view["last_poll"] - fleet.col("requested_at") >= 2 * policy.cloud_poll_interval
    )
    idle, ran = registered & ~busy, fleet.col("ran_job")
    keep_alive = _fill(
        np.where(fleet.col("keep_alive") >= 0, fleet.col("keep_alive"), np.nan), view["keep_alive"]
    )
    keep_alive = np.fmax(
        _fill(keep_alive, np.full(len(fleet), float(policy.keep_alive_floor))), policy.keep_alive_floor
    )
    rules = [
        (~view["known"], S.CLOUD_UNKNOWN),
        (view["stale"], S.CLOUD_STALE),
        (any_of(status, [VmStatus.GONE, VmStatus.DELETING]), ""),
        (manual & (kill | asked | ~enabled | expiring), S.VM_MANUAL),
        (manual, ""),
        (kill, D.OPERATOR_KILL),
        (view["pool_stale"], S.POOL_STALE),
        (retiring & ~registered, D.RETIRED),
        (asked & registered & np.isnan(fleet.col("retire_sent_at")), "R:send"),
        (resend_due & ~out_of_sends, "R:resend"),
        (resend_due & busy, S.VM_BUSY),
        (resend_due, D.RETIRE_TIMEOUT),
        (retiring, ""),
        (error_due & busy, R.ERROR),
        (error_due, D.ERROR),
        (error, ""),
        (~enabled & registered, R.CLOUD_DISABLED),
        (~enabled, D.CLOUD_DISABLED),
        (expiring & registered, R.CREDENTIAL_EXPIRING),
        (expiring, D.CREDENTIAL_EXPIRING),
        (unlisted, D.NEVER_LISTED),
        (
            never_registered & booting & (t - fleet.col("requested_at") > policy.vm_come_alive),
            D.NEVER_REGISTERED,
        ),
        (
            ~registered & ~never_registered & (t - fleet.col("idle_since") > policy.vm_come_alive),
            D.STARTD_LEFT,
        ),
        (idle & ~ran & (t - fleet.col("registered_since") > policy.vm_job_alive), R.NEVER_RAN_JOB),
        (idle & ran & view["on_completion"], R.JOB_COMPLETED),
        (idle & ran & (t - fleet.col("idle_since") > keep_alive), R.KEEP_ALIVE),
    ]
    label = np.select([c for c, _ in rules], [CODE[_text(v)] for _, v in rules], default=0).astype(np.int16)
    label[young(fleet, policy, now) & DELETES[label]] = CODE[_text(S.TOO_YOUNG)]
    return label


def _text(value: str | S | R | D) -> str:
    prefix = {S: "S:", R: "R:", D: "D:"}.get(type(value), "")
    return f"{prefix}{value}" if prefix else value


LABELS: tuple[str, ...] = ("", "R:send", "R:resend", *(_text(v) for enum in (R, D, S) for v in enum))
CODE = {text: i for i, text in enumerate(LABELS)}
ACTED = np.array([t.startswith(("R:", "D:")) for t in LABELS])  # index by label: retired or deleted
DELETES = np.array([t.startswith("D:") for t in LABELS])


def code_of(value: S | R | D) -> int:
    return CODE[_text(value)]


def acted(label: np.ndarray) -> np.ndarray:
    """Rows whose label retires or deletes the VM."""
    return ACTED[label]


def _fill(values: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(values), fallback, values)
