"""Configuration files from someone careless or hostile: each odd file gives one clear line from
``cloudscheduler config apply``, no traceback, and leaves the stored configuration as it was (the hash
of ``config export`` before and after)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.loop.world import site

pytestmark = pytest.mark.security
GOOD = yaml.safe_dump(site(), sort_keys=False)


def deep(levels: int) -> str:
    return "settings:\n  x: " + "[" * levels + "]" * levels + "\n"


LAUGHS = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "settings: {deployment_id: *i}\n"
)

HOSTILE: dict[str, tuple[bytes, str]] = {
    "a stray second groups key": ((GOOD + "groups:\n").encode(), "key 'groups' appears twice"),
    "a duplicate setting": (
        b"settings:\n  max_boot_per_cycle: 5\n  max_boot_per_cycle: 500\n",
        "appears twice",
    ),
    "nested 10,000 deep": (deep(10_000).encode(), "nested deeper than 32 levels"),
    "nested 40 deep": (deep(40).encode(), "nested deeper than 32 levels"),
    "not UTF-8": (GOOD.encode().replace(b"atlas", b"atl\xe9s", 1), "not UTF-8"),
    "too large": (b"# " + b"x" * (9 << 20) + b"\n", "larger than the limit"),
    "a billion laughs": (LAUGHS.encode(), "expands to more than"),
    "NUL in a submitter": (GOOD.replace("- ALL", '- "AL\\0L"').encode(), "U+0000"),
    "ESC in a collector": (
        GOOD.replace("kind: simulated", 'kind: htcondor\n    collector: "cm\\e[2Jx.org"', 1).encode(),
        "U+001B",
    ),
    "a newline in a keyname": (
        GOOD.replace("image: cvm\n", 'image: cvm\n    keyname: "k\\nSTART = True"\n', 1).encode(),
        "U+000A",
    ),
    "a right-to-left override in an image": (
        GOOD.replace("image: cvm", 'image: "cvm\\u202e"', 1).encode(),
        "U+202E",
    ),
}


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "include.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    import os

    base = tmp_path_factory.mktemp("yaml")
    env = {**os.environ, "CLOUDSCHEDULER_DB_URL": f"sqlite:///{base / 'state.db'}"}
    assert cli("db", "upgrade", env=env).returncode == 0
    (base / "good.yaml").write_text(GOOD)
    assert cli("config", "apply", str(base / "good.yaml"), env=env).returncode == 0
    return base, env


def export_hash(env: dict) -> str:
    out = cli("config", "export", "-", env=env)
    assert out.returncode == 0
    return hashlib.sha256(out.stdout.encode()).hexdigest()


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_file_is_one_clear_line_and_changes_nothing(state, kind):
    base, env = state
    data, words = HOSTILE[kind]
    path: Path = base / "hostile.yaml"
    path.write_bytes(data)
    before = export_hash(env)
    out = cli("config", "apply", str(path), env=env)
    assert out.returncode == 1, out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration refused: "), out.stderr[-2000:]
    assert words in lines[0] and "Traceback" not in out.stderr
    assert export_hash(env) == before
