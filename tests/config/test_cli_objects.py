"""The ``alias``, ``group``, ``metadata`` and ``job`` commands csv2 operators script, run as they run
them: a site operator at a shell (the command in a subprocess, on the demo's configuration), and a
group member whose rights come from the caller the remote transport builds (handlers called in-process
with that caller, against SQLite and PostgreSQL)."""

from __future__ import annotations

import getpass
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from include.cli.caller import Caller
from include.cli.main import build_parser
from include.cli.running import execute
from include.config import apply_config, export_config, load_yaml_file
from include.store.db import get_engine, make_engine
from include.store.models import AuditEntry, Job
from tests.config.builders import DEMO

ROOT = Path(__file__).resolve().parents[2]
ME = f"cli:{getpass.getuser()}"


def cli(*args: str, db: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "include.cli.main", *args],
        env={**os.environ, "CLOUDSCHEDULER_DB_URL": db, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def demo_db(tmp_path) -> str:
    """A state database holding the demo's configuration, applied by the operator's own command."""
    db = f"sqlite:///{tmp_path / 's.db'}"
    assert cli("db", "upgrade", db=db).returncode == 0
    assert cli("config", "apply", str(DEMO), db=db).returncode == 0
    return db


def lines(result: subprocess.CompletedProcess) -> list[list[str]]:
    """The rows of a table on stdout as lists of cells (header and rule dropped)."""
    return [line.split() for line in result.stdout.splitlines()[2:]]


def audit(db: str) -> list[tuple[str, str, str, str]]:
    engine = make_engine(db)
    with Session(engine) as s:
        rows = s.execute(
            select(
                AuditEntry.actor, AuditEntry.action, AuditEntry.object_type, AuditEntry.object_key
            ).order_by(AuditEntry.id)
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


# --- a site operator at a shell ---------------------------------------------------------------------


def test_group_list_and_defaults_show_what_config_apply_put_in(demo_db):
    groups = cli("group", "list", db=demo_db)
    assert groups.returncode == 0, groups.stderr
    rows = {r[0]: r for r in lines(groups)}
    assert set(rows) == {"atlas", "belle2"}
    assert rows["atlas"][1] == "simulated" and "ca-west" in rows["atlas"] and "8/16000" in rows["atlas"]

    defaults = cli("group", "defaults", "-g", "atlas", db=demo_db)
    fields = {r[0]: r[1:] for r in lines(defaults)}
    assert fields["job_defaults.cores"] == ["8"]
    assert fields["vm_defaults.image"] == ["cernvm4-micro-2020.07-1"]
    assert fields["vm_defaults.keep_alive"] == ["120"]


def test_group_update_changes_the_defaults_with_an_audit_entry_and_repeats_harmlessly(demo_db):
    done = cli(
        "group", "update", "-g", "atlas", "--vm-keep-alive", "600", "--public-visibility", "yes", db=demo_db
    )
    assert done.returncode == 0, done.stderr
    assert "update groups atlas" in done.stdout
    fields = {r[0]: r[1:] for r in lines(cli("group", "defaults", "-g", "atlas", db=demo_db))}
    assert fields["vm_defaults.keep_alive"] == ["600"] and fields["public_visibility"] == ["yes"]
    assert audit(demo_db)[-1] == (ME, "config.update", "groups", "atlas")
    again = cli("group", "update", "-g", "atlas", "--vm-keep-alive", "600", db=demo_db)
    assert again.returncode == 0 and again.stdout.strip() == "no changes"


@pytest.mark.slow
def test_alias_add_list_update_delete(demo_db):
    assert lines(cli("alias", "list", db=demo_db)) == [["atlas", "ca-west", "arbutus,cedar"]]

    added = cli(
        "alias", "add", "-g", "atlas", "--alias-name", "big", "--cloud-name", "cedar,arbutus", db=demo_db
    )
    assert added.returncode == 0, added.stderr
    assert lines(cli("alias", "list", "-g", "atlas", db=demo_db)) == [
        ["atlas", "big", "arbutus,cedar"],
        ["atlas", "ca-west", "arbutus,cedar"],
    ]
    assert (ME, "config.create", "alias_clouds", "atlas/big/cedar") in audit(demo_db)
    same = cli(
        "alias", "add", "-g", "atlas", "--alias-name", "big", "--cloud-name", "arbutus,cedar", db=demo_db
    )
    assert same.returncode == 0 and same.stdout.strip() == "no changes"
    other = cli("alias", "add", "-g", "atlas", "--alias-name", "big", "--cloud-name", "cedar", db=demo_db)
    assert other.returncode == 1 and "alias update" in other.stderr

    trimmed = cli(
        "alias", "update", "-g", "atlas", "-an", "big", "-cn", "cedar", "--cloud-option", "delete", db=demo_db
    )
    assert trimmed.returncode == 0, trimmed.stderr
    assert ["atlas", "big", "arbutus"] in lines(cli("alias", "list", db=demo_db))

    assert cli("alias", "delete", "-g", "atlas", "--alias-name", "big", db=demo_db).returncode == 0
    assert lines(cli("alias", "list", db=demo_db)) == [["atlas", "ca-west", "arbutus,cedar"]]
    gone = cli("alias", "delete", "-g", "atlas", "--alias-name", "big", db=demo_db)
    assert gone.returncode == 0 and "no alias 'big'" in gone.stdout


@pytest.mark.slow
def test_metadata_load_list_edit_delete(demo_db, tmp_path):
    item = tmp_path / "site-motd.yaml"
    item.write_text("write_files:\n- path: /etc/motd\n  content: hello\n")
    loaded = cli("metadata", "load", "-g", "atlas", "--file-path", str(item), "--priority", "7", db=demo_db)
    assert loaded.returncode == 0, loaded.stderr
    listed = {r[2]: r for r in lines(cli("metadata", "list", "-g", "atlas", db=demo_db))}
    assert listed["site-motd.yaml"] == ["atlas", "-", "site-motd.yaml", "yes", "7", "cloud-config", "3"]

    edited = cli(
        "metadata",
        "edit",
        "-g",
        "atlas",
        "-mn",
        "site-motd.yaml",
        db=demo_db,
        EDITOR="sed -i s/hello/bye/",
        VISUAL="",
    )
    assert edited.returncode == 0, edited.stderr
    export = cli("config", "export", "-", db=demo_db).stdout
    assert "content: bye" in export and "content: hello" not in export
    listed = {r[2]: r for r in lines(cli("metadata", "list", "-g", "atlas", db=demo_db))}
    assert listed["site-motd.yaml"][4] == "7"  # editing the text keeps the priority

    # A cloud's own item is listed with its cloud and deleted from that cloud only.
    cloud_item = cli(
        "metadata", "load", "-g", "atlas", "-cn", "cedar", "-f", str(item), "-mn", "cedar.yaml", db=demo_db
    )
    assert cloud_item.returncode == 0, cloud_item.stderr
    assert lines(cli("metadata", "list", "-g", "atlas", "-cn", "cedar", db=demo_db)) == [
        ["atlas", "cedar", "cedar.yaml", "yes", "0", "cloud-config", "3"]
    ]

    assert cli("metadata", "delete", "-g", "atlas", "-mn", "site-motd.yaml", db=demo_db).returncode == 0
    assert (
        cli("metadata", "delete", "-g", "atlas", "-cn", "cedar", "-mn", "cedar.yaml", db=demo_db).returncode
        == 0
    )
    names = [r[2] for r in lines(cli("metadata", "list", db=demo_db))]
    assert names == ["condor-worker.yaml.j2", "condor-worker.yaml.j2"]
    assert (ME, "config.delete", "group_metadata", "atlas/site-motd.yaml") in audit(demo_db)


def test_a_bad_field_is_named_on_stderr_and_nothing_changes(demo_db):
    before = cli("config", "export", "-", db=demo_db).stdout
    entries = len(audit(demo_db))
    result = cli("group", "update", "-g", "atlas", "--vm-keep-alive", "300", "--job-cores", "0", db=demo_db)
    assert result.returncode == 1 and result.stdout == ""
    assert "group 'atlas': field 'job_defaults.cores'" in result.stderr, result.stderr
    assert cli("config", "export", "-", db=demo_db).stdout == before  # keep-alive not saved either
    assert len(audit(demo_db)) == entries


def test_unknown_objects_are_clear_errors(demo_db, tmp_path):
    nogroup = cli("alias", "list", "-g", "cms", db=demo_db)
    assert nogroup.returncode == 1 and "no group 'cms'" in nogroup.stderr
    nofile = cli("metadata", "load", "-g", "atlas", "-f", str(tmp_path / "nope.yaml"), db=demo_db)
    assert nofile.returncode == 1 and "cannot read --file-path" in nofile.stderr
    noitem = cli("metadata", "edit", "-g", "atlas", "-mn", "nope.yaml", db=demo_db, EDITOR="true", VISUAL="")
    assert noitem.returncode == 1 and "no metadata 'nope.yaml'" in noitem.stderr


# --- handlers called with the caller the remote transport builds ---------------------------------------


@pytest.fixture
def demo_store(store_engine, monkeypatch) -> Iterator[Engine]:
    """The demo's configuration and a few jobs in ``store_engine``, which the commands then use."""
    monkeypatch.setenv("CLOUDSCHEDULER_DB_URL", store_engine.url.render_as_string(hide_password=False))
    get_engine.cache_clear()  # the process's shared engine is cached on first use: make it this one
    with Session(store_engine) as s:
        apply_config(s, load_yaml_file(DEMO), actor="setup")
        s.add_all(
            [
                Job(pool="p", global_job_id="a1", group_name="atlas", owner="ann", status=1, cores=8),
                Job(pool="p", global_job_id="a2", group_name="atlas", owner="ann", status=2, cores=8),
                Job(pool="p", global_job_id="a3", group_name="atlas", owner="bob", status=5, cores=1),
                Job(
                    pool="p",
                    global_job_id="a4",
                    group_name="atlas",
                    owner="bob",
                    status=1,
                    target_alias="ca-west",
                ),
                Job(pool="p", global_job_id="b1", group_name="belle2", owner="cat", status=1, cores=1),
                Job(pool="p", global_job_id="f1", group_name=None, owner="x", status=1, cores=1),  # foreign
            ]
        )
        s.commit()
    yield store_engine
    get_engine.cache_clear()


def run(*argv: str, caller: Caller | None = None) -> tuple[int, str, str]:
    """The command as main() and the server's /api/cli run it, as ``caller`` (default: the local
    site operator)."""
    args = build_parser().parse_args(argv)
    args.out, args.err = io.StringIO(), io.StringIO()
    if caller is not None:
        args.caller = caller
    code = execute(args)
    return code, args.out.getvalue(), args.err.getvalue()


def job_ids(out: str) -> list[str]:
    return sorted(line.split()[1] for line in out.splitlines()[2:-1])


def test_job_list_filters(demo_store):
    assert job_ids(run("job", "list")[1]) == ["a1", "a2", "a3", "a4", "b1"]  # never the foreign job
    assert job_ids(run("job", "list", "-g", "atlas", "--job-status", "idle,held")[1]) == ["a1", "a3", "a4"]
    assert job_ids(run("job", "list", "--job-status", "2")[1]) == ["a2"]
    assert job_ids(run("job", "list", "--target-alias", "ca-west")[1]) == ["a4"]
    assert job_ids(run("job", "list", "--user", "bob")[1]) == ["a3", "a4"]
    code, out, _ = run("job", "list", "--request-cpus", "8", "--job-status", "running")
    assert job_ids(out) == ["a2"] and out.splitlines()[-1] == "1 job(s)"
    assert out.splitlines()[2].split()[:4] == ["atlas", "a2", "ann", "running"]
    code, _, err = run("job", "list", "--job-status", "sleeping")
    assert code == 2 and "--job-status" in err and "sleeping" in err


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (("group", "update", "-g", "atlas", "--job-cores", "0"), "field 'job_defaults.cores'"),
        (("group", "update", "-g", "atlas", "--vm-keep-alive", "soon"), "field 'vm_defaults.keep_alive'"),
        (("alias", "add", "-g", "atlas", "-an", "west", "-cn", "mars"), "field 'aliases.west'"),
        (("alias", "add", "-g", "atlas", "-an", "West_1", "-cn", "cedar"), "field 'aliases.West_1.[key]'"),
        (("metadata", "load", "-g", "atlas", "-f", "ITEM", "--priority", "first"), "field 'priority'"),
        (("metadata", "load", "-g", "atlas", "-f", "ITEM", "-mn", "bad name"), "field 'name'"),
    ],
)
def test_a_bad_field_is_named_and_nothing_changes(demo_store, tmp_path, argv, field):
    item = tmp_path / "item.yaml"
    item.write_text("a: 1\n")
    before, entries = stored(demo_store)
    code, out, err = run(*(str(item) if a == "ITEM" else a for a in argv))
    assert code == 1 and out == ""
    assert field in err, err
    assert stored(demo_store) == (before, entries)


