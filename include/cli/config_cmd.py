"""``cloudscheduler config validate|apply|export FILE``: the whole configuration as YAML.

Through ``--server`` the client reads FILE and sends its text. ``apply`` and ``export`` hold every
group's configuration, so they are for site operators (a group editor changes their groups with the
``cloud``, ``alias``, ``group`` and ``metadata`` commands): comparing a whole document with the stored
one would tell anyone else, change by change, what other groups have. ``export`` writes to stdout only
(``-``) remotely.
"""

from __future__ import annotations

from pathlib import Path

from include.cli.caller import Refused
from include.cli.io import streams
from include.cli.running import input_text
from include.config import ConfigError, apply_config, dump_yaml, export_config, load_yaml_file
from include.config.authority import outside_allowance
from include.config.validate import parse_yaml
from include.store import migrate
from include.store.db import session_scope


def register(objects) -> None:
    parser = objects.add_parser("config", help="validate, apply or export the configuration (YAML)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    v = verbs.add_parser("validate", help="check a file; changes nothing")
    v.add_argument("file")
    v.set_defaults(handler=_validate, remote="read", files=("file",))
    a = verbs.add_parser("apply", help="make the stored configuration equal to a file (all or nothing)")
    a.add_argument("file")
    a.add_argument("--actor", help="name recorded in the audit log (local use only; default: cli:LOGIN)")
    a.add_argument("--dry-run", action="store_true", help="show the changes without writing them")
    a.set_defaults(handler=_apply, remote="action", files=("file",))
    e = verbs.add_parser("export", help="write the stored configuration to a file ('-' = stdout)")
    e.add_argument("file")
    e.set_defaults(handler=_export, remote="read")


def _report(args, exc: ConfigError) -> int:
    if len(exc.problems) == 1:
        print(f"configuration refused: {exc.problems[0]}", file=args.err)
        return 1
    print(f"configuration refused ({len(exc.problems)} problems):", file=args.err)
    for problem in exc.problems:
        print(f"  {problem}", file=args.err)
    return 1


def _warn(args, cfg) -> None:
    """What is allowed but should change: clouds whose Connection is outside their group's allowance."""
    for problem in outside_allowance(cfg):
        print(f"warning: {problem}; see the README's 'Credentials belong to groups'", file=args.err)


def _load(args):
    """The checked configuration in FILE: the text the client sent, or the file read here."""
    if getattr(args, "uploads", None):
        return parse_yaml(input_text(args, "file"))
    return load_yaml_file(args.file)


def _require_schema() -> None:
    if not migrate.is_current():
        raise SystemExit("the state database is not at the current schema: run 'cloudscheduler db upgrade'")


def _validate(args) -> int:
    out, _ = streams(args)
    try:
        cfg = _load(args)
    except ConfigError as exc:
        return _report(args, exc)
    _warn(args, cfg)
    clouds = sum(len(g.clouds) for g in cfg.groups)
    print(f"{args.file}: valid ({len(cfg.groups)} groups, {clouds} clouds)", file=out)
    return 0


def _apply(args) -> int:
    out, _ = streams(args)
    args.caller.require_operator(
        "apply a whole configuration (change a group with cloud, alias, group or metadata)"
    )
    _require_schema()
    try:
        cfg = _load(args)
        with session_scope() as session:
            changes = apply_config(session, cfg, actor=args.caller.actor, authority=args.caller.authority())
            if args.dry_run:
                session.rollback()
    except ConfigError as exc:
        return _report(args, exc)
    _warn(args, cfg)
    for change in changes:
        print(change, file=out)
    verb = "would apply" if args.dry_run else "applied"
    print(f"{verb} {len(changes)} change(s)" if changes else "no changes", file=out)
    return 0


def _export(args) -> int:
    out, _ = streams(args)
    args.caller.require_operator("export the whole configuration")
    if args.file != "-" and getattr(args, "served", False):
        raise Refused("a remote export writes to stdout: give '-' as FILE and redirect it")
    _require_schema()
    with session_scope() as session:
        text = dump_yaml(export_config(session))
    if args.file == "-":
        out.write(text)
    else:
        Path(args.file).write_text(text, encoding="utf-8")
        print(f"exported to {args.file}", file=out)
    return 0
