"""Messages for people and log shippers: stderr, text or JSON lines, never a secret.

Text lines read ``ctwatch: error: NCT… (url): not found``; ``--log-format json`` writes one
JSON object per line (``time``, ``level``, ``logger``, ``message``, and ``traceback`` when one
is logged, so a log shipper never sees a traceback's raw lines). APScheduler's own messages
(``ctwatch run``) go the same way. Every value registered with :func:`secret` (passwords,
tokens in webhook or chat URLs) is replaced by ``***`` in every message and traceback,
whichever module logs it.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

LOGGER = "ctwatch"
SCHEDULER_LOGGER = "apscheduler"  # the daemon's scheduler: its warnings, and more at -v
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
        text = f"ctwatch: {label}{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return redact(text)


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            fields["traceback"] = redact(self.formatException(record.exc_info))
        return json.dumps(fields, ensure_ascii=False)


def setup(verbosity: int, fmt: str = "text") -> None:
    """Log to stderr: -q (verbosity -1) errors and warnings only, default info, -v debug.
    The scheduler's messages are warnings and errors only, unless -v."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Json() if fmt == "json" else _Text())
    levels = {
        LOGGER: logging.WARNING if verbosity < 0 else
        logging.INFO if verbosity == 0 else logging.DEBUG,
        SCHEDULER_LOGGER: logging.DEBUG if verbosity > 0 else logging.WARNING,
    }
    for name, level in levels.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(level)