def stored(engine: Engine) -> tuple[dict, int]:
    """The whole configuration and the number of audit entries."""
    with Session(engine) as s:
        return export_config(s).model_dump(), s.scalar(select(func.count()).select_from(AuditEntry))


VIEWER = Caller(actor="alice", site_operator=False, roles={"atlas": "viewer"})
EDITOR = Caller(actor="alice", site_operator=False, roles={"atlas": "editor", "belle2": "viewer"})


def test_a_viewer_sees_only_their_groups(demo_store):
    code, out, _ = run("group", "list", caller=VIEWER)
    assert code == 0 and [line.split()[0] for line in out.splitlines()[2:]] == ["atlas"]
    assert job_ids(run("job", "list", caller=VIEWER)[1]) == ["a1", "a2", "a3", "a4"]
    assert "ca-west" in run("alias", "list", caller=VIEWER)[1]
    assert "condor-worker.yaml.j2" in run("metadata", "list", caller=VIEWER)[1]
    for argv in (
        ("job", "list", "-g", "belle2"),
        ("group", "defaults", "-g", "belle2"),
        ("alias", "list", "-g", "belle2"),
    ):
        code, out, err = run(*argv, caller=VIEWER)
        assert code == 1 and out == "" and err.strip() == "refused: you have no access to group 'belle2'"


