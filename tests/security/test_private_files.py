"""What ``make run`` writes holds the demo logins, the JWT secret, Airflow's database (its Connections)
and ours: readable by the user who runs it, nobody else."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.security, pytest.mark.airflow, pytest.mark.slow]

SETUP = """
from include import embedded
embedded.keep_private()
env = embedded.airflow_env(18999)
embedded.prepare(env)
"""


def test_the_embedded_stack_keeps_its_files_private(tmp_path):
    run = tmp_path / "run"
    (run / "airflow").mkdir(parents=True)
    old = run / "airflow" / "simple_auth_manager_passwords.json.generated"
    old.write_text('{"admin": "admin"}')
    old.chmod(0o644)  # as an older checkout left it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CLOUDSCHEDULER_DB_URL"))}
    env["CS_RUN_DIR"] = str(run)
    done = subprocess.run(
        [sys.executable, "-c", SETUP], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    made = {p.relative_to(run).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in (run, *run.rglob("*"))}
    assert {"airflow/airflow.db", "state.db", "airflow/jwt_secret"} <= set(made), sorted(made)
    loose = {name: oct(mode) for name, mode in made.items() if mode & 0o077}
    assert loose == {}, loose
