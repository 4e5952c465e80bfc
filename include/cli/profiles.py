"""Where a remote ``cloudscheduler`` finds its server and token: profiles in the user's config directory.

``$XDG_CONFIG_HOME/cloudscheduler/profiles.yaml`` (default ``~/.config/...``), mode 0600 because it holds
bearer tokens, maps a profile name to ``url``, ``username`` and ``token``::

    default: {url: https://cs.example.org, username: alice, token: eyJ...}

``--server`` takes a URL or a profile name; ``--token`` (or ``CS_TOKEN``) overrides the stored token.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

SERVER_ENV, TOKEN_ENV = "CS_SERVER", "CS_TOKEN"
DEFAULT_PROFILE = "default"


class ProfileError(Exception):
    """The profile file or the named profile is missing or unreadable; the message says what to do."""


@dataclass(frozen=True)
class Target:
    url: str  # the Airflow api-server's base URL, no trailing slash
    token: str | None
    profile: str | None  # the profile it came from, if any


def profiles_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cloudscheduler" / "profiles.yaml"


def load() -> dict[str, dict]:
    path = profiles_path()
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ProfileError(f"{path}: expected a mapping of profile name -> {{url, username, token}}")
    return data


def save(profiles: dict[str, dict]) -> Path:
    """Write the file readable by its owner only (created 0600, never briefly wider)."""
    path = profiles_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file with a wider mode is narrowed too
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        yaml.safe_dump(profiles, f, sort_keys=True)
    return path


def is_url(server: str) -> bool:
    return "://" in server


def normal(url: str) -> str:
    return url.rstrip("/")


def resolve(server: str, token: str | None = None) -> Target:
    """The URL and token for ``--server`` (a URL or a profile name); ``token`` overrides the profile's."""
    token = token or os.environ.get(TOKEN_ENV) or None
    profiles = load()
    if is_url(server):
        name = next((n for n, p in profiles.items() if normal(str(p.get("url", ""))) == normal(server)), None)
        stored = profiles.get(name, {}) if name else {}
        return Target(normal(server), token or stored.get("token"), name)
    if server not in profiles:
        raise ProfileError(
            f"no profile '{server}' in {profiles_path()}: give a URL, or run "
            f"'cloudscheduler login --server URL --profile {server} --username NAME'"
        )
    profile = profiles[server]
    if not profile.get("url"):
        raise ProfileError(f"profile '{server}' in {profiles_path()} has no url")
    return Target(normal(str(profile["url"])), token or profile.get("token"), server)