def test_a_viewer_is_refused_every_action_and_nothing_changes(demo_store, tmp_path):
    item = tmp_path / "x.yaml"
    item.write_text("a: 1\n")
    with Session(demo_store) as s:
        entries = s.scalar(select(func.count()).select_from(AuditEntry))
    for argv in (
        ("alias", "add", "-g", "atlas", "-an", "big", "-cn", "cedar"),
        ("alias", "delete", "-g", "atlas", "-an", "ca-west"),
        ("group", "update", "-g", "atlas", "--job-cores", "2"),
        ("metadata", "load", "-g", "atlas", "-f", str(item)),
        ("metadata", "delete", "-g", "atlas", "-mn", "condor-worker.yaml.j2"),
    ):
        code, out, err = run(*argv, caller=VIEWER)
        assert code == 1 and out == "", argv
        assert err.strip() == "refused: you may view group 'atlas' but not change it", argv
    code, _, err = run("metadata", "edit", "-g", "atlas", "-mn", "condor-worker.yaml.j2", caller=VIEWER)
    assert code == 1 and "not change it" in err  # refused before any editor opens
    with Session(demo_store) as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == entries


def test_an_editor_changes_their_group_as_themselves_and_no_other(demo_store):
    code, out, err = run("alias", "add", "-g", "atlas", "-an", "big", "-cn", "cedar", caller=EDITOR)
    assert code == 0, err
    with Session(demo_store) as s:
        actors = set(s.scalars(select(AuditEntry.actor).where(AuditEntry.object_key == "atlas/big/cedar")))
    assert actors == {"alice"}
    code, _, err = run("alias", "add", "-g", "belle2", "-an", "big", "-cn", "melbourne", caller=EDITOR)
    assert code == 1 and "may view group 'belle2' but not change it" in err


