"""A search as config.yaml or a pasted search page URL describes it (ctwatch/queries.py):
tables of what is taken and what is refused, and a property over arbitrary URLs."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctwatch.queries import (
    FILTERS,
    QUERY_AREAS,
    SITE_STATUSES,
    STATUSES,
    SearchQuery,
    from_url,
    search_query,
)

SITE = "https://clinicaltrials.gov"

# -- search_query: what config.yaml's query: and filter: become --------------------------------

GOOD = {
    "the issue's example": (
        {"cond": "multiple myeloma", "intr": "isatuximab"},
        {"overallStatus": ["RECRUITING", "NOT_YET_RECRUITING"]},
        (("query.cond", "multiple myeloma"), ("query.intr", "isatuximab"),
         ("filter.overallStatus", "RECRUITING,NOT_YET_RECRUITING"))),
    "the whole registry": ({}, None, ()),
    "nothing at all": (None, None, ()),
    "sorted by key, whitespace runs one space": (
        {"term": "  heart\n attack ", "cond": "asthma"}, {},
        (("query.cond", "asthma"), ("query.term", "heart attack"))),
    "statuses in any case and spelling, once each": (
        {"cond": "asthma"}, {"overallStatus": "recruiting|Not yet recruiting,RECRUITING"},
        (("query.cond", "asthma"), ("filter.overallStatus", "RECRUITING,NOT_YET_RECRUITING"))),
    "unknown status as the classic site spelled it": (
        {"cond": "asthma"}, {"overallStatus": ["Unknown status"]},
        (("query.cond", "asthma"), ("filter.overallStatus", "UNKNOWN"))),
    "every filter": (
        {"patient": "asthma"},
        {"advanced": "AREA[Phase]PHASE3", "geo": "distance(39.0035, -77.1013, 50MI)",
         "synonyms": "ConditionSearch:1651367"},
        (("query.patient", "asthma"), ("filter.advanced", "AREA[Phase]PHASE3"),
         ("filter.geo", "distance(39.0035,-77.1013,50mi)"),
         ("filter.synonyms", "ConditionSearch:1651367"))),
    "an Essie expression with quotes and parentheses": (
        {"cond": '("heart attack" OR stroke) AND NOT \\"x'}, None,
        (("query.cond", '("heart attack" OR stroke) AND NOT \\"x'),)),
    "ids alone without a filter": (
        {"id": "NCT01234567 OR NCT07654321"}, None,
        (("query.id", "NCT01234567 OR NCT07654321"),)),
}


@pytest.mark.parametrize(("query", "filters", "params"), GOOD.values(), ids=list(GOOD))
def test_a_search_becomes_the_api_parameters(query: Any, filters: Any,
                                             params: tuple[tuple[str, str], ...]) -> None:
    search = search_query(query, filters)
    assert search.params == params
    assert search.whole_registry == (params == ())
    assert all(key.startswith(("query.", "filter.")) for key, _ in search.params)


BAD = {
    "an unknown area": ({"foo": "x"}, None,
                        "query.foo: unknown search area; one of cond, term, locn"),
    "a near miss": ({"conditions": "x"}, None, "query.conditions: unknown search area"),
    "the prefix kept": ({"query.cond": "x"}, None, "query.query.cond: unknown search area"),
    "a number": ({"id": 12345}, None, "query.id: expected text, got a number"),
    "a list": ({"cond": ["a", "b"]}, None, "query.cond: expected text, got a list"),
    "empty": ({"cond": "   "}, None, "query.cond: empty"),
    "a control character": ({"cond": "a\x00b"}, None, "query.cond: holds a control character"),
    "an open quote": ({"cond": '"heart attack'}, None, "query.cond: a quotation mark"),
    "an open parenthesis": ({"term": "(a OR b"}, None, "query.term: parentheses do not match"),
    "a closing one too many": ({"term": "a) OR (b"}, None, "query.term: parentheses"),
    "not a mapping": (["cond"], None, "query: expected a mapping of search areas"),
    "a misspelled status": ({"cond": "x"}, {"overallStatus": ["RECRUITNG"]},
                           "filter.overallStatus: `RECRUITNG` is not a status (did you mean "
                           "RECRUITING?); one of ACTIVE_NOT_RECRUITING, APPROVED_FOR_MARKETING"),
    "no status": ({"cond": "x"}, {"overallStatus": []}, "filter.overallStatus: empty"),
    "statuses as a number": ({"cond": "x"}, {"overallStatus": 3},
                             "filter.overallStatus: expected a list of statuses, got a number"),
    "ids": ({}, {"ids": "NCT01234567"}, "filter.ids: unknown filter; list trials under trials:"),
    "an unknown filter": ({}, {"phase": "PHASE3"}, "filter.phase: unknown filter; one of "),
    "a place in words": ({}, {"geo": "near Boston"}, "filter.geo: expected distance("),
    "a latitude off the earth": ({}, {"geo": "distance(95,10,5mi)"}, "filter.geo: expected"),
    "synonyms in words": ({}, {"synonyms": "asthma"}, "filter.synonyms: expected area:id"),
    "a filter the registry would ignore": (
        {"id": "NCT01234567"}, {"overallStatus": "RECRUITING"},
        "filter.overallStatus: the registry ignores every filter when query.id holds only NCT "
        "ids; list those trials under trials: instead"),
}


@pytest.mark.parametrize(("query", "filters", "message"), BAD.values(), ids=list(BAD))
def test_a_search_that_cannot_be_used_names_its_key_and_the_fix(query: Any, filters: Any,
                                                                message: str) -> None:
    with pytest.raises(ValueError) as raised:
        search_query(query, filters)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_the_names_are_the_api_s() -> None:
    assert QUERY_AREAS == ("cond", "term", "locn", "titles", "intr", "outc", "spons", "lead",
                           "id", "patient")
    assert FILTERS == ("overallStatus", "advanced", "geo", "synonyms")
    assert len(STATUSES) == 14 and set(SITE_STATUSES.values()) <= set(STATUSES)


# -- the key: one definition, one text ---------------------------------------------------------

SAME = [
    (({"cond": "asthma", "intr": "placebo"}, {"overallStatus": ["RECRUITING", "COMPLETED"]}),
     ({"intr": "placebo", "cond": " asthma "}, {"overallStatus": "completed|Recruiting"})),
    (({"cond": "heart  attack"}, None), ({"cond": "heart attack"}, {})),
]
DIFFERENT = [
    (({"cond": "asthma"}, None), ({"term": "asthma"}, None)),
    (({"cond": "asthma"}, None), ({"cond": "asthma"}, {"overallStatus": "RECRUITING"})),
    (({"cond": "a OR b"}, None), ({"cond": "a or b"}, None)),  # OR is an operator, or a word
    (({}, None), ({"cond": "asthma"}, None)),
]


@pytest.mark.parametrize(("one", "other"), SAME)
def test_two_configs_meaning_one_search_have_one_key(one: tuple, other: tuple) -> None:
    assert search_query(*one).key == search_query(*other).key


@pytest.mark.parametrize(("one", "other"), DIFFERENT)
def test_two_searches_have_two_keys(one: tuple, other: tuple) -> None:
    assert search_query(*one).key != search_query(*other).key


def test_the_key_is_canonical_json_text() -> None:
    search = search_query({"intr": "isatuximab", "cond": "multiple myeloma"},
                          {"overallStatus": ["RECRUITING", "NOT_YET_RECRUITING"]})
    assert search.key == ('{"filter":{"overallStatus":"NOT_YET_RECRUITING,RECRUITING"},'
                          '"query":{"cond":"multiple myeloma","intr":"isatuximab"}}')


# -- page_url: the registry's own search page, for people --------------------------------------

PAGES = {
    "the issue's example": (
        {"cond": "multiple myeloma", "intr": "isatuximab"},
        {"overallStatus": ["RECRUITING", "NOT_YET_RECRUITING"]},
        "/search?cond=multiple%20myeloma&intr=isatuximab&aggFilters=status:rec%20not"),
    "the whole registry": ({}, None, "/search"),
    "a country and date windows": (
        {"locn": 'AREA[LocationCountry]"Belgium"'},
        {"advanced": "AREA[StudyFirstPostDate]RANGE[2024-01-01,MAX] AND "
                     "AREA[LastUpdatePostDate]RANGE[MIN,2025-06-30]"},
        "/search?locStr=Belgium&country=Belgium&firstPost=2024-01-01_&lastUpdPost=_2025-06-30"),
    "what the page has no box for goes to its term box": (
        {"term": "stent", "patient": "asthma"},
        {"overallStatus": "WITHHELD,RECRUITING", "advanced": "AREA[Phase]PHASE3",
         "geo": "distance(39.0,-77.1,50mi)"},
        "/search?term=" + quote(
            "(stent) AND (AREA[PatientSearch](asthma)) AND "
            "(AREA[OverallStatus](WITHHELD OR RECRUITING)) AND (AREA[Phase]PHASE3) AND "
            "(AREA[LocationGeoPoint]DISTANCE[39.0,-77.1,50mi])", safe=":")),
}


@pytest.mark.parametrize(("query", "filters", "path"), PAGES.values(), ids=list(PAGES))
def test_the_page_url_is_the_search_page_s_own(query: Any, filters: Any, path: str) -> None:
    assert search_query(query, filters).page_url == SITE + path


# -- from_url: a pasted search page URL --------------------------------------------------------

URLS = {
    "the issue's example": (
        f"{SITE}/search?cond=multiple%20myeloma&intr=isatuximab&term=newly&aggFilters="
        "status:rec%20not",
        {"cond": "multiple myeloma", "intr": "isatuximab", "term": "newly"},
        {"overallStatus": "RECRUITING,NOT_YET_RECRUITING"}),
    "every box": (
        f"{SITE}/search?cond=a&term=b&intr=c&titles=d&outc=e&spons=f&lead=g&id=h&locn=i",
        {"cond": "a", "term": "b", "intr": "c", "titles": "d", "outc": "e", "spons": "f",
         "lead": "g", "id": "h", "locn": "i"}, {}),
    "plus for spaces, http, www, a trailing slash": (
        "http://www.clinicaltrials.gov/search/?cond=heart+attack&viewType=Table&page=2",
        {"cond": "heart attack"}, {}),
    "every status code": (
        f"{SITE}/search?aggFilters=status:{'%20'.join(SITE_STATUSES)}&cond=x", {"cond": "x"},
        {"overallStatus": ",".join(SITE_STATUSES.values())}),
    "date windows": (
        f"{SITE}/search?cond=x&lastUpdPost=2024-01-01_&firstPost=_2023-12-31&start="
        "2020-01-01_2020-12-31", {"cond": "x"},
        {"advanced": "AREA[StudyFirstPostDate]RANGE[MIN,2023-12-31] AND "
                     "AREA[LastUpdatePostDate]RANGE[2024-01-01,MAX] AND "
                     "AREA[StartDate]RANGE[2020-01-01,2020-12-31]"}),
    "a country, as the location box writes it": (
        f"{SITE}/search?locStr=United%20States&country=United%20States&cond=obesity",
        {"cond": "obesity", "locn": 'AREA[LocationCountry]"United States"'}, {}),
    "blank parameters add nothing": (f"{SITE}/search?cond=&term=x&intr=", {"term": "x"}, {}),
    "the classic site": (f"{SITE}/ct2/results?cond=asthma&intr=placebo",
                         {"cond": "asthma", "intr": "placebo"}, {}),
    "the expert search page": (f"{SITE}/expert-search?term=AREA%5BPhase%5DPHASE3",
                               {"term": "AREA[Phase]PHASE3"}, {}),
    "the API's own URL": (
        f"{SITE}/api/v2/studies?query.cond=asthma&filter.overallStatus=RECRUITING&pageSize=5"
        "&fields=NCTId&postFilter.advanced=AREA%5BPhase%5DPHASE2&format=json",
        {"cond": "asthma"}, {"overallStatus": "RECRUITING", "advanced": "AREA[Phase]PHASE2"}),
    "the whole registry": (f"{SITE}/search", {}, {}),
}


@pytest.mark.parametrize(("url", "query", "filters"), URLS.values(), ids=list(URLS))
def test_a_pasted_url_is_the_same_search(url: str, query: dict[str, str],
                                         filters: dict[str, str]) -> None:
    search = from_url(url)
    assert search == SearchQuery(tuple(sorted(query.items())), tuple(sorted(filters.items())))
    if "/api/" not in url:  # the page has no box for an advanced filter that is no date window
        assert from_url(search.page_url) == search


REFUSED = {
    "another site": ("https://example.com/search?cond=x", "url: not a clinicaltrials.gov"),
    "not http": ("ftp://clinicaltrials.gov/search?cond=x", "url: not a clinicaltrials.gov"),
    "a study page": (f"{SITE}/study/NCT01234567", "url: /study/NCT01234567 is not a search"),
    "a bad host": ("https://[clinicaltrials.gov/search", "url: not a URL"),
    "a parameter twice": (f"{SITE}/search?cond=a&cond=b", "url: cond is given twice"),
    "an unknown parameter": (f"{SITE}/search?cond=a&foo=1", "url: foo: parameter not translated"),
    "a phase facet": (f"{SITE}/search?aggFilters=status:rec,phase:3",
                      "url: aggFilters phase:3: this filter is not translated; write its "
                      "filter.advanced expression"),
    "an unknown status code": (f"{SITE}/search?aggFilters=status:rec%20enroll",
                               "url: aggFilters status:enroll: not a status code of the "
                               "search page; one of rec, not"),
    "no status code": (f"{SITE}/search?aggFilters=status:", "url: aggFilters names no status"),
    "a city": (f"{SITE}/search?locStr=Orlando,%20Florida&country=United%20States&state=Florida"
               "&city=Orlando", "url: locStr: a place picked on the search page is searched"),
    "a place alone": (f"{SITE}/search?locStr=Boston", "url: locStr: a place picked"),
    "a radius": (f"{SITE}/search?cond=x&lat=1&lng=2&distance=50", "url: lat: a place picked"),
    "a bad date window": (f"{SITE}/search?firstPost=2024", "url: firstPost=2024: expected"),
    "an empty date window": (f"{SITE}/search?firstPost=_", "url: firstPost=_: expected"),
    "an age range": (f"{SITE}/search?ageRange=18y_65y", "url: ageRange: parameter not"),
    "a classic status": (f"{SITE}/ct2/results?cond=x&recrs=a",
                         "url: recrs: the classic site's parameter not translated"),
    "ids in the API's URL": (f"{SITE}/api/v2/studies?filter.ids=NCT01234567",
                             "url: filter.ids: a list of trials, not a search"),
    "a value the search refuses": (f"{SITE}/search?cond=%22open", "query.cond: a quotation"),
    "ids with a status": (f"{SITE}/search?id=NCT01234567&aggFilters=status:rec",
                          "filter.overallStatus: the registry ignores every filter"),
}


@pytest.mark.parametrize(("url", "message"), REFUSED.values(), ids=list(REFUSED))
def test_a_url_that_cannot_be_translated_exactly_is_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        from_url(url)
    assert str(raised.value).startswith(message)


# -- properties over arbitrary URLs ------------------------------------------------------------

NAMES = st.sampled_from([  # the search page's boxes twice as likely as the rest
    *QUERY_AREAS, *QUERY_AREAS[:9], "aggFilters", "aggFilters", "firstPost", "lastUpdPost",
    "start", "country", "locStr", "state", "viewType", "page", "sort", "foo", "query.cond",
    "filter.overallStatus", "filter.advanced", "filter.geo", "postFilter.advanced", "pageSize",
    "filter.ids"])
VALUES = st.one_of(
    st.text(alphabet="abcXYZé -+,:", min_size=1, max_size=10),
    st.sampled_from(["status:rec not", "status:com,phase:2", "2024-01-01_", "_2025-02-03",
                     "Belgium", "NCT01234567", "RECRUITING|WITHHELD", "AREA[Phase]PHASE3",
                     "distance(1,2,3mi)", '"heart attack"', "(a OR b", "a\\\"b", "x&y=z",
                     "  heart   attack ", "a+b", "%ZZ", "é ü", "\x00", "\ud800"]),
    st.text(max_size=12))
PATHS = st.sampled_from(["/search", "/search", "/search", "/search", "/ct2/results",
                         "/api/v2/studies", "/expert-search", "/study/x", ""])


def _query_string(pairs: list[tuple[str, str]], encode: bool) -> str:
    if encode:
        return "&".join(f"{quote(name)}={quote(value, errors='replace')}"
                        for name, value in pairs)
    return "&".join(f"{name}={value}" for name, value in pairs)


@settings(max_examples=150)
@given(path=PATHS, encode=st.booleans(),
       pairs=st.lists(st.tuples(NAMES, VALUES), max_size=4, unique_by=lambda pair: pair[0]),
       scheme=st.sampled_from(["https", "http", "HTTPS", "file"]))
def test_from_url_only_ever_refuses_with_value_error_and_round_trips(
        path: str, pairs: list[tuple[str, str]], encode: bool, scheme: str) -> None:
    url = f"{scheme}://clinicaltrials.gov{path}?{_query_string(pairs, encode)}"
    try:
        search = from_url(url)
    except ValueError:
        return
    assert search_query(dict(search.query), dict(search.filter)) == search
    if path != "/api/v2/studies":  # the search page's own parameters: its URL says it all
        assert from_url(search.page_url) == search


@settings(max_examples=100)
@given(text=st.text(max_size=60))
def test_from_url_takes_any_text_and_only_refuses_with_value_error(text: str) -> None:
    for url in (text, f"{SITE}/search?{text}", f"https://clinicaltrials.gov{text}"):
        with contextlib.suppress(ValueError):
            from_url(url)
