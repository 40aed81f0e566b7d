"""How the local registry reads a list request and answers it cheaply.

The parameters are checked as the registry checks them (one-line text/plain 400s), a page token
is bound to every parameter a follow-up must repeat (reference/ctgov-api.md §2), and what a
query reads of a record (a search area's words, a date, a projection) is derived once per
record content, so that a request over 100,000 records the registry already read costs a
dictionary lookup and a test per record. :mod:`ctwatch.replay` serves with it;
:mod:`ctwatch.fields` says what the names select.

Searches (``query.*``, ``filter.advanced``) are Essie expressions, approximated as
:mod:`ctwatch.essie` says. As the spec says, when any ``query.*`` holds only NCT ids, the
filters are ignored.

``filter.overallStatus`` (comma or pipe list), ``filter.geo`` (``distance(lat,lon,50mi)``),
``filter.ids`` and ``sort`` (at most two whole-day pieces, ``:asc`` by default, or
``@relevance``: the registry's order) are read too; ``filter.synonyms`` and ``aggFilters`` are
400s here, not silently ignored.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ctwatch.essie import (
    SELF,
    Expression,
    Facts,
    Test,
    all_of,
    derive,
    geo,
    statuses,
)
from ctwatch.fields import (
    DAY_AREAS,
    PARAM_AREAS,
    QueryError,
    Selection,
    project,
    selection,
)

Query = dict[str, list[str]]  # parsed query string, as parse_qs gives it

DEFAULT_PAGE_SIZE = 10  # the API's default when pageSize is not given
MAX_PAGE_SIZE = 1000  # larger values are silently clamped, as upstream
# What queries derived from records (projections, dates) is kept for this many records at most,
# ~0.5 kB each: a benchmark's 100,000 trials fit; past it, everything is derived again.
DERIVED_RECORDS = 250_000
# What searches read of records is kept for this many distinct contents at most (a record's
# content is its bytes with its own NCT id set aside: clones of one record share it).
DERIVED_CONTENTS = 50_000
# A page token is bound to every parameter but these: follow-ups must repeat the others (§2).
UNBOUND = ("pageSize", "pageToken", "countTotal")
QUERY_PARAMS = tuple(f"query.{param}" for param in PARAM_AREAS)
NOT_READ = ("filter.synonyms", "aggFilters")  # the registry takes them; this one does not
MAX_SORT = 2
_NCT_ONLY = re.compile(r"(?:\s*(?:\bOR\b|[,|])?\s*NCT\d{8}\b)+\s*", re.IGNORECASE)
SELF_BYTES = SELF.encode()
# Facts derived with any other (a record's dates, status and places: a few µs).
CHEAP = (*(f"value:{piece}" for piece in (*DAY_AREAS, "OverallStatus")), "geo")


@dataclass(frozen=True)
class Match:
    """The conditions of a list request but ``filter.ids``: a test, what it reads, its key."""

    test: Test
    names: frozenset[str]
    key: str


@dataclass(frozen=True)
class ListQuery:
    """The parameters of a list request, checked."""

    ids: str  # filter.ids as given ("" for none)
    match: Match | None  # None: every study (of ids)
    order: tuple[tuple[str, bool], ...]  # (fact name, descending) of each sort item
    fields: Projection | None
    size: int
    offset: int
    count_total: bool
    bound: str  # every parameter a page token is bound to

    @property
    def results_key(self) -> tuple[Hashable, ...]:
        """What decides the results (not the page, not the projection)."""
        return self.ids, self.match.key if self.match else None, self.order

    def next_token(self) -> str:
        return token(self.offset + self.size, self.bound)


def list_query(query: Query) -> ListQuery:
    """The list's parameters; ValueError with the registry's one-line 400 text if unusable."""
    refused = next((name for name in NOT_READ if name in query), None)
    if refused:
        raise ValueError(f"`{refused}` is not read by this registry (ctwatch.replay)")
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
    return ListQuery(ids=",".join(query.get("filter.ids", [])), match=match_of(query),
                     order=order_of(query.get("sort")), fields=fields_of(query), size=size,
                     offset=offset, count_total=query.get("countTotal") == ["true"],
                     bound=bound)


def match_of(query: Query) -> Match | None:
    """The conditions of a list request's ``query.*`` and ``filter.*`` (but ids), or None."""
    parts: list[tuple[Test, frozenset[str]]] = []
    searched = {name: " AND ".join(query[name]) for name in QUERY_PARAMS if name in query}
    for name, value in searched.items():
        parts.append(Expression(value, name, PARAM_AREAS[name[6:]]).parse())
    conditions = [*parts]
    if "filter.overallStatus" in query:
        conditions.append(statuses(",".join(query["filter.overallStatus"])))
    if "filter.advanced" in query:
        advanced = " AND ".join(query["filter.advanced"])
        if not advanced.strip():
            raise QueryError("the expression is empty")
        conditions.append(Expression(advanced, "filter.advanced", "BasicSearch").parse())
    if "filter.geo" in query:
        conditions.append(geo(",".join(query["filter.geo"])))
    # "If any query.* holds only NCT ids, filters are ignored" (the spec, reference §2).
    if any(_NCT_ONLY.fullmatch(value) for value in searched.values()):
        conditions = parts
    if not conditions:
        return None
    used = {name: query[name] for name in (*searched, "filter.overallStatus",
                                           "filter.advanced", "filter.geo") if name in query}
    key = json.dumps(sorted(used.items()))
    test, names = all_of(conditions)
    return Match(test, names, key)


