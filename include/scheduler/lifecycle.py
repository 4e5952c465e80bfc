"""Per-VM lifecycle rules: retire, delete or leave alone. First match wins, in this order:

frozen (unknown or stale cloud) -> gone/deleting -> manual -> operator kill -> stale pool (hold) ->
retiring (delete once its startd has left; send or re-send the retire; give up; retire one an admin
drained in the pool once it is empty, ``POOL_DRAIN_GRACE_S`` after its slots changed) -> error timeout ->
cloud disabled -> credential expiring -> never listed / never registered -> startd left -> unused and
unwanted past keep-alive -> never ran a job -> job completed -> keep-alive. A delete of a VM the cloud
does not list yet and that is younger than two cloud polls is held (polling safety).

Each VM gets a :class:`Verdict` (nothing, retire, delete, or leave alone, each with its reason; a
retire sent or re-sent on an operator's or an earlier rule's behalf carries the reason recorded on the
VM), kept per row as its index into ``VERDICTS``: small integers keep every test on 50,000 VMs a plain
numpy comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

import numpy as np

from include.scheduler.fleet import Fleet
from include.scheduler.model import CloudConfig, GroupConfig
from include.scheduler.policy import Policy
from include.scheduler.reasons import DeleteReason as D
from include.scheduler.reasons import RetireReason as R
from include.scheduler.reasons import SkipReason as S
from include.scheduler.states import VmStatus

# A VM someone drained in the pool (an admin's condor_drain, which leaves it drained until cancelled) is
# retired once empty and this long (at least its keep-alive) after its slots last changed, which for a
# drained VM is when the drain began or its last job ended: an admin looking into it has time to cancel.
# condor_defrag's drains are never retired (it resumes or cancels them itself).
POOL_DRAIN_GRACE_S = 1200

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
    return fleet.status_in(VmStatus.REQUESTED) & (
        now.timestamp() - fleet.col("requested_at") < 2 * policy.cloud_poll_interval
    )


def verdicts(
    fleet: Fleet, view: dict[str, np.ndarray], policy: Policy, now: datetime, wanted: np.ndarray | None = None
) -> np.ndarray:
    """One label per VM row: the first rule of the table that holds (see the module doc). ``wanted``
    says, per row, whether idle jobs exist that the VM could take (default: yes, for every VM)."""
    m = _facts(fleet, view, policy, now)
    wanted = np.ones(len(fleet), dtype=bool) if wanted is None else wanted
    rules = [
        (~view["known"], S.CLOUD_UNKNOWN),
        (view["stale"], S.CLOUD_STALE),
        (fleet.status_in(VmStatus.GONE, VmStatus.DELETING), NOTHING),
        (m["manual"] & (m["kill"] | m["asked"] | ~view["enabled"] | view["expiring"]), S.VM_MANUAL),
        (m["manual"], NOTHING),
        (m["kill"], D.OPERATOR_KILL),
        (view["pool_stale"], S.POOL_STALE),
        (m["retiring"] & ~m["registered"], D.RETIRED),
        (m["asked"] & m["registered"] & np.isnan(fleet.col("retire_sent_at")), SEND_RETIRE),
        (m["resend_due"] & ~m["out_of_sends"], RESEND_RETIRE),
        (m["resend_due"] & m["busy"], S.VM_BUSY),
        (m["resend_due"], D.RETIRE_TIMEOUT),
        (m["pool_drained"] & m["idle"] & (m["idle_for"] > m["drained_grace"]), R.POOL_DRAINED),
        (m["retiring"], NOTHING),
        (m["error_due"] & m["busy"], R.ERROR),
        (m["error_due"], D.ERROR),
        (m["error"], NOTHING),
        (~view["enabled"] & m["registered"], R.CLOUD_DISABLED),
        (~view["enabled"], D.CLOUD_DISABLED),
        (view["expiring"] & m["registered"], R.CREDENTIAL_EXPIRING),
        (view["expiring"], D.CREDENTIAL_EXPIRING),
        (m["unlisted"], D.NEVER_LISTED),
        (m["never_registered"] & m["booting"] & (m["age"] > policy.vm_come_alive), D.NEVER_REGISTERED),
        (~m["registered"] & ~m["never_registered"] & (m["idle_for"] > policy.vm_come_alive), D.STARTD_LEFT),
        # Booted for demand that went elsewhere (its jobs landed on a slot freed meanwhile): no idle job
        # it could take, so it goes after keep-alive, like any idle VM, and is no boot failure.
        (m["idle"] & ~m["ran"] & ~wanted & (m["idle_for"] > m["keep_alive"]), R.KEEP_ALIVE),
        (m["idle"] & ~m["ran"] & (m["registered_for"] > policy.vm_job_alive), R.NEVER_RAN_JOB),
        (m["idle"] & m["ran"] & view["on_completion"], R.JOB_COMPLETED),
        # An idle VM that idle jobs could take stays for them: retiring it only to boot another for them
        # (they arrived since the pool's last negotiation) is churn. Jobs the pool refused beside our VMs
        # are no longer demand (unmatched.py), so they keep nothing.
        (m["idle"] & m["ran"] & ~wanted & (m["idle_for"] > m["keep_alive"]), R.KEEP_ALIVE),
    ]
    label = np.select([c for c, _ in rules], [code_of(v) for _, v in rules], default=0).astype(np.int16)
    label[young(fleet, policy, now) & DELETES[label]] = code_of(S.TOO_YOUNG)
    return label


def _facts(fleet: Fleet, view: dict[str, np.ndarray], policy: Policy, now: datetime) -> dict[str, np.ndarray]:
    """The per-VM conditions the rules read, as boolean (or seconds) arrays."""
    t, col = now.timestamp(), fleet.col
    m = {
        "registered": col("registered"),
        "busy": col("busy"),
        "manual": col("manual"),
        "ran": col("ran_job"),
        "asked": ~np.isnan(col("retire_requested_at")),
        "kill": ~np.isnan(col("kill_requested_at")),
        "error": fleet.status_in(VmStatus.ERROR),
        "age": t - col("requested_at"),
        "idle_for": t - col("idle_since"),
        "registered_for": t - col("registered_since"),
    }
    m["retiring"] = m["asked"] | col("slot_retiring")
    # A busy VM that has started no job since the retire went out is doing what a peaceful retire asks
    # (its jobs finish, then it leaves): a drained VM may run a long job for hours. Re-sends, and the
    # alert after the last one, are for a retire the startd did not get: it still takes work, or idles.
    honoured = m["busy"] & (col("claimed_last") <= col("retire_sent_at"))
    m["resend_due"] = (
        m["asked"]
        & m["registered"]
        & ~col("all_retiring")
        & ~honoured
        & (t - col("retire_sent_at") >= policy.retire_interval)
    )
    m["out_of_sends"] = col("retire_count") >= policy.retire_max_sends
    m["error_due"] = m["error"] & (
        t - _fill(col("status_changed_at"), col("requested_at")) > policy.vm_error_delay
    )
    m["never_registered"] = ~m["registered"] & np.isnan(col("registered_since"))
    m["booting"] = fleet.status_in(VmStatus.REQUESTED, VmStatus.BUILDING, VmStatus.ACTIVE, VmStatus.UNKNOWN)
    m["unlisted"] = fleet.status_in(VmStatus.REQUESTED) & (
        view["last_poll"] - col("requested_at") >= 2 * policy.cloud_poll_interval
    )
    m["idle"] = m["registered"] & ~m["busy"]
    m["keep_alive"] = keep_alive_of(fleet, view, policy)
    m["drained_grace"] = np.fmax(m["keep_alive"], POOL_DRAIN_GRACE_S)
    # Drained in the pool, not by us (a retire, or a drain making room: room.py) nor by condor_defrag
    # (which resumes the VM once its jobs are done, or cancels the drain once the cores are free), and
    # not in error (whose own rule counts a failure).
    m["pool_drained"] = (
        col("slot_retiring") & ~m["asked"] & ~col("defrag_draining") & ~col("room_draining") & ~m["error"]
    )
    return m


def keep_alive_of(fleet: Fleet, view: dict[str, np.ndarray], policy: Policy) -> np.ndarray:
    """Per VM, seconds: the job's VMKeepAlive it was booted for, else the cloud's, else the group's; at
    least ``keep_alive_floor``."""
    job_keep_alive = np.where(fleet.col("keep_alive") >= 0, fleet.col("keep_alive"), np.nan)
    keep_alive = _fill(
        _fill(job_keep_alive, view["keep_alive"]), np.full(len(fleet), float(policy.keep_alive_floor))
    )
    return np.fmax(keep_alive, policy.keep_alive_floor)


class Act(Enum):
    NOTHING = "nothing"
    RETIRE = "retire"
    DELETE = "delete"
    LEAVE = "leave"  # left as it is, for a reason an operator sees (a skip)


@dataclass(frozen=True)
class Verdict:
    act: Act
    reason: R | D | S | None = None  # None on a retire: the reason recorded on the VM
    resend: bool = False


NOTHING = Verdict(Act.NOTHING)
SEND_RETIRE = Verdict(Act.RETIRE)
RESEND_RETIRE = Verdict(Act.RETIRE, resend=True)
VERDICTS: tuple[Verdict, ...] = (
    NOTHING,
    SEND_RETIRE,
    RESEND_RETIRE,
    *(Verdict(Act.RETIRE, r) for r in R),
    *(Verdict(Act.DELETE, d) for d in D),
    *(Verdict(Act.LEAVE, s) for s in S),
)
CODE = {v: i for i, v in enumerate(VERDICTS)}
ACTED = np.array([v.act in (Act.RETIRE, Act.DELETE) for v in VERDICTS])  # index by label: retired or deleted
DELETES = np.array([v.act == Act.DELETE for v in VERDICTS])
_ACT_OF = {R: Act.RETIRE, D: Act.DELETE, S: Act.LEAVE}


def code_of(value: Verdict | S | R | D) -> int:
    """The label of a verdict, or of the verdict a reason stands for."""
    return CODE[value if isinstance(value, Verdict) else Verdict(_ACT_OF[type(value)], value)]


def acted(label: np.ndarray) -> np.ndarray:
    """Rows whose label retires or deletes the VM."""
    return ACTED[label]


def _fill(values: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(values), fallback, values)
