"""Messages for people and log shippers: stderr, text or JSON lines, never a secret, never a
flood (a value quoted in a message is cut to :data:`QUOTED` characters: :func:`quoted`), never
a control character a terminal would obey (:func:`visible`, which alerts use too).

Text lines read ``ctwatch: error: NCT… (url): not found``; ``--log-format json`` writes one
JSON object per line (``time``, ``level``, ``logger``, ``message``, and ``traceback`` when one
is logged, so a log shipper never sees a traceback's raw lines). APScheduler's own messages
(``ctwatch run``) go the same way. Every value registered with :func:`secret` (passwords,
tokens in webhook or chat URLs) is replaced by ``***`` in every message and traceback,
whichever module logs it, and so is the password of any URL in them (``user:***@host``).

Every URL ctwatch prints (the store, the registry, a webhook) goes through :func:`mask_url`.
"""

from __future__ import annotations

import json
import logging
import re
import reprlib
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ctwatch.limits import QUOTED

LOGGER = "ctwatch"
SCHEDULER_LOGGER = "apscheduler"  # the daemon's scheduler: its warnings, and more at -v
_SECRETS: set[str] = set()
_MASK = "***"
# scheme://user:PASSWORD@ (RFC 3986: no / ? # @ in the user information) and the values of
# query parameters that name a secret (?password=…, &token=…)
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:)[^\s/?#@]*@")
#: what a terminal or mail reader acts on instead of showing: C0 controls but tab and newline,
#: DEL, C1 controls, bidi marks, embeddings, overrides and isolates; and lone surrogates,
#: which no encoding can write
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                        "\u2066-\u2069\ud800-\udfff]")
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = QUOTED
_QUERY_SECRET = re.compile(r"([?&](?:password|passwd|pwd|secret|token|access_token|api_?key|"
                           r"key|sig|signature)=)[^&#\s]*", re.IGNORECASE)


def secret(value: str | None) -> None:
    """Never show this value in a log line."""
    if value and len(value) >= 4:  # too short a value would mask ordinary words
        _SECRETS.add(value)


def visible(text: str) -> str:
    """Text as a person may be shown it: each control character as its escape (ESC as
    ``\x1b``, U+202E as ``\u202e``); tabs and newlines stay. Third-party text (a registry
    title, a server's reply) could otherwise move the cursor, recolour or clear a terminal,
    or reorder what a reader sees."""
    return _INVISIBLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def quoted(value: Any) -> str:
    """``repr(value)`` for a message, cut to about QUOTED characters (a config file can hold a
    value of megabytes, or a long list)."""
    text = _REPR.repr(value)
    return text if len(text) <= QUOTED else text[: QUOTED - 1] + "…"


def key_name(key: Any) -> str:
    """A key of a mapping as a message names it: as written when it is short printable text,
    else :func:`quoted` (a key with a line break or an escape sequence stays on one line)."""
    if isinstance(key, str) and key.isprintable() and len(key) <= QUOTED // 3:
        return key
    return quoted(key)


def mask_url(url: str, *, host_only: bool = False) -> str:
    """A URL as it may be shown: ``postgresql://user:***@host/db``, a secret query value as
    ``***``; ``host_only``: only its scheme, host and port (``https://hooks.example.org/…``,
    for URLs whose path is the token). Text that is no URL is returned as it is, or as "…"
    when ``host_only``."""
    if host_only:
        return _host_only(url)
    return _QUERY_SECRET.sub(rf"\1{_MASK}", _URL_PASSWORD.sub(rf"\1{_MASK}@", url))


def _host_only(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # an unclosed [ of an IPv6 address
        return "…"
    if not parts.scheme or not host:
        return "…"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a port number
        port = ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}/…"


def redact(text: str) -> str:
    """The text with every registered secret, and the credentials of any URL, masked."""
    for value in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(value, _MASK)
    return mask_url(text) if "://" in text else text


class _Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        label = {logging.ERROR: "error: ", logging.WARNING: "warning: "}.get(record.levelno, "")
        text = f"ctwatch: {label}{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return visible(redact(text))


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
