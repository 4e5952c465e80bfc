"""Debian's Prometheus and InfluxDB 1.x, started by a test on spare ports in a scratch directory (the
packages' own services stay stopped: ``scripts/system_deps.sh``), and the plugin's app served over real
HTTP for Prometheus to scrape. Each is stopped, and its files left in the test's directory, at exit."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.doubles.procs import stop


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, what: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer {url} within {timeout} s")


@contextmanager
def serve_app(app) -> Iterator[str]:
    """``app`` (the plugin's, mounted under /cloudscheduler as Airflow mounts it) on a real port."""
    import uvicorn
    from fastapi import FastAPI

    outer = FastAPI()
    outer.mount("/cloudscheduler", app)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(outer, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Prometheus:
    def __init__(self, url: str):
        self.url = url

    def query(self, promql: str) -> list[dict]:
        q = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{q}", timeout=10) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def targets(self) -> dict[str, dict]:
        with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=10) as r:
            active = json.loads(r.read())["data"]["activeTargets"]
        return {t["scrapePool"]: t for t in active}


@contextmanager
def prometheus(workdir: Path, settings: dict) -> Iterator[Prometheus]:
    """Prometheus with the configuration ``settings`` (prometheus.yml as a dict)."""
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(json.dumps(settings))  # JSON is YAML
    port = free_port()
    log = workdir / "prometheus.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(f"http://127.0.0.1:{port}/-/ready", "prometheus", proc, log)
        yield Prometheus(f"http://127.0.0.1:{port}")
    finally:
        stop(proc, timeout=15)


class Influx:
    def __init__(self, url: str):
        self.url = url

    def query(self, influxql: str, db: str | None = None) -> list[dict]:
        params = {"q": influxql, **({"db": db} if db else {})}
        data = urllib.parse.urlencode(params).encode()
        with urllib.request.urlopen(f"{self.url}/query", data=data, timeout=10) as r:
            body = json.loads(r.read())
        result = body["results"][0]
        assert "error" not in result, result
        return result.get("series", [])


@contextmanager
def influxdb(workdir: Path) -> Iterator[Influx]:
    binary = shutil.which("influxd") or "/usr/bin/influxd"
    workdir.mkdir(parents=True, exist_ok=True)
    http, rpc = free_port(), free_port()
    config = workdir / "influxdb.conf"
    config.write_text(
        f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n'
        f'[meta]\n  dir = "{workdir / "meta"}"\n'
        f'[data]\n  dir = "{workdir / "data"}"\n  wal-dir = "{workdir / "wal"}"\n'
        f'[http]\n  bind-address = "127.0.0.1:{http}"\n  log-enabled = false\n'
    )
    log = workdir / "influxd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([binary, "-config", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait(f"http://127.0.0.1:{http}/ping", "influxd", proc, log)
        yield Influx(f"http://127.0.0.1:{http}")
    finally:
        stop(proc, timeout=15)
