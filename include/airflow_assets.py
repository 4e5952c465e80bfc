"""What the control-loop DAGs share at parse time: the Assets the pollers update and the scheduling DAG
listens to, and the loop's intervals.

Intervals come from the environment (read at parse time; no database lookups there) so a site can tune
them without editing DAG files; keep the `*_interval` settings equal to them (the planner's polling
safety uses `cloud_poll_interval`). The condor default is 15 s, as the original's 16 s job poller: half
the reaction time of 30 s, for a poll the simulated and real pools answer in well under a second.
"""

import os
from datetime import timedelta

from airflow.sdk import Asset

CONDOR_STATE = Asset("cloudscheduler://state/condor")
CLOUD_STATE = Asset("cloudscheduler://state/clouds")


def _seconds(name: str, default: int) -> timedelta:
    return timedelta(seconds=max(5, int(os.environ.get(name, default))))


CONDOR_POLL = _seconds("CS_CONDOR_POLL_SECONDS", 15)
CLOUD_POLL = _seconds("CS_CLOUD_POLL_SECONDS", 60)
SCHEDULE = _seconds("CS_SCHEDULE_SECONDS", 30)
# A task calling one cloud is killed after this long (HTTP timeouts end most hangs sooner). The intent was
# written before the call, so the next cycle reconciles what the killed task had sent; until then a hung
# cloud holds back the next scheduling run by at most this much (docs/design/cloud-pools.md).
CLOUD_TASK_TIMEOUT = _seconds("CS_CLOUD_TASK_TIMEOUT_SECONDS", 180)
