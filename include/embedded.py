"""The embedded default (``make run``): Airflow on SQLite with LocalExecutor, our DAGs and plugin, the
simulated pool and clouds of the demo configuration.

It starts the Airflow components as separate process groups rather than ``airflow standalone``,
which orphans its children on SIGTERM and hangs on Ctrl-C; Ctrl-C or SIGTERM here stops every process
it started (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from include import airflow_retention as retention

ROOT = Path(__file__).resolve().parents[1]
# CS_RUN_DIR puts a whole stack elsewhere (benchmarks run one beside a user's demo without touching it).
RUN_DIR = Path(os.environ["CS_RUN_DIR"]) if os.environ.get("CS_RUN_DIR") else None
HOME = RUN_DIR / "airflow" if RUN_DIR else ROOT / ".airflow"
STATE_URL = (
    f"sqlite:///{RUN_DIR / 'state.db'}" if RUN_DIR else f"sqlite:///{ROOT / '.state' / 'cloudscheduler.db'}"
)
# Every component the UI's Health panel checks runs, the triggerer included (a new user's first look must
# not be a red cross; ~180 MB; CS_TRIGGERER=0 leaves it out on a small laptop). The scheduler and the
# triggerer skip their log servers: every component shares this machine's log folder, which the
# api-server reads directly (~100-150 MB each; P9 in bench/README.md).
COMPONENTS = {
    "api-server": [],
    "scheduler": ["--skip-serve-logs"],
    "dag-processor": [],
    "triggerer": ["--skip-serve-logs"],
}
DEMO_USERS = {"admin": "admin", "viewer": "viewer"}  # demo logins; the roles are set in airflow_env()
GRACE_S = 20


def components(env: dict[str, str]) -> dict[str, list[str]]:
    """The Airflow components to start, with their arguments."""
    wanted = dict(COMPONENTS)
    if env.get("CS_TRIGGERER", "").strip().lower() in ("0", "false", "no"):
        del wanted["triggerer"]
    return wanted


def keep_private() -> None:
    """Everything this stack writes (Airflow's database with its Connections, the demo passwords, the JWT
    secret, our state database, logs) is readable by this user only: files 0600, folders 0700. The
    umask covers what is made from now on, in this process and the components it starts; the walk
    fixes what an older checkout made with the default umask."""
    os.umask(0o077)
    state = Path(STATE_URL.removeprefix("sqlite:///")).parent
    for top in (HOME, state):
        if not top.exists():
            continue
        for path in (top, *top.rglob("*")):
            with contextlib.suppress(OSError):
                if not path.is_symlink():
                    path.chmod(0o700 if path.is_dir() else 0o600)


def persistent_secret(name: str) -> str:
    """A random secret kept in Airflow's home, so restarts keep sessions valid. 64 bytes: HS512 JWTs
    warn on Airflow's shorter generated default."""
    path = HOME / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def airflow_env(port: int) -> dict[str, str]:
    """Environment shared by every component (they must agree on secrets and paths)."""
    env = dict(os.environ)
    env.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", persistent_secret("jwt_secret"))
    env.update(
        {
            "AIRFLOW_HOME": str(HOME),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # SQLite holds up to about 8 concurrent tasks; 4 also keeps the stack small on a laptop.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__API__PORT": str(port),
            # A demo stack with known passwords listens on this machine only, unless CS_HOST says otherwise.
            "AIRFLOW__API__HOST": env.get("CS_HOST", "127.0.0.1"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
            "CLOUDSCHEDULER_DB_URL": env.get("CLOUDSCHEDULER_DB_URL") or STATE_URL,
        }
    )
    env.update(airflow_database(env.get("CS_AIRFLOW_DB_URL")))
    if "triggerer" not in components(env):
        # Event-driven Shoal ingest runs in the triggerer; without one, the queue is drained on a schedule.
        env.setdefault("CS_SHOAL_INGEST", "schedule")
    return env


def airflow_database(url: str | None) -> dict[str, str]:
    """Airflow's metadata database: SQLite in the run folder, or the database CS_AIRFLOW_DB_URL names
    (PostgreSQL, as the compose deployment has it: the P10 benchmark runs the stack on it)."""
    if url:
        return {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url}
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "include.airflow_sqlite.CONNECT_ARGS",
    }


def run_step(args: list[str], env: dict[str, str]) -> None:
    print(f"==> {' '.join(args)}", flush=True)
    subprocess.run(args, env=env, check=True, cwd=ROOT)


