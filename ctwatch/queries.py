"""A search of the registry, as config.yaml describes it or as a pasted search page URL says it.

A :class:`SearchQuery` holds the API v2 ``query.*`` and ``filter.*`` parameters of a search
(reference/ctgov-api.md §2): :func:`search_query` builds one from config.yaml's ``query:`` and
``filter:`` mappings, :func:`from_url` from a registry search page URL. Either refuses, with a
ValueError naming the key and the fix, anything it cannot translate exactly: a watch broader
than the user's search would alert on trials the user never asked about, and a narrower one
would miss some.

What a pasted URL may hold (``https://clinicaltrials.gov/search?…``; ``http://``, ``www.``, the
classic ``/ct2/results?…`` and the API's own ``/api/v2/studies?…`` too):

| URL parameter | becomes |
| --- | --- |
| `cond` `term` `intr` `titles` `outc` `spons` `lead` `id` `locn` | `query.` + the same name |
| `aggFilters=status:rec not` (the codes below) | `filter.overallStatus` |
| `firstPost` `lastUpdPost` `resFirstPost` `start` `primComp` `studyComp` | `filter.advanced` |
| `country` (alone, or with `locStr` naming the same country) | `query.locn` |
| `viewType` `page` `limit` `sort` | nothing: how results show, not which |
| API URL: `query.*`, `filter.*` but `filter.ids`, `postFilter.*` | the same parameter |
| API URL: `format` `markupFormat` `fields` `pageSize` `pageToken` `countTotal` `sort` | nothing |

Status codes: `rec` RECRUITING, `not` NOT_YET_RECRUITING, `act` ACTIVE_NOT_RECRUITING, `enr`
ENROLLING_BY_INVITATION, `com` COMPLETED, `sus` SUSPENDED, `ter` TERMINATED, `wit` WITHDRAWN,
`unk` UNKNOWN; expanded access: `ava` AVAILABLE, `nla` NO_LONGER_AVAILABLE, `tna`
TEMPORARILY_NOT_AVAILABLE, `afm` APPROVED_FOR_MARKETING. A date window `from_to` (either side
may be empty) becomes ``AREA[StudyFirstPostDate]RANGE[from,to]`` (MIN, MAX for an empty side;
the pieces StudyFirstPostDate, LastUpdatePostDate, ResultsFirstPostDate, StartDate,
PrimaryCompletionDate, CompletionDate), several joined with AND; a country
``AREA[LocationCountry]"<country>"``.

Refused, by name: a place picked from the location box (`locStr` with `state`, `city`, or
alone; `lat`, `lng`, `distance`) — the page searches a radius around it that the URL does
not fully say: write ``filter: {geo: distance(lat,lon,50mi)}`` or ``query: {locn: …}``; every
other `aggFilters` facet (`phase`, `studyType`, `sex`, `ages`, `healthy`, `results`,
`funderType`, `docs`, `violation`) — write its ``filter.advanced`` expression
(``AREA[Phase]PHASE3``); `ageRange`; the classic site's status and facet codes (`recrs`,
`phase`, `type`, …); any parameter not listed above.

The status codes are the search page's own (its script, as read by other clients, and
checked against the live API for the first nine); WITHHELD has none. The link back to the
search page (:attr:`SearchQuery.page_url`) writes a search the page has no box for
(``query.patient``, ``filter.geo``, a status without a code, any other ``filter.advanced``)
into its ``term`` box as the equivalent expression; ``filter.synonyms`` cannot be written
there, so that link shows a broader search.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from ctwatch.sources.terms import ENUMS

#: The ``query.*`` search areas of the API, prefix dropped.
QUERY_AREAS = ("cond", "term", "locn", "titles", "intr", "outc", "spons", "lead", "id", "patient")
#: The ``filter.*`` parameters a search may use (``filter.ids`` is a list of trials: ``trials:``).
FILTERS = ("overallStatus", "advanced", "geo", "synonyms")
#: The registry's Status enum (reference §5).
STATUSES = tuple(sorted(ENUMS["status"]))

SEARCH_PAGE = "https://clinicaltrials.gov/search"
HOSTS = ("clinicaltrials.gov", "www.clinicaltrials.gov", "classic.clinicaltrials.gov")
# The search page's status codes (aggFilters=status:…), in the order the page lists them.
SITE_STATUSES = {
    "rec": "RECRUITING", "not": "NOT_YET_RECRUITING", "act": "ACTIVE_NOT_RECRUITING",
    "enr": "ENROLLING_BY_INVITATION", "com": "COMPLETED", "sus": "SUSPENDED",
    "ter": "TERMINATED", "wit": "WITHDRAWN", "unk": "UNKNOWN", "ava": "AVAILABLE",
    "nla": "NO_LONGER_AVAILABLE", "tna": "TEMPORARILY_NOT_AVAILABLE",
    "afm": "APPROVED_FOR_MARKETING",
}
STATUS_CODES = {status: code for code, status in SITE_STATUSES.items()}
# The search page's date windows (``firstPost=2024-01-01_2024-06-30``) and their pieces.
DATE_WINDOWS = {"firstPost": "StudyFirstPostDate", "lastUpdPost": "LastUpdatePostDate",
                "resFirstPost": "ResultsFirstPostDate", "start": "StartDate",
                "primComp": "PrimaryCompletionDate", "studyComp": "CompletionDate"}
# The search areas the search page has a box for, under the same name.
PAGE_AREAS = ("cond", "term", "intr", "titles", "outc", "spons", "lead", "id", "locn")
PAGE_ONLY = ("viewType", "page", "limit", "sort")  # how results are shown, not which
API_ONLY = ("format", "markupFormat", "fields", "pageSize", "pageToken", "countTotal", "sort")
CLASSIC_AREAS = ("cond", "term", "intr", "titles", "outc", "spons", "lead", "id")

_COUNTRY = re.compile(r'AREA\[LocationCountry\]"([^"]*)"')
_WINDOW = re.compile(r"AREA\[(\w+)\]RANGE\[(\d{4}-\d{2}-\d{2}|MIN),(\d{4}-\d{2}-\d{2}|MAX)\]")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_NCT_ONLY = re.compile(r"(?:\s*(?:\bOR\b|[,|])?\s*NCT\d{8}\b)+\s*", re.IGNORECASE)
_GEO = re.compile(r"distance\(\s*(-?\d{1,3}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*,"
                  r"\s*(\d+(?:\.\d+)?)\s*(mi|km)\s*\)", re.IGNORECASE)
_SYNONYMS = re.compile(r"\w+:\d+(?:,\w+:\d+)*")


@dataclass(frozen=True)
class SearchQuery:
    """A registry search: its ``query.*`` and ``filter.*`` parameters, prefix dropped, each
    sorted by key, values as the API takes them."""

    query: tuple[tuple[str, str], ...]
    filter: tuple[tuple[str, str], ...]

    @property
    def params(self) -> tuple[tuple[str, str], ...]:
        """The API parameters: ``("query.cond", "multiple myeloma")``, ``("filter.overallStatus",
        "RECRUITING,NOT_YET_RECRUITING")``."""
        return (*((f"query.{key}", value) for key, value in self.query),
                *((f"filter.{key}", value) for key, value in self.filter))

    @property
    def whole_registry(self) -> bool:
        """No query and no filter: every study of the registry."""
        return not self.query and not self.filter

    @property
    def key(self) -> str:
        """The definition as canonical text: two configs meaning the same search have the
        same key (the order of statuses does not count; whitespace runs are one space)."""
        filters = dict(self.filter)
        if "overallStatus" in filters:
            filters["overallStatus"] = ",".join(sorted(filters["overallStatus"].split(",")))
        return json.dumps({"query": dict(self.query), "filter": filters}, sort_keys=True,
                          ensure_ascii=False, separators=(",", ":"))

    @property
    def page_url(self) -> str:
        """The registry's own search page for this search, for people (the link in alerts)."""
        query, filters = dict(self.query), dict(self.filter)
        params: list[tuple[str, str]] = []
        terms = [f"AREA[PatientSearch]({query['patient']})"] if "patient" in query else []
        country = _COUNTRY.fullmatch(query.get("locn", ""))
        if country:
            params += [("locStr", country[1]), ("country", country[1])]
        params += [(area, query[area]) for area in PAGE_AREAS
                   if area in query and area != "term" and not (area == "locn" and country)]
        statuses = filters["overallStatus"].split(",") if "overallStatus" in filters else []
        if all(status in STATUS_CODES for status in statuses):
            codes = " ".join(STATUS_CODES[status] for status in statuses)
            params += [("aggFilters", f"status:{codes}")] if codes else []
        else:
            terms.append(f"AREA[OverallStatus]({' OR '.join(statuses)})")
        if "advanced" in filters:
            windows = _windows(filters["advanced"])
            params += windows if windows is not None else []
            terms += [filters["advanced"]] if windows is None else []
        if "geo" in filters:
            terms.append(f"AREA[LocationGeoPoint]DISTANCE[{filters['geo'][9:-1]}]")
        term = _joined([query["term"]] if "term" in query else [], terms)
        params += [("term", term)] if term else []
        return SEARCH_PAGE + ("?" + urlencode(params, quote_via=_quote) if params else "")


