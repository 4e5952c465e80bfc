"""The real Keystone 30 and Glance 33 from PyPI, on loopback, for the ``keystone`` test tier and for any
test that needs a real identity service or a real image service (image distribution reuses this).

    from tests.doubles.openstack_real import RealOpenStack
    real = RealOpenStack(tmp_dir).start()       # ~6-8 s from the cached template; first time ~1-2 min
    real.auth_url, real.glance_url             # http://127.0.0.1:<port>/v3, http://127.0.0.1:<port>
    real.user_auth()                           # {auth_url, project_name, username, password, domains}
    real.admin()                               # an openstacksdk Connection as the cloud admin
    real.register_service("compute", "nova", f"{fake.url}/compute/v2.1")   # a fake in the real catalog
    real.validate_token(token)                 # for fakes that check tokens against Keystone
    real.create_application_credential("cs")   # (id, secret) of the project user
    real.stop()

The services run from their own virtualenv (``.venv-openstack/`` under the checkout, or
``$CS_OPENSTACK_VENV``), created on first use from ``openstack_real_requirements.txt``, because their
pins (oslo, SQLAlchemy, eventlet) clash with the project's. SQLite databases and key repositories are
built once into a template inside that venv (keystone-manage costs ~2.5 s per call) and copied per
start; endpoint URLs in the template carry placeholder ports that each start rewrites.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "openstack_real_requirements.txt"
SERVE = HERE / "openstack_real_serve.py"
ADMIN_PASSWORD = "s3cret-admin"
PROJECT, USER, PASSWORD = "htc", "htcsvc", "htc-s3cret-pw"
KEYSTONE_PLACEHOLDER, GLANCE_PLACEHOLDER = "127.0.0.1:1/", "127.0.0.1:2"

KEYSTONE_CONF = """[DEFAULT]
log_file = {d}/keystone.log
[database]
connection = sqlite:///{d}/keystone.db
[identity]
password_hash_rounds = 4
[token]
provider = fernet
[fernet_tokens]
key_repository = {d}/fernet-keys
[fernet_receipts]
key_repository = {d}/fernet-keys
[credential]
key_repository = {d}/credential-keys
"""

GLANCE_CONF = """[DEFAULT]
enabled_backends = fs:file
log_file = {d}/glance-api.log
worker_self_reference_url = http://127.0.0.1:9292
[database]
connection = sqlite:///{d}/glance.db
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = {d}/images/
[os_glance_staging_store]
filesystem_store_datadir = {d}/staging/
[os_glance_tasks_store]
filesystem_store_datadir = {d}/tasks/
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:{kport}
auth_url = http://127.0.0.1:{kport}
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = glance
password = glance-s3cret
[paste_deploy]
flavor = keystone
config_file = {venv}/etc/glance/glance-api-paste.ini
"""


def venv_dir() -> Path:
    return Path(os.environ.get("CS_OPENSTACK_VENV", ROOT / ".venv-openstack"))


def ensure_venv(venv: Path | None = None) -> Path:
    """The OpenStack venv, created and installed if missing or stale; returns it."""
    venv = venv or venv_dir()
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    stamp = venv / ".cs-requirements"
    if stamp.exists() and stamp.read_text() == want:
        return venv
    base_python = getattr(sys, "_base_executable", None) or sys.executable
    _run([base_python, "-m", "venv", "--clear", str(venv)])
    _run([str(venv / "bin/pip"), "install", "-q", "-r", str(REQUIREMENTS)])
    stamp.write_text(want)
    return venv


def _run(cmd: list[str], **kw) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:3])} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    return done.stdout


def _write_confs(d: Path, venv: Path, kport: int | str) -> None:
    for sub in ("images", "staging", "tasks"):
        (d / sub).mkdir(exist_ok=True)
    (d / "keystone.conf").write_text(KEYSTONE_CONF.format(d=d))
    (d / "glance-api.conf").write_text(GLANCE_CONF.format(d=d, kport=kport, venv=venv))


def _patch_endpoints(d: Path, placeholder: str, real: str) -> None:
    with sqlite3.connect(d / "keystone.db") as db:
        db.execute("UPDATE endpoint SET url = replace(url, ?, ?)", (placeholder, real))


class _Service:
    """One service process (serve script in the OpenStack venv), stopped by its own PID."""

    def __init__(self, venv: Path, which: str, d: Path):
        log = open(d / f"{which}.stderr", "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [str(venv / "bin/python"), str(SERVE), which, str(d)],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=d,
        )
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"{which} did not start; see {d / f'{which}.stderr'} and its log file")
        self.port = int(line)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _manage(venv: Path, d: Path, *args: str) -> None:
    _run([str(venv / "bin/keystone-manage"), "--config-file", str(d / "keystone.conf"), *args])


def build_template(venv: Path, d: Path) -> None:
    """Databases, keys and the accounts every start needs, with placeholder ports in the catalog."""
    d.mkdir(parents=True)
    _write_confs(d, venv, kport=1)
    me = [
        "--keystone-user",
        os.getlogin() if hasattr(os, "getlogin") and _has_tty() else _user(),
        "--keystone-group",
        _group(),
    ]
    _manage(venv, d, "db_sync")
    _manage(venv, d, "fernet_setup", *me)
    _manage(venv, d, "credential_setup", *me)
    url = f"http://{KEYSTONE_PLACEHOLDER}v3/"
    _manage(
        venv,
        d,
        "bootstrap",
        "--bootstrap-password",
        ADMIN_PASSWORD,
        "--bootstrap-region-id",
        "RegionOne",
        "--bootstrap-admin-url",
        url,
        "--bootstrap-public-url",
        url,
        "--bootstrap-internal-url",
        url,
    )
    _run([str(venv / "bin/glance-manage"), "--config-file", str(d / "glance-api.conf"), "db_sync"])
    keystone = _Service(venv, "keystone", d)
    try:
        _patch_endpoints(d, KEYSTONE_PLACEHOLDER, f"127.0.0.1:{keystone.port}/")
        _accounts(_connect(f"http://127.0.0.1:{keystone.port}/v3", "admin", ADMIN_PASSWORD, "admin"))
    finally:
        keystone.stop()
    _patch_endpoints(d, f"127.0.0.1:{keystone.port}/", KEYSTONE_PLACEHOLDER)


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _group() -> str:
    import grp

    return grp.getgrgid(os.getgid()).gr_name


def _has_tty() -> bool:
    return False  # os.getlogin() needs a controlling terminal; CI has none


def _accounts(admin) -> None:
    member = admin.identity.find_role("member")
    admin_role = admin.identity.find_role("admin")
    service = admin.identity.create_project(name="service", domain_id="default")
    glance = admin.identity.create_user(name="glance", password="glance-s3cret", domain_id="default")
    admin.identity.assign_project_role_to_user(service, glance, admin_role)
    image = admin.identity.create_service(type="image", name="glance")
    for interface in ("public", "internal", "admin"):
        admin.identity.create_endpoint(
            service_id=image.id,
            interface=interface,
            region_id="RegionOne",
            url=f"http://{GLANCE_PLACEHOLDER}",
        )
    project = admin.identity.create_project(name=PROJECT, domain_id="default")
    user = admin.identity.create_user(
        name=USER, password=PASSWORD, domain_id="default", default_project_id=project.id
    )
    admin.identity.assign_project_role_to_user(project, user, member)


def _connect(auth_url: str, username: str, password: str, project: str):
    import openstack.config
    from openstack.connection import Connection

    region = openstack.config.get_cloud_region(
        load_yaml_config=False,
        load_envvars=False,
        auth_type="password",
        region_name="RegionOne",
        auth={
            "auth_url": auth_url,
            "username": username,
            "password": password,
            "project_name": project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
    )
    return Connection(config=region)


class RealOpenStack:
    """Keystone and Glance, started from the cached template in ``workdir``."""

    def __init__(self, workdir: Path, venv: Path | None = None):
        self.workdir = Path(workdir)
        self.venv = venv or venv_dir()
        self.services: list[_Service] = []
        self._tokens: dict[str, tuple[bool, float]] = {}
        self._admin = None

    def start(self) -> RealOpenStack:
        venv = ensure_venv(self.venv)
        key = hashlib.sha256((REQUIREMENTS.read_text() + KEYSTONE_CONF + GLANCE_CONF).encode()).hexdigest()[
            :12
        ]
        template = venv / f"template-{key}"
        if not template.exists():
            partial = venv / f"template-{key}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            build_template(venv, partial)
            partial.rename(template)
        d = self.workdir
        shutil.copytree(template, d, dirs_exist_ok=True)
        _write_confs(d, venv, kport=1)  # the template's confs name the template's paths
        keystone = self._serve("keystone")
        _patch_endpoints(d, KEYSTONE_PLACEHOLDER, f"127.0.0.1:{keystone.port}/")
        _write_confs(d, venv, kport=keystone.port)
        glance = self._serve("glance")
        _patch_endpoints(d, GLANCE_PLACEHOLDER, f"127.0.0.1:{glance.port}")
        self.keystone_port, self.glance_port = keystone.port, glance.port
        return self

    def _serve(self, which: str) -> _Service:
        service = _Service(self.venv, which, self.workdir)
        self.services.append(service)
        return service

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.keystone_port}/v3"

    @property
    def glance_url(self) -> str:
        return f"http://127.0.0.1:{self.glance_port}"

    def user_auth(self) -> dict:
        return {
            "auth_url": self.auth_url,
            "project_name": PROJECT,
            "username": USER,
            "password": PASSWORD,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
            "region_name": "RegionOne",
        }

    def admin(self):
        if self._admin is None:
            self._admin = _connect(self.auth_url, "admin", ADMIN_PASSWORD, "admin")
        return self._admin

    def user(self):
        return _connect(self.auth_url, USER, PASSWORD, PROJECT)

    def register_service(self, service_type: str, name: str, url: str) -> None:
        """Put a (fake) service in the real catalog, replacing an earlier one of that type."""
        admin = self.admin()
        for old in admin.identity.services(type=service_type):
            for ep in admin.identity.endpoints(service_id=old.id):
                admin.identity.delete_endpoint(ep)
            admin.identity.delete_service(old)
        svc = admin.identity.create_service(type=service_type, name=name)
        for interface in ("public", "internal", "admin"):
            admin.identity.create_endpoint(
                service_id=svc.id, interface=interface, region_id="RegionOne", url=url
            )

    def validate_token(self, token: str) -> bool:
        """Whether Keystone accepts ``token`` (cached 30 s, as keystonemiddleware caches)."""
        known = self._tokens.get(token)
        if known and time.monotonic() - known[1] < 30:
            return known[0]
        req = urllib.request.Request(
            f"{self.auth_url}/auth/tokens",
            headers={"X-Auth-Token": self.admin().session.get_token(), "X-Subject-Token": token},
        )
        try:
            ok = urllib.request.urlopen(req, timeout=10).status == 200
        except urllib.error.HTTPError:
            ok = False
        self._tokens[token] = (ok, time.monotonic())
        return ok

    def create_application_credential(self, name: str) -> tuple[str, str]:
        conn = self.user()
        user_id = conn.session.get_user_id()
        cred = conn.identity.create_application_credential(user=user_id, name=name)
        return cred.id, cred.secret

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()
