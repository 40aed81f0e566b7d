"""The client's searches (Client.search, summaries, updated): every page with the same
parameters, all or nothing, aliases and 404s, the whole registry's records oldest first. The
local registry over loopback; what it cannot get wrong, mocked at the HTTP boundary."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from ctwatch.errors import BadResponse, FetchError, TrialNotFound
from ctwatch.fetch import (
    SEARCH_FIELDS,
    SUMMARY_FIELDS,
    ApiSettings,
    Client,
    Fetched,
    Listed,
)
from ctwatch.queries import search_query
from ctwatch.replay import Query, Registry, ReplayHandler, ReplayServer, Reply
from tests.conftest import Faults, generated_ids, study_raw

BASE = "http://registry.test"
LIST_URL = f"{BASE}/api/v2/studies"


def study(nct_id: str, *, cond: str = "Melanoma", posted: str | None = "2024-01-15",
          status: str = "RECRUITING", aliases: list[str] | None = None) -> dict[str, Any]:
    """A small study record: what searches read and what Listed tells."""
    ident: dict[str, Any] = {"nctId": nct_id, "briefTitle": f"Trial {nct_id}"}
    if aliases:
        ident["nctIdAliases"] = aliases
    state: dict[str, Any] = {"overallStatus": status,
                             "studyFirstPostDateStruct": {"date": "2020-01-02", "type": "ACTUAL"}}
    if posted:
        state["lastUpdatePostDateStruct"] = {"date": posted, "type": "ACTUAL"}
    return {"protocolSection": {
        "identificationModule": ident, "statusModule": state,
        "conditionsModule": {"conditions": [cond]},
        "designModule": {"phases": ["PHASE1", "PHASE2"]},
        "sponsorCollaboratorsModule": {"leadSponsor": {"name": "Acme", "class": "INDUSTRY"}}}}


MELANOMA = generated_ids(25, start=40_000_000)
ASTHMA = generated_ids(5, start=41_000_000)


@pytest.fixture
def registry() -> Registry:
    """25 melanoma trials posted on days 2024-01-01…25 and 5 asthma trials posted in 2023."""
    served = Registry()
    for day, nct_id in enumerate(MELANOMA, start=1):
        served.publish(study(nct_id, posted=f"2024-01-{day:02d}"))
    for day, nct_id in enumerate(ASTHMA, start=1):
        served.publish(study(nct_id, cond="Asthma", posted=f"2023-06-{day:02d}",
                             status="COMPLETED"))
    return served


@pytest.fixture
def paged(fast_api: ApiSettings) -> ApiSettings:
    """The local registry's settings, ten studies a page."""
    return replace(fast_api, page_size=10)


class Recording(ReplayHandler):
    """The local registry, remembering every list request's parameters in order."""

    asked: ClassVar[list[list[tuple[str, str]]]] = []

    def respond(self, route: str, match: Any, query: Query) -> Reply:
        if route == "list":
            Recording.asked.append(parse_qsl(urlsplit(self.path).query))
        return super().respond(route, match, query)


@pytest.fixture
def recording(registry: Registry) -> Iterator[ReplayServer]:
    Recording.asked = []
    with ReplayServer(registry, handler=Recording) as server:
        yield server


# -- search: every page, the same parameters, all or nothing ------------------------------------


def test_a_search_asks_every_page_with_the_same_parameters(recording, registry) -> None:
    for nct_id in generated_ids(2475, start=42_000_000):
        registry.publish(study(nct_id))
    search = search_query({"cond": "melanoma"}, {"overallStatus": ["RECRUITING"]})
    settings = ApiSettings(base_url=recording.url, requests_per_second=1000)
    with Client(settings) as client:
        pages = list(client.search(search.params))
    assert [len(page) for page in pages] == [1000, 1000, 500]  # 2,500 matches, 3 requests
    first, *follow_ups = Recording.asked
    assert first == [("query.cond", "melanoma"), ("filter.overallStatus", "RECRUITING"),
                     ("pageSize", "1000"), ("countTotal", "true"), ("fields", SEARCH_FIELDS)]
    assert [asked[:-1] for asked in follow_ups] == [first, first]
    assert [asked[-1][0] for asked in follow_ups] == ["pageToken", "pageToken"]
    assert len({listed.nct_id for page in pages for listed in page}) == 2500
    assert pages[0][0] == Listed(MELANOMA[0], f"Trial {MELANOMA[0]}", ("PHASE1", "PHASE2"),
                                 "RECRUITING", "Acme", "2020-01-02", "2024-01-01")