def search_query(query: Mapping[str, Any] | None,
                 filter: Mapping[str, Any] | None = None) -> SearchQuery:
    """The search config.yaml describes: ``query`` (``{cond: multiple myeloma}``) and
    ``filter`` (``{overallStatus: [RECRUITING]}``), API v2 names without their prefix.
    ValueError naming the offending key and the fix."""
    areas = _checked_keys("query", query, QUERY_AREAS, "search area")
    filters = _checked_keys("filter", filter, FILTERS, "filter")
    found = {key: _text(f"query.{key}", value) for key, value in areas.items()}
    chosen = {key: _filter(key, value) for key, value in filters.items()}
    ids_only = [key for key, value in found.items() if _NCT_ONLY.fullmatch(value)]
    if ids_only and chosen:
        first = next(iter(chosen))
        raise ValueError(f"filter.{first}: the registry ignores every filter when query."
                         f"{ids_only[0]} holds only NCT ids; list those trials under trials: "
                         "instead, or search by words")
    return SearchQuery(tuple(sorted(found.items())), tuple(sorted(chosen.items())))


def from_url(url: str) -> SearchQuery:
    """The search a pasted registry search URL describes (the module's table says which
    parameters are read); ValueError naming any parameter that is not translated."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError as error:
        raise ValueError(f"url: not a URL ({error})") from None
    if parts.scheme.lower() not in ("http", "https") or host not in HOSTS:
        raise ValueError("url: not a clinicaltrials.gov search URL; paste the address of a "
                         "search results page (https://clinicaltrials.gov/search?cond=…)")
    pairs = _pairs(parts.query)
    path = parts.path.rstrip("/") or "/"
    if path in ("/search", "/expert-search"):
        return _from_page(pairs)
    if path == "/ct2/results":
        return _from_classic(pairs)
    if path == "/api/v2/studies":
        return _from_api(pairs)
    raise ValueError(f"url: {path} is not a search page; paste the address of a search "
                     "results page (https://clinicaltrials.gov/search?cond=…)")


# -- config values ----------------------------------------------------------------------------


def _checked_keys(kind: str, given: Mapping[str, Any] | None, known: tuple[str, ...],
                  what: str) -> dict[str, Any]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise ValueError(f"{kind}: expected a mapping of {what}s ({known[0]}: …), got "
                         f"{_type(given)}")
    for key in given:
        if key not in known:
            hint = "; list trials under trials: instead" if key == "ids" else ""
            close = difflib.get_close_matches(str(key), known, n=1)
            guess = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"{kind}.{key}: unknown {what}{guess}{hint}; one of "
                             f"{', '.join(known)}")
    return dict(given)


def _filter(key: str, value: Any) -> str:
    name = f"filter.{key}"
    if key == "overallStatus":
        return _statuses(value)
    text = _text(name, value)
    if key == "geo":
        match = _GEO.fullmatch(text)
        if not match or abs(float(match[1])) > 90 or abs(float(match[2])) > 180:
            raise ValueError(f"{name}: expected distance(latitude,longitude,radius) with the "
                             "radius in mi or km, e.g. distance(39.0035,-77.1013,50mi)")
        return f"distance({match[1]},{match[2]},{match[3]}{match[4].lower()})"
    if key == "synonyms" and not _SYNONYMS.fullmatch(text):
        raise ValueError(f"{name}: expected area:id pairs, e.g. ConditionSearch:1651367")
    return text


def _statuses(value: Any) -> str:
    name = "filter.overallStatus"
    if isinstance(value, str):
        items = [item for item in re.split(r"[,|]", value) if item.strip()]
    elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        items = list(value)
    else:
        raise ValueError(f"{name}: expected a list of statuses, got {_type(value)}")
    if not items:
        raise ValueError(f"{name}: empty; name at least one status, or remove the filter")
    found = []
    for item in items:
        status = re.sub(r"[^A-Z0-9]+", "_", item.strip().upper()).strip("_")
        status = "UNKNOWN" if status == "UNKNOWN_STATUS" else status
        if status not in STATUSES:
            close = difflib.get_close_matches(status, STATUSES, n=1)
            guess = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"{name}: `{_short(item)}` is not a status{guess}; one of "
                             f"{', '.join(STATUSES)}")
        found.append(status)
    return ",".join(dict.fromkeys(found))


def _text(name: str, value: Any) -> str:
    """A value as the API takes it: text, whitespace runs made one space, checked."""
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected text, got {_type(value)}")
    text = " ".join(value.split())
    if not text:
        raise ValueError(f"{name}: empty; give the words to search for, or remove it")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in text):
        raise ValueError(f"{name}: holds a control character or invalid text")
    bare = re.sub(r"\\.", "", text)  # an escaped quote or parenthesis is a character
    if bare.count('"') % 2:
        raise ValueError(f"{name}: a quotation mark is not closed")
    depth = 0
    for char in re.sub(r'"[^"]*"', "", bare):
        depth += (char == "(") - (char == ")")
        if depth < 0:
            break
    if depth:
        raise ValueError(f"{name}: parentheses do not match")
    return text


def _type(value: Any) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", list: "a list",
             dict: "a mapping", type(None): "nothing"}
    return names.get(type(value), "a mapping" if isinstance(value, Mapping) else
                     type(value).__name__)


def _short(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


# -- URLs -------------------------------------------------------------------------------------


def _pairs(query: str) -> list[tuple[str, str]]:
    """The URL's parameters; a blank one adds nothing to a search and is left out."""
    pairs = parse_qsl(query, keep_blank_values=True)
    seen: set[str] = set()
    for name, _value in pairs:
        if name in seen:
            raise ValueError(f"url: {_short(name)} is given twice; keep one")
        seen.add(name)
    return [(name, value) for name, value in pairs if value.strip()]


