"""P9: footprint of the embedded default.

Starts the embedded stack (include/embedded.py) in a scratch run directory, measures the time until
the UI answers, lets it idle, then sums the proportional set size (PSS, so shared pages count once) of
every process it started (RSS printed beside it), and reads the UI's Health panel, which must be all
green (the triggerer runs). Targets: <= 1.3 GB idle, UI within 30 s of the run command on a warm install.

    .venv/bin/python bench/footprint.py [--idle 60]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_story import Api  # noqa: E402
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


def rss_mb(pids: list[int]) -> float:
    """Resident set size summed over the processes: pages they share (Python, Airflow's modules, a
    forked worker's parent pages) counted once per process, so more than the memory the stack takes."""
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def health(port: int) -> dict[str, str]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://localhost:{port}/api/v2/monitor/health", timeout=5) as resp:
        return {k: v.get("status") for k, v in json.load(resp).items() if isinstance(v, dict)}


def sample(root: int) -> tuple[float, int, dict[str, float]]:
    pids = descendants(root)
    by_name: dict[str, float] = {}
    for pid in pids:
        by_name[command_name(pid)] = by_name.get(command_name(pid), 0.0) + pss_mb([pid])
    return sum(by_name.values()), len(pids), by_name


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
    parser.add_argument(
        "--demo", type=float, default=120, help="seconds sampled after triggering the demo jobs"
    )
    args = parser.parse_args()
    samples: list[tuple[float, int, dict[str, float]]] = []
    with (
        tempfile.TemporaryDirectory(prefix="cs-footprint-") as tmp,
        embedded_stack(Path(tmp), args.port) as stack,
    ):
        time.sleep(args.idle)
        panel = health(args.port)
        rss: list[float] = []
        for _ in range(args.samples):
            samples.append(sample(stack["pid"]))
            rss.append(rss_mb(descendants(stack["pid"])))
            time.sleep(5)
        # During the demo: the README's story (10 jobs of 8 cores), boots, registrations, jobs running.
        Api(args.port).trigger("cs_submit_demo_jobs", {})
        demo: list[tuple[float, int, dict[str, float]]] = []
        end = time.monotonic() + args.demo
        while time.monotonic() < end:
            demo.append(sample(stack["pid"]))
            rss.append(rss_mb(descendants(stack["pid"])))
            time.sleep(5)
    ui_s = stack["ui_s"]
    totals = sorted(t for t, _, _ in samples)
    total, n, worst = max(samples + demo, key=lambda s: s[0])
    demo_totals = sorted(t for t, _, _ in demo)
    print(f"ui_ready: {ui_s:.1f} s")
    print(f"idle_pss_median: {totals[len(totals) // 2]:.0f} MB")
    print(
        f"idle_pss_max: {totals[-1]:.0f} MB (the stack's loop runs tasks every few seconds; max = while one runs)"
    )
    print(f"demo_pss_median: {demo_totals[len(demo_totals) // 2]:.0f} MB")
    print(f"demo_pss_max: {demo_totals[-1]:.0f} MB")
    print(f"rss_max: {max(rss):.0f} MB (RSS summed: shared pages counted once per process)")
    print(f"health: {', '.join(f'{k} {v}' for k, v in sorted(panel.items()))}")
    print(f"processes: {n} count (at the max of all samples: {total:.0f} MB)")
    for name, mb in sorted(worst.items(), key=lambda kv: -kv[1]):
        print(f"  {name}: {mb:.0f} MB")
    ok = total <= PSS_TARGET_MB and ui_s <= UI_TARGET_S and all(v == "healthy" for v in panel.values())
    ok = ok and "triggerer" in panel
    print(
        f"targets: {'met' if ok else 'MISSED'} (<= {PSS_TARGET_MB} MB PSS, <= {UI_TARGET_S} s, Health all green)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