def test_a_whole_registry_search_lists_every_study(replay, paged) -> None:
    with Client(paged) as client:
        listed = [item.nct_id for page in client.search([]) for item in page]
    assert sorted(listed) == sorted(MELANOMA + ASTHMA)
    assert replay.counts["list"] == 3


def test_a_failure_on_a_later_page_leaves_no_membership(replay, paged, faults: Faults) -> None:
    faults.add("list", "none", times=1)
    faults.add("list", "status", status=503, text="Service Unavailable")
    with Client(paged) as client, pytest.raises(FetchError) as raised:
        members = {item.nct_id for page in client.search([("query.cond", "melanoma")])
                   for item in page}
        del members  # never reached: the membership is unknown, not partial
    error = raised.value
    assert error.nct_id is None
    assert error.url is not None and "query.cond=melanoma" in error.url
    assert "pageToken" not in error.url
    assert "server error (HTTP 503: Service Unavailable)" in str(error)


def test_more_pages_than_the_count_needs_fail_the_search(replay, paged, faults: Faults) -> None:
    faults.add("list", "endless_tokens")
    with Client(paged) as client, pytest.raises(BadResponse, match="kept sending page tokens"):
        list(client.search([("query.cond", "asthma")]))
    assert replay.counts["list"] == 3  # the one page 5 studies need, and 2 more


def test_a_page_that_is_not_json_fails_the_search(replay, paged, faults: Faults) -> None:
    faults.add("list", "html")
    with Client(paged) as client, pytest.raises(BadResponse, match="expected JSON"):
        list(client.search([("query.cond", "asthma")]))


def test_a_bad_search_is_the_registry_s_400(replay, paged) -> None:
    with Client(paged) as client, pytest.raises(FetchError) as raised:
        list(client.search([("query.cond", '"open')]))
    assert "a quotation mark is not closed" in str(raised.value)


# -- search: what the registry could get wrong, at the HTTP boundary ---------------------------