def _from_page(pairs: list[tuple[str, str]]) -> SearchQuery:
    given = dict(pairs)
    query = {area: given.pop(area) for area in PAGE_AREAS if area in given}
    filters: dict[str, Any] = {}
    if "aggFilters" in given:
        filters["overallStatus"] = _agg_statuses(given.pop("aggFilters"))
    windows = [_window(name, given.pop(name)) for name in DATE_WINDOWS if name in given]
    if windows:
        filters["advanced"] = " AND ".join(windows)
    if "country" in given:
        country = " ".join(given.pop("country").split())
        if given.get("locStr", country).strip().lower() == country.lower():
            given.pop("locStr", None)
        if "locn" in query:
            raise ValueError("url: locn and country together are not translated; keep one")
        query["locn"] = f'AREA[LocationCountry]"{country}"'
    for name in PAGE_ONLY:
        given.pop(name, None)
    _refuse(given)
    return search_query(query, filters)


def _from_classic(pairs: list[tuple[str, str]]) -> SearchQuery:
    given = dict(pairs)
    query = {area: given.pop(area) for area in CLASSIC_AREAS if area in given}
    _refuse(given, classic=True)
    return search_query(query, {})


def _from_api(pairs: list[tuple[str, str]]) -> SearchQuery:
    query: dict[str, str] = {}
    filters: dict[str, Any] = {}
    rest = {}
    for name, value in pairs:
        prefix, _, key = name.partition(".")
        if prefix == "query" and key:
            query[key] = value
        elif prefix in ("filter", "postFilter") and key and key != "ids":
            if key in filters:
                raise ValueError(f"url: {name} repeats filter.{key}; keep one")
            filters[key] = value
        elif name == "aggFilters":
            filters["overallStatus"] = _agg_statuses(value)
        elif name not in API_ONLY:
            rest[name] = value
    _refuse(rest)
    return search_query(query, filters)


