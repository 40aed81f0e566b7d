"""How the local registry reads a list request and answers it cheaply.

The parameters are checked as the registry checks them (one-line text/plain 400s), a page token
is bound to every parameter a follow-up must repeat (reference/ctgov-api.md §2), and what a
query reads of a record (a search area's words, a date, a projection) is derived once per
record content, so that a request over 100,000 records the registry already read costs a
dictionary lookup and a test per record. :mod:`ctwatch.replay` serves with it;
:mod:`ctwatch.fields` says what the names select.

Searches (``query.*``, ``filter.advanced``) are Essie expressions, approximated:

- Terms side by side, or joined by ``AND``, must all match; ``OR`` either; ``NOT`` excludes;
  parentheses group; ``NOT`` and ``AREA[…]`` bind tighter than ``AND``, ``AND`` than ``OR``.
  Operators are upper-case words; ``\\`` makes the next character plain.
- A word matches case-insensitively, accents dropped, split at punctuation (``COVID-19`` is the
  phrase ``covid 19``; ``_`` is part of a word, so ``ACTIVE_NOT_RECRUITING`` is one), with
  possessive ``'s`` and plural ``-s``/``-ies`` dropped: the registry's "Term" expansion. Its
  synonyms ("Concept": ``heart attack`` finding ``myocardial infarction``) are not known here.
- Unquoted words may match in different fields of the area, as the registry's default
  "Relaxation" lets them; the words of a "quoted phrase" must follow each other in one value.
- ``query.<param>`` searches its area's pieces (:data:`ctwatch.fields.SEARCH_AREAS`, as the
  registry lists them); ``filter.advanced``'s bare words search BasicSearch, as ``query.term``.
  ``AREA[name]`` takes any area or piece of :mod:`ctwatch.fields` (another is a 400);
  ``COVERAGE[FullMatch|StartsWith|EndsWith|Contains]`` is read; ``EXPANSION``, ``TILT`` and
  ``SEARCH`` are accepted and change nothing (``SEARCH[Location](…)`` does not keep its terms
  to one location: broader). ``RANGE[from,to]`` reads whole-day pieces, ``MISSING`` an area
  without words, ``ALL`` every study, ``DISTANCE[lat,lon,25mi]`` LocationGeoPoint.
- As the spec says, when any ``query.*`` holds only NCT ids, the filters are ignored.

``filter.overallStatus`` (comma or pipe list), ``filter.geo`` (``distance(lat,lon,50mi)``),
``filter.ids`` and ``sort`` (at most two whole-day pieces, ``:asc`` by default, or
``@relevance``: the registry's order) are read too; ``filter.synonyms`` and ``aggFilters`` are
400s here, not silently ignored.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ctwatch.fields import (
    DAY_AREAS,
    PARAM_AREAS,
    PIECES,
    QueryError,
    Selection,
    area_pieces,
    day_range,
    project,
    selection,
    texts,
    value_at,
    words,
)
from ctwatch.sources.terms import ENUMS

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
STATUSES = ENUMS["status"]
MAX_SORT = 2

Facts = dict[str, Any]  # what searches read of one record content, by name
Test = Callable[[Facts, str], bool]  # (facts, the record's own id as a word) → matches


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
        conditions.append(_statuses(",".join(query["filter.overallStatus"])))
    if "filter.advanced" in query:
        advanced = " AND ".join(query["filter.advanced"])
        if not advanced.strip():
            raise QueryError("the expression is empty")
        conditions.append(Expression(advanced, "filter.advanced", "BasicSearch").parse())
    if "filter.geo" in query:
        conditions.append(_geo(",".join(query["filter.geo"])))
    # "If any query.* holds only NCT ids, filters are ignored" (the spec, reference §2).
    if any(_NCT_ONLY.fullmatch(value) for value in searched.values()):
        conditions = parts
    if not conditions:
        return None
    used = {name: query[name] for name in (*searched, "filter.overallStatus",
                                           "filter.advanced", "filter.geo") if name in query}
    key = json.dumps(sorted(used.items()))
    if len(conditions) == 1:
        return Match(conditions[0][0], conditions[0][1], key)
    return Match(_all([test for test, _ in conditions]),
                 frozenset().union(*(names for _, names in conditions)), key)


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


# -- Essie, approximated (the module's docstring) ---------------------------------------------

_LEX = re.compile(r'''\s*(?:
    (?P<quote>"(?:\\.|[^"\\])*")
  | (?P<paren>[()])
  | (?P<op>(?:AREA|SEARCH|EXPANSION|COVERAGE|TILT|RANGE|DISTANCE)\[[^\]]*\])
  | (?P<word>(?:\\.|[^\s()"\\])+)
  | (?P<bad>\S))''', re.VERBOSE)
_NCT_WORD = re.compile(r"nct\d{8}")
_NCT_ONLY = re.compile(r"(?:\s*(?:\bOR\b|[,|])?\s*NCT\d{8}\b)+\s*", re.IGNORECASE)
_GEO = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(\d+(?:\.\d+)?)\s*"
                  r"(mi|km)\s*", re.IGNORECASE)
COVERAGES = {"Contains": " {} ", "FullMatch": "\n {} \n", "StartsWith": "\n {} ",
             "EndsWith": " {} \n"}
EXPANSIONS = ("None", "Term", "Concept", "Relaxation", "Lossy")
SELF = "ctwatchselfnctid"  # a record's own NCT id, in what its content shares with its clones
SELF_BYTES = SELF.encode()
_TRUE: tuple[Test, frozenset[str]] = (lambda facts, own: True, frozenset())
# Facts derived with any other (a record's dates, status and places: a few µs).
CHEAP = (*(f"value:{piece}" for piece in (*DAY_AREAS, "OverallStatus")), "geo")


@dataclass(frozen=True)
class _Context:
    area: str  # the area or piece a term searches
    coverage: str = "Contains"


class Expression:
    """One parameter's Essie expression, parsed into a test of a record's facts."""

    def __init__(self, text: str, param: str, area: str) -> None:
        self._param = param
        self._area = area
        self._tokens = [(match.lastgroup or "", match.group(match.lastgroup or 0))
                        for match in _LEX.finditer(text) if match.lastgroup]
        self._at = 0

    def parse(self) -> tuple[Test, frozenset[str]]:
        """The test and the names of the facts it reads; QueryError if it cannot be read."""
        if not self._tokens:
            return _TRUE
        parsed = self._or(_Context(self._area))
        if self._at < len(self._tokens):
            raise self._error(f"unexpected `{self._tokens[self._at][1]}`")
        return parsed

    def _error(self, reason: str) -> QueryError:
        return QueryError(reason, self._param)

    def _peek(self, *values: str) -> bool:
        return self._at < len(self._tokens) and self._tokens[self._at][1] in values

    def _or(self, context: _Context) -> tuple[Test, frozenset[str]]:
        parts = [self._and(context)]
        while self._peek("OR"):
            self._at += 1
            parts.append(self._and(context))
        return _joined(parts, _any)

    def _and(self, context: _Context) -> tuple[Test, frozenset[str]]:
        parts = [self._unary(context)]
        while self._at < len(self._tokens) and not self._peek(")", "OR"):
            self._at += self._peek("AND")
            parts.append(self._unary(context))
        return _joined(parts, _all)

    def _unary(self, context: _Context) -> tuple[Test, frozenset[str]]:
        if self._at >= len(self._tokens):
            raise self._error("the expression ends where a term is expected")
        kind, value = self._tokens[self._at]
        self._at += 1
        if kind == "bad":
            raise self._error("a quotation mark is not closed" if value == '"'
                              else f"unexpected `{value}`")
        if kind == "paren":
            if value == ")":
                raise self._error("unexpected `)`")
            inner = self._or(context)
            if not self._peek(")"):
                raise self._error("a parenthesis is not closed")
            self._at += 1
            return inner
        if kind == "op":
            return self._operator(value, context)
        if kind == "quote":
            return _term(context, words(_plain(value[1:-1])))
        if value == "NOT":
            test, names = self._unary(context)
            return (lambda facts, own: not test(facts, own)), names
        if value in ("AND", "OR"):
            raise self._error(f"`{value}` needs a term on each side")
        if value == "MISSING":
            name = f"area:{context.area}"
            return (lambda facts, own: not facts[name].tokens), frozenset([name])
        if value == "ALL":
            return _TRUE
        return _term(context, words(_plain(value)))

    def _operator(self, value: str, context: _Context) -> tuple[Test, frozenset[str]]:
        operator, _, argument = value[:-1].partition("[")
        if operator == "AREA":
            area = argument.strip()
            if area_pieces(area) is None:
                raise self._error(f"Unknown area name `{area}` (here: the areas and pieces "
                                  "of ctwatch.fields)")
            return self._unary(replace(context, area=area))
        if operator == "COVERAGE" and argument in COVERAGES:
            return self._unary(replace(context, coverage=argument))
        if ((operator == "EXPANSION" and argument in EXPANSIONS)
                or (operator == "SEARCH" and argument in ("Study", "Location"))
                or (operator == "TILT" and argument in PIECES)):
            return self._unary(context)
        if operator == "RANGE":
            ends = argument.split(",")
            if len(ends) != 2:
                raise self._error(f"RANGE takes two values: `{argument}`")
            try:
                days = day_range(context.area, *ends)
            except QueryError as error:
                raise self._error(error.reason) from None
            name = f"value:{context.area}"
            return (lambda facts, own: days.holds(facts[name])), frozenset([name])
        if operator == "DISTANCE" and context.area == "LocationGeoPoint":
            return _geo(argument, f"`{value}`")
        raise self._error(f"`{value}` is not read here")


def _plain(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _term(context: _Context, found: list[str]) -> tuple[Test, frozenset[str]]:
    """A word or phrase in the context's area; no words (punctuation alone): every study."""
    if not found:
        return _TRUE
    name = f"area:{context.area}"
    names = frozenset([name])
    own_words = any(_NCT_WORD.fullmatch(word) for word in found)
    if len(found) == 1 and context.coverage == "Contains":
        word = found[0]
        if own_words:
            return (lambda facts, own: (SELF if word == own else word) in facts[name].tokens), names
        return (lambda facts, own: word in facts[name].tokens), names
    pattern = COVERAGES[context.coverage]

    def test(facts: Facts, own: str) -> bool:
        phrase = [SELF if word == own else word for word in found] if own_words else found
        area = facts[name]
        return area.tokens.issuperset(phrase) and pattern.format(" ".join(phrase)) in area.text

    return test, names


