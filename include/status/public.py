"""What the public status page (csv2's ``/public/``) may show of a group that publishes its status.

Totals only, and no name the site marks private (setting ``public_private_names``, globs): a private
cloud's row is folded into one "other clouds" row, so the group's totals still add up without saying
where the VMs run; a private alias's job row is left out (its jobs still count in the group's row).
A site with a commercial contract, or a partner that does not want its name on the web, lists them.
"""

from __future__ import annotations

from dataclasses import replace
from fnmatch import fnmatchcase

from include.status.tables import SUMMED, CloudStatus, GroupStatus

OTHER_CLOUDS = "other clouds"


def public_view(status: GroupStatus, private: list[str]) -> GroupStatus:
    def hidden(name: str | None) -> bool:
        return bool(name) and any(fnmatchcase(name, pattern) for pattern in private)

    shown = [c for c in status.clouds if not hidden(c.name)]
    folded = [c for c in status.clouds if hidden(c.name)]
    if folded:
        shown.append(_fold(status.name, folded))
    jobs = [j for j in status.jobs if j.alias is None or not hidden(j.alias)]
    return replace(status, clouds=shown, jobs=jobs, unserved=[], freshness=[])


def _fold(group: str, clouds: list[CloudStatus]) -> CloudStatus:
    row = CloudStatus(group_name=group, name=OTHER_CLOUDS)
    for c in clouds:
        for state, n in c.vms.items():
            row.vms[state] = row.vms.get(state, 0) + n
        for name in SUMMED:
            setattr(row, name, getattr(row, name) + getattr(c, name))
    limits = [c.cores_limit for c in clouds]
    row.cores_limit = sum(limits) if min(limits) >= 0 else -1
    return row
