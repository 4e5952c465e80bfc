"""``cloudscheduler --server URL_OR_PROFILE ...``: the same command, run by a server.

The client parses the command line itself (so a typo fails here, at once), refuses what may not run
remotely (``db``, ``import``, ``login``, anything writing a file on the server: a subcommand without
``remote=`` in its defaults), reads the files the command names (``files=`` in its defaults) and posts
``{"argv": [...], "files": {dest: text}}`` with its bearer token to the plugin's ``POST /api/cli``. The
server runs the very same handler as the authenticated user and answers with what it printed and its
exit status, which this prints unchanged and exits with: remote output is local output.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from include.cli import profiles
from include.cli.running import FAILED, UNREACHABLE, USAGE, command_name, remote_kind

PLUGIN_PREFIX = "/cloudscheduler"  # the plugin's URL_PREFIX
API_PATH = f"{PLUGIN_PREFIX}/api/cli"  # + cli_api's route
CLIENT_OPTIONS = ("--server", "--token")  # this side's options: never sent
TIMEOUT_S = 300  # a transfer or a configuration apply can take a while; a read answers in seconds


def forwarded_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--server``/``--token`` and their values (they come before the object)."""
    kept, i = [], 0
    while i < len(argv) and argv[i].startswith("-"):
        word = argv[i]
        if word in CLIENT_OPTIONS:
            i += 2
            continue
        if not word.startswith(tuple(f"{o}=" for o in CLIENT_OPTIONS)):
            kept.append(word)
        i += 1
    return kept + list(argv[i:])


def run(server: str, argv: Sequence[str], args: argparse.Namespace) -> int:
    out, err = args.out, args.err
    if remote_kind(args) is None:
        print(
            f"refused: '{command_name(args)}' runs only beside the state database, not through --server",
            file=err,
        )
        return USAGE
    try:
        target = profiles.resolve(server, getattr(args, "token", None))
    except profiles.ProfileError as exc:
        print(f"error: {exc}", file=err)
        return USAGE
    if not target.token:
        print(
            f"error: no token for {target.url}: run 'cloudscheduler login --server {server} --username NAME' "
            "(or give --token or CS_TOKEN)",
            file=err,
        )
        return UNREACHABLE
    client_side = getattr(args, "client_side", None)
    if client_side is not None:  # `metadata edit`, `image upload`: they run here, around the server's API
        return client_side(Api(server, target, err), args)
    files = {}
    for dest in getattr(args, "files", ()) or ():
        path = Path(getattr(args, dest))
        try:
            files[dest] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"refused: cannot read {path}: {getattr(exc, 'strerror', None) or exc}", file=err)
            return FAILED
    status, body = _post(target, {"argv": forwarded_argv(argv), "files": files})
    if status == 200 and isinstance(body, dict) and isinstance(body.get("exit"), int):
        out.write(body.get("stdout") or "")
        err.write(body.get("stderr") or "")
        return body["exit"]
    return _failure(server, target, status, body, err)


class Api:
    """The server, for a command whose work is partly on this machine (``client_side`` in its defaults):
    more commands, and a file streamed to the Images page's upload."""

    def __init__(self, server: str, target: profiles.Target, err):
        self.server, self.target, self.err = server, target, err

    def command(self, argv: list[str], files: dict) -> tuple[int, str, str]:
        """(exit, stdout, stderr) of ``argv`` on the server; a failure of the call itself included."""
        status, body = _post(self.target, {"argv": argv, "files": files})
        if status == 200 and isinstance(body, dict) and isinstance(body.get("exit"), int):
            return body["exit"], body.get("stdout") or "", body.get("stderr") or ""
        return _failure(self.server, self.target, status, body, self.err), "", ""

    def upload(self, group: str, path: Path, fields: list[tuple[str, str]]) -> tuple[int, object]:
        """POST ``path`` and ``fields`` as the Images page's form does, streamed from the disk (an image
        is gigabytes): (HTTP status, the decoded answer); status 0: the server was not reached."""
        page = f"{self.target.url}{PLUGIN_PREFIX}/groups/{urllib.parse.quote(group)}/images/upload"
        # The page answers a refusal (no right to edit the group) before the body is read, and closes the
        # connection on a sender still streaming gigabytes: ask the page first, which says the same.
        ready = self._get(page)
        if ready[0] != 200:
            return ready
        length, body = multipart(path, fields, BOUNDARY)
        request = urllib.request.Request(
            page,
            method="POST",
            data=body,
            headers={
                "Authorization": f"Bearer {self.target.token}",
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Length": str(length),
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=None) as response:  # as long as the file takes
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _decode(exc.read())
        except OSError as exc:  # cut while sending: refused before the body was read (e.g. too large)
            return (
                0,
                f"the server closed the upload ({getattr(exc, 'reason', None) or exc}): is the file larger than its upload limit?",
            )

    def _get(self, url: str) -> tuple[int, object]:
        headers = {"Authorization": f"Bearer {self.target.token}", "Accept": "application/json"}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S) as r:
                return r.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, _decode(exc.read())
        except OSError as exc:
            return 0, str(getattr(exc, "reason", None) or exc)

    def failed(self, status: int, answer: object) -> int:
        """Say why a call failed (no server, a refused token, ...), as every remote command does."""
        return _failure(self.server, self.target, status, answer, self.err)


BOUNDARY = "cloudscheduler-upload-7f3c2a9e1b"
CHUNK = 1 << 20


def multipart(path: Path, fields: list[tuple[str, str]], boundary: str) -> tuple[int, Iterator[bytes]]:
    """(length, chunks) of a multipart/form-data body: the text fields, then the file as ``file``."""
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'.encode()
        for n, v in fields
    )
    filename = path.name.replace('"', "")
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        with path.open("rb") as f:
            while block := f.read(CHUNK):
                yield block
        yield tail

    return len(head) + path.stat().st_size + len(tail), chunks()


def _post(target: profiles.Target, payload: dict) -> tuple[int, object]:
    """(HTTP status, decoded JSON body or text); status 0 when the server could not be reached."""
    request = urllib.request.Request(
        f"{target.url}{API_PATH}",
        method="POST",
        data=json.dumps(payload).encode(),
        headers={
            "Authorization": f"Bearer {target.token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.status, _decode(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _decode(exc.read())
    except OSError as exc:
        return 0, str(getattr(exc, "reason", None) or exc)


def _decode(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")[:500]


def _failure(server: str, target: profiles.Target, status: int, body: object, err) -> int:
    detail = body.get("detail") if isinstance(body, dict) else body
    if status == 0:
        print(f"error: cannot reach {target.url}: {detail}", file=err)
        return UNREACHABLE
    if status in (401, 403):  # Airflow's: no, expired ("Token Expired") or invalid/revoked token
        print(
            f"error: {target.url} refused your token ({detail}): log in again with "
            f"'cloudscheduler login --server {server}'",
            file=err,
        )
        return UNREACHABLE
    if status == 400:  # the server's refusal of this command line, naming what is wrong
        print(f"refused: {detail}", file=err)
        return USAGE
    if status == 413:
        print(f"refused: {detail}", file=err)
        return FAILED
    print(f"error: {target.url}{API_PATH} answered {status}: {detail}", file=err)
    return UNREACHABLE
