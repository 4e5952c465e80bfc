"""A real libvirtd (Debian's package) on a private socket, for the libvirt tier: the QEMU driver with KVM
where /dev/kvm is usable (else TCG), the directory storage backend, and virtlogd, through which the QEMU
driver writes each guest's log. Started once per test session; each test makes its own storage pool and
removes every domain and volume it made.

It runs as root in libvirt's system mode (the mode sites run), so its domain definitions live under
/etc/libvirt/qemu like any host's: the harnesses undefine what they define."""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

CONF = """unix_sock_dir = "{run}"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
listen_tls = 0
listen_tcp = 0
"""
VIRTLOGD_SOCK = Path("/run/libvirt/virtlogd-sock")


def listening(path: Path) -> bool:
    """Whether a daemon accepts connections on the unix socket ``path``. A virtlogd killed without its
    shutdown (a CI run cut short, a session's end) leaves its socket file behind, so the file alone says
    nothing, and trusting it makes every guest start fail with "Connection refused"."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def kvm_usable() -> bool:
    """Whether guests can use KVM: /dev/kvm exists and libvirt's qemu user (group kvm) may open it."""
    try:
        st = os.stat("/dev/kvm")
        return (
            stat.S_ISCHR(st.st_mode) and st.st_gid == grp.getgrnam("kvm").gr_gid and bool(st.st_mode & 0o060)
        )
    except (OSError, KeyError):
        return False


class Libvirtd:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="cs-libvirtd-"))
        self.dir.chmod(0o755)
        run = self.dir / "run"
        run.mkdir()
        (self.dir / "libvirtd.conf").write_text(CONF.format(run=run))
        self.uri = f"qemu+unix:///system?socket={run}/libvirt-sock"
        self.domain_type = "kvm" if kvm_usable() else "qemu"
        self.procs: list[subprocess.Popen] = []
        if not listening(VIRTLOGD_SOCK):
            VIRTLOGD_SOCK.unlink(missing_ok=True)  # a dead daemon's socket file, or nothing
            self._start(["/usr/sbin/virtlogd"], "virtlogd.log", VIRTLOGD_SOCK)
        self._start(
            [
                "/usr/sbin/libvirtd",
                "--config",
                str(self.dir / "libvirtd.conf"),
                "--pid-file",
                str(self.dir / "pid"),
            ],
            "libvirtd.log",
            run / "libvirt-sock",
        )

    def _start(self, argv: list[str], log: str, socket: Path) -> None:
        out = open(self.dir / log, "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        end = time.monotonic() + 30
        while not socket.exists():
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"{argv[0]} did not start: " + (self.dir / log).read_text()[-2000:])
            time.sleep(0.05)

    def pool(self, name: str) -> tuple[object, object, Path]:
        """A new transient directory pool ``name`` (the guests' user must reach its files)."""
        import libvirt

        path = Path(tempfile.mkdtemp(prefix=f"cs-pool-{name}-"))
        path.chmod(0o755)
        conn = libvirt.open(self.uri)
        pool = conn.storagePoolCreateXML(
            f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>", 0
        )
        return conn, pool, path

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            shutil.rmtree(self.dir)
