"""Policy checks over every DAG file: imports cleanly and fast, documented, owned, tagged, retried, and
parsing makes no Connection or Variable lookups (those belong in task run time)."""

from __future__ import annotations

import time
from pathlib import Path
from unittest import mock

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    def forbidden(*_args, **_kwargs):
        raise AssertionError("a DAG file looked up a Connection or Variable while parsing")

    with (
        mock.patch("airflow.sdk.BaseHook.get_connection", side_effect=forbidden),
        mock.patch("airflow.sdk.Connection.get", side_effect=forbidden),
        mock.patch("airflow.sdk.Variable.get", side_effect=forbidden),
    ):
        began = time.perf_counter()
        dagbag = DagBag(dag_folder=str(DAGS), safe_mode=False)
        dagbag.parse_seconds = time.perf_counter() - began
    return dagbag


def test_every_file_imports_without_errors(bag):
    assert bag.import_errors == {}
    assert DAG_FILES, "no DAG files found"


def test_parsing_all_dag_files_is_fast(bag):
    # The dag-processor re-parses every file every 30 s; SDK imports belong inside tasks.
    assert bag.parse_seconds < 5, f"parsing took {bag.parse_seconds:.2f} s"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
def test_dag_id_equals_file_stem_and_policy_holds(bag, path):
    dags = [d for d in bag.dags.values() if Path(d.fileloc) == path]
    assert [d.dag_id for d in dags] == [path.stem], "one DAG per file, dag_id == file stem"
    dag = dags[0]
    assert dag.dag_id.startswith("cs_")
    assert dag.tags and "cloudscheduler" in dag.tags
    assert dag.doc_md and dag.doc_md.strip().startswith(f"### {dag.dag_id}")
    assert dag.default_args.get("owner") == "cloudscheduler"
    assert "retries" in dag.default_args
    assert dag.catchup is False
    assert dag.max_active_runs == 1 or dag.schedule is None
    # The README promises an alert when any DAG fails: every DAG carries our callback.
    from include.alerting import dag_failure_callback

    callbacks = (
        dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
    )
    assert dag_failure_callback in callbacks, f"{dag.dag_id} has no failure callback"
