"""``cloudscheduler import csv2 --db URL --out site.yaml``: a csv2 site's configuration as our YAML (for
review, then ``config apply``), its cloud secrets as Airflow Connections, and a report on stderr of
what was dropped and why, what needs an operator, and whether the result validates. ``--dump FILE``
reads a mysqldump of the database instead, through a scratch database on ``--server``."""

from __future__ import annotations

import sys
from pathlib import Path


def register(objects) -> None:
    parser = objects.add_parser("import", help="bring a site over from another scheduler")
    kinds = parser.add_subparsers(dest="kind", required=True)
    c = kinds.add_parser("csv2", help="read a cloudscheduler v2 database (MariaDB)")
    source = c.add_mutually_exclusive_group(required=True)
    source.add_argument("--db", help="the csv2 database, e.g. mysql://csv2:PASSWORD@db.example.org/csv2")
    source.add_argument("--dump", type=Path, help="a mysqldump file of the csv2 database")
    c.add_argument("--server", default="mysql://root@127.0.0.1:3306",
                   help="with --dump: a MariaDB server where a scratch database is made and dropped")  # fmt: skip
    c.add_argument("--out", dest="out_file", required=True, help="where to write our configuration (YAML)")
    c.add_argument("--connections", choices=("create", "skip"), default="create",
                   help="create the clouds' Airflow Connections (default), or leave them to you")  # fmt: skip
    c.set_defaults(handler=_csv2)


def _csv2(args) -> int:
    # Imported here: the CLI answers --help without loading SQLAlchemy's MySQL driver or the validator.
    from include.csv2.reader import Csv2ReadError, loaded_dump, read_csv2

    try:
        if args.dump is not None:
            with loaded_dump(args.dump, args.server) as url:
                tables, notes = read_csv2(url)
        else:
            tables, notes = read_csv2(args.db)
    except Csv2ReadError as exc:
        print(exc, file=sys.stderr)
        return 1
    return _write(args, tables, notes)


def _write(args, tables, notes) -> int:
    import yaml

    from include.config import ConfigError, parse_document
    from include.config.yamlio import dump_yaml
    from include.csv2.importer import import_csv2

    result = import_csv2(tables)
    problems: list[str] = []
    try:
        text = dump_yaml(parse_document(result.document))
    except ConfigError as exc:  # written anyway, for the operator to fix; every problem names its object
        problems = [str(p) for p in exc.problems]
        text = yaml.safe_dump(result.document, sort_keys=False, allow_unicode=True, width=110)
    Path(args.out_file).write_text(text, encoding="utf-8")
    created = _connections(result.connections) if args.connections == "create" else []
    report = [f"wrote {args.out_file}: {len(result.document['groups'])} groups, "
              f"{sum(len(g['clouds']) for g in result.document['groups'])} clouds"]  # fmt: skip
    report += [f"connection {c}: created" for c in created]
    report += [f"connection {c.conn_id}: exists already, kept" for c in result.connections if c.conn_id not in created
               and args.connections == "create"]  # fmt: skip
    report += [f"note: {n}" for n in [*notes, *result.notes]]
    report += [f"dropped: {d}" for d in result.dropped]
    report += [f"does not validate: {p}" for p in problems]
    print("\n".join(report), file=sys.stderr)
    return 1 if problems else 0


def _connections(connections) -> list[str]:
    from include.airflow_glue import save_connection

    return [c.conn_id for c in connections
            if save_connection(c.conn_id, c.conn_type, host=c.host, login=c.login, password=c.password, extra=c.extra)]  # fmt: skip
