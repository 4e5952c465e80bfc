"""``cloudscheduler login --server URL [--profile NAME] --username U``: get a token from the Airflow
api-server (``POST /auth/token``, the same login as the UI's) and keep it in a profile, so later
``cloudscheduler --server NAME ...`` commands run remotely as that user.

The password is asked without echo (or read from stdin with ``--password-stdin``, for scripts) and is
never stored; the token is, in a file only its owner can read (``profiles.py``). Logging in again
replaces the profile's token (tokens expire: Airflow's ``[api_auth] jwt_expiration_time``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from include.cli import profiles
from include.cli.io import streams
from include.cli.running import FAILED, UNREACHABLE, USAGE

TIMEOUT_S = 30


def register(objects) -> None:
    p = objects.add_parser("login", help="log in to a cloudscheduler server and store its token in a profile")
    # SUPPRESS: the global `--server` (before `login`) is kept when this one is not given.
    p.add_argument(
        "--server",
        dest="remote_server",
        default=argparse.SUPPRESS,
        help="the Airflow URL, or an existing profile",
    )
    p.add_argument("--profile", help="profile name to store (default: the --server profile, or 'default')")
    p.add_argument("-u", "--username", help="default: the profile's username")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(handler=_login)  # no `remote`: it runs on this machine only


def _login(args) -> int:
    out, err = streams(args)
    server = getattr(args, "remote_server", None) or os.environ.get(profiles.SERVER_ENV)
    if not server:
        print("login: give --server URL (or set CS_SERVER)", file=err)
        return USAGE
    try:
        stored = profiles.load()
    except profiles.ProfileError as exc:
        print(f"login: {exc}", file=err)
        return USAGE
    if profiles.is_url(server):
        url, name = profiles.normal(server), args.profile or profiles.DEFAULT_PROFILE
    elif server in stored and stored[server].get("url"):
        url, name = profiles.normal(str(stored[server]["url"])), args.profile or server
    else:
        print(f"login: '{server}' is neither a URL nor a profile in {profiles.profiles_path()}", file=err)
        return USAGE
    username = args.username or stored.get(name, {}).get("username")
    if not username:
        print("login: give --username", file=err)
        return USAGE
    host = urllib.parse.urlsplit(url).hostname or ""
    if url.startswith("http://") and host not in ("localhost", "127.0.0.1", "::1"):
        print(
            f"login: warning: {url} is plain HTTP: the password and the token cross the network unencrypted",
            file=err,
        )
    password = (
        sys.stdin.readline().rstrip("\n")
        if args.password_stdin
        else getpass.getpass(f"{username}'s password: ")
    )
    try:
        token = fetch_token(url, username, password)
    except LoginFailed as exc:
        print(f"login: {exc}", file=err)
        return exc.status
    stored[name] = {"url": url, "username": username, "token": token}
    path = profiles.save(stored)
    print(f"logged in to {url} as {username}; token stored in profile '{name}' ({path})", file=out)
    return 0


class LoginFailed(Exception):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def fetch_token(url: str, username: str, password: str) -> str:
    """A JWT from Airflow's ``POST {url}/auth/token`` (JSON username and password -> access_token)."""
    request = urllib.request.Request(
        f"{url}/auth/token",
        method="POST",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise LoginFailed(f"{url} refused the username or password ({exc.code})", FAILED) from None
        raise LoginFailed(f"{url}/auth/token answered {exc.code}: {exc.reason}", UNREACHABLE) from None
    except (OSError, ValueError) as exc:
        raise LoginFailed(f"cannot reach {url}: {getattr(exc, 'reason', exc)}", UNREACHABLE) from None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not token:
        raise LoginFailed(
            f"{url}/auth/token gave no access_token: is this an Airflow 3 api-server?", UNREACHABLE
        )
    return token
