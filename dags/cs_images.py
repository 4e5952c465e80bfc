"""
### cs_images

Every 10 minutes, makes the image matrix true (F6): each ticked (image, cloud) pair of a group, and the
default image of each OpenStack cloud (every 6 h), that the cloud does not show gets a transfer; one
mapped task per transfer copies it:

1. download once into the local image cache, keyed by checksum (streamed; resumed after an interruption),
   size, MD5 and multihash verified against the source;
2. upload to the target's Glance, verify what Glance recorded against the cache, record the new image.

States per (image, cloud): `pending` -> `claimed` -> `done` | `error` (retried after 10, 20, 40 min, then
alerted and left for `cloudscheduler image retry|clear`), `unsupported` (EC2 and simulated targets),
`no_source` (no cloud of the group and no upload in the cache holds it). A database claim with a lease
keeps two copies of one image to one cloud apart. Unticked images are deleted from a cloud only if a
transfer of ours placed them. Last, the cache is tidied: a month's retention, the size bound (LRU), and
a warning when its disk is over 80 % full. Cache: `CLOUDSCHEDULER_IMAGE_CACHE`,
`CLOUDSCHEDULER_IMAGE_CACHE_MAX_GB`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from include.alerting import dag_failure_callback


def _holder(context) -> str:
    ti = context["ti"]
    return f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}/try{ti.try_number}"


@dag(
    dag_id="cs_images",
    schedule=timedelta(minutes=10),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=8),  # a large image on a slow link; a cut-off copy resumes next run
    doc_md=__doc__,
    tags=["cloudscheduler", "images"],
    default_args={"owner": "cloudscheduler", "retries": 0},  # the next run is the retry (claims resume)
    on_failure_callback=dag_failure_callback,
)
def cs_images():
    @task
    def plan_transfers() -> dict:
        from include.images.tasks import plan_images

        return plan_images()

    @task
    def copies(work: dict) -> list[int]:
        return work["copies"]

    @task
    def removals(work: dict) -> list[int]:
        return work["removals"]

    @task(max_active_tis_per_dagrun=2, execution_timeout=timedelta(hours=6))
    def copy_image(transfer_id: int, **context) -> dict:
        from include.images.tasks import copy_image as copy

        return copy(transfer_id, _holder(context))

    @task(pool="cs_cloud_api")
    def remove_image(transfer_id: int, **context) -> dict:
        from include.images.tasks import remove_image as remove

        return remove(transfer_id, _holder(context))

    @task(trigger_rule="all_done")
    def tidy_cache() -> dict:
        from include.images.tasks import tidy_cache as tidy

        return tidy()

    work = plan_transfers()
    done = [copy_image.expand(transfer_id=copies(work)), remove_image.expand(transfer_id=removals(work))]
    done >> tidy_cache()


cs_images()
