"""The local registry answers searches (``query.*``, ``filter.overallStatus``,
``filter.advanced``, ``filter.geo``, ``sort``) as clinicaltrials.gov does, within the Essie
approximation ctwatch/essie.py describes: real records, real HTTP on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ctwatch.replay import Registry, ReplayServer
from ctwatch.replay_query import Derived, match_of
from tests.conftest import clone_record, generated_ids, study_raw
from tests.helpers import realdata_files

LIST = "/api/v2/studies"
RECORDS = {path.stem: path.read_bytes() for path in realdata_files("api_v2")}


@pytest.fixture(scope="module")
def everything() -> Iterator[ReplayServer]:
    """A registry of every real API v2 record among the fixtures (fixtures/realdata/api_v2,
    15 trials, one of 1.4 MB), served once for the tests that only read it: what is derived
    of its records is derived once."""
    served = Registry()
    for raw in RECORDS.values():
        served.publish(raw)
    with ReplayServer(served) as server:
        yield server


@pytest.fixture
def registry() -> Registry:
    """For the tests that publish: two small real records (the conftest's ``replay``)."""
    served = Registry()
    for nct_id in ("NCT00184067", "NCT05594173"):
        served.publish(RECORDS[nct_id])
    return served


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def pages(http: requests.Session, replay: ReplayServer, **params: str) -> list[dict[str, Any]]:
    """Every page of a list query, following its tokens."""
    found = [_get(http, replay, params)]
    while "nextPageToken" in found[-1]:
        found.append(_get(http, replay, {**params, "pageToken": found[-1]["nextPageToken"]}))
    return found


def _get(http: requests.Session, replay: ReplayServer, params: dict[str, str]) -> Any:
    reply = http.get(replay.url + LIST, params=params, timeout=5)
    assert reply.status_code == 200, reply.text
    return reply.json()


def found(http: requests.Session, replay: ReplayServer, **params: str) -> list[str]:
    """The ids a query lists, in order (``fields=NCTId``: a few bytes a study)."""
    return [_id(study) for page in pages(http, replay, **params, pageSize="4", fields="NCTId")
            for study in page["studies"]]


def refused(http: requests.Session, replay: ReplayServer, **params: str) -> str:
    reply = http.get(replay.url + LIST, params=params, timeout=5)
    assert reply.status_code == 400
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert "\n" not in reply.text
    return reply.text


def _id(study: dict[str, Any]) -> str:
    return study["protocolSection"]["identificationModule"]["nctId"]


# -- what each search finds among the real records ----------------------------------------------

RECRUITING = {"NCT04267848", "NCT05147467", "NCT06341426"}
SEARCHES = {
    "a condition": ({"query.cond": "lymphoma"}, {"NCT03934567", "NCT05147467"}),
    "any case, and plurals": ({"query.cond": "LYMPHOMAS"}, {"NCT03934567", "NCT05147467"}),
    "a condition's words anywhere in its area": (
        {"query.cond": "disease coronary"}, {"NCT00711542", "NCT03475563"}),
    "a phrase": ({"query.cond": '"artery coronary"'}, set()),
    "a phrase in order": ({"query.cond": '"coronary artery disease"'},
                          {"NCT00711542", "NCT03475563"}),
    "OR": ({"query.cond": "diabetes OR dermatitis"}, {"NCT00763412", "NCT02210780"}),
    "NOT": ({"query.cond": "lymphoma NOT follicular"}, {"NCT05147467"}),
    "parentheses": ({"query.cond": "(melanoma OR dysphagia) AND NOT melanoma"}, {"NCT05594173"}),
    "a condition's keyword": ({"query.cond": "Psychedelics"}, {"NCT06341426"}),
    "a condition's browse term": ({"query.cond": '"lung neoplasms"'}, {"NCT04267848"}),
    "an intervention's other name": ({"query.intr": "dupixent"}, {"NCT02210780"}),
    "an intervention with a hyphen": ({"query.intr": "APG-2575"}, {"NCT05147467"}),
    "an intervention type": ({"query.intr": "device"}, {"NCT04207047"}),
    "an arm group's intervention name": ({"query.intr": '"Drug: Abexinostat"'}, {"NCT03934567"}),
    "any text of the record": ({"query.term": "psilocybin"}, {"NCT06341426"}),
    "a record's own id": ({"query.term": "NCT02513394"}, {"NCT02513394"}),
    "a title's acronym": ({"query.titles": "PALLAS"}, {"NCT02513394"}),
    "an acronym with a hyphen": ({"query.titles": "repair-acs"}, {"NCT00711542"}),
    "a collaborator": ({"query.spons": "pfizer"}, {"NCT02513394"}),
    "the lead sponsor only": ({"query.lead": "pfizer"}, set()),
    "a lead sponsor": ({"query.lead": '"University Health Network"'},
                       {"NCT05594173", "NCT06341426"}),
    "an acronym as an id": ({"query.id": "NIH_HVX6"}, {"NCT05594173"}),
    "an NCT id": ({"query.id": "NCT02513394"}, {"NCT02513394"}),
    "a location": ({"query.locn": "Toronto"}, {"NCT02513394", "NCT05594173", "NCT06341426"}),
    "an outcome": ({"query.outc": '"overall survival"'},
                   {"NCT02513394", "NCT04267848", "NCT05147467"}),
    "a patient's words": ({"query.patient": "dysphagia"}, {"NCT05594173"}),
    "statuses": ({"filter.overallStatus": "RECRUITING|NOT_YET_RECRUITING"}, RECRUITING),
    "a search and a status": ({"query.cond": "lymphoma", "filter.overallStatus": "RECRUITING"},
                              {"NCT05147467"}),
    "two areas": ({"query.cond": "depression", "query.titles": "psilocybin"}, {"NCT06341426"}),
    "an enum in an area": ({"filter.advanced": "AREA[Phase]PHASE3"},
                           {"NCT02513394", "NCT02552212", "NCT04267848"}),
    "a day range and a status": (
        {"filter.advanced": "AREA[StudyFirstPostDate]RANGE[2019-01-01,MAX] AND "
                            "AREA[OverallStatus]RECRUITING"}, RECRUITING),
    "a day range with a search, without ids": (
        {"query.cond": "depression",
         "filter.advanced": "AREA[LastUpdatePostDate]RANGE[2024-01-01,MAX]"}, {"NCT06341426"}),
    "a whole value": ({"filter.advanced": "AREA[Condition]COVERAGE[FullMatch]depression"},
                      {"NCT06341426"}),
    "the start of a value": ({"filter.advanced": "AREA[Condition]COVERAGE[StartsWith]lymphoma"},
                             {"NCT03934567"}),
    "no acronym": ({"query.cond": "lymphoma", "filter.advanced": "AREA[Acronym]MISSING"},
                   {"NCT03934567", "NCT05147467"}),
    "accepted operators that change nothing": (
        {"query.cond": "EXPANSION[Concept]TILT[StudyFirstPostDate]melanoma"}, {"NCT00184067"}),
    "within 20 miles of Toronto": ({"filter.geo": "distance(43.65,-79.38,20mi)"},
                                   {"NCT02513394", "NCT05594173", "NCT06341426"}),
    "a distance in an expression": (
        {"filter.advanced": "AREA[LocationGeoPoint]DISTANCE[34.05,-118.24,5km]"},
        {"NCT00184067", "NCT02210780", "NCT02513394", "NCT04267848"}),
    "ids alone, and the filters are ignored (the spec)": (
        {"query.id": "NCT02513394", "filter.overallStatus": "COMPLETED"}, {"NCT02513394"}),
    "punctuation alone restricts nothing": ({"query.cond": "lymphoma -"},
                                            {"NCT03934567", "NCT05147467"}),
}


@pytest.mark.parametrize(("params", "expected"), SEARCHES.values(), ids=list(SEARCHES))
def test_a_search_finds_what_the_registry_would(http, everything, params: dict[str, str],
                                                expected: set[str]) -> None:
    listed = found(http, everything, **params)
    assert sorted(listed) == sorted(expected)


def test_searches_and_ids_select_the_trials_in_both(http, everything) -> None:
    ids = "NCT03934567,NCT00184067,NCT99999999"
    listed = found(http, everything, **{"filter.ids": ids, "query.cond": "lymphoma"})
    assert listed == ["NCT03934567"]


def test_a_search_is_projected_counted_and_paged(http, everything) -> None:
    replay = everything
    params = {"query.cond": "coronary OR lymphoma OR melanoma", "countTotal": "true",
              "fields": "NCTId,OverallStatus", "pageSize": "2"}
    walked = pages(http, replay, **params)
    assert [page.get("totalCount") for page in walked] == [5, None, None]
    assert walked[0]["studies"][0] == {"protocolSection": {
        "identificationModule": {"nctId": "NCT00184067"},
        "statusModule": {"overallStatus": "TERMINATED"}}}
    token = walked[0]["nextPageToken"]
    other = http.get(replay.url + LIST, timeout=5,
                     params={**params, "query.cond": "coronary", "pageToken": token})
    assert (other.status_code, other.text) == (400, "Invalid value in parameter `pageToken`")


# -- sort --------------------------------------------------------------------------------------


STATUS_MODULES = {nct_id: json.loads(raw)["protocolSection"]["statusModule"]
                  for nct_id, raw in RECORDS.items()}


def _day(nct_id: str, piece: str) -> str:
    return STATUS_MODULES[nct_id][piece]["date"]


@pytest.mark.parametrize(("sort", "piece", "descending"), [
    ("LastUpdatePostDate", "lastUpdatePostDateStruct", False),
    ("LastUpdatePostDate:asc", "lastUpdatePostDateStruct", False),
    ("LastUpdatePostDate:desc", "lastUpdatePostDateStruct", True),
    ("StudyFirstPostDate:desc", "studyFirstPostDateStruct", True),
    ("@relevance|StudyFirstPostDate", "studyFirstPostDateStruct", False),
])
def test_a_sort_orders_by_its_dates(http, everything, sort: str, piece: str,
                                    descending: bool) -> None:
    listed = found(http, everything, sort=sort)
    days = [_day(nct_id, piece) for nct_id in listed]
    assert len(listed) == len(RECORDS)
    assert days == sorted(days, reverse=descending)


def test_a_second_sort_item_breaks_ties_and_undated_records_come_last(http, replay,
                                                                     registry) -> None:
    for number, day in enumerate(["2030-05-05", "2030-05-05", None]):
        study = clone_record(RECORDS["NCT00184067"], f"NCT2000000{number}")
        status = study["protocolSection"]["statusModule"]
        status["studyFirstPostDateStruct"]["date"] = f"2020-01-0{3 - number}"
        if day is None:
            del status["lastUpdatePostDateStruct"]
        else:
            status["lastUpdatePostDateStruct"]["date"] = day
        registry.publish(study)
    listed = found(http, replay, sort="LastUpdatePostDate:desc,StudyFirstPostDate:asc")
    assert listed[:2] == ["NCT20000001", "NCT20000000"]  # one day, then by first posted
    assert listed[-1] == "NCT20000002"


# -- 400s: what the registry refuses -----------------------------------------------------------

REFUSED = {
    "an unknown status": ({"filter.overallStatus": "RECRUITING,FOO"},
                          "Invalid value in parameter `overallStatus`: `FOO`"),
    "a status in lower case": ({"filter.overallStatus": "recruiting"},
                               "Invalid value in parameter `overallStatus`: `recruiting`"),
    "a sort on text": ({"sort": "BriefTitle"}, "Invalid value in parameter `sort`: `BriefTitle`"),
    "a sort direction": ({"sort": "LastUpdatePostDate:up"}, "Invalid value in parameter `sort`"),
    "three sort items": ({"sort": "LastUpdatePostDate,StudyFirstPostDate,@relevance"},
                         "Invalid value in parameter `sort`: at most 2 items"),
    "an unknown area": ({"query.cond": "AREA[Foo]bar"},
                        "Error parsing query in query.cond: Unknown area name `Foo`"),
    "an open quote": ({"query.term": '"heart attack'},
                      "Error parsing query in query.term: a quotation mark is not closed"),
    "a dangling operator": ({"query.intr": "aspirin OR"},
                            "Error parsing query in query.intr: the expression ends where"),
    "a leading operator": ({"query.intr": "AND aspirin"},
                           "Error parsing query in query.intr: `AND` needs a term on each side"),
    "a range on text": ({"query.term": "AREA[BriefTitle]RANGE[a,b]"},
                        "Error parsing query in query.term: RANGE is read here on whole-day"),
    "a geo filter in words": ({"filter.geo": "Toronto"},
                              "Invalid value in parameter `geo`: `Toronto`"),
    "synonyms": ({"filter.synonyms": "ConditionSearch:1"},
                 "`filter.synonyms` is not read by this registry"),
    "aggFilters": ({"aggFilters": "status:rec"}, "`aggFilters` is not read by this registry"),
    "an unknown query area": ({"query.foo": "x"}, "`query.foo` is unknown parameter"),
}


@pytest.mark.parametrize(("params", "text"), REFUSED.values(), ids=list(REFUSED))
def test_what_the_registry_refuses_is_a_400(http, everything, params: dict[str, str],
                                            text: str) -> None:
    assert refused(http, everything, **params).startswith(text)


# -- what a search reads of records, derived once per content -----------------------------------


def test_clones_share_what_is_derived_yet_each_is_its_own_id(http, replay, registry) -> None:
    ids = generated_ids(100, start=30_000_000)
    for nct_id in ids:
        registry.publish(clone_record(RECORDS["NCT05594173"], nct_id))
    assert found(http, replay, **{"query.id": ids[42]}) == [ids[42]]
    assert found(http, replay, **{"query.term": f'"{ids[7]}" OR {ids[9]}'}) == [ids[7], ids[9]]
    assert found(http, replay, **{"query.term": "NCT05594173"}) == ["NCT05594173"]
    assert len(found(http, replay, **{"query.cond": "dysphagia"})) == 101


def test_a_republished_record_is_searched_as_it_now_is(http, replay, registry) -> None:
    assert found(http, replay, **{"query.cond": "myeloma"}) == []
    study = json.loads(RECORDS["NCT00184067"])
    study["protocolSection"]["conditionsModule"]["conditions"] = ["Multiple Myeloma"]
    registry.publish(study)
    assert found(http, replay, **{"query.cond": "myeloma"}) == ["NCT00184067"]


def test_accents_and_possessives_are_dropped(http, replay, registry) -> None:
    study = clone_record(study_raw("NCT00184067"), "NCT20000009")
    study["protocolSection"]["conditionsModule"]["conditions"] = ["Crohn's Disease", "Ménière"]
    registry.publish(study)
    assert found(http, replay, **{"query.cond": "crohn meniere"}) == ["NCT20000009"]
    assert found(http, replay, **{"query.cond": '"CROHNS DISEASE"'}) == ["NCT20000009"]


def test_a_record_that_is_not_json_matches_every_search(http, replay, registry) -> None:
    registry.publish_raw("NCT20000008", b"{not json")
    reply = http.get(replay.url + LIST, timeout=5,
                     params={"query.cond": "nothing like it", "fields": "NCTId"})
    assert reply.status_code == 200 and b"{not json" in reply.content


def test_facts_are_found_again_by_stamp_without_reading_the_record() -> None:
    derived = Derived()
    match = match_of({"query.cond": ["melanoma"]})
    assert match is not None
    reads: list[str] = []

    def record(nct_id: str) -> bytes:
        reads.append(nct_id)
        return RECORDS["NCT00184067"]

    assert derived.select(["NCT00184067"], lambda _: 1, record, match) == ["NCT00184067"]
    assert derived.select(["NCT00184067"], lambda _: 1, record, match) == ["NCT00184067"]
    assert reads == ["NCT00184067"]  # the second time, by its stamp alone
    derived.select(["NCT00184067"], lambda _: 2, record, match)
    assert len(reads) == 2  # a new stamp: the record is read again
