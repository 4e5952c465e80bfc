"""Where a handler writes and on whose behalf it acts, with the local defaults filled in.

A handler run by ``main()`` on this machine may find no ``out``/``err``/``caller`` on its ``args``
(the parser does not set them); the remote transport sets all three. ``streams(args)`` fills what is
missing with this process's stdout/stderr and the local site operator (``caller.local_caller``), so
every handler can use ``args.out``, ``args.err`` and ``args.caller`` unconditionally.
"""

from __future__ import annotations

import sys
from typing import TextIO

from include.cli.caller import local_caller


def streams(args) -> tuple[TextIO, TextIO]:
    """``(args.out, args.err)``, after setting any of ``out``, ``err``, ``caller`` that is missing."""
    if getattr(args, "out", None) is None:
        args.out = sys.stdout
    if getattr(args, "err", None) is None:
        args.err = sys.stderr
    if getattr(args, "caller", None) is None:
        args.caller = local_caller()
    return args.out, args.err
