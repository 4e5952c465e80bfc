"""A PostgreSQL server of the test's own (Debian's binaries, a fresh cluster on a spare port), so that a
test may kill it as a crash does: SIGKILL to the postmaster and every backend at once, in the middle of
whatever they were doing; then start it again (crash recovery replays the WAL)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivatePostgres:
    def __init__(self, base: Path):
        if BIN is None:
            raise RuntimeError("PostgreSQL's server binaries are not installed (Debian: postgresql)")
        self.base, self.data, self.port = base, base / "data", _free_port()
        # initdb refuses to run as root: the cluster belongs to the postgres user, as Debian's do.
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.base, self.user)
        self._run(BIN / "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, *args) -> None:
        cmd = [str(a) for a in args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60) -> None:
        """Run the postmaster as our own child (through runuser when we are root), so that its death is
        reaped here: a zombie postmaster would keep its PID "alive" and block the restart."""
        import psycopg2

        cmd = [str(BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
               "-c", f"unix_socket_directories={self.base}"]  # fmt: skip
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        log = open(self.base / "server.log", "ab")  # noqa: SIM115 - the server's, closed with it
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"postgres exited with {self.proc.returncode}; see {self.base / 'server.log'}"
                )
            try:
                psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres").close()
                return
            except psycopg2.OperationalError:
                time.sleep(0.1)
        raise RuntimeError("postgres did not accept connections")

    def create_database(self, name: str) -> str:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return self.url(name)

    def crash(self) -> int:
        """SIGKILL the postmaster and all its backends at once; returns how many processes died."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        victims = [postmaster, *_children(postmaster)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=30)  # runuser (or we) reap the postmaster
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in victims) and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(victims)

    def stop(self) -> None:
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(postmaster, signal.SIGINT)  # fast shutdown
            self.proc.wait(timeout=60)


def _children(ppid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == ppid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
