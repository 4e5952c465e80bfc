"""The remote ``cloudscheduler --server``: an operator at a shell drives a real Airflow api-server with our
plugin, with a viewer's and an editor's token from Airflow's own ``/auth/token``.

Reads print exactly what the same command prints beside the state database; actions work for the
group's editor and are refused for its viewer (naming the group, changing nothing); a viewer of one
group cannot read another; no token, a bad token and the browser's cookie are refused with a message
that says what to do. The unit tests at the end need no server: which command lines may go remote.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import stat
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from include.cli.caller import Caller
from include.cli.main import main
from include.cli.remote import API_PATH, forwarded_argv
from include.cli.served import NotRemote, serve
from include.config import apply_config, parse_document
from include.loop.accounting import account_usage
from include.store import migrate
from include.store.db import get_engine, make_engine, session_scope
from include.store.models import AuditEntry, Cloud, Key, Vm
from tests.config.builders import demo_doc
from tests.plugin import airflow_server
from tests.status import builders as b

GROUP, OTHER = "belle2", "atlas"  # the viewer and the editor are members of belle2 only


def needs_server(test):
    """One api-server start for the module (about 20 s); the unit tests below need none."""
    return pytest.mark.airflow(pytest.mark.slow(test))


def seed(url: str) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    doc = demo_doc()
    doc["users"] = {
        "admin": {"atlas": "editor", "belle2": "editor"},
        "viewer": {GROUP: "viewer"},  # Airflow role viewer: read-only whatever our table says
        "editor": {GROUP: "editor"},  # Airflow role user: may edit DAG runs, so may edit belle2
    }
    now = datetime.now(UTC)
    belle2 = next(g for g in doc["groups"] if g["name"] == GROUP)
    belle2["aliases"] = {"oceania": ["melbourne"]}  # so `alias list` compares rows, not two empty tables
    with session_scope(engine) as s:
        apply_config(s, parse_document(doc), actor="demo")
    with Session(engine) as s:
        for i, state in enumerate(["running", "idle", "starting"]):
            b.vm_row(s, GROUP, "melbourne", state=state, at=now, vm_id=f"melbourne-{i}", cloud_vm_id=f"i-{i}")
        b.vm_row(s, OTHER, "arbutus", state="running", at=now, vm_id="arbutus-0", cloud_vm_id="i-a")
        b.jobs(s, GROUP, 3, status=1, cores=8)
        b.poll(s, f"cloud/{GROUP}/melbourne", now=now)
        s.commit()
    with session_scope(engine) as s:  # usage records, as the loop's accounting leaves them
        account_usage(s, now, [GROUP, OTHER])
        account_usage(s, now + timedelta(minutes=30), [GROUP, OTHER])
    engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from airflow_server.serving(tmp_path_factory, "airflow-remote-cli", seed)


@pytest.fixture(scope="module")
def tokens(server) -> dict[str, str]:
    from include.cli.login_cmd import fetch_token

    return {u: fetch_token(server.url, u, airflow_server.PASSWORDS[u]) for u in ("viewer", "editor")}


@pytest.fixture
def shell(server, tmp_path, monkeypatch):
    """Run ``cloudscheduler ARGS`` in this process as an operator's shell would: (exit, stdout, stderr).
    The local state database is the server's; no profile or token from the environment leaks in."""
    monkeypatch.setenv("CLOUDSCHEDULER_DB_URL", server.state_db_url)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("CS_SERVER", "CS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    get_engine.cache_clear()

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
        return code, out.getvalue(), err.getvalue()

    yield run
    get_engine.cache_clear()


def remote(server, token: str | None, *argv: str) -> list[str]:
    return ["--server", server.url, *(["--token", token] if token else []), *argv]


def db_snapshot(url: str) -> tuple:
    engine = make_engine(url)
    with Session(engine) as s:
        clouds = [(c.group_name, c.name, c.enabled, c.paused) for c in s.scalars(select(Cloud))]
        vms = [(v.vm_id, v.retire_requested_at, v.kill_requested_at, v.manual) for v in s.scalars(select(Vm))]
        audits = s.scalar(select(func.count()).select_from(AuditEntry))
    engine.dispose()
    return sorted(clouds), sorted(vms, key=lambda v: v[0]), audits


READS = [
    ("cloud", "list", "-g", GROUP),
    ("cloud", "status", "-g", GROUP),
    ("--csv", "cloud", "list", "-g", GROUP),
    ("image", "list", "-g", GROUP),
    ("key", "list", "-g", GROUP),
    ("alias", "list", "-g", GROUP),
    ("group", "defaults", "-g", GROUP),
    ("metadata", "list", "-g", GROUP),
    ("metadata", "show", "-g", GROUP, "-mn", "condor-worker.yaml.j2"),
    ("job", "list", "-g", GROUP),
    ("usage", "-g", GROUP, "--vms"),
    ("usage", "-g", GROUP),
]


@needs_server
@pytest.mark.parametrize("user", ["viewer", "editor"])
@pytest.mark.parametrize("argv", READS, ids=[" ".join(a) for a in READS])
def test_a_remote_read_prints_exactly_what_the_local_one_does(shell, server, tokens, user, argv):
    local = shell(*argv)
    assert local[0] == 0 and local[1], local
    assert shell(*remote(server, tokens[user], *argv)) == local


@needs_server
def test_vm_list_remote_equals_local_but_for_the_ticking_age(shell, server, tokens):
    def table(text: str) -> list[dict]:
        return [{k: v for k, v in row.items() if k != "AGE"} for row in csv.DictReader(io.StringIO(text))]

    code, local, _ = shell("vm", "list", "-g", GROUP, "--csv")
    rcode, far, err = shell(*remote(server, tokens["viewer"], "vm", "list", "-g", GROUP, "--csv"))
    assert code == rcode == 0, err
    assert table(far) == table(local)
    assert sorted(r["VM"] for r in table(far)) == ["melbourne-0", "melbourne-1", "melbourne-2"]


@needs_server
def test_csv_output_parses_into_the_groups_clouds(shell, server, tokens):
    code, out, err = shell(*remote(server, tokens["viewer"], "--csv", "cloud", "list"))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["GROUP"], r["CLOUD"]) for r in rows] == [(GROUP, "melbourne"), (GROUP, "flaky")]
    assert rows[0]["LAST POLL"].startswith("ok ")


