"""Small documents for configuration tests."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

DEMO = Path(__file__).resolve().parents[2] / "demo" / "config.yaml"


def demo_doc() -> dict:
    return yaml.safe_load(DEMO.read_text())


def minimal_doc() -> dict:
    return {
        "groups": [
            {
                "name": "atlas",
                "pool": {"kind": "htcondor", "collector": "cm.example.org"},
                "aliases": {"west": ["east"]},
                "metadata": [{"name": "base.yaml", "text": "a: 1\n"}],
                "clouds": [
                    {
                        "name": "east",
                        "type": "openstack",
                        "auth_url": "https://keystone.example.org/v3",
                        "connection_id": "os_east",
                        "limits": {"cores_ctl": 100},
                    },
                    {
                        "name": "aws",
                        "type": "amazon",
                        "region": "us-east-1",
                        "connection_id": "aws_main",
                        "spot_price": 0.05,
                    },
                ],
            }
        ]
    }


def with_change(doc: dict, path: list, value) -> dict:
    """A copy of ``doc`` with ``value`` set at ``path`` (keys and list indexes)."""
    doc = copy.deepcopy(doc)
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc
