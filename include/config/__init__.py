"""The configuration model (F1): typed schema, validation, YAML in and out, apply as one transaction."""

from include.config.apply import Change, apply_config, export_config
from include.config.schema import Configuration
from include.config.validate import ConfigError, Problem, parse_document, parse_yaml
from include.config.yamlio import dump_yaml, load_yaml_file

__all__ = [
    "Change",
    "ConfigError",
    "Configuration",
    "Problem",
    "apply_config",
    "dump_yaml",
    "export_config",
    "load_yaml_file",
    "parse_document",
    "parse_yaml",
]
