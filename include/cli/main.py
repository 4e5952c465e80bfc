"""Entry point of the ``cloudscheduler`` command. Each object (config, db, ...) registers its verbs.

Without ``--server`` (or ``CS_SERVER``) a command runs here, on the state database, as the local site
operator; with it, ``remote.run`` sends it to the server's plugin, which runs the same handler as the
logged-in user (``include/cli/README.md``, "Remote use").
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from include.cli import (
    alias_cmd,
    cloud_cmd,
    config_cmd,
    db_cmd,
    group_cmd,
    image_cmd,
    import_cmd,
    job_cmd,
    login_cmd,
    metadata_cmd,
    usage_cmd,
    vm_cmd,
)
from include.cli.caller import Caller, local_caller
from include.cli.io import streams
from include.cli.profiles import SERVER_ENV, TOKEN_ENV
from include.cli.running import add_csv_to_every_command, execute

# The verbs import what they need when they run, so `cloudscheduler --help` answers at once instead of
# loading pandas, the SDKs and the planner.

COMMANDS = (
    config_cmd,
    db_cmd,
    cloud_cmd,
    vm_cmd,
    image_cmd,
    import_cmd,
    alias_cmd,
    group_cmd,
    metadata_cmd,
    job_cmd,
    usage_cmd,
    login_cmd,
)


def build_parser(
    parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    parser = parser_class(
        prog="cloudscheduler",
        allow_abbrev=False,  # `--tok X` would be --token to argparse yet be forwarded to the server
        description="Cloud VM provisioning for HTCondor pools. The state database is "
        "CLOUDSCHEDULER_DB_URL (default: SQLite under the checkout).",
    )
    parser.add_argument("--csv", action="store_true", help="print tables as CSV")
    parser.add_argument(
        "--server",
        dest="remote_server",
        metavar="URL_OR_PROFILE",
        help=f"run on this server (an Airflow URL or a profile: see 'login'); env {SERVER_ENV}",
    )
    parser.add_argument(
        "--token", help=f"bearer token for --server (default: the profile's); env {TOKEN_ENV}"
    )
    objects = parser.add_subparsers(dest="object", required=True, metavar="OBJECT")
    for module in COMMANDS:
        module.register(objects)
    add_csv_to_every_command(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    streams(args)  # args.out/err: this process's stdout/stderr
    server = args.remote_server or os.environ.get(SERVER_ENV)
    if server and args.object != "login":
        from include.cli import remote

        return remote.run(server, argv, args)
    actor = getattr(args, "actor", None)  # --actor: a local run's audit name; remotely it is the login
    args.caller = Caller(actor=actor) if actor else local_caller()
    return execute(args)


if __name__ == "__main__":
    sys.exit(main())
