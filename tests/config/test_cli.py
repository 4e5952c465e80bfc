"""The ``cloudscheduler config`` and ``db`` commands, run as the operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.config.builders import DEMO, minimal_doc, with_change

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, db: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLOUDSCHEDULER_DB_URL": db}
    return subprocess.run(
        [sys.executable, "-m", "include.cli.main", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_validate_apply_export_cycle(tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    refused = cli("config", "apply", str(DEMO), db=db)
    assert refused.returncode != 0 and "cloudscheduler db upgrade" in refused.stderr
    assert cli("db", "upgrade", db=db).returncode == 0
    assert cli("config", "validate", str(DEMO), db=db).stdout.strip().endswith("valid (2 groups, 4 clouds)")
    applied = cli("config", "apply", str(DEMO), db=db)
    assert applied.returncode == 0 and "create clouds atlas/arbutus" in applied.stdout
    out = tmp_path / "exported.yaml"
    assert cli("config", "export", str(out), db=db).returncode == 0
    again = cli("config", "apply", str(out), db=db)
    assert again.stdout.strip() == "no changes"


def test_bad_file_exits_non_zero_with_every_problem_on_stderr(tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    cli("db", "upgrade", db=db)
    doc = with_change(minimal_doc(), ["groups", 0, "clouds", 0, "limits", "ram_ctl"], -4)
    doc["groups"][0]["aliases"] = {"west": ["mars"]}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = cli("config", "apply", str(bad), db=db)
    assert result.returncode == 1
    assert "group 'atlas' / cloud 'east': field 'limits.ram_ctl'" in result.stderr
    assert cli("config", "export", "-", db=db).stdout.strip() == "{}"


def test_missing_file_is_a_clear_error(tmp_path):
    result = cli("config", "validate", str(tmp_path / "nope.yaml"), db="sqlite://")
    assert result.returncode == 1 and "cannot read file" in result.stderr
