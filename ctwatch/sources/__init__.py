"""Input formats: each module reads one kind of registry record into normalized trials.

``parse(raw, source)`` reads bytes of any supported kind, choosing the reader with
``detect(raw)``; every problem is a :class:`ParseError` naming the source.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ctwatch.errors import ParseError
from ctwatch.model import Trial
from ctwatch.sources import api_v2

#: Bump when the parser's output for the same record changes: stored snapshots are then
#: re-parsed from their raw payload before they are compared (see watch.current_snapshot).
PARSER_VERSION = 1

#: kind → (reader of decoded documents, one-line help)
FORMATS: dict[str, tuple[Callable[[Any], list[Trial]], str]] = {
    "api_v2": (api_v2.parse, "API v2 JSON: a study, a list page, or a history-API version"),
}


def detect(raw: bytes) -> str:
    """The format of a record, from its content."""
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head in (b"{", b"["):
        return "api_v2"
    if not head:
        raise ParseError("empty file")
    if head == b"<":
        raise ParseError("XML or HTML records are not supported yet; expected API v2 JSON")
    raise ParseError("not a ClinicalTrials.gov record (expected API v2 JSON)")


def decode(raw: bytes) -> Any:
    """The JSON document in raw bytes."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ParseError(f"not UTF-8 text (byte {error.start}): binary file?") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ParseError(f"invalid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
                         ) from None


def parse(raw: bytes, source: str = "-") -> list[Trial]:
    """Every trial in a saved or fetched record; errors name ``source``."""
    try:
        reader, _ = FORMATS[detect(raw)]
        return reader(decode(raw))
    except ParseError as error:
        raise ParseError(str(error), source=source) from None


def read(source: str) -> list[Trial]:
    """Every trial in a saved record: a file path, or ``-`` for standard input."""
    if source == "-":
        return parse(sys.stdin.buffer.read(), "<stdin>")
    try:
        raw = Path(source).read_bytes()
    except OSError as error:
        raise ParseError(f"cannot read: {error.strerror or error}", source=source) from None
    return parse(raw, source)