class Clock:
    """Time that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client() -> Client:
    clock = Clock()
    settings = ApiSettings(base_url=BASE, requests_per_second=1000, max_retries=1,
                           backoff_s=1.0, page_size=2)
    return Client(settings, sleep=clock.sleep, clock=clock)


def pages_reply(mocked: responses.RequestsMock, *pages: dict[str, Any]) -> None:
    for page in pages:
        mocked.get(LIST_URL, json=page)


def page(*ids: str, token: str | None = None, total: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"studies": [study(nct_id) for nct_id in ids]}
    if token:
        body["nextPageToken"] = token
    if total is not None:
        body["totalCount"] = total
    return body


def test_the_search_url_is_the_query_and_the_page_s(mocked, client) -> None:
    pages_reply(mocked, page("NCT00000001", "NCT00000002", token="t/1", total=3),
                page("NCT00000003"))
    search = search_query({"cond": "multiple myeloma"},
                          {"overallStatus": ["RECRUITING", "NOT_YET_RECRUITING"],
                           "advanced": "AREA[Phase]PHASE3"})
    listed = [item.nct_id for batch in client.search(search.params) for item in batch]
    assert listed == ["NCT00000001", "NCT00000002", "NCT00000003"]
    first = (f"{LIST_URL}?query.cond=multiple%20myeloma&filter.advanced=AREA%5BPhase%5DPHASE3"
             "&filter.overallStatus=RECRUITING,NOT_YET_RECRUITING&pageSize=2&countTotal=true"
             f"&fields={SEARCH_FIELDS}")
    assert [call.request.url for call in mocked.calls] == [first, f"{first}&pageToken=t%2F1"]


FAULTS = {
    "a repeated token": ((page("NCT00000001", "NCT00000002", token="A", total=9),
                          page("NCT00000003", "NCT00000004", token="A")),
                         "the registry repeated a page token"),
    "fewer studies than counted": ((page("NCT00000001", total=3),),
                                   "the pages listed 1 of the 3 studies the registry counted"),
    "no count": ((page("NCT00000001"),), "reply has no totalCount"),
    "a count that is not a number": (({"studies": [], "totalCount": "2"},),
                                     "reply has no totalCount"),
    "not a page of studies": (({"studies": {}, "totalCount": 0},),
                              "reply is not a page of studies"),
}


@pytest.mark.parametrize(("replies", "reason"), FAULTS.values(), ids=list(FAULTS))
def test_pages_that_cannot_be_the_whole_answer_fail_it(mocked, client, replies: tuple,
                                                       reason: str) -> None:
    pages_reply(mocked, *replies)
    with pytest.raises(BadResponse) as raised:
        list(client.search([("query.cond", "x")]))
    assert raised.value.reason == reason
    assert raised.value.nct_id is None
    assert raised.value.url == f"{LIST_URL}?query.cond=x&pageSize=2&countTotal=true&fields=" \
                               f"{SEARCH_FIELDS}"


def test_a_listed_study_without_a_usable_id_is_left_out(mocked, client, caplog) -> None:
    body = page("NCT00000001", total=4)
    body["studies"] += [{"protocolSection": {}}, "junk", study("NCT123")]
    pages_reply(mocked, body)
    with caplog.at_level(logging.DEBUG, logger="ctwatch.fetch"):
        pages = list(client.search([("query.cond", "x")]))
    assert [[item.nct_id for item in batch] for batch in pages] == [["NCT00000001"]]
    assert caplog.text.count("without a usable nctId; left out") == 3


@pytest.mark.parametrize(("walk", "params", "message"), [
    ("search", [("query.cond", "a"), ("query.cond", "b")], "query.cond is given twice"),
    ("search", [("pageSize", "5")], "pageSize: set by the client"),
    ("search", [("fields", "NCTId")], "fields: set by the client"),
    ("updated", [("fields", "NCTId")], "fields: set by the client"),
    ("updated", [("sort", "StudyFirstPostDate")], "sort: set by the client"),
])
def test_parameters_a_walk_cannot_take_are_a_value_error(client, walk, params, message) -> None:
    with pytest.raises(ValueError, match=message):
        list(client.search(params) if walk == "search" else client.updated(None, params))


def test_a_search_may_be_sorted(mocked, client) -> None:
    pages_reply(mocked, page(total=0))
    list(client.search([("query.cond", "x"), ("sort", "LastUpdatePostDate:asc")]))
    assert "&sort=LastUpdatePostDate%3Aasc&pageSize=2" in mocked.calls[0].request.url


def test_two_advanced_filters_are_both_held(mocked, client) -> None:
    pages_reply(mocked, page(total=0))
    list(client.search([("filter.advanced", "AREA[Phase]PHASE3"),
                        ("filter.advanced", "AREA[StudyType]INTERVENTIONAL")]))
    query = dict(parse_qsl(urlsplit(mocked.calls[0].request.url).query))
    assert query["filter.advanced"] == "(AREA[Phase]PHASE3) AND (AREA[StudyType]INTERVENTIONAL)"


# -- Listed: what a listed study says ----------------------------------------------------------

REAL = json.loads(study_raw("NCT05147467"))
LISTED = {
    "a whole real record": (REAL, Listed(
        "NCT05147467", "Study of APG-2575 in Patients With Relapsed/Refractory CLL/SLL",
        ("PHASE2",), "RECRUITING", "Ascentage Pharma Group Inc.", "2021-12-07", "2024-01-23")),
    "a projection": ({"protocolSection": {"identificationModule": {"nctId": "nct00000001"}}},
                     Listed("NCT00000001", None, (), None, None, None, None)),
    "malformed values": ({"protocolSection": {
        "identificationModule": {"nctId": "NCT00000001", "briefTitle": 5},
        "statusModule": {"overallStatus": ["RECRUITING"], "studyFirstPostDateStruct": "2020",
                         "lastUpdatePostDateStruct": {"date": ""}},
        "designModule": {"phases": ["PHASE1", 2, None, ""]},
        "sponsorCollaboratorsModule": {"leadSponsor": ["Acme"]}}},
        Listed("NCT00000001", None, ("PHASE1",), None, None, None, None)),
    "phases that are not a list": ({"protocolSection": {
        "identificationModule": {"nctId": "NCT00000001"}, "designModule": {"phases": "PHASE2"},
        "statusModule": []}}, Listed("NCT00000001", None, (), None, None, None, None)),
}


@pytest.mark.parametrize(("data", "expected"), LISTED.values(), ids=list(LISTED))
def test_a_listed_study_says_what_its_record_does(data: Any, expected: Listed) -> None:
    assert Listed.from_study(data) == expected


@pytest.mark.parametrize("data", [{}, {"protocolSection": {"identificationModule": {
    "nctId": "NCT123"}}}, {"protocolSection": {"identificationModule": {"nctId": 5}}}, "x", None])
def test_a_study_without_a_usable_id_is_no_listed_study(data: Any) -> None:
    with pytest.raises(ValueError, match="no usable"):
        Listed.from_study(data)


# -- summaries: why a trial left ---------------------------------------------------------------


def test_summaries_answer_each_id_an_alias_with_its_record(replay, registry, paged) -> None:
    registry.publish(study("NCT43000000", status="WITHDRAWN", aliases=["NCT43000001"]))
    asked = [MELANOMA[0], "NCT43000001", "NCT99999999", MELANOMA[0]]
    with Client(paged) as client:
        results = list(client.summaries(asked))
    assert [type(result) for result in results] == [Listed, Listed, TrialNotFound]
    assert results[0].nct_id == MELANOMA[0]
    assert (results[1].nct_id, results[1].status) == ("NCT43000000", "WITHDRAWN")
    assert results[2].nct_id == "NCT99999999"
    assert replay.counts == {"list": 1, "study": 1}  # one batch, the missing id alone


def test_summaries_ask_for_the_light_fields(mocked, client) -> None:
    mocked.get(LIST_URL, json={"studies": [study("NCT00000001"), study("NCT00000002")]})
    results = list(client.summaries(["NCT00000001", "NCT00000002"]))
    assert [result.nct_id for result in results] == ["NCT00000001", "NCT00000002"]
    assert mocked.calls[0].request.url == (
        f"{LIST_URL}?filter.ids=NCT00000001,NCT00000002&pageSize=2&fields={SUMMARY_FIELDS}")


# -- updated: the whole registry's records, oldest first ----------------------------------------


def _days(pages: list[list[Fetched]]) -> list[str]:
    return [record.data["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
            for batch in pages for record in batch]


def test_updated_gives_whole_records_oldest_first(replay, paged) -> None:
    with Client(paged) as client:
        pages = list(client.updated("2024-01-16"))
    assert [len(batch) for batch in pages] == [10]
    assert _days(pages) == [f"2024-01-{day}" for day in range(16, 26)]
    record = pages[0][0]
    assert isinstance(record, Fetched) and record.nct_id == record.registry_nct_id == MELANOMA[15]
    assert record.url == f"{replay.url}/api/v2/studies?filter.ids={MELANOMA[15]}"
    assert json.loads(record.raw) == record.data == study(MELANOMA[15], posted="2024-01-16")


def test_updated_since_nothing_is_every_record_a_page_a_request(replay, registry, paged) -> None:
    registry.publish(study("NCT43000002", posted=None))
    with Client(paged) as client:
        pages = list(client.updated(None))
    assert [len(batch) for batch in pages] == [10, 10, 10, 1]
    assert replay.counts["list"] == 4
    listed = [record.nct_id for batch in pages for record in batch]
    assert listed[:5] == ASTHMA and listed[-1] == "NCT43000002"  # the undated one last


def test_updated_holds_the_search_s_own_parameters(replay, paged) -> None:
    search = search_query({"cond": "melanoma"},
                          {"advanced": "AREA[LastUpdatePostDate]RANGE[MIN,2024-01-12]"})
    with Client(paged) as client:
        pages = list(client.updated("2024-01-10", search.params))
    assert _days(pages) == ["2024-01-10", "2024-01-11", "2024-01-12"]


def test_a_failure_mid_way_keeps_the_pages_before(replay, paged, faults: Faults) -> None:
    faults.add("list", "none", times=1)
    faults.add("list", "status", status=500)
    kept: list[list[Fetched]] = []
    with Client(paged) as client, pytest.raises(FetchError) as raised:
        for batch in client.updated("2023-01-01"):
            kept.append(batch)
    assert [len(batch) for batch in kept] == [10]
    assert _days(kept) == [f"2023-06-0{day}" for day in range(1, 6)] + \
        [f"2024-01-0{day}" for day in range(1, 6)]
    assert raised.value.nct_id is None
    assert "RANGE%5B2023-01-01,MAX%5D" in (raised.value.url or "")


def test_a_record_that_cannot_be_used_as_listed_is_read_alone(replay, registry, paged) -> None:
    raw = json.dumps(study("NCT43000003", posted="2099-01-01")).replace(
        '"Trial NCT43000003"', '"Trial \\ud800"').encode()
    registry.publish_raw("NCT43000003", raw)
    with Client(paged) as client:
        [[record]] = list(client.updated("2099-01-01"))
    assert record.raw == raw and record.url.endswith("/api/v2/studies/NCT43000003")
    assert replay.counts == {"list": 1, "study": 1}


def test_a_record_that_cannot_be_had_alone_is_its_trial_s_failure(replay, registry, paged,
                                                                  faults: Faults) -> None:
    raw = json.dumps(study("NCT43000003", posted="2099-01-01")).replace(
        '"Trial NCT43000003"', '"Trial \\ud800"').encode()
    registry.publish_raw("NCT43000003", raw)
    faults.add("study", "wrong_id")  # its single read answers for another trial
    with Client(paged) as client:
        [[failed]] = list(client.updated("2099-01-01"))
    assert isinstance(failed, BadResponse) and failed.nct_id == "NCT43000003"