def test_reads_and_actions_are_marked_for_the_remote_transport():
    marks = {
        ("alias", "list"): "read",
        ("alias", "add", "-g", "g", "-an", "a", "-cn", "c"): "action",
        ("alias", "update", "-g", "g", "-an", "a", "-cn", "c"): "action",
        ("alias", "delete", "-g", "g", "-an", "a"): "action",
        ("group", "list"): "read",
        ("group", "defaults", "-g", "g"): "read",
        ("group", "update", "-g", "g"): "action",
        ("metadata", "list"): "read",
        ("metadata", "load", "-g", "g", "-f", "x"): "action",
        ("metadata", "delete", "-g", "g", "-mn", "x"): "action",
        ("metadata", "show", "-g", "g", "-mn", "x"): "read",
        ("metadata", "edit", "-g", "g", "-mn", "x"): "action",  # the client runs the editor (show, load)
        ("job", "list"): "read",
    }
    parser = build_parser()
    assert {argv: getattr(parser.parse_args(argv), "remote", None) for argv in marks} == marks


def test_metadata_load_takes_the_text_the_remote_client_sent(demo_store, tmp_path):
    """Through --server the file is on the client: the server's handler gets its text, never the path."""
    args = build_parser().parse_args(
        [
            "metadata",
            "load",
            "-g",
            "atlas",
            "-f",
            str(tmp_path / "on-the-client.sh"),
            "--mime-type",
            "text/x-shellscript",
        ]
    )
    assert args.files == ("file_path",)
    args.out, args.err, args.caller = io.StringIO(), io.StringIO(), EDITOR
    args.uploads = {"file_path": "#!/bin/sh\necho from the client\n"}
    assert execute(args) == 0, args.err.getvalue()
    code, out, _ = run("metadata", "list", "-g", "atlas", caller=EDITOR)
    assert ["atlas", "-", "on-the-client.sh", "yes", "0", "text/x-shellscript", "2"] in [
        line.split() for line in out.splitlines()
    ]


def test_job_list_as_csv_is_the_table_alone(demo_store):
    code, out, _ = run("--csv", "job", "list", "--user", "bob")
    assert code == 0
    assert out.splitlines()[0].startswith("GROUP,JOB,USER,STATUS,CPUS")
    assert sorted(line.split(",")[1] for line in out.splitlines()[1:]) == ["a3", "a4"]
