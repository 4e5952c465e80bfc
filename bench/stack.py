"""Start the embedded default (include/embedded.py) for a benchmark, in a run directory of its own, and
stop every process it started afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def embedded_stack(run_dir: Path, port: int, extra_env: dict[str, str] | None = None) -> Iterator[dict]:
    """Yields {"pid", "ui_s" (seconds until the UI answered), "env"}; raises if it never comes up."""
    # Nothing of the caller's Airflow configuration: a test process runs in Airflow's unit-test mode, in
    # which every process makes up its own Fernet key, and the triggerer could not read what the
    # scheduler encrypted. The stack sets what it needs (include/embedded.py).
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CLOUDSCHEDULER_DB_URL", "CS_AIRFLOW_DB_URL") and not k.startswith("AIRFLOW")
    }
    env.update({"CS_PORT": str(port), "CS_RUN_DIR": str(run_dir), **(extra_env or {})})
    began = time.monotonic()
    log = open(run_dir / "embedded.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "include.embedded"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        ui_s = _wait_ui(port, proc, began)
        yield {"pid": proc.pid, "ui_s": ui_s, "env": env, "state_url": f"sqlite:///{run_dir / 'state.db'}"}
    finally:
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _wait_ui(port: int, proc: subprocess.Popen, began: float, timeout: float = 300) -> float:
    while time.monotonic() - began < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the embedded stack exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://localhost:{port}/", timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - began
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the UI did not answer")


def wait_for(predicate, timeout: float, step: float = 0.05):
    """``predicate()``'s first truthy value, looked for every ``step`` seconds; None after ``timeout``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None
