"""Reading URLs from third-party input (config.yaml, the registry's redirects): one policy for
what makes a URL unusable, without the exceptions ``urllib.parse`` raises only when asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit


def split(value: Any) -> SplitResult | None:
    """The parts of a URL; None for a value that is not text or has an unclosed ``[``."""
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value)
        parts.hostname  # noqa: B018 - raises ValueError for an unclosed [ of an IPv6 address
    except ValueError:
        return None
    return parts


def port_ok(parts: SplitResult) -> bool:
    """Whether the URL's port, if it has one, is a number from 1 to 65535."""
    try:
        return parts.port != 0  # urlsplit checks the port only when asked for it
    except ValueError:
        return False


def http(value: Any) -> SplitResult | None:
    """The parts of an http(s) URL with a host and a usable port; None for anything else."""
    parts = split(value)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts if port_ok(parts) else None


#: PostgreSQL URLs that name no driver get ctwatch's, psycopg 3 (SQLAlchemy's default would be
#: psycopg2); ``postgres://`` is the spelling of Heroku, libpq and many hosting panels
_DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def database_url(target: str) -> str:
    """The SQLAlchemy URL of the ``store:`` setting: a SQLite file path as ``sqlite:///PATH``;
    ``postgresql://`` and ``postgres://`` as ``postgresql+psycopg://``; any other URL as it is."""
    if "://" not in target:
        return f"sqlite:///{Path(target).expanduser()}"
    scheme, rest = target.split("://", 1)
    return f"{_DEFAULT_DRIVERS.get(scheme.lower(), scheme)}://{rest}"