@needs_server
def test_without_a_group_a_viewer_sees_only_their_groups(shell, server, tokens):
    code, out, _ = shell(*remote(server, tokens["viewer"], "cloud", "list"))
    assert code == 0 and GROUP in out and OTHER not in out


@needs_server
def test_a_viewer_of_one_group_cannot_read_another(shell, server, tokens):
    code, out, err = shell(*remote(server, tokens["viewer"], "cloud", "list", "-g", OTHER))
    assert code == 1 and out == ""
    assert err == f"refused: you have no access to group '{OTHER}'\n"


@needs_server
@pytest.mark.parametrize(
    "argv",
    [
        ("cloud", "update", "-g", GROUP, "-cn", "melbourne", "--paused", "yes"),
        ("vm", "update", "-g", GROUP, "-vo", "retire", "-vh", "melbourne-1"),
    ],
    ids=["cloud update", "vm update"],
)
def test_the_viewer_is_refused_an_action_and_nothing_changes(shell, server, tokens, argv):
    before = db_snapshot(server.state_db_url)
    code, out, err = shell(*remote(server, tokens["viewer"], *argv))
    assert code == 1 and out == ""
    assert f"group '{GROUP}'" in err and err.startswith("refused:")
    assert db_snapshot(server.state_db_url) == before


@needs_server
def test_the_editor_retires_a_vm_and_the_audit_log_names_them(shell, server, tokens):
    argv = ("vm", "update", "-g", GROUP, "-vo", "retire", "-vh", "melbourne-0")
    code, out, err = shell(*remote(server, tokens["editor"], *argv))
    assert code == 0, err
    assert out == "retire melbourne-0\n1 VM(s) marked; the next scheduling run carries it out\n"
    engine = make_engine(server.state_db_url)
    with Session(engine) as s:
        assert s.get(Vm, "melbourne-0").retire_requested_at is not None
        entry = s.scalars(select(AuditEntry).where(AuditEntry.object_key == "melbourne-0")).one()
        assert (entry.actor, entry.action) == ("editor", "vm.retire")
    engine.dispose()


@needs_server
def test_the_editor_pauses_a_cloud_but_not_one_of_another_group(shell, server, tokens):
    code, out, err = shell(
        *remote(server, tokens["editor"], "cloud", "update", "-g", GROUP, "-cn", "flaky", "--paused", "yes")
    )
    assert (code, out) == (0, f"{GROUP}/flaky: pause recorded\n"), err
    before = db_snapshot(server.state_db_url)
    code, _, err = shell(
        *remote(server, tokens["editor"], "cloud", "update", "-g", OTHER, "-cn", "arbutus", "--paused", "yes")
    )
    assert code == 1 and f"group '{OTHER}'" in err
    assert db_snapshot(server.state_db_url) == before
    engine = make_engine(server.state_db_url)
    with Session(engine) as s:
        assert s.get(Cloud, (GROUP, "flaky")).paused and not s.get(Cloud, (OTHER, "arbutus")).paused
    engine.dispose()


