"""Essie, the registry's search expressions (``query.*``, ``filter.advanced``), approximated.

An expression is parsed into a test of a record's facts, and the names of the facts it reads:
``area:<area>`` an area's words, ``value:<piece>`` a piece's first text, ``geo`` the points of
its locations (:func:`derive`). :mod:`ctwatch.replay_query` derives them once per record
content and serves list requests with them.

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
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ctwatch.fields import (
    PIECES,
    QueryError,
    area_pieces,
    day_range,
    texts,
    value_at,
    words,
)
from ctwatch.sources.terms import ENUMS

Facts = dict[str, Any]  # what searches read of one record content, by name
Test = Callable[[Facts, str], bool]  # (facts, the record's own id as a word) → matches
STATUSES = ENUMS["status"]

_LEX = re.compile(r'''\s*(?:
    (?P<quote>"(?:\\.|[^"\\])*")
  | (?P<paren>[()])
  | (?P<op>(?:AREA|SEARCH|EXPANSION|COVERAGE|TILT|RANGE|DISTANCE)\[[^\]]*\])
  | (?P<word>(?:\\.|[^\s()"\\])+)
  | (?P<bad>\S))''', re.VERBOSE)
_NCT_WORD = re.compile(r"nct\d{8}")
_GEO = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(\d+(?:\.\d+)?)\s*"
                  r"(mi|km)\s*", re.IGNORECASE)
COVERAGES = {"Contains": " {} ", "FullMatch": "\n {} \n", "StartsWith": "\n {} ",
             "EndsWith": " {} \n"}
EXPANSIONS = ("None", "Term", "Concept", "Relaxation", "Lossy")
SELF = "ctwatchselfnctid"  # a record's own NCT id, in what its content shares with its clones
_TRUE: tuple[Test, frozenset[str]] = (lambda facts, own: True, frozenset())


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
            return geo(argument, f"`{value}`")
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


def all_of(parts: list[tuple[Test, frozenset[str]]]) -> tuple[Test, frozenset[str]]:
    """Conditions that must all hold, as one (a single condition: itself)."""
    return _joined(parts, _all)


def statuses(value: str) -> tuple[Test, frozenset[str]]:
    """``filter.overallStatus`` (a comma or pipe list): the record's status is one of them."""
    wanted = frozenset(item.strip() for item in re.split(r"[,|]", value))
    unknown = sorted(wanted - STATUSES)
    if unknown:
        raise ValueError(f"Invalid value in parameter `overallStatus`: `{unknown[0]}`")
    name = "value:OverallStatus"
    return (lambda facts, own: facts[name] in wanted), frozenset([name])


def geo(value: str, shown: str | None = None) -> tuple[Test, frozenset[str]]:
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