def _agg_statuses(value: str) -> list[str]:
    statuses = []
    for facet in value.split(","):
        name, _, codes = facet.strip().partition(":")
        if name != "status":
            raise ValueError(f"url: aggFilters {_short(facet.strip())}: this filter is not "
                             "translated; write its filter.advanced expression instead "
                             "(e.g. AREA[Phase]PHASE3)")
        for code in codes.split():
            if code not in SITE_STATUSES:
                raise ValueError(f"url: aggFilters status:{_short(code)}: not a status code "
                                 f"of the search page; one of {', '.join(SITE_STATUSES)}")
            statuses.append(SITE_STATUSES[code])
    if not statuses:
        raise ValueError("url: aggFilters names no status")
    return statuses


def _window(name: str, value: str) -> str:
    low, sep, high = value.strip().partition("_")
    if not sep or not (low or high) or any(end and not _DAY.fullmatch(end) for end in (low, high)):
        raise ValueError(f"url: {name}={_short(value)}: expected from_to, each a date "
                         "(yyyy-MM-dd) or empty")
    return f"AREA[{DATE_WINDOWS[name]}]RANGE[{low or 'MIN'},{high or 'MAX'}]"


def _windows(advanced: str) -> list[tuple[str, str]] | None:
    """The search page's date windows an advanced filter stands for, if it is one of them."""
    params = {}
    pieces = {piece: name for name, piece in DATE_WINDOWS.items()}
    for clause in advanced.split(" AND "):
        match = _WINDOW.fullmatch(clause)
        if not match or match[1] not in pieces or pieces[match[1]] in params:
            return None
        low, high = match[2].replace("MIN", ""), match[3].replace("MAX", "")
        params[pieces[match[1]]] = f"{low}_{high}"
    ordered = [(name, params[name]) for name in DATE_WINDOWS if name in params]
    return ordered if " AND ".join(_window(name, value) for name, value in ordered) == advanced \
        else None


def _refuse(rest: Mapping[str, str], *, classic: bool = False) -> None:
    if not rest:
        return
    name = next(iter(rest))
    if name == "filter.ids":
        raise ValueError("url: filter.ids: a list of trials, not a search; list them under "
                         "trials: instead")
    if name in ("locStr", "state", "city", "lat", "lng", "distance"):
        raise ValueError(f"url: {name}: a place picked on the search page is searched by "
                         "distance, which the URL does not fully say; write filter: {geo: "
                         "distance(lat,lon,50mi)} or query: {locn: …} instead")
    where = "the classic site's " if classic else ""
    raise ValueError(f"url: {_short(name)}: {where}parameter not translated (see the README's "
                     "table); remove it or write the search as query: and filter:")


def _quote(value: str, safe: str, encoding: str | None, errors: str | None) -> str:
    return quote(value, safe=":")  # aggFilters=status:rec%20not, as the page writes it


def _joined(first: Iterable[str], rest: list[str]) -> str:
    parts = [*first, *rest]
    if len(parts) <= 1:
        return parts[0] if parts else ""
    return " AND ".join(f"({part})" for part in parts)
