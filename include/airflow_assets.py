"""What the control-loop DAGs share at parse time: the Assets the pollers update and the scheduling DAG
listens to, and the loop's intervals.

Intervals come from the environment (``include.intervals``: read at parse time, no database
lookups there) so a site can tune them without editing DAG files; the tasks read the same variables. The
condor default is 15 s, as the original's 16 s job poller: half the reaction time of 30 s, for a poll
the simulated and real pools answer in well under a second.
"""

import os
from datetime import timedelta

from airflow.sdk import Asset

from include import intervals

CONDOR_STATE = Asset("cloudscheduler://state/condor")
CLOUD_STATE = Asset("cloudscheduler://state/clouds")


def _seconds(name: str, default: int) -> timedelta:
    return timedelta(seconds=max(5, int(os.environ.get(name, default))))


_INTERVALS = intervals.seconds()
CONDOR_POLL = timedelta(seconds=_INTERVALS["condor_poll_interval"])
CLOUD_POLL = timedelta(seconds=_INTERVALS["cloud_poll_interval"])
SCHEDULE = timedelta(seconds=_INTERVALS["schedule_interval"])
# A task calling one cloud is killed after this long (HTTP timeouts end most hangs sooner). The intent was
# written before the call, so the next cycle reconciles what the killed task had sent; until then a hung
# cloud holds back the next scheduling run by at most this much (docs/design/cloud-pools.md).
CLOUD_TASK_TIMEOUT = _seconds("CS_CLOUD_TASK_TIMEOUT_SECONDS", 180)
# A batch of cloud polls gives up on a cloud this much before the task's own timeout would kill the
# batch, so the clouds that answered are written and the slow one alone is marked failed.
CLOUD_POLL_DEADLINE = max(CLOUD_TASK_TIMEOUT - timedelta(seconds=15), CLOUD_TASK_TIMEOUT / 2)
