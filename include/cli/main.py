"""Entry point of the ``cloudscheduler`` command. Each object (config, db, ...) registers its verbs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from include.cli import cloud_cmd, config_cmd, db_cmd, image_cmd, import_cmd, vm_cmd

# The verbs import what they need when they run, so `cloudscheduler --help` answers at once instead of
# loading pandas, the SDKs and the planner.

COMMANDS = (config_cmd, db_cmd, cloud_cmd, vm_cmd, image_cmd, import_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloudscheduler",
        description="Cloud VM provisioning for HTCondor pools. The state database is "
        "CLOUDSCHEDULER_DB_URL (default: SQLite under the checkout).",
    )
    objects = parser.add_subparsers(dest="object", required=True, metavar="OBJECT")
    for module in COMMANDS:
        module.register(objects)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
