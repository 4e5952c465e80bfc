"""Reading and writing the configuration document as YAML (stable, diff-friendly output)."""

from __future__ import annotations

from pathlib import Path

import yaml

from include.config.schema import Configuration
from include.config.strict_input import MAX_BYTES
from include.config.validate import ConfigError, Problem, parse_yaml


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Templates and keys stay readable in git: multi-line strings as literal blocks.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(cfg: Configuration) -> str:
    """Defaults are left out, so the file says only what the site chose."""
    doc = cfg.model_dump(mode="json", exclude_defaults=True)
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def load_yaml_file(path: str | Path) -> Configuration:
    """The checked configuration in ``path``; read as bytes, at most a byte over the size cap, so a huge
    or binary file is refused with one line."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError([Problem("", str(path), f"cannot read file: {exc.strerror}")]) from None
    return parse_yaml(data)
