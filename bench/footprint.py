"""P9: footprint of the embedded default.

Starts the embedded stack (include/embedded.py) in a scratch copy of its state, measures the time until
the UI answers, lets it idle, then sums the proportional set size (PSS, so shared pages count once) of
every process it started. Targets: <= 1.3 GB idle, UI within 30 s of the run command on a warm install.

    .venv/bin/python bench/footprint.py [--idle 60]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PSS_TARGET_MB = 1300
UI_TARGET_S = 30


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def pss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=float, default=60, help="seconds to idle before measuring")
    parser.add_argument("--port", type=int, default=8795)
    args = parser.parse_args()
    env = {**os.environ, "CS_PORT": str(args.port)}
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "include.embedded"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ui_s = None
    try:
        deadline = began + 300
        while time.monotonic() < deadline and ui_s is None:
            try:
                with urllib.request.urlopen(f"http://localhost:{args.port}/", timeout=2) as resp:
                    if resp.status == 200:
                        ui_s = time.monotonic() - began
            except OSError:
                time.sleep(0.5)
        if ui_s is None:
            print("ui_ready: never s")
            return 1
        time.sleep(args.idle)
        pids = descendants(proc.pid)
        total = pss_mb(pids)
        print(f"ui_ready: {ui_s:.1f} s")
        print(f"idle_pss_total: {total:.0f} MB")
        print(f"processes: {len(pids)} count")
        ok = total <= PSS_TARGET_MB and ui_s <= UI_TARGET_S
        print(f"targets: {'met' if ok else 'MISSED'} (<= {PSS_TARGET_MB} MB, <= {UI_TARGET_S} s)")
        return 0 if ok else 1
    finally:
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
