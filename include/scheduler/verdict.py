"""Turn the per-VM labels of ``lifecycle`` and ``overlimit`` into actions and skips.

Skips for frozen clouds and held pools are one per cloud or group (how many VMs wait), not one per VM.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from include.scheduler.actions import Delete, Retire, Skip
from include.scheduler.fleet import Fleet
from include.scheduler.lifecycle import VERDICTS, Act, acted
from include.scheduler.reasons import BOOT_FAILURE_DELETES, BOOT_FAILURE_RETIRES
from include.scheduler.reasons import DeleteReason as D
from include.scheduler.reasons import RetireReason as R
from include.scheduler.reasons import SkipReason as S
from include.scheduler.states import VmStatus

_PER_CLOUD = {S.CLOUD_STALE, S.POOL_STALE}
_ALERTS = {D.NEVER_REGISTERED, D.RETIRE_TIMEOUT}
_DETAIL = {
    S.VM_MANUAL: "under manual control: the operator's request or the rule waits",
    S.VM_BUSY: "retire sent the maximum number of times and not acknowledged; jobs still run",
    S.TOO_YOUNG: "the cloud does not list it yet and it is younger than two cloud polls",
    S.CLOUD_UNKNOWN: "its cloud is not configured in its group",
}


def materialize(
    fleet: Fleet, label: np.ndarray, notes: dict[int, str]
) -> tuple[list[Retire], list[Delete], list[Skip]]:
    retires, deletes, skips = [], [], []
    held: Counter = Counter()
    rows = np.flatnonzero(label != 0)
    columns = [
        fleet.col(c)[rows].tolist() for c in ("vm_id", "group", "cloud", "retire_reason", "retire_count")
    ]
    for row, code, vm, group, cloud, asked, count in zip(
        rows.tolist(), label[rows].tolist(), *columns, strict=True
    ):
        verdict = VERDICTS[code]
        note = notes.get(row, "")
        if verdict.act == Act.RETIRE:
            reason = verdict.reason or _stored(asked)
            detail = note or (f"re-send {count + 1}" if verdict.resend else "")
            retires.append(Retire(vm, group, cloud, reason, resend=verdict.resend, detail=detail))
        elif verdict.act == Act.DELETE:
            deletes.append(_delete(vm, group, cloud, verdict.reason, asked, note))
        elif verdict.reason in _PER_CLOUD:
            held[(group, cloud if verdict.reason == S.CLOUD_STALE else None, verdict.reason)] += 1
        else:
            reason = verdict.reason
            skips.append(Skip(group, cloud, vm, reason, detail=_DETAIL[reason], alert=reason == S.VM_BUSY))
    for (group, cloud, reason), n in sorted(held.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        subject = f"cloud:{cloud}" if cloud else "vms"
        skips.append(Skip(group, cloud, subject, reason, detail=f"{n} VMs left as they are until it answers"))
    return retires, deletes, skips


def _stored(word: object) -> R:
    """The retire reason recorded on the VM (by us or an operator); unknown words are the operator's."""
    return R(word) if isinstance(word, str) and word in R._value2member_map_ else R.OPERATOR


def _delete(vm: str, group: str, cloud: str, reason: D, retire_reason: object, note: str) -> Delete:
    failure = reason in BOOT_FAILURE_DELETES
    if reason == D.RETIRED:
        failure = _stored(retire_reason) in BOOT_FAILURE_RETIRES
        note = note or f"retired ({_stored(retire_reason).value}), its startd has left"
    return Delete(
        vm, group, cloud, reason, count_as_boot_failure=failure, alert=reason in _ALERTS, detail=note
    )


def leaving_mask(fleet: Fleet, label: np.ndarray) -> np.ndarray:
    """VMs that are going away (retiring, in error, being deleted, or acted on by this plan): they are
    not supply and not counted as idle."""
    return (
        acted(label)
        | ~np.isnan(fleet.col("retire_requested_at"))
        | fleet.col("slot_retiring")
        | fleet.status_in(VmStatus.ERROR, VmStatus.DELETING, VmStatus.GONE)
    )
