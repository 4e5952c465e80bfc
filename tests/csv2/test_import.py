"""``cloudscheduler import csv2`` as a site operator moving from cloudscheduler v2 runs it: against the
site's real MariaDB database, then ``config apply`` of the YAML it wrote, then ``config export``."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from include.config import parse_document
from include.csv2.columns import CLOUD_COLUMNS, GROUP_COLUMNS
from tests.csv2 import site

pytestmark = pytest.mark.mariadb

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "csv2.md"


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "include.cli.main", *args], env={**os.environ, **(env or {})},
                          cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip


def imported(
    tmp_path: Path, db: str, name: str = "site.yaml", **env
) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path / name
    run = cli("import", "csv2", "--db", db, "--out", str(out), "--connections", "skip", env=env)
    return out, run


# --- every column of csv2_groups and csv2_clouds is accounted for --------------------------------------
def reference_columns(section: str) -> set[str]:
    """The column names of one table of the reference (its markdown table, first cell of each row)."""
    text = REFERENCE.read_text()
    body = text.split(f"### {section}", 1)[1].split("\n### ", 1)[0]
    names: set[str] = set()
    for line in body.splitlines():
        if not line.startswith("| ") or line.startswith(("| Column", "|---")):
            continue
        cell = line.split("|")[1].strip().strip("*").strip()
        if m := re.match(r"\*?_ctl \((.*)\)", cell.replace("*", "", 1) if cell.startswith("*_") else cell):
            names |= {f"{n.strip()}_ctl" for n in m.group(1).split(",")}
            continue
        names |= {n.strip().strip("*") for n in re.split(r" / |, ", cell) if n.strip()}
    return names


@pytest.mark.parametrize(
    "section,columns",
    [("2.1 Groups", GROUP_COLUMNS), ("2.2 Clouds", CLOUD_COLUMNS)],
    ids=["groups", "clouds"],
)
def test_every_column_of_the_reference_is_mapped_or_dropped_with_a_reason(section, columns):
    names = reference_columns(section)
    assert len(names) > (18 if section.startswith("2.1") else 45)  # the parser read the whole table
    assert names - set(columns) == set()
    for column in names:
        target, why = columns[column]
        assert target or why, column  # mapped, or dropped with the reason the report prints


def test_the_real_tables_have_no_column_the_importer_does_not_know(csv2_site):
    import pymysql

    db = csv2_site.rsplit("/", 1)[1]
    with pymysql.connect(host="127.0.0.1", user="root", database=db) as conn, conn.cursor() as cur:
        for table, columns in (("csv2_groups", GROUP_COLUMNS), ("csv2_clouds", CLOUD_COLUMNS)):
            cur.execute(f"SHOW COLUMNS FROM `{table}`")
            assert {r[0] for r in cur.fetchall()} == set(columns), table


# What each mapped column becomes, read back from the applied configuration (group and cloud objects).
def _text(v):
    return v if v not in (None, "") else None


def _vm(v, as_list=False):
    if v in (None, ""):
        return None
    if v == "None":
        return [] if as_list else ""
    return [s for s in v.split(",")] if as_list else v


def _volume(raw):
    if not raw:
        return None
    v = json.loads(raw)
    out = {"gb": v.get("GBs", 10), "gb_per_core": v.get("GBs_per_core", 0)}
    return out | ({"volume_type": v["volume_type"]} if "volume_type" in v else {})


GROUP_EXPECT = {
    "group_name": ("name", lambda r: r["group_name"]),
    "htcondor_fqdn": ("pool.collector", lambda r: r["htcondor_fqdn"]),
    "htcondor_container_hostname": ("pool.container_hostname", lambda r: r["htcondor_container_hostname"]),
    "htcondor_other_submitters": ("other_submitters", lambda r: (r["htcondor_other_submitters"] or "").split(",") if r["htcondor_other_submitters"] else []),
    "job_cpus": ("job_defaults.cores", lambda r: r["job_cpus"]),
    "job_ram": ("job_defaults.ram_mb", lambda r: r["job_ram"]),
    "job_disk": ("job_defaults.disk_gb", lambda r: float(r["job_disk"])),
    "job_swap": ("job_defaults.swap_gb", lambda r: float(r["job_swap"])),
    "vm_flavor": ("vm_defaults.flavor", lambda r: _text(r["vm_flavor"])),
    "vm_image": ("vm_defaults.image", lambda r: _text(r["vm_image"])),
    "vm_keep_alive": ("vm_defaults.keep_alive", lambda r: r["vm_keep_alive"]),
    "vm_keyname": ("vm_defaults.keyname", lambda r: _text(r["vm_keyname"])),
    "vm_network": ("vm_defaults.network", lambda r: _text(r["vm_network"])),
    "vm_security_groups": ("vm_defaults.security_groups", lambda r: (r["vm_security_groups"] or "").split(",") if r["vm_security_groups"] else []),
    "public_visibility": ("public_visibility", lambda r: bool(r["public_visibility"])),
}  # fmt: skip
CLOUD_EXPECT = {
    "cloud_name": ("name", lambda r: r["cloud_name"]),
    "enabled": ("enabled", lambda r: bool(r["enabled"])),
    "priority": ("priority", lambda r: r["priority"]),
    "authurl": ("auth_url", lambda r: r["authurl"]),
    "project": ("project", lambda r: r["project"] if r["cloud_type"] == "openstack" else None),
    "cacertificate": ("ca_bundle", lambda r: r.get("cacertificate")),
    "region": ("region", lambda r: r["region"]),
    "user_domain_name": ("user_domain_name", lambda r: r["user_domain_name"] if r["cloud_type"] == "openstack" else None),
    "project_domain_name": ("project_domain_name", lambda r: r["project_domain_name"] if r["cloud_type"] == "openstack" else None),
    "cloud_type": ("type", lambda r: r["cloud_type"]),
    "cores_ctl": ("limits.cores_ctl", lambda r: r.get("cores_ctl", -1)),
    "cores_softmax": ("limits.cores_softmax", lambda r: r.get("cores_softmax", -1)),
    "ram_ctl": ("limits.ram_ctl", lambda r: r.get("ram_ctl", -1)),
    "spot_price": ("spot_price", lambda r: r["spot_price"] if r.get("spot_price", -1) > 0 and r["cloud_type"] == "amazon" else -1.0),
    "vm_boot_volume": ("vm.boot_volume", lambda r: _volume(r.get("vm_boot_volume"))),
    "vm_flavor": ("vm.flavor", lambda r: _vm(r.get("vm_flavor"))),
    "vm_image": ("vm.image", lambda r: _vm(r.get("vm_image"))),
    "vm_keep_alive": ("vm.keep_alive", lambda r: r["vm_keep_alive"] if r.get("vm_keep_alive", -1) >= 0 else None),
    "vm_keyname": ("vm.keyname", lambda r: _vm(r.get("vm_keyname"))),
    "vm_network": ("vm.network", lambda r: _vm(r.get("vm_network"))),
    "vm_security_groups": ("vm.security_groups", lambda r: _vm(r.get("vm_security_groups"), as_list=True)),
    "freeze": ("paused", lambda r: r.get("freeze", 0) == 2),
}  # fmt: skip
SECRET_COLUMNS = {"username", "password", "auth_type", "app_credentials", "app_credentials_secret"}


def _get(obj, path: str):
    for part in path.split("."):
        obj = getattr(obj, part) if obj is not None else None
    return obj.model_dump(exclude_none=True) if hasattr(obj, "model_dump") else obj


def test_every_mapped_column_is_named_by_a_check():
    mapped_groups = {c for c, (target, _) in GROUP_COLUMNS.items() if target}
    mapped_clouds = {
        c
        for c, (target, _) in CLOUD_COLUMNS.items()
        if target and target not in ("connection", "(its group)")
    }
    assert mapped_groups == set(GROUP_EXPECT)
    assert mapped_clouds == set(CLOUD_EXPECT)
    assert {c for c, (target, _) in CLOUD_COLUMNS.items() if target == "connection"} == SECRET_COLUMNS  # fmt: skip


@pytest.fixture
def applied(tmp_path, csv2_site):
    """The site imported, validated, applied to a fresh state database, and exported again."""
    out, run = imported(tmp_path, csv2_site)
    assert run.returncode == 0, run.stderr
    db = f"sqlite:///{tmp_path / 'state.db'}"
    assert cli("db", "upgrade", env={"CLOUDSCHEDULER_DB_URL": db}).returncode == 0
    apply = cli("config", "apply", str(out), env={"CLOUDSCHEDULER_DB_URL": db})
    assert apply.returncode == 0, apply.stderr
    exported = tmp_path / "exported.yaml"
    assert cli("config", "export", str(exported), env={"CLOUDSCHEDULER_DB_URL": db}).returncode == 0
    return {"yaml": out, "report": run.stderr, "apply": apply.stdout, "exported": exported, "db": db,
            "config": parse_document(yaml.safe_load(exported.read_text()))}  # fmt: skip


def test_every_group_column_lands_where_the_map_says(applied):
    groups = {g.name: g for g in applied["config"].groups}
    for row in site.GROUPS:
        for column, (path, expect) in GROUP_EXPECT.items():
            assert _get(groups[row["group_name"]], path) == expect(row), (row["group_name"], column)


def test_every_cloud_column_lands_where_the_map_says(applied):
    clouds = {(g.name, c.name): c for g in applied["config"].groups for c in g.clouds}
    assert len(clouds) == 10 and {c.type for c in clouds.values()} == {"openstack", "amazon"}
    for row in site.CLOUDS:
        cloud = clouds[(row["group_name"], row["cloud_name"])]
        for column, (path, expect) in CLOUD_EXPECT.items():
            assert _get(cloud, path) == expect(row), (row["cloud_name"], column)
        assert cloud.connection_id == f"cs_cloud_{row['group_name']}_{row['cloud_name']}"


def test_aliases_exclusions_metadata_and_users_come_over(applied):
    cfg = applied["config"]
    atlas, belle, astro = (
        next(g for g in cfg.groups if g.name == n) for n in ("atlas-uvic", "belle2", "astro")
    )
    assert atlas.aliases == {"canada": ["arbutus", "cedar"], "cheap": ["aws-east"]}
    assert astro.aliases == {"all": ["aws-astro", "chameleon", "nautilus"]}
    cloud = {c.name: c for g in cfg.groups for c in g.clouds}
    assert cloud["arbutus"].flavor_exclusions == ["g1-8gb-c4-22gb", "p8-12gb"]
    assert cloud["desy"].flavor_exclusions == ["m1.tiny"]
    assert cloud["aws-east"].metadata_exclusions == ["cvmfs.yaml"] and cloud["ncc"].metadata_exclusions == [
        "ucernvm.config"
    ]
    files = [(g.name, None, m) for g in cfg.groups for m in g.metadata]
    files += [(g.name, c.name, m) for g in cfg.groups for c in g.clouds for m in c.metadata]
    assert len(files) == 20
    by_name = {(g, c, m.name): m for g, c, m in files}
    for group, cloud_name, name, text, enabled, priority, mime in site.METADATA:
        m = by_name[(group, cloud_name, name)]
        assert (m.text, m.enabled, m.priority, m.mime_type) == (text, bool(enabled), priority, mime), name
    # Members edit their groups; super users edit every group (and are told to get an Airflow role).
    assert cfg.users["alice"] == {"atlas-uvic": "editor"}
    assert cfg.users["bob"] == {"astro": "editor", "belle2": "editor"}
    assert cfg.users["csv2admin"] == {g: "editor" for g in ("astro", "atlas-uvic", "belle2")}
    assert "csv2 super users csv2admin, rseuster" in applied["report"]
    assert {k: v for k, v in cfg.settings.items() if k in site.CONFIG_MAPPED} == site.CONFIG_MAPPED  # fmt: skip


def test_the_report_says_what_was_dropped_and_why(applied):
    report = applied["report"]
    assert report.splitlines()[0] == f"wrote {applied['yaml']}: 3 groups, 10 clouds"
    for line in (
        "dropped: csv2_groups.job_scratch: our job shape has no scratch resource",
        "dropped: csv2_clouds.userid: Keystone's user id",
        "dropped: csv2_configuration csmain.sleep_interval_main_long: our intervals are CS_CONDOR_POLL_SECONDS",
        "dropped: csv2_configuration SQL.UTC_delta_hours: we work in UTC",
        "dropped: csv2_configuration ec2_image_filter.owner_aliases: name EC2 images by AMI id or name",
        "dropped: csv2_configuration web_frontend.default_softmax: no counterpart here",
        "note: group 'atlas-uvic' / metadata 'default.yaml.j2': add cs_vm_id = \"{{ cs_vm_id }}\" and cs_vm_id "
        "in STARTD_ATTRS before our VMs boot on aws-east",
    ):
        assert line in report
    mapped = {f"{c}.{k}" for c, k, *_ in site.CONFIGURATION} - {
        m.removeprefix("dropped: csv2_configuration ").split(": ")[0] for m in report.splitlines() if "csv2_configuration" in m
    }  # fmt: skip
    assert len(mapped) == len(site.CONFIG_MAPPED)  # every other row is mapped, to the settings checked above


def test_export_then_reimport_is_stable(applied, tmp_path, csv2_site):
    first = yaml.safe_load(applied["yaml"].read_text())
    assert yaml.safe_load(applied["exported"].read_text()) == first  # what was applied is what was written
    again, run = imported(tmp_path, csv2_site, name="again.yaml")
    assert run.returncode == 0 and again.read_text() == applied["yaml"].read_text()  # deterministic
    db = applied["db"]
    assert (
        cli("config", "apply", str(again), env={"CLOUDSCHEDULER_DB_URL": db}).stdout.strip() == "no changes"
    )


def test_no_secret_in_the_yaml_the_report_or_any_table(applied):
    texts = [
        applied["yaml"].read_text(),
        applied["exported"].read_text(),
        applied["report"],
        applied["apply"],
    ]
    with sqlite3.connect(applied["db"].removeprefix("sqlite:///")) as conn:
        tables = [t for (t,) in conn.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            texts.append(repr(conn.execute(f'select * from "{table}"').fetchall()))
    assert len(tables) > 20
    blob = "\n".join(texts)
    for cloud, secret in site.SECRETS.items():
        assert secret not in blob, cloud
    assert site.BCRYPT not in blob  # csv2's password hashes stay behind too


def test_a_template_that_will_not_render_is_named_by_group_cloud_and_file(tmp_path, csv2_database):
    tables = site.rows()
    bad = dict(tables["csv2_cloud_metadata"][0], group_name="astro", cloud_name="nautilus", metadata_name="broken.yaml.j2",
               metadata="#cloud-config\nhostname: {{ cs_cloud_name | no_such_filter }}\n")  # fmt: skip
    tables["csv2_cloud_metadata"] = [*tables["csv2_cloud_metadata"], bad]
    out, run = imported(tmp_path, csv2_database(tables))
    assert run.returncode == 1
    problems = [line for line in run.stderr.splitlines() if line.startswith("does not validate")]
    assert len(problems) == 1
    assert "group 'astro' / cloud 'nautilus' / metadata 'broken.yaml.j2'" in problems[0]
    assert "no_such_filter" in problems[0]
    assert "broken.yaml.j2" in out.read_text()  # written anyway, for the operator to fix and apply


def test_a_cloud_of_a_type_we_do_not_have_is_dropped_with_why(tmp_path, csv2_database):
    tables = site.rows()
    local = dict(tables["csv2_clouds"][0], cloud_name="lab", cloud_type="local")
    tables["csv2_clouds"] = [*tables["csv2_clouds"], local]
    out, run = imported(tmp_path, csv2_database(tables))
    assert run.returncode == 0
    assert "dropped: group 'atlas-uvic' / cloud 'lab': type 'local' has no counterpart here" in run.stderr
    assert "lab" not in {c["name"] for g in yaml.safe_load(out.read_text())["groups"] for c in g["clouds"]}


def test_an_unreachable_database_is_one_clear_line(tmp_path):
    out, run = imported(tmp_path, "mysql://root@127.0.0.1:1/csv2")
    assert run.returncode == 1 and not out.exists()
    assert (
        run.stderr.strip()
        .splitlines()[-1]
        .startswith("cannot read the csv2 database mysql://root@127.0.0.1:1/csv2:")
    )
    assert "Traceback" not in run.stderr


# --- the clouds' secrets become Airflow Connections, encrypted ----------------------------------------
@pytest.mark.airflow
def test_each_cloud_gets_an_encrypted_connection_with_its_secrets(tmp_path, csv2_site):
    key = Fernet.generate_key().decode()
    airflow_db = tmp_path / "airflow.db"
    env = {"AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__FERNET_KEY": key,
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_db}", "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}  # fmt: skip
    migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env={**os.environ, **env},
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    out = tmp_path / "site.yaml"
    run = cli("import", "csv2", "--db", csv2_site, "--out", str(out), env=env)
    assert run.returncode == 0, run.stderr
    assert sum(line.endswith(": created") for line in run.stderr.splitlines()) == 10

    fernet = Fernet(key.encode())
    with sqlite3.connect(airflow_db) as conn:
        rows = conn.execute("select conn_id, conn_type, host, login, password, extra, is_encrypted, "
                            "is_extra_encrypted from connection").fetchall()  # fmt: skip
    conns = {r[0]: r for r in rows}
    assert len(conns) == 10
    for c in site.CLOUDS:
        conn_id, conn_type, host, login, password, extra, enc, extra_enc = conns[
            f"cs_cloud_{c['group_name']}_{c['cloud_name']}"
        ]
        assert extra_enc and (enc or password is None)  # Airflow's Fernet encryption, at rest
        password = fernet.decrypt(password.encode()).decode() if password else None
        extra = json.loads(fernet.decrypt(extra.encode()).decode())
        if c["cloud_type"] == "amazon":
            assert (conn_type, login, password) == ("aws", c["username"], c["password"])
            assert extra == {"region_name": c["region"], "endpoint_url": c["authurl"]}
        elif c["auth_type"] == "app_creds":
            assert (conn_type, host, login, password) == ("generic", c["authurl"], None, None)
            assert extra["application_credential_id"] == c["app_credentials"]
            assert extra["application_credential_secret"] == c["app_credentials_secret"]
        else:
            assert (conn_type, host, login, password) == (
                "generic",
                c["authurl"],
                c["username"],
                c["password"],
            )
            assert (
                extra["project_name"] == c["project"] and extra["user_domain_name"] == c["user_domain_name"]
            )
    raw = airflow_db.read_bytes()
    for cloud, secret in site.SECRETS.items():
        assert secret.encode() not in raw, cloud  # nothing in clear text in Airflow's database either
        assert secret not in run.stderr and secret not in out.read_text()

    again = cli("import", "csv2", "--db", csv2_site, "--out", str(tmp_path / "again.yaml"), env=env)
    assert sum(line.endswith("exists already, kept") for line in again.stderr.splitlines()) == 10


def test_a_mysqldump_file_imports_the_same_as_the_database(tmp_path, csv2_site):
    """A site that sends its dump rather than access to its database: loaded into a scratch database."""
    import shutil

    database = csv2_site.rsplit("/", 1)[1]
    dump = tmp_path / "csv2.sql"
    tool = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    with dump.open("wb") as f:
        subprocess.run(
            [tool, "--host=127.0.0.1", "--user=root", "--triggers", database], stdout=f, check=True
        )
    direct, _ = imported(tmp_path, csv2_site, name="direct.yaml")
    out = tmp_path / "from-dump.yaml"
    run = cli("import", "csv2", "--dump", str(dump), "--out", str(out), "--connections", "skip")
    assert run.returncode == 0, run.stderr
    assert out.read_text() == direct.read_text()
    import pymysql

    with pymysql.connect(host="127.0.0.1", user="root") as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE 'cs_import_%'")
        assert cur.fetchall() == ()  # the scratch database is gone