def _joined(parts: list[tuple[Test, frozenset[str]]],
            combine: Callable[[list[Test]], Test]) -> tuple[Test, frozenset[str]]:
    if len(parts) == 1:
        return parts[0]
    return combine([test for test, _ in parts]), frozenset().union(*(n for _, n in parts))


def _all(tests: list[Test]) -> Test:
    return lambda facts, own: all(test(facts, own) for test in tests)


def _any(tests: list[Test]) -> Test:
    return lambda facts, own: any(test(facts, own) for test in tests)


def _statuses(value: str) -> tuple[Test, frozenset[str]]:
    wanted = frozenset(item.strip() for item in re.split(r"[,|]", value))
    unknown = sorted(wanted - STATUSES)
    if unknown:
        raise ValueError(f"Invalid value in parameter `overallStatus`: `{unknown[0]}`")
    name = "value:OverallStatus"
    return (lambda facts, own: facts[name] in wanted), frozenset([name])


def _geo(value: str, shown: str | None = None) -> tuple[Test, frozenset[str]]:
    """``distance(lat,lon,50mi)`` (filter.geo) or its inside (DISTANCE[…]): within the radius."""
    inside = value.strip()
    if shown is None:
        inside = inside[9:-1] if inside.startswith("distance(") and inside.endswith(")") else ""
    match = _GEO.fullmatch(inside)
    if not match:
        raise ValueError(f"Invalid value in parameter `geo`: `{value}`") if shown is None \
            else QueryError(f"{shown} is not a distance (lat,lon,25mi)")
    lat, lon = math.radians(float(match[1])), math.radians(float(match[2]))
    radius = float(match[3]) * (1.609344 if match[4].lower() == "mi" else 1.0)

    def within(facts: Facts, own: str) -> bool:
        return any(_km(lat, lon, there) <= radius for there in facts["geo"])

    return within, frozenset(["geo"])


