"""Cost proportional to what changed (issue 13): the local registry answers the light probe
(``fields=``) and the changed-since query (``filter.advanced``) as clinicaltrials.gov does, and
the client's ``last_updates`` and ``changed_since`` ask them, over real HTTP on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import requests

from ctwatch.errors import BadResponse, FetchError, InvalidNctId, TrialNotFound
from ctwatch.fetch import ApiSettings, Client, Fetched, LastUpdate
from ctwatch.fields import PIECES
from ctwatch.replay import Registry, ReplayServer
from tests.conftest import REGISTRY_STUDIES, Faults, clone_record, generated_ids, study_raw

KNOWN = "NCT00184067"
STUDY = json.loads(study_raw(KNOWN))
PROTOCOL = STUDY["protocolSection"]
LIST = "/api/v2/studies"
RANGE = "AREA[LastUpdatePostDate]RANGE[{},{}]"
# Generated trials and the day their last update was posted (None: the record has no date).
DATED = dict(zip(generated_ids(5, start=20_000_000),
                 ["2024-01-14", "2024-01-15", "2024-01-16", "2024-02-01", None], strict=True))


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def dated(registry: Registry) -> Registry:
    """The registry with the DATED trials besides its five real ones."""
    for nct_id, day in DATED.items():
        registry.publish(dated_record(nct_id, day))
    return registry


def dated_record(nct_id: str, day: str | None) -> dict[str, Any]:
    study = clone_record(study_raw(KNOWN), nct_id)
    status = study["protocolSection"]["statusModule"]
    if day is None:
        del status["lastUpdatePostDateStruct"]
    else:
        status["lastUpdatePostDateStruct"]["date"] = day
    return study


def get(http: requests.Session, replay: ReplayServer, path: str, **params: str) -> Any:
    """The JSON of a 200 reply."""
    reply = http.get(replay.url + path, params=params, allow_redirects=False, timeout=5)
    assert reply.status_code == 200, reply.text
    return reply.json()


def refused(http: requests.Session, replay: ReplayServer, path: str, **params: str) -> str:
    """The one line of a 400 reply."""
    reply = http.get(replay.url + path, params=params, timeout=5)
    assert reply.status_code == 400
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert "\n" not in reply.text
    return reply.text


def listed_ids(page: dict[str, Any]) -> list[str]:
    return [s["protocolSection"]["identificationModule"]["nctId"] for s in page["studies"]]


# -- fields: the projection keeps the nesting ----------------------------------------------------

IDENT, STATUS = PROTOCOL["identificationModule"], PROTOCOL["statusModule"]
INTERVENTIONS = PROTOCOL["armsInterventionsModule"]["interventions"]
PROJECTIONS = {
    "NCTId": {"protocolSection": {"identificationModule": {"nctId": KNOWN}}},
    "LastUpdatePostDate": {"protocolSection": {"statusModule": {
        "lastUpdatePostDateStruct": {"date": "2014-05-21"}}}},
    "LastUpdatePostDateStruct": {"protocolSection": {"statusModule": {
        "lastUpdatePostDateStruct": {"date": "2014-05-21", "type": "ESTIMATED"}}}},
    "NCTId|OverallStatus": {"protocolSection": {
        "identificationModule": {"nctId": KNOWN},
        "statusModule": {"overallStatus": "TERMINATED"}}},
    "NCTId,NCTIdAlias,LastUpdatePostDate": {"protocolSection": {
        "identificationModule": {"nctId": KNOWN},  # no aliases: none kept, none invented
        "statusModule": {"lastUpdatePostDateStruct": {"date": "2014-05-21"}}}},
    "protocolSection.statusModule.overallStatus": {"protocolSection": {
        "statusModule": {"overallStatus": "TERMINATED"}}},
    "StatusModule": {"protocolSection": {"statusModule": STATUS}},
    "IdentificationModule,BriefTitle": {"protocolSection": {"identificationModule": IDENT}},
    "ProtocolSection,NCTId": {"protocolSection": PROTOCOL},
    "HasResults": {"hasResults": STUDY["hasResults"]},
    "InterventionName,InterventionType": {"protocolSection": {"armsInterventionsModule": {
        "interventions": [{"type": i["type"], "name": i["name"]} for i in INTERVENTIONS]}}},
    "Condition": {"protocolSection": {"conditionsModule": {
        "conditions": PROTOCOL["conditionsModule"]["conditions"]}}},
}


@pytest.mark.parametrize(("fields", "expected"), PROJECTIONS.items(), ids=list(PROJECTIONS))
def test_fields_keep_the_nesting_of_what_they_select(http, replay, fields: str,
                                                     expected: dict[str, Any]) -> None:
    listed = get(http, replay, LIST, **{"filter.ids": KNOWN, "fields": fields})
    assert listed["studies"] == [expected]
    assert get(http, replay, f"{LIST}/{KNOWN}", fields=fields) == expected


def test_the_date_piece_is_the_date_of_its_struct() -> None:
    # The decision this replay rests on (fields.py: LastUpdatePostDate is a NormalizedDate).
    assert PIECES["LastUpdatePostDate"].endswith(".lastUpdatePostDateStruct.date")
    assert STATUS["lastUpdatePostDateStruct"]["type"] == "ESTIMATED"  # there, not selected


def test_a_field_a_study_lacks_is_left_out(http, replay, dated: Registry) -> None:
    undated = next(nct_id for nct_id, day in DATED.items() if day is None)
    listed = get(http, replay, LIST, **{"filter.ids": f"{undated},{KNOWN}",
                                        "fields": "LastUpdatePostDate"})
    assert listed["studies"] == [{}, PROJECTIONS["LastUpdatePostDate"]]


@pytest.mark.parametrize("fields", ["Foo", "StudyDesign", "nctId", "NCTID", "ConditionList",
                                    "protocolSection.statusModule.nothing", "NCTId,Foo", ""])
def test_an_unknown_field_is_a_400(http, replay, fields: str) -> None:
    name = fields.rsplit(",", 1)[-1]
    expected = f"Parameter 'fields' contains invalid field name: '{name}'"
    assert refused(http, replay, LIST, fields=fields) == expected
    assert refused(http, replay, f"{LIST}/{KNOWN}", fields=fields) == expected


# -- filter.advanced: RANGE over the last update posted date -------------------------------------

RANGES = [
    ("2024-01-15", "MAX", ["2024-01-15", "2024-01-16", "2024-02-01"]),
    ("MIN", "2024-01-15", ["2024-01-14", "2024-01-15"]),
    ("2024-01-15", "2024-01-15", ["2024-01-15"]),
    ("MIN", "MAX", ["2024-01-14", "2024-01-15", "2024-01-16", "2024-02-01"]),  # not the undated
    ("2024-01-16", "2024-01-14", []),
    ("2024-02-02", "MAX", []),
]


@pytest.mark.parametrize(("low", "high", "days"), RANGES)
def test_a_range_holds_both_its_ends(http, replay, dated: Registry, low: str, high: str,
                                     days: list[str]) -> None:
    query = {"filter.ids": ",".join(DATED), "filter.advanced": RANGE.format(low, high)}
    listed = get(http, replay, LIST, **query)
    assert listed_ids(listed) == [nct_id for nct_id, day in DATED.items() if day in days]


def test_a_range_and_ids_select_the_trials_in_both(http, replay, dated: Registry) -> None:
    some = [*list(DATED)[::2], KNOWN]  # 2024-01-14, 2024-01-16, undated; KNOWN: 2014
    both = get(http, replay, LIST, **{"filter.ids": "|".join(some), "pageSize": "100",
                                      "filter.advanced": RANGE.format("2024-01-15", "MAX")})
    assert listed_ids(both) == [list(DATED)[2]]
    alone = get(http, replay, LIST, **{"pageSize": "100",
                                       "filter.advanced": RANGE.format("2024-01-15", "MAX")})
    assert sorted(listed_ids(alone)) == sorted([*list(DATED)[1:4], "NCT03934567", "NCT05147467"])


@pytest.mark.parametrize(("advanced", "reason"), [
    ("AREA[Foo]RANGE[MIN,MAX]", "Unknown area name `Foo`"),
    ("AREA[StartDate]RANGE[2020-01-01,MAX]", "RANGE is read here on whole-day pieces only"),
    ("AREA[Phase]RANGE[MIN,MAX]", "RANGE is read here on whole-day pieces only"),
    ("AREA[LastUpdatePostDate]RANGE[2024-1-5,MAX]", "`2024-1-5` is neither a date"),
    ("AREA[LastUpdatePostDate]RANGE[MAX,MIN]", "`MAX` is neither a date (yyyy-MM-dd) nor MIN"),
    ("AREA[LastUpdatePostDate]RANGE[2024-01-15]", "RANGE takes two values"),
    ("AREA[LastUpdatePostDate]RANGE[2024-01-15,MAX] AND", "the expression ends where a term"),
    ("(AREA[Phase]PHASE3", "a parenthesis is not closed"),
    ("AREA[Phase]DISTANCE[1,2,3mi]", "`DISTANCE[1,2,3mi]` is not read here"),
    ("", "the expression is empty"),
])
def test_an_expression_this_registry_does_not_read_is_a_400(http, replay, advanced: str,
                                                            reason: str) -> None:
    text = refused(http, replay, LIST, **{"filter.advanced": advanced})
    assert text.startswith(f"Error parsing query in filter.advanced: {reason}")


def test_other_whole_day_areas_are_read_too(http, replay) -> None:
    # NCT00184067 was first posted 2005-09-16, NCT00973089 2009-09-09 (their records).
    listed = get(http, replay, LIST, **{"filter.ids": "NCT00184067,NCT00973089",
                 "filter.advanced": "AREA[StudyFirstPostDate]RANGE[MIN, 2005-09-16]"})
    assert listed_ids(listed) == ["NCT00184067"]


# -- paging: tokens bound to every parameter but pageSize, pageToken and countTotal --------------


def walk(http: requests.Session, replay: ReplayServer, **query: str) -> list[dict[str, Any]]:
    """Every page of a list query, following its tokens."""
    pages = [get(http, replay, LIST, **query)]
    while "nextPageToken" in pages[-1]:
        pages.append(get(http, replay, LIST, **query, pageToken=pages[-1]["nextPageToken"]))
    return pages


def test_a_projected_changed_since_query_pages_like_any_other(http, replay,
                                                              dated: Registry) -> None:
    query = {"filter.ids": ",".join([*DATED, *REGISTRY_STUDIES]), "pageSize": "2",
             "fields": "NCTId,LastUpdatePostDate",
             "filter.advanced": RANGE.format("2024-01-15", "MAX")}
    pages = walk(http, replay, **query)
    studies = [study for page in pages for study in page["studies"]]
    days = {s["protocolSection"]["identificationModule"]["nctId"]:
            s["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
            for s in studies}
    assert days == {**{k: v for k, v in DATED.items() if v and v >= "2024-01-15"},
                    "NCT03934567": "2025-04-10", "NCT05147467": "2024-01-23"}
    assert [len(page["studies"]) for page in pages] == [2, 2, 1]
    assert replay.counts == {"list": 3}


@pytest.mark.parametrize(("change", "accepted"), [
    ({"fields": "NCTId"}, False),
    ({"filter.advanced": RANGE.format("2024-01-16", "MAX")}, False),
    ({"filter.ids": ",".join(DATED)}, False),
    ({"markupFormat": "legacy"}, False),
    ({"pageSize": "3"}, True),
    ({"countTotal": "true"}, True),
])
def test_a_token_is_bound_to_every_parameter_but_the_page_s(http, replay, dated: Registry,
                                                            change: dict[str, str],
                                                            accepted: bool) -> None:
    query = {"filter.ids": ",".join([*DATED, *REGISTRY_STUDIES]), "pageSize": "2",
             "fields": "NCTId,LastUpdatePostDate",
             "filter.advanced": RANGE.format("MIN", "MAX")}
    token = get(http, replay, LIST, **query)["nextPageToken"]
    reply = http.get(replay.url + LIST, params={**query, **change, "pageToken": token}, timeout=5)
    if accepted:
        assert reply.status_code == 200
        assert listed_ids(reply.json())[0] == list(DATED)[2]  # the page after the first two
    else:
        assert (reply.status_code, reply.text) == (400, "Invalid value in parameter `pageToken`")


def test_count_total_is_on_the_first_page_only(http, replay, dated: Registry) -> None:
    query = {"filter.advanced": RANGE.format("2024-01-15", "MAX"), "pageSize": "2",
             "countTotal": "true"}
    pages = walk(http, replay, **query)
    assert [page.get("totalCount") for page in pages] == [5, None, None]


def test_the_bytes_sent_are_counted_by_route(http, replay) -> None:
    sizes = [len(http.get(replay.url + path, timeout=5).content) for path in (
        f"{LIST}?fields=NCTId", f"{LIST}/{KNOWN}", f"{LIST}/NCT99999999", "/api/v2/version")]
    assert replay.bytes_by_route == {"list": sizes[0], "study": sizes[1] + sizes[2],
                                     "version": sizes[3]}
    assert replay.bytes_sent == sum(sizes)
    replay.reset_counts()
    assert replay.bytes_sent == 0


# -- the client's light probe ------------------------------------------------------------------


def test_the_probe_asks_a_thousand_trials_a_request(replay, registry: Registry,
                                                    fast_api: ApiSettings) -> None:
    ids = generated_ids(2500)
    for number, nct_id in enumerate(ids):
        registry.publish(dated_record(nct_id, f"2024-01-{number % 28 + 1:02d}"))
    with Client(fast_api) as client:
        results = list(client.last_updates(ids))
    assert replay.counts == {"list": 3}
    assert [r.nct_id for r in results] == ids
    assert all(isinstance(r, LastUpdate) and r.registry_nct_id == r.nct_id for r in results)
    assert [r.last_update_posted for r in results] == [  # type: ignore[union-attr]
        f"2024-01-{number % 28 + 1:02d}" for number in range(2500)]
    probed = replay.bytes_sent
    replay.reset_counts()
    with Client(fast_api) as client:
        assert sum(isinstance(r, Fetched) for r in client.fetch_studies(ids)) == 2500
    assert probed * 50 < replay.bytes_sent  # ~150 bytes a trial instead of ~13 kB


def test_an_alias_asked_for_is_answered_with_the_current_id(replay, registry: Registry,
                                                            fast_api: ApiSettings) -> None:
    study = dated_record("NCT20000010", "2024-03-01")
    study["protocolSection"]["identificationModule"]["nctIdAliases"] = ["NCT20000011"]
    registry.publish(study)
    asked = {"NCT20000011": ("NCT20000010", "2024-03-01"), KNOWN: (KNOWN, "2014-05-21"),
             "NCT20000010": ("NCT20000010", "2024-03-01")}
    with Client(fast_api) as client:
        results = {r.nct_id: r for r in client.last_updates(asked)}
    assert results == {nct_id: LastUpdate(nct_id, current, day, f"{replay.url}{LIST}?filter.ids="
                                          f"{nct_id}&fields=NCTId,NCTIdAlias,LastUpdatePostDate")
                       for nct_id, (current, day) in asked.items()}
    assert replay.counts == {"list": 1}


def test_a_missing_trial_is_not_found_as_fetch_studies_says(replay, dated: Registry,
                                                            fast_api: ApiSettings) -> None:
    undated = next(nct_id for nct_id, day in DATED.items() if day is None)
    asked = [KNOWN, "NCT99999999", undated]
    with Client(fast_api) as client:
        probed = {r.nct_id: r for r in client.last_updates(asked)}
        fetched = {r.nct_id: r for r in client.fetch_studies(asked)}
    missing = probed["NCT99999999"]
    assert isinstance(missing, TrialNotFound)
    assert (type(missing), missing.reason) == (type(fetched["NCT99999999"]),
                                               fetched["NCT99999999"].reason)
    assert missing.url == (f"{replay.url}{LIST}/NCT99999999"
                           "?fields=NCTId,NCTIdAlias,LastUpdatePostDate")
    assert probed[undated].last_update_posted is None  # type: ignore[union-attr]
    assert replay.counts == {"list": 2, "study": 2}  # each: a page, then the missing id alone


def test_an_alias_the_page_leaves_out_is_followed_alone(replay, registry: Registry,
                                                        faults: Faults,
                                                        fast_api: ApiSettings) -> None:
    study = dated_record("NCT20000010", "2024-03-01")
    study["protocolSection"]["identificationModule"]["nctIdAliases"] = ["NCT20000011"]
    registry.publish(study)
    faults.add("list", "drop", target="NCT20000010", times=1)
    with Client(fast_api) as client:
        results = {r.nct_id: r for r in client.last_updates(["NCT20000011", KNOWN])}
    assert results["NCT20000011"] == LastUpdate("NCT20000011", "NCT20000010", "2024-03-01",
                                                f"{replay.url}{LIST}/NCT20000010")  # 301 followed
    assert replay.counts == {"list": 1, "study": 2}


def test_a_bad_page_is_halved_until_the_trial_at_fault(replay, faults: Faults,
                                                       fast_api: ApiSettings) -> None:
    faults.add("list", "poison", target="NCT03475563")
    with Client(fast_api) as client:
        results = {r.nct_id: r for r in client.last_updates(REGISTRY_STUDIES)}
    assert all(isinstance(r, LastUpdate) for r in results.values())  # the one alone: a GET
    assert replay.counts["study"] == 1 and replay.counts["list"] > 1


def test_a_record_that_is_not_json_is_served_as_is_and_fails_alone(http, replay,
                                                                     registry: Registry,
                                                                     fast_api: ApiSettings) -> None:
    registry.publish_raw("NCT03475563", b'{"protocolSection": {')  # cut short
    text = http.get(replay.url + LIST, params={"filter.ids": "NCT03475563", "fields": "NCTId",
                    "filter.advanced": RANGE.format("2099-01-01", "MAX")}, timeout=5).text
    assert text == '{"studies":[{"protocolSection": {]}'  # its fault shows, whatever the filter
    with Client(fast_api) as client:
        results = {r.nct_id: r for r in client.last_updates(REGISTRY_STUDIES)}
    assert isinstance(results.pop("NCT03475563"), BadResponse)
    assert all(isinstance(r, LastUpdate) for r in results.values())


def test_a_lone_surrogate_is_projected_as_the_escape_it_came_as(http, replay,
                                                                 registry: Registry) -> None:
    study = clone_record(study_raw(KNOWN), "NCT20000020")
    study["protocolSection"]["identificationModule"]["briefTitle"] = "Stopped \ud800 early"
    registry.publish_raw("NCT20000020", json.dumps(study).encode())
    reply = http.get(f"{replay.url}{LIST}/NCT20000020", params={"fields": "BriefTitle"},
                     timeout=5)
    assert reply.content == (b'{"protocolSection":{"identificationModule":'
                             b'{"briefTitle":"Stopped \\ud800 early"}}}')


def test_an_outage_fails_the_rest_without_asking(replay, faults: Faults,
                                                 fast_api: ApiSettings) -> None:
    faults.add("list", "status", status=503)
    ids = generated_ids(1500)
    with Client(fast_api) as client:
        results = list(client.last_updates(ids))
    assert [r.nct_id for r in results] == ids
    assert all(isinstance(r, FetchError) for r in results)
    assert "not requested, the registry is failing" in str(results[-1])
    assert replay.counts == {"list": 1 + fast_api.max_retries}


def test_ids_are_checked_before_any_request(replay, fast_api: ApiSettings) -> None:
    with Client(fast_api) as client, pytest.raises(InvalidNctId):
        list(client.last_updates([KNOWN, "NCT1"]))
    assert replay.counts == {}


# -- the client's changed-since query --------------------------------------------------------------


@pytest.mark.parametrize("day", [date(2024, 1, 15), "2024-01-15"])
def test_changed_since_gives_exactly_the_trials_that_moved(replay, dated: Registry,
                                                           fast_api: ApiSettings,
                                                           day: date | str) -> None:
    asked = [*DATED, *REGISTRY_STUDIES, "NCT99999999"]
    with Client(fast_api) as client:
        results = list(client.changed_since(asked, day))
    moved = [*(k for k, v in DATED.items() if v and v >= "2024-01-15"),
             "NCT03934567", "NCT05147467"]
    assert sorted(r.nct_id for r in results) == sorted(moved)
    assert all(isinstance(r, Fetched) for r in results)
    for result in results:
        assert result.data == json.loads(dated.record(result.nct_id) or b"")  # type: ignore
    assert replay.counts == {"list": 1}  # nothing asked for alone: left out is unmoved


def test_changed_since_asks_a_thousand_trials_a_request(replay, registry: Registry,
                                                        fast_api: ApiSettings) -> None:
    ids = generated_ids(2500)
    moved = set(ids[::250])
    for nct_id in ids:
        registry.publish(dated_record(nct_id, "2024-05-01" if nct_id in moved else "2023-01-01"))
    with Client(fast_api) as client:
        results = list(client.changed_since(ids, "2024-04-30"))
    assert {r.nct_id for r in results} == moved
    assert replay.counts == {"list": 3}
    assert replay.bytes_sent < 30 * len(study_raw(KNOWN))  # ten records and three page frames


def test_changed_since_fails_a_bad_record_alone(replay, dated: Registry, faults: Faults,
                                                fast_api: ApiSettings) -> None:
    faults.add("list", "poison", target="NCT05147467")
    with Client(fast_api) as client:
        results = {r.nct_id: r for r in client.changed_since(REGISTRY_STUDIES, "2024-01-01")}
    assert isinstance(results.pop("NCT05147467"), BadResponse)
    assert set(results) == {"NCT03934567"}
    assert replay.counts.get("study", 0) == 0  # halved down to a list request for one id


@pytest.mark.parametrize("day", ["2024-13-01", "yesterday", ""])
def test_changed_since_takes_a_day_only(replay, fast_api: ApiSettings, day: str) -> None:
    with Client(fast_api) as client, pytest.raises(ValueError):
        list(client.changed_since([KNOWN], day))
    assert replay.counts == {}