def order_of(values: list[str] | None) -> tuple[tuple[str, bool], ...]:
    """The ``sort`` items as (fact name, descending); ``@relevance`` keeps the registry's order."""
    if values is None:
        return ()
    items = [item.strip() for item in re.split(r"[,|]", ",".join(values))]
    if len(items) > MAX_SORT:
        raise ValueError(f"Invalid value in parameter `sort`: at most {MAX_SORT} items")
    order = []
    for item in items:
        piece, _, direction = item.partition(":")
        if piece == "@relevance" and not direction:
            continue
        if piece not in DAY_AREAS or direction not in ("", "asc", "desc"):
            raise ValueError(f"Invalid value in parameter `sort`: `{item}` (sorted here: "
                             f"{', '.join(DAY_AREAS)}, :asc or :desc, or @relevance)")
        order.append((f"value:{piece}", direction == "desc"))
    return tuple(order)


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
    """What queries read of each record (searches' facts, projections), kept by content.

    Parsing a page of 1,000 real records (7-22 kB) takes 60-110 ms (json.loads, 20-110 µs
    each). What a search or a projection reads of a record is derived once per record
    content, the record's own NCT id set aside (clones of a record share it), and found again
    by the registry's stamp of the record, without reading or hashing it. Bytes that are not
    JSON (``Registry.publish_raw``) are served as they are and match any search: their fault
    must show, not hide."""

    def __init__(self, limit: int = DERIVED_RECORDS, contents: int = DERIVED_CONTENTS) -> None:
        self._limit = limit
        self._contents_limit = contents
        self._records: dict[str, tuple[Hashable, Facts]] = {}  # id → (stamp, its facts)
        self._contents: dict[tuple[int, int], Facts] = {}  # content → facts
        self._shown: dict[tuple[str, str], tuple[Hashable, bytes]] = {}  # (id, fields) → …

    def shown(self, nct_id: str, raw: bytes, fields: Projection | None,
              stamp: Hashable = None) -> bytes:
        """The record as a reply holds it: whole, or what ``fields`` keeps of it. ``stamp``:
        the registry's for the record (None: its bytes are hashed instead)."""
        if fields is None:
            return raw
        stamp = (len(raw), hash(raw)) if stamp is None else stamp
        known = self._shown.get((nct_id, fields.key))
        if known is not None and known[0] == stamp:
            return known[1]
        own = nct_id.encode()
        facts = self._facts(own, raw, [f"fields:{fields.key}"], {f"fields:{fields.key}": fields})
        kept = facts.get(f"fields:{fields.key}", _UNREADABLE)
        shown = raw if kept is _UNREADABLE else kept.replace(SELF_BYTES, own)
        if len(self._shown) >= self._limit:
            self._shown.clear()
        self._shown[(nct_id, fields.key)] = (stamp, shown)
        return shown

    def select(self, ids: Iterable[str], stamp: Callable[[str], Hashable],
               record: Callable[[str], bytes | None], match: Match) -> list[str]:
        """The ids whose records pass ``match`` (a record that is not JSON passes)."""
        found = []
        facts_of, names, test = self.facts, match.names, match.test
        for nct_id in ids:
            facts = facts_of(nct_id, stamp(nct_id), record, names)
            if facts is not None and (_UNREADABLE in facts or test(facts, nct_id.lower())):
                found.append(nct_id)
        return found

    def facts(self, nct_id: str, stamp: Hashable, record: Callable[[str], bytes | None],
              names: frozenset[str]) -> Facts | None:
        """The facts ``names`` of a record (None if the registry has no record of that id)."""
        entry = self._records.get(nct_id)
        if entry is not None and entry[0] == stamp and names <= entry[1].keys():
            return entry[1]
        raw = record(nct_id)
        if raw is None:
            return None
        facts = self._facts(nct_id.encode(), raw, names)
        if len(self._records) >= self._limit:
            self._records.clear()
        self._records[nct_id] = (stamp, facts)
        return facts

    def _facts(self, own: bytes, raw: bytes, names: Iterable[str],
               makers: Mapping[str, Callable[[Any], Any]] | None = None) -> Facts:
        """The facts of a record's content, ``names`` derived if missing (``makers``, else
        :func:`derive`), with the cheap ones while the record is parsed."""
        content = raw.replace(own, SELF_BYTES)
        key = (len(content), hash(content))  # a false match is a 64-bit hash collision
        facts = self._contents.get(key)
        if facts is None:
            if len(self._contents) >= self._contents_limit:
                self._contents.clear()
            facts = self._contents[key] = {}
        missing = [name for name in names if name not in facts]
        if missing and _UNREADABLE not in facts:
            study = _loads(content)
            if study is _UNREADABLE:
                facts[_UNREADABLE] = True
                return facts
            for name in [*missing, *(name for name in CHEAP if name not in facts)]:
                maker = makers.get(name) if makers else None
                facts[name] = maker(study) if maker else derive(name, study)
        return facts


_UNREADABLE: Any = object()  # what is derived from bytes that are not JSON


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _UNREADABLE

