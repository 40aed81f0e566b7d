"""How the local registry reads a list request and answers it cheaply.

The parameters are checked as the registry checks them (one-line text/plain 400s), a page token
is bound to every parameter a follow-up must repeat (reference/ctgov-api.md §2), and what a
query reads of a record (its projection, a date) is derived once per record content, so that a
page of 1,000 projected records costs a few milliseconds once the records are known.
:mod:`ctwatch.replay` serves with it; :mod:`ctwatch.fields` says what the names select.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from ctwatch.fields import DayRange, Selection, day_range, project, selection, value_at

Query = dict[str, list[str]]  # parsed query string, as parse_qs gives it

DEFAULT_PAGE_SIZE = 10  # the API's default when pageSize is not given
MAX_PAGE_SIZE = 1000  # larger values are silently clamped, as upstream
# What queries derived from records (projections, dates) is kept for this many records at most,
# ~0.5 kB each: a benchmark's 100,000 trials fit; past it, everything is derived again.
DERIVED_RECORDS = 250_000
# A page token is bound to every parameter but these: follow-ups must repeat the others (§2).
UNBOUND = ("pageSize", "pageToken", "countTotal")


@dataclass(frozen=True)
class ListQuery:
    """The parameters of a list request, checked."""

    ids: str  # filter.ids as given ("" for none)
    days: DayRange | None  # filter.advanced
    fields: Projection | None
    size: int
    offset: int
    count_total: bool
    bound: str  # every parameter a page token is bound to

    @property
    def results_key(self) -> tuple[str, DayRange | None]:
        """What decides the results (not the page, not the projection)."""
        return self.ids, self.days

    def next_token(self) -> str:
        return token(self.offset + self.size, self.bound)


def list_query(query: Query) -> ListQuery:
    """The list's parameters; ValueError with the registry's one-line 400 text if unusable."""
    try:
        size = min(int(query.get("pageSize", [DEFAULT_PAGE_SIZE])[0]), MAX_PAGE_SIZE)
    except ValueError:
        size = -1
    if size < 1:
        raise ValueError("Invalid value in parameter `pageSize`")
    bound = json.dumps(sorted((key, values) for key, values in query.items()
                              if key not in UNBOUND))
    offset = _offset(query.get("pageToken", [""])[0], bound)
    if offset is None:
        raise ValueError("Invalid value in parameter `pageToken`")
    advanced = " AND ".join(query.get("filter.advanced", []))
    return ListQuery(ids=",".join(query.get("filter.ids", [])),
                     days=day_range(advanced) if "filter.advanced" in query else None,
                     fields=fields_of(query), size=size, offset=offset,
                     count_total=query.get("countTotal") == ["true"], bound=bound)


@dataclass(frozen=True)
class Projection:
    """A ``fields`` selection, and the key what it makes of records is kept under."""

    tree: Selection
    key: str

    def __call__(self, study: Any) -> Any:
        """The projected record as a reply holds it."""
        if study is _UNREADABLE:
            return _UNREADABLE
        try:
            kept = json.dumps(project(study, self.tree), ensure_ascii=False, separators=(",", ":"))
        except (ValueError, RecursionError):  # what json.loads took, json.dumps may not give
            return _UNREADABLE
        # A lone surrogate ("\ud800", which the registry has sent) goes out as that escape.
        return kept.encode("utf-8", "backslashreplace")


def fields_of(query: Query) -> Projection | None:
    """The ``fields`` projection of a query, if any; UnknownField (a ValueError) if unknown."""
    if "fields" not in query:
        return None
    tree = selection(",".join(query["fields"]))
    return Projection(tree, json.dumps(tree, sort_keys=True))


def token(offset: int, bound: str) -> str:
    # Bound to the query: upstream silently gives wrong data for a token reused with other
    # parameters; here that is a 400, so a client bug shows.
    return f"{offset}.{hashlib.sha256(bound.encode()).hexdigest()[:12]}"


def _offset(value: str, bound: str) -> int | None:
    if not value:
        return 0
    offset, _, _digest = value.partition(".")
    if not offset.isdigit() or token(int(offset), bound) != value:
        return None
    return int(offset)


class Derived:
    """What queries read of each record (projections, dates), kept by the record's content.

    Parsing a page of 1,000 real records (7-22 kB) takes 60-110 ms (json.loads, 20-110 µs
    each); finding what was derived from them ~5 ms, mostly hashing the bytes, which a
    benchmark's registry makes anew for each request. A record is parsed at most once per
    request and once per content. Bytes that are not JSON
    (``Registry.publish_raw``) are served as they are and match any filter: their fault must
    show, not hide."""

    def __init__(self, limit: int = DERIVED_RECORDS) -> None:
        self._limit = limit
        self._entries: dict[str, tuple[tuple[int, int], dict[Hashable, Any]]] = {}

    def shown(self, nct_id: str, raw: bytes, fields: Projection | None) -> bytes:
        """The record as a reply holds it: whole, or what ``fields`` keeps of it."""
        if fields is None:
            return raw
        [shown] = self._values(nct_id, raw, {fields.key: fields})
        return raw if shown is _UNREADABLE else shown

    def within(self, nct_id: str, raw: bytes, days: DayRange, fields: Projection | None) -> bool:
        """Whether the record matches ``filter.advanced``."""
        makers: dict[Hashable, Callable[[Any], Any]] = {days.path: partial(_value, days.path)}
        if fields is not None:  # while the record is parsed: most matches go on this page
            makers[fields.key] = fields
        day = self._values(nct_id, raw, makers)[0]
        return day is _UNREADABLE or days.holds(day)

    def _values(self, nct_id: str, raw: bytes,
                makers: Mapping[Hashable, Callable[[Any], Any]]) -> list[Any]:
        """``makers[key](study)`` for each key, for the record ``raw`` of ``nct_id``."""
        stamp = (len(raw), hash(raw))  # with the id: a false match is a 64-bit hash collision
        entry = self._entries.get(nct_id)
        if entry is None or entry[0] != stamp:
            if len(self._entries) >= self._limit:
                self._entries.clear()
            entry = self._entries[nct_id] = (stamp, {})
        known = entry[1]
        missing = [key for key in makers if key not in known]
        if missing:
            study = _loads(raw)
            for key in missing:
                known[key] = makers[key](study)
        return [known[key] for key in makers]


_UNREADABLE: Any = object()  # what is derived from bytes that are not JSON


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _UNREADABLE


def _value(path: str, study: Any) -> Any:
    return _UNREADABLE if study is _UNREADABLE else value_at(study, path)
