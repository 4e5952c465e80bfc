"""``cloudscheduler db upgrade|downgrade|current``: migrations of our state database;
``db prune-airflow``: retention of Airflow's own run records and task logs."""

from __future__ import annotations

from include.store import migrate
from include.store.db import database_url


def register(objects) -> None:
    parser = objects.add_parser("db", help="migrate the state database")
    verbs = parser.add_subparsers(dest="verb", required=True)
    up = verbs.add_parser("upgrade", help="apply every migration (default: to all heads)")
    up.add_argument("revision", nargs="?", default="heads")
    up.set_defaults(handler=_upgrade)
    down = verbs.add_parser("downgrade", help="revert migrations (default: everything)")
    down.add_argument("revision", nargs="?", default="base")
    down.set_defaults(handler=_downgrade)
    verbs.add_parser("current", help="print the applied revisions").set_defaults(handler=_current)
    prune = verbs.add_parser(
        "prune-airflow", help="delete Airflow's run records and task logs older than N days (default 7)"
    )
    prune.add_argument("--keep-days", type=float)
    prune.set_defaults(handler=_prune_airflow)


def _upgrade(args) -> int:
    migrate.upgrade(revision=args.revision)
    print(f"upgraded {_where()} to {', '.join(sorted(migrate.current_heads())) or '(empty)'}")
    return 0


def _downgrade(args) -> int:
    migrate.downgrade(revision=args.revision)
    print(f"downgraded {_where()} to {', '.join(sorted(migrate.current_heads())) or 'base'}")
    return 0


def _current(_args) -> int:
    heads = migrate.current_heads()
    state = "current" if heads == migrate.script_heads() else "NOT current: run 'cloudscheduler db upgrade'"
    print(f"{_where()}: {', '.join(sorted(heads)) or '(empty)'} ({state})")
    return 0


def _prune_airflow(args) -> int:
    from include.airflow_retention import main

    return main(["--once"] + ([] if args.keep_days is None else ["--keep-days", str(args.keep_days)]))


def _where() -> str:
    url = database_url()
    return url.split("@")[-1] if "@" in url else url  # never print a password
