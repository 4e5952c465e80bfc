"""Running one parsed command, the same way here and on a server.

``main()`` (this machine) and ``served.serve`` (the plugin's ``POST /api/cli``) both end in
:func:`execute`, so a refusal, a ``SystemExit`` from deep inside a handler and the ``--csv`` choice are
treated identically whichever way the command came in: that is what keeps remote output equal to local.

Each subcommand says whether it may run remotely with ``set_defaults(remote="read"|"action")`` (absent:
only beside the state database), and which of its arguments name a file the *client* reads and sends
(``set_defaults(files=("dest", ...))``; the handler reads it with :func:`input_text`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from include.cli.caller import Refused
from include.cli.io import streams
from include.cli.table import csv_output

READ, ACTION = "read", "action"
REMOTE_KINDS = (READ, ACTION)

# Exit statuses of the command (documented in include/cli/README.md).
OK, FAILED, USAGE, UNREACHABLE = 0, 1, 2, 3


def command_name(args: argparse.Namespace) -> str:
    """``'vm update'``: the words an operator typed, for messages."""
    second = getattr(args, "verb", None) or getattr(args, "kind", None)  # `import` names its kind
    return " ".join(w for w in (getattr(args, "object", None), second) if w)


def remote_kind(args: argparse.Namespace) -> str | None:
    kind = getattr(args, "remote", None)
    return kind if kind in REMOTE_KINDS else None


def execute(args: argparse.Namespace) -> int:
    """Run ``args.handler``; ``Refused`` becomes ``refused: ...`` on ``args.err`` and exit status 1."""
    _, err = streams(args)
    with csv_output(getattr(args, "csv", False)):
        try:
            return int(args.handler(args) or 0)
        except Refused as exc:
            print(f"refused: {exc}", file=err)
            return FAILED
        except SystemExit as exc:  # a handler's "cannot go on" (e.g. the schema is not current)
            if exc.code is None or isinstance(exc.code, int):
                return int(exc.code or 0)
            print(exc.code, file=err)
            return FAILED


def input_text(args: argparse.Namespace, dest: str) -> str:
    """The content of the file named by argument ``dest``: sent by the client when the command runs
    remotely (``args.uploads``), else read here. Raises OSError naming the file when it cannot be read."""
    uploads = getattr(args, "uploads", None) or {}
    if dest in uploads:
        return uploads[dest]
    return Path(getattr(args, dest)).read_text(encoding="utf-8")


def add_csv_to_every_command(parser: argparse.ArgumentParser) -> None:
    """``--csv`` after the verb too (``vm list --csv``), not only before the object. The copies default
    to SUPPRESS so they never undo a ``--csv`` given before the object."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in {id(p): p for p in action.choices.values()}.values():
                add_csv_to_every_command(sub)
            return
    if "--csv" not in parser._option_string_actions:
        parser.add_argument(
            "--csv", action="store_true", default=argparse.SUPPRESS, help="print tables as CSV"
        )
