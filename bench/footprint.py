"""P9: footprint of the embedded default.

Starts the embedded stack (include/embedded.py) in a scratch run directory, measures the time until
the UI answers, lets it idle, then sums the proportional set size (PSS, so shared pages count once) of
every process it started. Targets: <= 1.3 GB idle, UI within 30 s of the run command on a warm install.

    .venv/bin/python bench/footprint.py [--idle 60]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import embedded_stack  # noqa: E402

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


def command_name(pid: int) -> str:
    """A short name for the process: the airflow component or the task runner."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [w.decode(errors="replace") for w in argv if w]
    for i, w in enumerate(words):
        if w.endswith("airflow") and i + 1 < len(words):
            return "airflow " + words[i + 1]
    return Path(words[0]).name if words else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=float, default=60, help="seconds to idle before measuring")
    parser.add_argument("--samples", type=int, default=12, help="samples, 5 s apart, after the idle time")
    parser.add_argument("--port", type=int, default=8795)
    args = parser.parse_args()
    samples: list[tuple[float, int, dict[str, float]]] = []
    with (
        tempfile.TemporaryDirectory(prefix="cs-footprint-") as tmp,
        embedded_stack(Path(tmp), args.port) as stack,
    ):
        time.sleep(args.idle)
        for _ in range(args.samples):
            pids = descendants(stack["pid"])
            by_name: dict[str, float] = {}
            for pid in pids:
                by_name[command_name(pid)] = by_name.get(command_name(pid), 0.0) + pss_mb([pid])
            samples.append((sum(by_name.values()), len(pids), by_name))
            time.sleep(5)
    ui_s = stack["ui_s"]
    totals = sorted(t for t, _, _ in samples)
    total, n, worst = max(samples, key=lambda s: s[0])
    print(f"ui_ready: {ui_s:.1f} s")
    print(f"idle_pss_median: {totals[len(totals) // 2]:.0f} MB")
    print(
        f"idle_pss_max: {total:.0f} MB (the stack's loop runs tasks every few seconds; max = while one runs)"
    )
    print(f"processes: {n} count (at the max)")
    for name, mb in sorted(worst.items(), key=lambda kv: -kv[1]):
        print(f"  {name}: {mb:.0f} MB")
    ok = total <= PSS_TARGET_MB and ui_s <= UI_TARGET_S
    print(f"targets: {'met' if ok else 'MISSED'} (<= {PSS_TARGET_MB} MB, <= {UI_TARGET_S} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
