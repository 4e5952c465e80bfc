"""
### cs_ops_image

Distribute one image now (F10): ticks the image for the chosen clouds in the image matrix (audited with
the triggering user, exactly as the Images page would) and copies it there at once instead of waiting
for the next `cs_images` run. `checksum` pins one version; empty means the newest copy of that name on
a cloud of the group, or an upload in the cache. The image stays ticked: untick it on the Images page or
with `cloudscheduler image delete` to have cs_images remove the copies it placed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from include.alerting import dag_failure_callback


@dag(
    dag_id="cs_ops_image",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["cloudscheduler", "operations", "manual", "images"],
    default_args={"owner": "cloudscheduler", "retries": 0},
    on_failure_callback=dag_failure_callback,
    params={
        "group": Param("atlas", type="string", minLength=1),
        "image": Param("", type="string", minLength=1, maxLength=255, description="image name"),
        "checksum": Param("", type="string", pattern="^([0-9a-f]{32})?$", description="MD5; empty: newest"),
        "clouds": Param([], type="array", minItems=1, items={"type": "string"}, description="target clouds"),
    },
)
def cs_ops_image():
    @task
    def request_distribution(params: dict, **context) -> list[int]:
        from include.images.tasks import distribute_now
        from include.loop.operations import actor_of

        return distribute_now(
            params["group"], params["image"], params["checksum"] or None, params["clouds"], actor_of(context)
        )

    @task(max_active_tis_per_dagrun=2, execution_timeout=timedelta(hours=6))
    def copy_image(transfer_id: int, **context) -> dict:
        from include.images.tasks import copy_image as copy

        ti = context["ti"]
        return copy(transfer_id, f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}/try{ti.try_number}")

    copy_image.expand(transfer_id=request_distribution())


cs_ops_image()
