"""
### cs_shoal_verify

Every 30 s, and at once when heartbeats register a new cache (`CS_SHOAL_INGEST=events`, the default: the
triggerer consumes the agents' queue and updates the asset `cloudscheduler://shoal/new-caches`):
function-tests caches through the cache itself — fetches the configured CVMFS whitelist and
Frontier URLs (`CS_SHOAL_VERIFY_URLS`) via the advertised address and port, with a timeout
(`CS_SHOAL_VERIFY_TIMEOUT`). New caches are checked on the next run, verified ones every
`CS_SHOAL_VERIFY_INTERVAL`, unverified ones again every `CS_SHOAL_RECHECK_INTERVAL`. Only verified
caches are served to clients outside their own site.

A cache that goes from verified to unverified raises an alert (e-mail, Slack, sink file: see
`include/alerting.py`). Trigger with the `uuid` param to verify one cache now.

Runs on its schedule only when `CS_SHOAL_ENABLED=true`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    AssetWatcher,
    DeltaTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)

from include.alerting import dag_failure_callback
from include.shoal.settings import ingest_by_events, scheduling_enabled
from include.shoal.trigger import NewCacheTrigger

EVERY = timedelta(seconds=30)
NEW_CACHES = Asset(
    "cloudscheduler://shoal/new-caches",
    watchers=[AssetWatcher(name="shoal_heartbeats", trigger=NewCacheTrigger())],
)


def _schedule():
    if not scheduling_enabled():
        return None
    if ingest_by_events():
        return AssetOrTimeSchedule(timetable=DeltaTriggerTimetable(EVERY), assets=[NEW_CACHES])
    return EVERY


@dag(
    dag_id="cs_shoal_verify",
    schedule=_schedule(),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=5),
    doc_md=__doc__,
    tags=["cloudscheduler", "shoal"],
    params={"uuid": Param("", type="string", description="verify only this cache, now (empty: all due)")},
    default_args={"owner": "cloudscheduler", "retries": 1, "retry_delay": timedelta(seconds=10)},
    on_failure_callback=dag_failure_callback,
)
def cs_shoal_verify():
    @task(execution_timeout=timedelta(minutes=4))
    def verify_caches(params=None) -> dict:
        from include.shoal.tasks import verify_caches

        return verify_caches(uuid=(params or {}).get("uuid") or None)

    @task
    def alert_unverified(changes: dict) -> int:
        from include.shoal.alerts import UnverifiedCacheNotifier

        went = changes.get("went_unverified", [])
        if went:
            UnverifiedCacheNotifier(went)(get_current_context())
        return len(went)

    alert_unverified(verify_caches())


cs_shoal_verify()