@needs_server
def test_key_add_sends_the_local_file_and_the_server_stores_it(shell, server, tokens, tmp_path):
    from include.keys.fingerprints import generate_keypair

    _, public = generate_keypair("laptop@test")
    path = tmp_path / "laptop.pub"
    path.write_text(public + "\n")
    argv = ("key", "add", "-g", GROUP, "-kn", "laptop", "-pk", str(path), "-cl", "melbourne")
    code, out, err = shell(*remote(server, tokens["editor"], *argv))
    assert code == 0, err
    assert "change(s)" in out
    engine = make_engine(server.state_db_url)
    with Session(engine) as s:
        assert s.get(Key, (GROUP, "laptop")).public_key.strip() == public.strip()
    engine.dispose()
    code, listed, _ = shell(*remote(server, tokens["viewer"], "key", "list", "-g", GROUP))
    assert code == 0 and "laptop" in listed and "melbourne" in listed


@needs_server
def test_config_validate_sends_the_file_and_answers_like_local(shell, server, tokens, tmp_path):
    import yaml

    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(demo_doc()))
    local = shell("config", "validate", str(path))
    assert local[0] == 0 and "valid" in local[1]
    assert shell(*remote(server, tokens["viewer"], "config", "validate", str(path))) == local


def editor_script(tmp_path, ran) -> str:
    """An $EDITOR that notes it ran and appends a line to the file it is given."""
    script = tmp_path / "edit.sh"
    script.write_text(f'#!/bin/sh\necho ran >> "{ran}"\necho "# edited remotely" >> "$1"\n')
    script.chmod(0o755)
    return str(script)


@needs_server
def test_metadata_edit_runs_the_editor_here_and_saves_through_the_server(
    shell, server, tokens, tmp_path, monkeypatch
):
    ran = tmp_path / "ran"
    monkeypatch.setenv("VISUAL", editor_script(tmp_path, ran))
    where = ("-g", GROUP, "-mn", "condor-worker.yaml.j2")
    code, _, err = shell(*remote(server, tokens["viewer"], "metadata", "edit", *where))
    assert code == 1 and f"group '{GROUP}'" in err
    assert not ran.exists(), "a viewer is refused before the editor opens"
    code, out, err = shell(*remote(server, tokens["editor"], "metadata", "edit", *where))
    assert code == 0 and ran.read_text() == "ran\n", err
    code, text, _ = shell(*remote(server, tokens["viewer"], "metadata", "show", *where))
    assert code == 0 and text.endswith("# edited remotely\n")
    assert shell("metadata", "show", *where)[1] == text, "the server saved it in the state database"


@needs_server
def test_image_upload_streams_the_local_file_to_the_server_and_prints_what_local_does(
    shell, server, tokens, tmp_path
):
    import hashlib

    from include.cli.image_cmd import uploaded

    image = tmp_path / "worker.img"
    image.write_bytes(bytes(range(256)) * 8192)  # 2 MiB
    argv = ("image", "upload", "-g", GROUP, "-ip", str(image), "-df", "raw", "-cl", "melbourne")
    before = db_snapshot(server.state_db_url)
    code, out, err = shell(*remote(server, tokens["viewer"], *argv))
    assert code == 1 and f"group '{GROUP}'" in err and db_snapshot(server.state_db_url) == before
    cache = server.home / "image-cache"
    assert not [p for p in cache.rglob("*") if p.is_file()], "nothing of the viewer's file was kept"
    code, out, err = shell(*remote(server, tokens["editor"], *argv))
    md5 = hashlib.md5(image.read_bytes()).hexdigest()
    assert code == 0, err
    assert out == uploaded("worker.img", 2 * 1024 * 1024, "raw", md5, False, ["melbourne"]) + "\n"
    code, listed, _ = shell(
        *remote(server, tokens["viewer"], "image", "list", "-g", GROUP, "-in", "worker.img")
    )
    assert code == 0 and "melbourne" in listed and md5 in listed
    assert any(p.stat().st_size == 2 * 1024 * 1024 for p in cache.rglob("*") if p.is_file())


@needs_server
def test_a_group_editor_cannot_probe_other_groups_with_a_whole_configuration(shell, server, tokens, tmp_path):
    """Comparing a whole document with the stored one would answer, change by change, what another group
    has ("no changes" for a right guess): applying whole documents is a site operator's."""
    import yaml

    doc = demo_doc()
    doc["groups"][0]["job_defaults"] = {"cores": 8}  # a guess about atlas, which the editor cannot see
    path = tmp_path / "guess.yaml"
    path.write_text(yaml.safe_dump(doc))
    before = db_snapshot(server.state_db_url)
    code, out, err = shell(*remote(server, tokens["editor"], "config", "apply", "--dry-run", str(path)))
    assert (code, out) == (1, "") and "only a site operator" in err
    assert "atlas" not in err and db_snapshot(server.state_db_url) == before


