"""Input formats: each module reads one kind of registry record into normalized trials.

``parse(raw, source)`` reads bytes of any supported kind, choosing the reader with
``detect(raw)``; every problem is a :class:`ParseError` naming the source. The formats are
API v2 JSON, legacy ``<clinical_study>`` XML, a saved classic study page (HTML) and that
page's text rendering.

Records are third-party input, held to these bounds here:

- a saved record is read up to :data:`MAX_RECORD_BYTES` (64 MB), never further;
- JSON nested deeper than Python's decoder goes (about 1,000 levels), a number of more than
  4,300 digits, and the non-JSON constants NaN and Infinity are a ParseError;
- a lone surrogate escape in JSON (``"\\ud800"``, which no UTF-8 text can hold) is read as
  U+FFFD, the replacement character, so every trial can be printed, stored and compared. The
  other formats cannot carry one: their bytes are decoded strictly.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from ctwatch.errors import ParseError
from ctwatch.limits import MAX_RECORD_BYTES
from ctwatch.model import Trial

#: Bump when the parser's output for the same record changes: stored snapshots are then
#: re-parsed from their raw payload before they are compared (see watch.current_snapshot).
PARSER_VERSION = 4  # 2: issue 11 (dates, enums, surrogates, day ranges, doses checked); 3: issue 14
# (headings, bullets, same-named interventions, thresholds) and issue 16 (oversight, results and
# disposition dates: model schema 2); 4: issue 18 (thresholds' measure codes and units: schema 3)


#: kind → one-line help; the module ctwatch.sources.<kind> reads it (``parse(raw)``), imported
#: only when a record of its kind comes: reading API v2 JSON never loads an HTML parser
FORMATS: dict[str, str] = {
    "api_v2": "API v2 JSON: a study, a list page, or a history-API version",
    "legacy_xml": "legacy <clinical_study> XML (old bulk download, /api/legacy/public-xml/NCT…)",
    "classic_page": "a saved classic study page, ct2/show/NCT… (HTML)",
    "classic_text": "the text of a classic study page, read best effort",
}

_HEAD = 65536  # bytes looked at to tell formats apart
#: how a classic study page (HTML or text) names its trial
NCT_ID = re.compile(r"ClinicalTrials\.gov Identifier:?\s*(NCT[0-9]{8})", re.IGNORECASE)
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
        name = _root_name(text[:_HEAD])
        if name == b"clinical_study" or (text.startswith(b"<?xml") and name != b"html"):
            return "legacy_xml"  # which names any other root element in its error
        return "classic_page"
    if NCT_ID.search(text[:_HEAD].decode("utf-8", "replace")):
        return "classic_text"
    raise ParseError("not a ClinicalTrials.gov record (expected API v2 JSON, legacy XML or "
                     "a classic study page)")


def _root_name(head: bytes) -> bytes:
    """The lower-cased name of the first element in the head of a markup document, comments
    skipped; b"" for none. Linear: each stretch between comments is searched once."""
    position = 0
    while True:
        comment = head.find(b"<!--", position)
        tag = _FIRST_TAG.search(head, position, len(head) if comment == -1 else comment)
        if tag:
            return tag.group(1).lower()
        end = head.find(b"-->", comment + 4) if comment != -1 else -1
        if end == -1:
            return b""
        position = end + 3


def decode(raw: bytes) -> Any:
    """The JSON document in raw bytes, lone surrogates replaced (see the module's doc)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ParseError(f"not UTF-8 text (byte {error.start}): binary file?") from None
    try:
        document = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as error:
        raise ParseError(f"invalid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
                         ) from None
    except RecursionError:
        raise ParseError("invalid JSON: nested too deeply to read") from None
    except ValueError as error:  # a number of more than 4,300 digits
        raise ParseError(f"invalid JSON: {error}".split(";")[0]) from None
    return _without_surrogates(document) if _SURROGATE_ESCAPE.search(text) else document


def _not_json(constant: str) -> None:
    raise ParseError(f"invalid JSON: {constant} is not a JSON value")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # may also be half of a valid pair
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # the decoder joins valid pairs


def _without_surrogates(document: Any) -> Any:
    """The document with every lone surrogate in its strings replaced by U+FFFD, in place."""
    if isinstance(document, str):
        return _LONE_SURROGATE.sub("\ufffd", document)
    pending = [document] if isinstance(document, dict | list) else []
    while pending:  # not recursive: the document may be nested near the decoder's limit
        container = pending.pop()
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, value in list(items):
            if isinstance(value, str):
                container[key] = _LONE_SURROGATE.sub("\ufffd", value)
            elif isinstance(value, dict | list):
                pending.append(value)
    return document


def parse(raw: bytes, source: str = "-") -> list[Trial]:
    """Every trial in a saved or fetched record; errors name ``source``."""
    try:
        kind = detect(raw)
        reader = importlib.import_module(f"ctwatch.sources.{kind}")
        return reader.parse(decode(raw) if kind == "api_v2" else raw)
    except ParseError as error:  # one line, whatever a reader's library said
        raise ParseError(" ".join(str(error).split()), source=source) from None


#: what json.loads lets through and decode refuses or mends: NaN, Infinity, escaped surrogates
_LOOSE_JSON = re.compile(rb"NaN|Infinity|\\u[dD][89a-fA-F]")


def parse_loaded(document: Any, raw: bytes, source: str = "-") -> list[Trial]:
    """:func:`parse` of API v2 JSON ``raw`` that json.loads already made ``document`` of (a
    fetched record), without decoding it a second time."""
    if _LOOSE_JSON.search(raw):  # decode's checks apply: let it decode
        return parse(raw, source)
    reader = importlib.import_module("ctwatch.sources.api_v2")
    try:
        return reader.parse(document)
    except ParseError as error:
        raise ParseError(" ".join(str(error).split()), source=source) from None


def read(source: str) -> list[Trial]:
    """Every trial in a saved record: a file path, or ``-`` for standard input."""
    return parse(load(source), name(source))


def load(source: str) -> bytes:
    """The bytes of a saved record: a file path, or ``-`` for standard input; one larger than
    :data:`MAX_RECORD_BYTES` is a ParseError, read no further (``/dev/zero`` ends)."""
    try:
        if source == "-":
            raw = sys.stdin.buffer.read(MAX_RECORD_BYTES + 1)
        else:
            with Path(source).open("rb") as file:
                raw = file.read(MAX_RECORD_BYTES + 1)
    except OSError as error:
        raise ParseError(f"cannot read: {error.strerror or error}", source=name(source)) from None
    if len(raw) > MAX_RECORD_BYTES:
        raise ParseError(f"larger than {MAX_RECORD_BYTES // 2**20} MB; not a registry record",
                         source=name(source))
    return raw


def name(source: str) -> str:
    """How errors name a source: its path, or <stdin>."""
    return "<stdin>" if source == "-" else source
