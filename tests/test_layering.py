"""Which package may import which (every import, at the top or inside a function): the layers of the
house, checked on the code, with no circle between packages or between modules of one package."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import import_graph  # noqa: E402

# The layers, lowest first: a package may import those listed for it, nothing else of include/.
ALLOWED = {
    "include.scheduler": set(),  # pure: the standard library, numpy and pandas only (below)
    "include.store": set(),
    "include.intervals": set(),  # read by DAG files at parse time: imports nothing of ours
    "include.providers": {"include.scheduler"},  # adapters translate; they never write tables
    "include.condor": {"include.store"},
    "include.userdata": {"include.providers", "include.scheduler", "include.store"},
    "include.config": {"include.intervals", "include.providers", "include.store", "include.userdata"},
    "include.simulated": {"include.condor", "include.config", "include.providers", "include.store", "include.userdata"},
    "include.airflow_glue": {"include.providers"},  # the one reader of Airflow Connections
    "include.clouds": {"include.airflow_glue", "include.config", "include.providers", "include.simulated", "include.store"},
    "include.pools": {"include.condor", "include.simulated"},
    "include.csv2": {"include.providers"},  # csv2's tables -> our document; its VM names
    "include.status": {"include.condor", "include.config", "include.scheduler", "include.store"},
    "include.images": {"include.alerting", "include.clouds", "include.config", "include.providers", "include.store"},
    "include.keys": {"include.alerting", "include.clouds", "include.config", "include.providers", "include.store"},
    "include.shoal": {"include.airflow_glue", "include.alerting", "include.store"},  # glue: the broker's Connection
    "include.loop": {
        "include.airflow_glue", "include.alerting", "include.clouds", "include.condor", "include.config",
        "include.csv2", "include.pools", "include.providers", "include.scheduler", "include.simulated", "include.status",
        "include.store", "include.userdata",
    },
    "include.airflow_retention": set(),  # runs beside Airflow: Airflow's CLI and the log folder only
    "include.embedded": {"include.airflow_retention"},
    "include.cli": {"include.airflow_glue", "include.airflow_retention", "include.config", "include.csv2", "include.images", "include.keys", "include.loop", "include.status", "include.store"},
    "include.airflow_assets": {"include.intervals"},
    "include.airflow_setup": {"include.config", "include.store"},
}  # fmt: skip
AIRFLOW_IMPORTERS = {"include.airflow_glue", "include.airflow_assets", "include.airflow_setup", "include.alerting",
                     "include.shoal.alerts", "include.shoal.trigger"}  # fmt: skip
SCHEDULER_THIRD_PARTY = {"numpy", "pandas"}


def test_packages_import_only_the_layers_below_them():
    by_package, _ = import_graph.graphs()
    wrong = {src: sorted(dst - ALLOWED.get(src, set())) for src, dst in by_package.items()}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_no_circle_between_packages_or_modules():
    by_package, by_module = import_graph.graphs()
    assert import_graph.cycles(by_package) == []
    assert import_graph.cycles(by_module) == []


def _third_party(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
    top = {n.split(".")[0] for n in names}
    return {t for t in top if t not in sys.stdlib_module_names and t not in ("include", "__future__")}


def test_the_planner_is_pure_and_only_some_modules_know_airflow():
    for path in (ROOT / "include" / "scheduler").glob("*.py"):
        assert _third_party(path) <= SCHEDULER_THIRD_PARTY, path.name
    knowing = set()
    for path in (ROOT / "include").rglob("*.py"):
        if "airflow" in _third_party(path):
            knowing.add(import_graph.module_name(path))
    assert knowing <= AIRFLOW_IMPORTERS, sorted(knowing - AIRFLOW_IMPORTERS)


def test_each_cloud_sdk_is_imported_by_its_adapter_alone():
    """An SDK's types and errors stay behind its adapter: every other module sees our protocol only."""
    owners = {
        "libvirt": {"include.providers.libvirt"},
        "pycdlib": {"include.providers.configdisk"},
        "boto3": {"include.providers.ec2_http", "include.providers.ec2", "include.providers.keypairs"},
    }
    found: dict[str, set[str]] = {sdk: set() for sdk in owners}
    for path in (ROOT / "include").rglob("*.py"):
        for sdk in _third_party(path) & set(owners):
            found[sdk].add(import_graph.module_name(path))
    for sdk, modules in found.items():
        assert modules and modules <= owners[sdk], (sdk, sorted(modules))
