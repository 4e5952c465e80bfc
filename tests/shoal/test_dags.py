"""The three Shoal DAGs run for real (``dag.test()``) against the broker, a squid and the store, in a
subprocess with its own AIRFLOW_HOME (Airflow fixes its configuration at first import)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from include.shoal import amqp
from include.store.models import ShoalCache

pytestmark = [pytest.mark.airflow, pytest.mark.rabbitmq, pytest.mark.squid, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]

RUNNER = textwrap.dedent("""
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    dag_id, conf = sys.argv[2], json.loads(sys.argv[3])
    run = bag.dags[dag_id].test(run_conf=conf or None)
    print("STATE", run.state)
""")


def run_dag(env: dict, dag_id: str, conf: dict | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(ROOT / "dags"), dag_id, json.dumps(conf or {})],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    states = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("STATE ")]
    assert states, result.stderr[-3000:]
    return states[-1]


def test_ingest_verify_alert_expire_through_airflow(tmp_path, make_settings, sqlite_engine, squids):
    settings = make_settings()
    home = tmp_path / "airflow"
    db_url = str(sqlite_engine.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CS_SHOAL"))} | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "PYTHONPATH": str(ROOT),
        "CLOUDSCHEDULER_DB_URL": db_url,
        "CLOUDSCHEDULER_ALERT_SINK": str(tmp_path / "alerts.jsonl"),
        "CS_SHOAL_EXCHANGE": settings.exchange,
        "CS_SHOAL_QUEUE": settings.queue,
        "CS_SHOAL_GEOIP_DB": settings.geoip_db,
        "CS_SHOAL_VERIFY_URLS": " ".join(settings.verify_urls),
        "CS_SHOAL_VERIFY_INTERVAL": "0",
    }
    subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=240,
    )
    squid = squids("127.0.0.10")
    try:
        assert run_dag(env, "cs_shoal_ingest") == "success"  # declares the exchange agents publish to
        body = {
            "uuid": "dagtest",
            "hostname": "dagtest.example.org",
            "squid_port": str(squid.port),
            "verified": False,
            "max_load": -112,
            "public_ip": "127.0.0.10",
            "timestamp": time.time(),
            "load": 0.0,
        }
        amqp.publish(settings, json.dumps(body).encode())
        assert run_dag(env, "cs_shoal_ingest") == "success"
        assert run_dag(env, "cs_shoal_verify") == "success"
        with Session(sqlite_engine) as session:
            assert session.scalar(select(ShoalCache.verified).where(ShoalCache.uuid == "dagtest")) is True

        squid.kill()
        assert run_dag(env, "cs_shoal_verify", {"uuid": "dagtest"}) == "success"
        alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
        assert [a["key"] for a in alerts] == ["shoal_unverified:dagtest"]

        with Session(sqlite_engine) as session, session.begin():
            row = session.get(ShoalCache, "dagtest")
            session.execute(update(ShoalCache).values(last_active=row.last_active.replace(year=2020)))
        assert run_dag(env, "cs_shoal_expire") == "success"
        with Session(sqlite_engine) as session:
            assert session.scalars(select(ShoalCache)).all() == []
    finally:
        connection = amqp._connect(settings)
        channel = connection.channel()
        channel.queue_delete(settings.queue)
        channel.exchange_delete(settings.exchange)
        connection.close()
