"""Messages for people and log shippers: stderr, text or JSON lines, never a secret.

Text lines read ``ctwatch: error: NCT… (url): not found``; ``--log-format json`` writes one
JSON object per line (``time``, ``level``, ``logger``, ``message``). Every value registered
with :func:`secret` (passwords, tokens in webhook or chat URLs) is replaced by ``***`` in
every message, whichever module logs it.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

LOGGER = "ctwatch"
_SECRETS: set[str] = set()
_MASK = "***"


def secret(value: str | None) -> None:
    """Never show this value in a log line."""
    if value and len(value) >= 4:  # too short a value would mask ordinary words
        _SECRETS.add(value)


def redact(text: str) -> str:
    for value in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(value, _MASK)
    return text


class _Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        label = {logging.ERROR: "error: ", logging.WARNING: "warning: "}.get(record.levelno, "")
        return redact(f"ctwatch: {label}{record.getMessage()}")


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }, ensure_ascii=False)


def setup(verbosity: int, fmt: str = "text") -> None:
    """Log to stderr: -q (verbosity -1) errors and warnings only, default info, -v debug."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Json() if fmt == "json" else _Text())
    root = logging.getLogger(LOGGER)
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.WARNING if verbosity < 0 else
                  logging.INFO if verbosity == 0 else logging.DEBUG)
