"""Running a command line a remote ``cloudscheduler --server`` sent, on behalf of a logged-in user.

The plugin's ``POST /api/cli`` (``plugins/cloudscheduler/cli_api.py``) authenticates the user and calls
:func:`serve`; everything about the command itself is here, beside the handlers, so it is tested
without a web server. The command line is parsed by the same ``build_parser()`` as on the client, but
argparse's messages (``--help``, usage errors) are captured for the answer instead of being printed on
the server's console, and its ``exit`` never ends the server process.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from collections.abc import Mapping, Sequence

from include.cli.caller import Caller
from include.cli.running import ACTION, FAILED, command_name, execute, remote_kind

log = logging.getLogger(__name__)


class NotRemote(Exception):
    """The request may not run remotely (the command, an option, a missing file): answered 400."""


class _ParserExit(Exception):
    def __init__(self, status: int):
        self.status = status


def _capturing_parser(out: io.StringIO, err: io.StringIO) -> type[argparse.ArgumentParser]:
    """An ArgumentParser class (inherited by every subparser) that writes into ``out``/``err`` and
    raises instead of calling ``sys.exit``."""

    class Capturing(argparse.ArgumentParser):
        def _print_message(self, message: str, file=None) -> None:
            if message:
                (out if file is sys.stdout else err).write(message)

        def exit(self, status: int = 0, message: str | None = None):
            if message:
                err.write(message)
            raise _ParserExit(status)

    return Capturing


def serve(argv: Sequence[str], files: Mapping[str, str], caller: Caller) -> dict:
    """``{"stdout", "stderr", "exit"}`` of running ``argv`` as ``caller``; raises NotRemote when the
    command may not run this way (naming the command, the option or the file)."""
    from include.cli.main import build_parser

    out, err = io.StringIO(), io.StringIO()
    try:
        args = build_parser(_capturing_parser(out, err)).parse_args(list(argv))
    except _ParserExit as stop:  # --help, or a usage error with argparse's own message
        return _answer(out, err, stop.status)
    _check(args, files, caller)
    args.out, args.err, args.caller = out, err, caller
    args.served = True  # handlers that would write a file on this machine refuse instead
    args.uploads = {dest: files[dest] for dest in getattr(args, "files", ()) or ()}
    try:
        code = _run(args, caller)
    except Exception:  # a bug must not show a traceback to the user, nor hide from the operator
        log.exception("cloudscheduler %s failed for %s", command_name(args), caller.actor)
        print("error: the command failed on the server; its log has the details", file=err)
        code = FAILED
    return _answer(out, err, code)


def _run(args: argparse.Namespace, caller: Caller) -> int:
    from include.cli.caller import Refused

    if remote_kind(args) == ACTION and getattr(args, "group", None):
        try:  # the door's own check, before the handler (which checks again) runs at all
            caller.require_edit(args.group)
        except Refused as exc:
            print(f"refused: {exc}", file=args.err)
            return FAILED
    return execute(args)


def _check(args: argparse.Namespace, files: Mapping[str, str], caller: Caller) -> None:
    name = command_name(args)
    if remote_kind(args) is None:
        raise NotRemote(f"'{name}' does not run remotely: run it beside the state database")
    if getattr(args, "client_side", None) is not None:
        raise NotRemote(f"'{name}' works on your machine (an editor, a local file): the client runs it")
    if getattr(args, "actor", None) is not None:
        raise NotRemote(
            f"--actor is for local use: remotely the audit log records your login ({caller.actor})"
        )
    for dest in getattr(args, "files", ()) or ():
        if not isinstance(files.get(dest), str):
            raise NotRemote(f"'{name}' needs the text of its file argument '{dest}' in the request's files")


def _answer(out: io.StringIO, err: io.StringIO, code: int) -> dict:
    return {"stdout": out.getvalue(), "stderr": err.getvalue(), "exit": int(code)}