def _km(lat: float, lon: float, there: tuple[float, float]) -> float:
    """Great-circle distance (haversine, km) to a point given in radians."""
    a = (math.sin((there[0] - lat) / 2) ** 2
         + math.cos(lat) * math.cos(there[0]) * math.sin((there[1] - lon) / 2) ** 2)
    return 2 * 6371.0088 * math.asin(math.sqrt(min(1.0, a)))


# -- what searches read of a record ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AreaText:
    """An area's words: as a set, and as text (one line per value, words spaced) for phrases."""

    tokens: frozenset[str]
    text: str


def derive(name: str, study: Any) -> Any:
    """The fact ``name`` of a study: ``area:<area>`` its words, ``value:<piece>`` its first text
    (None if none), ``geo`` its locations' points (radians)."""
    kind, _, what = name.partition(":")
    if kind == "area":
        lines = [" ".join(words(text)) for piece in area_pieces(what) or ()
                 for text in texts(study, PIECES[piece])]
        return AreaText(frozenset(" ".join(lines).split()),
                        "\n" + "\n".join(f" {line} " for line in lines) + "\n")
    if kind == "value":
        found = texts(study, PIECES[what])
        return found[0] if found else None
    points = []
    for location in _list(value_at(study, "protocolSection.contactsLocationsModule.locations")):
        point = location.get("geoPoint") if isinstance(location, dict) else None
        lat, lon = (point.get("lat"), point.get("lon")) if isinstance(point, dict) else (0, 0)
        if isinstance(lat, int | float) and isinstance(lon, int | float) and point:
            points.append((math.radians(lat), math.radians(lon)))
    return tuple(points)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


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