@needs_server
def test_without_a_token_the_user_is_told_to_log_in(shell, server):
    code, out, err = shell(*remote(server, None, "cloud", "list"))
    assert code == 3 and out == ""
    assert "no token" in err and "cloudscheduler login --server" in err


@needs_server
def test_a_bad_token_is_refused_with_the_login_hint(shell, server):
    code, _, err = shell(*remote(server, "not-a-jwt", "cloud", "list"))
    assert code == 3 and "refused your token" in err and "cloudscheduler login" in err


def post_raw(server, body: bytes, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{server.url}{API_PATH}",
        method="POST",
        data=body,
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@needs_server
def test_the_api_refuses_anonymous_and_cookie_callers(server, tokens):
    body = json.dumps({"argv": ["cloud", "list"]}).encode()
    assert post_raw(server, body, {})[0] == 401
    status, answer = post_raw(server, body, {"Cookie": f"_token={tokens['editor']}"})
    assert status == 401 and "Bearer" in answer["detail"]  # a cross-site post rides on cookies only
    status, answer = post_raw(server, body, {"Authorization": f"Bearer {tokens['viewer']}"})
    assert status == 200 and answer["exit"] == 0 and "melbourne" in answer["stdout"]


@needs_server
def test_the_api_refuses_local_only_commands_by_name(server, tokens):
    auth = {"Authorization": f"Bearer {tokens['editor']}"}
    status, answer = post_raw(server, json.dumps({"argv": ["db", "upgrade"]}).encode(), auth)
    assert status == 400 and "'db upgrade' does not run remotely" in answer["detail"]
    status, answer = post_raw(server, b"[not json", auth)
    assert status == 400


@needs_server
def test_login_stores_a_private_profile_that_later_commands_use(shell, server, tmp_path):
    code, out, err = shell(
        "login",
        "--server",
        server.url,
        "--profile",
        "site",
        "--username",
        "viewer",
        "--password-stdin",
        stdin=airflow_server.PASSWORDS["viewer"] + "\n",
    )
    assert code == 0, err
    path = tmp_path / "config" / "cloudscheduler" / "profiles.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert shell("--server", "site", "cloud", "list", "-g", GROUP) == shell("cloud", "list", "-g", GROUP)
    code, _, err = shell(
        "login", "--server", server.url, "--username", "viewer", "--password-stdin", stdin="wrong\n"
    )
    assert code == 1 and "refused the username or password" in err


# Unit level, no server: which command lines the client and the server refuse, and why.

VIEWER = Caller(actor="v", site_operator=False, may_write=False, roles={GROUP: "viewer"})


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["db", "upgrade"], "'db upgrade'"),
        (["import", "csv2", "--db", "mysql://h/csv2", "--out", "x.yaml"], "'import csv2'"),
        (["key", "generate", "-g", GROUP, "-kn", "k", "-o", "/tmp/k"], "'key generate'"),
        (["image", "upload", "-g", GROUP, "-ip", "/etc/hostname"], "works on your machine"),
        (["login", "--server", "http://x"], "'login'"),
        (["metadata", "edit", "-g", GROUP, "-mn", "condor-worker.yaml.j2"], "works on your machine"),
        (["vm", "update", "-g", GROUP, "-vo", "retire", "-vh", "all", "--actor", "x"], "--actor"),
        (["key", "add", "-g", GROUP, "-kn", "k", "-pk", "/etc/hostname"], "public_key_file"),
    ],
)
def test_the_server_refuses_what_may_not_run_remotely(argv, named):
    with pytest.raises(NotRemote, match=re.escape(named)):
        serve(argv, {}, VIEWER)


def test_usage_errors_and_help_come_back_as_argparse_prints_them():
    answer = serve(["cloud", "bogus"], {}, VIEWER)
    assert answer["exit"] == 2 and "invalid choice: 'bogus'" in answer["stderr"] and answer["stdout"] == ""
    answer = serve(["vm", "--help"], {}, VIEWER)
    assert answer["exit"] == 0 and answer["stdout"].startswith("usage: cloudscheduler vm")


def test_the_client_refuses_a_local_only_command_before_any_network(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["--server", "http://127.0.0.1:9", "--token", "t", "db", "upgrade"])
    assert code == 2 and "'db upgrade' runs only beside the state database" in err.getvalue()


def test_client_options_are_not_forwarded():
    argv = ["--server", "http://h", "--token=abc", "--csv", "vm", "list", "-g", "x", "--csv"]
    assert forwarded_argv(argv) == ["--csv", "vm", "list", "-g", "x", "--csv"]


def test_an_unknown_profile_says_how_to_create_it(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("CS_TOKEN", raising=False)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["--server", "prod", "cloud", "list"])
    assert code == 2 and "no profile 'prod'" in err.getvalue() and "cloudscheduler login" in err.getvalue()
    assert not os.path.exists(tmp_path / "cloudscheduler" / "profiles.yaml")
