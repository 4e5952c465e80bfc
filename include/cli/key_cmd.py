"""``cloudscheduler key list|add|generate|update|delete``: the keys x clouds matrix (F7). Changes go
through the configuration (validated, audited); the cs_keys DAG imports and deletes the keypairs.

Through ``--server`` the client reads ``add``'s public key file and sends its text; ``generate`` runs
only here, because the private key it makes must never leave the machine that asked for it."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from include.cli.io import streams
from include.cli.running import input_text
from include.cli.table import render
from include.config import ConfigError
from include.store.db import session_scope
from include.store.models import Key, KeyPlacement, KeyTarget


def register(objects) -> None:
    parser = objects.add_parser("key", help="the keys x clouds matrix: list, add, generate, update, delete")
    verbs = parser.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list", help="each key on each cloud: present, conflict, error, unsupported")
    ls.add_argument("-g", "--group", required=True)
    ls.set_defaults(handler=_list, remote="read")
    add = _verb(verbs, "add", "add a public key (from a file) and the clouds it must be on", _add)
    add.add_argument("-pk", "--public-key-file", required=True, type=Path)
    add.set_defaults(remote="action", files=("public_key_file",))
    gen = _verb(
        verbs, "generate", "make a new ED25519 keypair: private key to a file, public key added", _generate
    )
    gen.add_argument("-o", "--private-key-file", required=True, type=Path, help="written with mode 0600")
    gen.set_defaults(remote=None)  # the private key is written here, never sent
    _verb(verbs, "update", "set the clouds a key must be on", _update)
    _verb(verbs, "delete", "forget a key: cs_keys deletes the keypairs it imported", _delete, clouds=False)


def _verb(verbs, name: str, text: str, handler, clouds: bool = True):
    p = verbs.add_parser(name, help=text)
    p.add_argument("-g", "--group", required=True)
    p.add_argument("-kn", "--key-name", required=True)
    if clouds:
        p.add_argument("-cl", "--cloud-list", help="comma list of clouds (empty string: none)")
    p.add_argument("--actor", help="name for the audit log (local use only; default: cli:LOGIN)")
    p.set_defaults(handler=handler, remote="action")
    return p


def _clouds(args) -> list[str] | None:
    text = getattr(args, "cloud_list", None)
    return None if text is None else [c.strip() for c in text.split(",") if c.strip()]


def _apply(args, change) -> int:
    out, err = streams(args)
    args.caller.require_edit(args.group)
    try:
        with session_scope() as s:
            changes = change(s)
    except (ConfigError, KeyError) as exc:
        problems = getattr(exc, "problems", None) or [exc.args[0] if exc.args else exc]
        print("refused:", *(f"  {p}" for p in problems), sep="\n", file=err)
        return 1
    print(f"{len(changes)} change(s); the next cs_keys run makes the clouds match", file=out)
    return 0


def _list(args) -> int:
    out, _ = streams(args)
    args.caller.require_view(args.group)
    with session_scope() as s:
        keys = {k.name: k for k in s.scalars(select(Key).where(Key.group_name == args.group))}
        ticks = set(
            s.execute(
                select(KeyTarget.key_name, KeyTarget.cloud_name).where(KeyTarget.group_name == args.group)
            )
        )
        placed = {
            (p.key_name, p.cloud_name): p
            for p in s.scalars(select(KeyPlacement).where(KeyPlacement.group_name == args.group))
        }
    rows = []
    for name, cloud in sorted(ticks | set(placed)):
        p = placed.get((name, cloud))
        state = p.state if p else "wanted"
        rows.append(
            (
                name,
                cloud,
                state if (name, cloud) in ticks else f"{state} (unticked)",
                p.placed_by_us if p else None,
                p.fingerprint if p else keys[name].fingerprint,
                p and p.message,
            )
        )
    print(render(("KEY", "CLOUD", "STATE", "OURS", "FINGERPRINT", "MESSAGE"), rows), file=out)
    return 0


def _add(args) -> int:
    from include.keys.config import set_key

    _, err = streams(args)
    args.caller.require_edit(args.group)
    try:
        public_key = input_text(args, "public_key_file").strip()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"refused: {exc}", file=err)
        return 1
    return _apply(
        args,
        lambda s: set_key(s, args.group, args.key_name, args.caller.actor, public_key, _clouds(args) or []),
    )


def _generate(args) -> int:
    from include.keys.config import set_key
    from include.keys.fingerprints import generate_keypair

    out, err = streams(args)
    args.caller.require_edit(args.group)
    private, public = generate_keypair(f"{args.key_name}@cloudscheduler")
    try:
        fd = os.open(args.private_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:  # never overwrite a private key
        print(f"refused: {exc}", file=err)
        return 1
    with os.fdopen(fd, "w") as f:
        f.write(private)
    print(f"private key written to {args.private_key_file}\n{public}", file=out)
    return _apply(
        args,
        lambda s: set_key(s, args.group, args.key_name, args.caller.actor, public, _clouds(args) or []),
    )


def _update(args) -> int:
    from include.keys.config import set_key

    _, err = streams(args)
    if _clouds(args) is None:
        print("refused: give --cloud-list (an empty string removes the key from every cloud)", file=err)
        return 1
    return _apply(
        args, lambda s: set_key(s, args.group, args.key_name, args.caller.actor, clouds=_clouds(args))
    )


def _delete(args) -> int:
    from include.keys.config import remove_key

    return _apply(args, lambda s: remove_key(s, args.group, args.key_name, args.caller.actor))
