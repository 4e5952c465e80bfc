"""The bootstrap every script that runs our DAGs with ``dag.test()`` shares: a fresh Airflow metadata
database, our state database migrated and configured with ``site``, the shared Airflow pools, and the
DAGs parsed from dags/. Such scripts run in a process of their own (Airflow reads its configuration from
the environment at first import), started by the tests that need them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def script_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of such a script: a private Airflow home and state database under ``tmp_path``,
    our DAGs and plugins, no examples, alerts to a file; ``extra`` added on top."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "PYTHONPATH": str(ROOT),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "CLOUDSCHEDULER_DB_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "CLOUDSCHEDULER_ALERT_SINK": str(tmp_path / "alerts.jsonl"),
        **extra,
    }


def bootstrap(site: dict) -> dict:
    """Everything above; returns the parsed DAGs by id."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from include.airflow_setup import SHARED_POOLS, ensure_pools
    from include.config import apply_config, parse_document
    from include.store import migrate
    from include.store.db import session_scope

    db.resetdb()
    migrate.upgrade()
    with session_scope() as s:
        apply_config(s, parse_document(site), actor="test")
    ensure_pools(SHARED_POOLS)
    return DagBag(dag_folder=str(ROOT / "dags"), safe_mode=False).dags
