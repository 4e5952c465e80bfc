"""A real Airflow api-server for browser tests: temporary AIRFLOW_HOME, SQLite metadata database, our
plugins folder, SimpleAuthManager with known passwords, bound to 127.0.0.1 on a free port, and our
state database (migrated, the demo configuration applied) beside it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PASSWORDS = {"admin": "admin-pw-7", "viewer": "viewer-pw-7", "editor": "editor-pw-7"}


@dataclass
class Server:
    url: str
    state_db_url: str
    home: Path
    process: subprocess.Popen

    def log(self) -> str:
        return (self.home / "api-server.log").read_text(errors="replace")[-4000:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(home: Path, port: int, state_db_url: str) -> dict[str, str]:
    # Nothing of the test process's own Airflow set-up (unit-test mode, its AIRFLOW_HOME) leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer,editor:user",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": "browser-test-secret-key",
            "AIRFLOW__API_AUTH__JWT_SECRET": "browser-test-jwt-secret-that-is-long-enough-for-hs512-0123456789abcdef",
            "CLOUDSCHEDULER_DB_URL": state_db_url,
            "CLOUDSCHEDULER_IMAGE_CACHE": str(home / "image-cache"),  # not the checkout's
        }
    )
    return env


def start(home: Path, state_db_url: str, timeout: float = 240) -> Server:
    (home / "dags").mkdir(parents=True, exist_ok=True)
    (home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps(PASSWORDS))
    port = free_port()
    env = environment(home, port, state_db_url)
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run(
        [airflow, "db", "migrate"], env=env, cwd=home, check=True, capture_output=True, timeout=timeout
    )
    log = open(home / "api-server.log", "wb")  # noqa: SIM115 - closed by stop()
    process = subprocess.Popen(
        [airflow, "api-server", "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(f"http://127.0.0.1:{port}", state_db_url, home, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"api-server exited with {process.returncode}:\n{server.log()}")
        try:
            urllib.request.urlopen(f"{server.url}/cloudscheduler/status", timeout=2).close()
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # our plugin is mounted and refuses anonymous callers: ready
                return server
        except OSError:
            pass
        time.sleep(0.5)
    stop(server)
    raise RuntimeError(f"api-server not ready after {timeout} s:\n{server.log()}")


def stop(server: Server) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()


def serving(tmp_path_factory, name: str, seed) -> Iterator[Server]:
    """The body of a module-scoped fixture: a scratch home and state database that ``seed(url)`` fills,
    a server on them for the module, stopped at its end."""
    home = tmp_path_factory.mktemp(name)
    url = f"sqlite:///{home / 'state.db'}"
    seed(url)
    server = start(home, url)
    yield server
    stop(server)
