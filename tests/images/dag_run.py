"""Runs the image and key DAGs with ``dag.test()`` against two real clouds (their URLs and the config
come in CS_TEST_SITE as JSON) and prints one JSON line per step. Run in its own process and AIRFLOW_HOME
by test_dags.py: the clouds' credentials reach the tasks only as Airflow Connections (AIRFLOW_CONN_*)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from sqlalchemy import select

    from include.store.db import session_scope
    from include.store.models import ImageTransfer, KeyPlacement
    from tests.airflow_site import bootstrap

    dags = bootstrap(json.loads(os.environ["CS_TEST_SITE"]))

    def run(dag_id: str, **conf) -> None:
        state = dags[dag_id].test(run_conf=conf or None).state
        with session_scope() as s:
            transfers = {f"{t.image_name}@{t.cloud_name}": t.state for t in s.scalars(select(ImageTransfer))}
            keys = {f"{k.key_name}@{k.cloud_name}": k.state for k in s.scalars(select(KeyPlacement))}
        print(
            json.dumps({"dag": dag_id, "state": str(state), "transfers": transfers, "keys": keys}), flush=True
        )

    run("cs_poll_clouds")  # the clouds' images reach the store through the real poller
    run("cs_images")
    run("cs_poll_clouds")
    run("cs_images")  # nothing left to do
    run("cs_ops_image", group="atlas", image="manual", checksum="", clouds=["b"])
    run("cs_keys")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    sys.exit(main())
