"""``cloudscheduler config validate|apply|export FILE``: the whole configuration as YAML."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from include.config import ConfigError, apply_config, dump_yaml, export_config, load_yaml_file
from include.config.authority import outside_allowance
from include.store import migrate
from include.store.db import session_scope


def register(objects) -> None:
    parser = objects.add_parser("config", help="validate, apply or export the configuration (YAML)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    v = verbs.add_parser("validate", help="check a file; changes nothing")
    v.add_argument("file")
    v.set_defaults(handler=_validate)
    a = verbs.add_parser("apply", help="make the stored configuration equal to a file (all or nothing)")
    a.add_argument("file")
    a.add_argument("--actor", default=f"cli:{getpass.getuser()}", help="name recorded in the audit log")
    a.add_argument("--dry-run", action="store_true", help="show the changes without writing them")
    a.set_defaults(handler=_apply)
    e = verbs.add_parser("export", help="write the stored configuration to a file ('-' = stdout)")
    e.add_argument("file")
    e.set_defaults(handler=_export)


def _report(exc: ConfigError) -> int:
    if len(exc.problems) == 1:
        print(f"configuration refused: {exc.problems[0]}", file=sys.stderr)
        return 1
    print(f"configuration refused ({len(exc.problems)} problems):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _warn(cfg) -> None:
    """What is allowed but should change: clouds whose Connection is outside their group's allowance."""
    for problem in outside_allowance(cfg):
        print(f"warning: {problem}; see the README's 'Credentials belong to groups'", file=sys.stderr)


def _require_schema() -> None:
    if not migrate.is_current():
        raise SystemExit("the state database is not at the current schema: run 'cloudscheduler db upgrade'")


def _validate(args) -> int:
    try:
        cfg = load_yaml_file(args.file)
    except ConfigError as exc:
        return _report(exc)
    _warn(cfg)
    clouds = sum(len(g.clouds) for g in cfg.groups)
    print(f"{args.file}: valid ({len(cfg.groups)} groups, {clouds} clouds)")
    return 0


def _apply(args) -> int:
    _require_schema()
    try:
        cfg = load_yaml_file(args.file)
        with session_scope() as session:
            changes = apply_config(session, cfg, actor=args.actor)
            if args.dry_run:
                session.rollback()
    except ConfigError as exc:
        return _report(exc)
    _warn(cfg)
    for change in changes:
        print(change)
    verb = "would apply" if args.dry_run else "applied"
    print(f"{verb} {len(changes)} change(s)" if changes else "no changes")
    return 0


def _export(args) -> int:
    _require_schema()
    with session_scope() as session:
        text = dump_yaml(export_config(session))
    if args.file == "-":
        sys.stdout.write(text)
    else:
        Path(args.file).write_text(text, encoding="utf-8")
        print(f"exported to {args.file}")
    return 0
