"""Retention for Airflow's own records: the metadata database's runs and the task log files.

The control loop runs a DAG every 15-60 s, so Airflow records about 25,000 DAG runs, 60,000 task
instances and as many log files a day (bench/README.md, P10), and keeps them all unless told otherwise.
``cs_housekeeping`` prunes our tables, but a task cannot do this part: Airflow 3 blocks metadata-database
access inside tasks and hands them an unusable database URL (apache/airflow#50601), so `airflow db clean`
run from a task fails. This runs beside Airflow instead, with its components' own environment: the
embedded default calls it at start and once a day, compose runs it in the `housekeeping` service, and
``cloudscheduler db prune-airflow`` runs it by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

KEEP_DAYS = 7  # a week of run history and logs: an operator looks back over a weekend incident
# Every table that grows with each run. Not `dag` or `dag_version` (the DAGs themselves; cleaning them
# fails on PostgreSQL, apache/airflow#71864), nor `trigger` (deleting one deletes the task deferred on it).
TABLES = (
    "dag_run",
    "task_instance",
    "task_instance_history",
    "task_reschedule",
    "xcom",
    "log",
    "job",
    "asset_event",
    "revoked_token",
    "deadline",
)


@dataclass
class RetentionReport:
    cutoff: datetime
    db_ok: bool
    db_output: str
    log_files_removed: int
    log_bytes_removed: int

    def lines(self) -> list[str]:
        return [
            f"Airflow records before {self.cutoff.isoformat(timespec='seconds')}: "
            + ("metadata cleaned" if self.db_ok else "metadata clean FAILED"),
            f"task logs removed: {self.log_files_removed} files, {self.log_bytes_removed / 1e6:.1f} MB",
        ]


def clean_metadata(
    cutoff: datetime, env: dict[str, str] | None = None, timeout: float = 3600
) -> tuple[bool, str]:
    """`airflow db clean` for ``TABLES`` before ``cutoff``, without archive tables (they would grow
    instead). Returns (ok, the command's output)."""
    airflow = str(Path(sys.executable).parent / "airflow")
    cmd = [
        airflow,
        "db",
        "clean",
        "--clean-before-timestamp",
        cutoff.isoformat(),
        "--tables",
        ",".join(TABLES),
        "--skip-archive",
        # Small transactions: the first clean of a long-running stack must not hold SQLite's lock for
        # longer than the components wait for it.
        "--batch-size",
        "5000",
        "--error-on-cleanup-failure",  # else a table it could not clean still exits 0
        "--yes",
    ]
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, str(err)
    return done.returncode == 0, (done.stdout + done.stderr)[-4000:]


def prune_logs(folder: Path, cutoff: datetime) -> tuple[int, int]:
    """Delete log files last written before ``cutoff`` in the folders under ``folder`` (task logs in
    ``dag_id=*/run_id=*/...``, the dag-processor's and scheduler's dated folders), then the folders
    they leave empty. Files directly in ``folder`` are kept: the embedded default's component logs,
    which their processes hold open."""
    limit = cutoff.timestamp()
    files = size = 0
    if not folder.is_dir():
        return 0, 0
    try:
        tops = [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return 0, 0
    for top in tops:
        for path in sorted(top.rglob("*"), reverse=True):  # children before their folders
            try:
                if path.is_file() and path.stat().st_mtime < limit:
                    size += path.stat().st_size
                    path.unlink()
                    files += 1
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
            except OSError:
                continue  # a file a running task is writing, or already gone
    return files, size


def log_folder(env: dict[str, str] | None = None) -> Path:
    env = env if env is not None else dict(os.environ)
    folder = env.get("AIRFLOW__LOGGING__BASE_LOG_FOLDER")
    if folder:
        return Path(folder)
    return Path(env.get("AIRFLOW_HOME", Path.home() / "airflow")) / "logs"


def run_retention(
    keep_days: float = KEEP_DAYS, env: dict[str, str] | None = None, now: datetime | None = None
) -> RetentionReport:
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    ok, output = clean_metadata(cutoff, env)
    files, size = prune_logs(log_folder(env), cutoff)
    return RetentionReport(cutoff, ok, output, files, size)


def keep_days_from(env: dict[str, str]) -> float:
    """``CS_AIRFLOW_RETENTION_DAYS`` (default a week); a clear error names it when it is not a number."""
    text = env.get("CS_AIRFLOW_RETENTION_DAYS", "").strip()
    if not text:
        return KEEP_DAYS
    try:
        days = float(text)
    except ValueError:
        raise ValueError(f"CS_AIRFLOW_RETENTION_DAYS: {text!r} is not a number of days") from None
    if days < 1:
        raise ValueError(f"CS_AIRFLOW_RETENTION_DAYS: {days} is under a day; runs would vanish while shown")
    return days


def loop(env: dict[str, str], every_s: float = 86400, stop=lambda: False) -> None:
    """Run retention now and then every ``every_s`` until ``stop()`` (the embedded default's thread)."""
    days = keep_days_from(env)
    next_at = 0.0
    while not stop():
        if time.monotonic() >= next_at:
            next_at = time.monotonic() + every_s
            try:
                report = run_retention(days, env)
            except Exception as err:  # noqa: BLE001 - one bad day must not end retention for good
                print(f"retention: failed, next try in {every_s / 3600:.0f} h: {err!r}", flush=True)
                continue
            for line in report.lines():
                print(f"retention: {line}", flush=True)
            if not report.db_ok:
                print(f"retention: {report.db_output[-800:]}", flush=True)
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    """``python -m include.airflow_retention [--once] [--keep-days N]`` (compose's housekeeping service
    runs it without --once: now, then daily)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="clean once and exit (default: now, then daily)")
    parser.add_argument("--keep-days", type=float, help=f"default CS_AIRFLOW_RETENTION_DAYS or {KEEP_DAYS}")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.keep_days is not None:
        env["CS_AIRFLOW_RETENTION_DAYS"] = str(args.keep_days)
    try:
        days = keep_days_from(env)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.once:
        loop(env)
        return 0
    report = run_retention(days, env)
    print("\n".join(report.lines()))
    if not report.db_ok:
        print(report.db_output, file=sys.stderr)
    return 0 if report.db_ok else 1


if __name__ == "__main__":
    sys.exit(main())
