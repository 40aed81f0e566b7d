"""The one way ctwatch writes a moment: ISO 8601 in UTC, to the second, with a ``Z``
(``2026-01-05T09:00:05Z``), as the store keeps it and feeds and alerts show it."""

from __future__ import annotations

from datetime import UTC, datetime


def stamp(moment: datetime | None = None) -> str:
    """``moment`` (aware; default: now) as stored."""
    when = (moment or datetime.now(UTC)).astimezone(UTC)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")
