"""Every reason the planner gives, as data: why demand was left unserved or a VM left alone
(``SkipReason``), why a VM is retired (``RetireReason``) or deleted (``DeleteReason``).

The values are short stable words: they are stored (``plan_skips.reason``, ``vms.retire_reason``) and
shown to operators, so renaming one is a data migration.
"""

from __future__ import annotations

from enum import StrEnum


class SkipReason(StrEnum):
    # whole group or demand
    POOL_STALE = "pool_stale"  # the group's pool poll is stale: no boots, no automatic retire/delete
    GROUP_UNKNOWN = "group_unknown"  # jobs name a group we do not serve
    OWNER_NOT_ADMITTED = "owner_not_admitted"  # owner neither member nor other submitter
    NO_CLOUDS = "no_clouds"  # the group has no clouds at all
    ALIAS_UNKNOWN = "alias_unknown"  # no cloud of the group is in the job's target alias
    IDLE_VMS_THROTTLE = "idle_vms_throttle"  # idle VMs >= max(idle_vms_throttle, running / 10)
    REQUIREMENTS_UNMATCHED = "requirements_unmatched"  # refused beside a fitting idle VM of ours
    # one cloud for one demand shape
    CLOUD_STALE = "cloud_stale"  # frozen: no boot, retire or delete on it
    CLOUD_DISABLED = "cloud_disabled"
    CLOUD_PAUSED = "cloud_paused"
    CREDENTIAL_EXPIRING = "credential_expiring"
    NOT_IN_ALIAS = "not_in_alias"
    IMAGE_MISSING = "image_missing"  # no image named, or the named image (name or id) is not on the cloud
    IMAGE_AMBIGUOUS = "image_ambiguous"  # two images of the cloud have the name asked for: use an id
    FLAVOR_MISSING = "flavor_missing"  # the requested or default flavor is not on the cloud
    FLAVOR_EXCLUDED = "flavor_excluded"
    NO_FLAVOR_FITS = "no_flavor_fits"
    PRICE_TOO_HIGH = "price_too_high"  # every fitting flavor costs more than VMMaximumPrice
    USER_DATA_REFUSED = "user_data_refused"  # the job's VMUserData names a place the site does not allow
    BACKOFF = "backoff"  # boot failures: backed off until a time
    BOOT_DISABLED = "boot_disabled"  # too many failures in a row: until an operator clears it
    CORES_CTL = "cores_ctl"  # the operator's cores control
    SOFTMAX = "softmax"  # cores soft-max minus foreign cores
    RAM_CTL = "ram_ctl"
    MAX_VMS = "max_vms"
    QUOTA = "quota"  # the project's quota (cores, RAM, instances, volumes) minus foreign usage
    NEW_VMS_THROTTLE = "new_vms_throttle"  # starting + unregistered VMs at the endpoint
    CYCLE_CAP = "cycle_cap"  # the cloud's boot action of this cycle is used (or full)
    # VMs left alone
    VM_MANUAL = "vm_manual"  # an operator or rule asked, but the VM is under manual control
    VM_BUSY = "vm_busy"  # retire unanswered, jobs still running: we wait rather than kill work
    TOO_YOUNG = "too_young"  # not yet listed by the cloud and younger than two cloud polls
    CLOUD_UNKNOWN = "cloud_unknown"  # a VM of a cloud no longer configured


class RetireReason(StrEnum):
    OPERATOR = "operator"
    ERROR = "error"  # in error too long but a slot is still claimed: let the work finish
    CLOUD_DISABLED = "cloud_disabled"
    CREDENTIAL_EXPIRING = "credential_expiring"
    NEVER_RAN_JOB = "never_ran_job"
    JOB_COMPLETED = "job_completed"  # delete on job completion
    KEEP_ALIVE = "keep_alive"
    OVER_LIMIT = "over_limit"
    CONSOLIDATE = "consolidate"  # a least-filled VM drained by attrition (consolidate.py): no new jobs
    # Drained in the pool by someone else (an admin's condor_drain; not condor_defrag, which ends its own)
    # and empty: it takes no job, and would hold its cores until someone cancels (lifecycle.POOL_DRAIN_GRACE_S).
    POOL_DRAINED = "pool_drained"


class DeleteReason(StrEnum):
    OPERATOR_KILL = "operator_kill"
    RETIRED = "retired"  # retired and its startd has left the pool
    RETIRE_TIMEOUT = "retire_timeout"  # retire sent retire_max_sends times, unanswered, nothing running
    ERROR = "error"
    NEVER_REGISTERED = "never_registered"
    NEVER_LISTED = "never_listed"  # requested, but two cloud polls later the cloud does not list it
    STARTD_LEFT = "startd_left"  # registered once, its startd gone for vm_come_alive
    CLOUD_DISABLED = "cloud_disabled"  # nothing registered to retire: delete at once
    CREDENTIAL_EXPIRING = "credential_expiring"
    OVER_LIMIT = "over_limit"  # an unregistered excess VM: nothing to retire


# Retire reasons whose VM, once deleted, counts as a boot failure of its (cloud, flavor).
BOOT_FAILURE_RETIRES = frozenset({RetireReason.NEVER_RAN_JOB, RetireReason.ERROR})
# A startd that died (the VM is up, its startd gone for vm_come_alive) counts too: reliability.md's
# "a VM never registers, or its startd dies: deleted after the timeout, counted as a boot failure".
BOOT_FAILURE_DELETES = frozenset(
    {DeleteReason.ERROR, DeleteReason.NEVER_REGISTERED, DeleteReason.NEVER_LISTED, DeleteReason.STARTD_LEFT}
)
