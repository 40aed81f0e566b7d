"""Input formats: each module reads one kind of registry record into normalized trials.

``parse(raw, source)`` reads bytes of any supported kind, choosing the reader with
``detect(raw)``; every problem is a :class:`ParseError` naming the source. The formats are
API v2 JSON, legacy ``<clinical_study>`` XML, a saved classic study page (HTML) and that
page's text rendering.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ctwatch.errors import ParseError
from ctwatch.model import Trial
from ctwatch.sources import api_v2, classic_page, classic_text, legacy_xml

#: Bump when the parser's output for the same record changes: stored snapshots are then
#: re-parsed from their raw payload before they are compared (see watch.current_snapshot).
PARSER_VERSION = 1


def _api_v2(raw: bytes) -> list[Trial]:
    return api_v2.parse(decode(raw))


#: kind → (reader of a record's bytes, one-line help)
FORMATS: dict[str, tuple[Callable[[bytes], list[Trial]], str]] = {
    "api_v2": (_api_v2, "API v2 JSON: a study, a list page, or a history-API version"),
    "legacy_xml": (legacy_xml.parse, "legacy <clinical_study> XML (old bulk download, "
                   "/api/legacy/public-xml/NCT…)"),
    "classic_page": (classic_page.parse, "a saved classic study page, ct2/show/NCT… (HTML)"),
    "classic_text": (classic_text.parse, "the text of a classic study page, read best effort"),
}

_HEAD = 65536  # bytes looked at to tell formats apart
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_FIRST_TAG = re.compile(rb"<([A-Za-z_][\w.:-]*)")


def detect(raw: bytes) -> str:
    """The format of a record, from its content."""
    text = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    head = text[:1]
    if head in (b"{", b"["):
        return "api_v2"
    if not head:
        raise ParseError("empty file")
    if head == b"<":
        tag = _FIRST_TAG.search(_COMMENT.sub(b"", text[:_HEAD]))
        name = tag.group(1).lower() if tag else b""
        if name == b"clinical_study" or (text.startswith(b"<?xml") and name != b"html"):
            return "legacy_xml"  # which names any other root element in its error
        return "classic_page"
    if classic_page.NCT_ID.search(text[:_HEAD].decode("utf-8", "replace")):
        return "classic_text"
    raise ParseError("not a ClinicalTrials.gov record (expected API v2 JSON, legacy XML or "
                     "a classic study page)")


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
        return reader(raw)
    except ParseError as error:
        raise ParseError(str(error), source=source) from None


def read(source: str) -> list[Trial]:
    """Every trial in a saved record: a file path, or ``-`` for standard input."""
    return parse(load(source), name(source))


def load(source: str) -> bytes:
    """The bytes of a saved record: a file path, or ``-`` for standard input."""
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise ParseError(f"cannot read: {error.strerror or error}", source=source) from None


def name(source: str) -> str:
    """How errors name a source: its path, or <stdin>."""
    return "<stdin>" if source == "-" else source