# Imported by every Airflow process at start (Airflow puts AIRFLOW_HOME/config on sys.path). In the
# scheduler it loads the libraries every task of the loop imports before the LocalExecutor forks its
# workers, so the workers and their task processes share one copy of those pages instead of each
# loading its own (up to four tasks at once: ~40 MB each; P9 in bench/README.md).
PRELOAD = """\
# Written by include/embedded.py (make run); see PRELOAD there.
import sys

if sys.argv[1:2] == ["scheduler"]:
    try:
        import classad2  # noqa: F401
        import pandas  # noqa: F401
        import sqlalchemy.orm  # noqa: F401
    except Exception as err:  # a memory saving only: never a reason for the scheduler not to start
        print(f"cloudscheduler: preload skipped: {err!r}", file=sys.stderr)
"""


def prepare(env: dict[str, str]) -> None:
    """Migrate both databases, load the demo configuration on first run, create the Airflow pools."""
    HOME.mkdir(parents=True, exist_ok=True)
    (HOME / "config").mkdir(exist_ok=True)
    (HOME / "config" / "airflow_local_settings.py").write_text(PRELOAD)
    passwords = HOME / "simple_auth_manager_passwords.json.generated"
    if not passwords.exists():
        passwords.write_text(json.dumps(DEMO_USERS))
    bin_dir = Path(sys.executable).parent
    run_step([str(bin_dir / "airflow"), "db", "migrate"], env)
    run_step([str(bin_dir / "cloudscheduler"), "db", "upgrade"], env)
    run_step(
        [sys.executable, "-m", "include.airflow_setup", "--demo", str(ROOT / "demo" / "config.yaml")], env
    )


def start(env: dict[str, str]) -> dict[str, subprocess.Popen]:
    logs = HOME / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    airflow = str(Path(sys.executable).parent / "airflow")
    procs = {}
    for name, args in components(env).items():
        out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process at exit
        # A session of its own per component: stopping it signals its whole process group (workers too).
        procs[name] = subprocess.Popen(
            [airflow, name, *args],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return procs


def wait_healthy(port: int, procs: dict[str, subprocess.Popen], timeout: float = 180) -> bool:
    deadline = time.monotonic() + timeout
    url = f"http://localhost:{port}/api/v2/monitor/health"
    while time.monotonic() < deadline:
        for name, p in procs.items():
            if p.poll() is not None:
                print(f"!! {name} exited with {p.returncode}; see {HOME / 'logs' / (name + '.log')}")
                return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                health = json.load(resp)
            if all(
                part.get("status") in ("healthy", None) for part in health.values() if isinstance(part, dict)
            ):
                return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def stop(procs: dict[str, subprocess.Popen]) -> None:
    for p in procs.values():
        if p.poll() is None:
            _signal_group(p, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    for p in procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
    for p in procs.values():
        _signal_group(p, signal.SIGKILL)  # stragglers, and workers left in the group by a clean exit
        p.wait()


def _signal_group(p: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p.pid, sig)


def main() -> int:
    port = int(os.environ.get("CS_PORT", "8080"))
    keep_private()
    env = airflow_env(port)
    try:
        retention.keep_days_from(env)  # a bad CS_AIRFLOW_RETENTION_DAYS stops us before anything starts
    except ValueError as err:
        print(f"!! {err}")
        return 2
    began = time.monotonic()
    prepare(env)
    procs = start(env)
    stopping = False

    def _on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        if not wait_healthy(port, procs):
            print("!! Airflow did not become healthy; logs are in", HOME / "logs")
            return 1
        print(f"\ncloudscheduler is up after {time.monotonic() - began:.0f} s: http://localhost:{port}/")
        print("   login admin / admin (viewer / viewer sees group belle2 only)")
        print(
            "   trigger the DAG cs_submit_demo_jobs to watch VMs boot, run jobs and retire; Ctrl-C stops all"
        )
        # Airflow keeps every run and task log forever; a week is kept (include/airflow_retention.py).
        threading.Thread(
            target=retention.loop, args=(env,), kwargs={"stop": lambda: stopping}, daemon=True
        ).start()
        while not stopping:
            if any(p.poll() is not None for p in procs.values()):
                dead = [n for n, p in procs.items() if p.poll() is not None]
                print(f"!! {', '.join(dead)} stopped; shutting down (logs in {HOME / 'logs'})")
                return 1
            time.sleep(0.5)
        return 0
    finally:
        print("stopping Airflow components ...", flush=True)
        stop(procs)
        print("stopped.")


if __name__ == "__main__":
    sys.exit(main())
