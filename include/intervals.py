"""The control loop's intervals, from one source: the environment. The DAG files read them at parse time
(no database there) to set their schedules, and the tasks read the same variables, so what the
planner assumes (two cloud polls before an unlisted VM is given up) is what the schedule does."""

from __future__ import annotations

import os

DEFAULTS = {"condor_poll_interval": 15, "cloud_poll_interval": 60, "schedule_interval": 30}
ENV_OF = {
    "condor_poll_interval": "CS_CONDOR_POLL_SECONDS",
    "cloud_poll_interval": "CS_CLOUD_POLL_SECONDS",
    "schedule_interval": "CS_SCHEDULE_SECONDS",
}
FLOOR_S = 5


def seconds() -> dict[str, int]:
    """Each interval in seconds, as the environment sets it now (at least FLOOR_S)."""
    return {
        name: max(FLOOR_S, int(os.environ.get(ENV_OF[name], default))) for name, default in DEFAULTS.items()
    }
