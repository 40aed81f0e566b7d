"""The fetcher, request by request, with HTTP mocked by `responses` and time taken out."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from ctwatch import __version__
from ctwatch.errors import (
    BadResponse,
    FetchError,
    InvalidNctId,
    RateLimited,
    StoreError,
    TrialNotFound,
)
from ctwatch.fetch import (
    MAX_SPLITS_PER_BATCH,
    ApiSettings,
    Client,
    Fetched,
    RegistryVersion,
    save_raw,
)
from tests.conftest import clone_record, study_raw
from tests.helpers import REALDATA

BASE = "http://registry.test"
KNOWN = "NCT00184067"
STUDY_URL = f"{BASE}/api/v2/studies/{KNOWN}"
LIST_URL = f"{BASE}/api/v2/studies"
RAW = study_raw(KNOWN)
PLAIN = "text/plain;charset=UTF-8"


class Clock:
    """Time that only moves when the client sleeps; records the sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def client(clock: Clock, **settings: Any) -> Client:
    options: dict[str, Any] = {"base_url": BASE, "requests_per_second": 1000, "max_retries": 2,
                               "backoff_s": 1.0, "backoff_max_s": 8.0, "deadline_s": 60.0}
    return Client(ApiSettings(**{**options, **settings}), sleep=clock.sleep, clock=clock)


def study(nct_id: str, aliases: list[str] | None = None) -> dict[str, Any]:
    record = clone_record(RAW, nct_id)
    if aliases:
        record["protocolSection"]["identificationModule"]["nctIdAliases"] = aliases
    return record


def page(*studies: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    return {"studies": list(studies), **({"nextPageToken": token} if token else {})}


def listed_ids(request: requests.PreparedRequest) -> list[str]:
    return parse_qs(urlsplit(request.url).query)["filter.ids"][0].split(",")


def list_replies(mocked: responses.RequestsMock, registry: dict[str, dict[str, Any]]) -> None:
    """Answer list requests from ``registry`` like the API: ids and aliases, no paging."""

    def reply(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        wanted = listed_ids(request)
        found = [s for s in registry.values() if {_id(s), *_aliases(s)} & set(wanted)]
        return 200, {}, json.dumps(page(*found))

    mocked.add_callback("GET", LIST_URL, callback=reply, content_type="application/json")


def _id(record: dict[str, Any]) -> str:
    return record["protocolSection"]["identificationModule"]["nctId"]


def _aliases(record: dict[str, Any]) -> list[str]:
    return record["protocolSection"]["identificationModule"].get("nctIdAliases", [])


# -- one study ---------------------------------------------------------------------------------


def test_fetch_study_returns_the_raw_record(mocked, clock) -> None:
    mocked.get(STUDY_URL, body=RAW, content_type="application/json")
    fetched = client(clock).fetch_study(KNOWN)
    assert fetched.raw == RAW
    assert fetched.data == json.loads(RAW)
    assert (fetched.nct_id, fetched.registry_nct_id, fetched.url) == (KNOWN, KNOWN, STUDY_URL)
    assert fetched.fetched_at.tzinfo is UTC
    headers = mocked.calls[0].request.headers
    assert headers["User-Agent"].startswith(f"ctwatch/{__version__} (+https://")
    assert headers["Accept"] == "application/json"


def test_a_lower_case_id_is_upper_cased_before_the_request(mocked, clock) -> None:
    mocked.get(STUDY_URL, body=RAW, content_type="application/json")
    assert client(clock).fetch_study(" nct00184067 ").nct_id == KNOWN
    assert mocked.calls[0].request.url == STUDY_URL


@pytest.mark.parametrize("value", ["", "NCT0018406", "NCT001840677", "NCT0018406A", "00184067"])
def test_a_malformed_id_is_refused_before_any_request(mocked, clock, value: str) -> None:
    with pytest.raises(InvalidNctId):
        client(clock).fetch_study(value)
    with pytest.raises(InvalidNctId):
        list(client(clock).fetch_studies([KNOWN, value]))
    assert len(mocked.calls) == 0


def test_404_is_trial_not_found_without_retry(mocked, clock) -> None:
    url = f"{BASE}/api/v2/studies/NCT99999999"
    mocked.get(url, status=404, body="NCT number NCT99999999 not found", content_type=PLAIN)
    with pytest.raises(TrialNotFound) as raised:
        client(clock).fetch_study("NCT99999999")
    assert str(raised.value) == f"NCT99999999 ({url}): not found"
    assert (raised.value.nct_id, raised.value.url) == ("NCT99999999", url)
    assert len(mocked.calls) == 1


def test_400_is_a_bad_response_quoting_the_registry_without_retry(mocked, clock) -> None:
    mocked.get(STUDY_URL, status=400, body="Parameter `nctId` has incorrect format",
               content_type=PLAIN)
    with pytest.raises(BadResponse, match="HTTP 400: Parameter `nctId` has incorrect format"):
        client(clock).fetch_study(KNOWN)
    assert len(mocked.calls) == 1


@pytest.mark.parametrize(("body", "content_type", "cause"), [
    (b"<html><body>Maintenance</body></html>", "text/html", "expected JSON, got text/html"),
    (RAW[: len(RAW) // 2], "application/json", "not valid JSON"),
    (b"[1, 2]", "application/json", "expected a JSON object, got list"),
    (b'{"studies": []}', "application/json", "no protocolSection.identificationModule.nctId"),
    (json.dumps(study("NCT00000001")).encode(), "application/json",
     "registry returned NCT00000001, not the trial asked for"),
], ids=["html", "truncated json", "not an object", "not a study", "wrong id"])
def test_a_reply_that_is_not_the_record_is_a_bad_response(
    mocked, clock, body: bytes, content_type: str, cause: str
) -> None:
    mocked.get(STUDY_URL, body=body, content_type=content_type)
    with pytest.raises(BadResponse) as raised:
        client(clock).fetch_study(KNOWN)
    assert str(raised.value).startswith(f"{KNOWN} ({STUDY_URL}): ")
    assert cause in str(raised.value)
    assert len(mocked.calls) == 1


@pytest.mark.parametrize(("base_url", "cause"), [
    ("registry.test", "No scheme supplied"),
    ("ftp://registry.test", "No connection adapters were found"),
    ("http://", "No host supplied"),
], ids=["no scheme", "not http", "no host"])
def test_an_unusable_base_url_fails_every_trial_at_once(
    mocked, clock, base_url: str, cause: str
) -> None:
    results = list(client(clock, base_url=base_url).fetch_studies(["NCT00000001", KNOWN]))
    assert [type(r) for r in results] == [FetchError, FetchError]
    assert "not a usable URL" in results[0].reason and cause in results[0].reason
    assert "check api.base_url" in results[0].reason
    assert (len(mocked.calls), clock.sleeps) == (0, [])


def test_a_tls_failure_is_not_retried(mocked, clock) -> None:
    mocked.get(STUDY_URL, body=requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(FetchError, match=r"cannot reach the registry \(TLS failed: "):
        client(clock).fetch_study(KNOWN)
    assert (len(mocked.calls), clock.sleeps) == (1, [])


def test_an_alias_redirect_is_followed(mocked, clock) -> None:
    new_url = f"{BASE}/api/v2/studies/NCT20000000"
    mocked.get(STUDY_URL, status=301, headers={"Location": new_url})
    mocked.get(new_url, json=study("NCT20000000", aliases=[KNOWN]))
    fetched = client(clock).fetch_study(KNOWN)
    assert (fetched.nct_id, fetched.registry_nct_id, fetched.url) == (KNOWN, "NCT20000000", new_url)


def test_a_redirect_to_an_unrelated_record_is_refused(mocked, clock) -> None:
    new_url = f"{BASE}/api/v2/studies/NCT20000000"
    mocked.get(STUDY_URL, status=301, headers={"Location": new_url})
    mocked.get(new_url, json=study("NCT20000000"))
    with pytest.raises(BadResponse, match="registry returned NCT20000000"):
        client(clock).fetch_study(KNOWN)


# -- retries, backoff, pace and deadline -------------------------------------------------------


@pytest.mark.parametrize("failure", [
    {"status": 500}, {"status": 502}, {"status": 503}, {"status": 429},
    {"body": requests.ConnectionError("Connection refused")},
    {"body": requests.ReadTimeout("read timed out")},
    {"body": requests.exceptions.ChunkedEncodingError("IncompleteRead")},
], ids=["500", "502", "503", "429", "connection", "timeout", "truncated"])
def test_transient_failures_are_retried(mocked, clock, failure: dict[str, Any]) -> None:
    mocked.get(STUDY_URL, **failure)
    mocked.get(STUDY_URL, body=RAW, content_type="application/json")
    assert client(clock).fetch_study(KNOWN).raw == RAW
    assert len(mocked.calls) == 2
    assert len(clock.sleeps) == 1


def test_backoff_grows_with_jitter_up_to_its_cap(mocked, clock) -> None:
    mocked.get(STUDY_URL, status=503)
    with pytest.raises(FetchError, match=r"server error \(HTTP 503\), gave up after 6 attempts"):
        client(clock, max_retries=5, backoff_s=1.0, backoff_max_s=4.0).fetch_study(KNOWN)
    assert len(mocked.calls) == 6
    ceilings = [1, 2, 4, 4, 4]
    assert len(clock.sleeps) == 5
    assert all(c / 2 <= s <= c for s, c in zip(clock.sleeps, ceilings, strict=True))


def test_the_last_429_is_rate_limited(mocked, clock) -> None:
    mocked.get(STUDY_URL, status=429)
    with pytest.raises(RateLimited, match=r"rate limited .* gave up after 3 attempts"):
        client(clock).fetch_study(KNOWN)


@pytest.mark.parametrize("header", ["7", "date"])
def test_retry_after_is_honoured(mocked, clock, header: str) -> None:
    if header == "date":
        header = format_datetime(datetime.now(UTC) + timedelta(seconds=8), usegmt=True)
    mocked.get(STUDY_URL, status=429, headers={"Retry-After": header})
    mocked.get(STUDY_URL, body=RAW, content_type="application/json")
    client(clock).fetch_study(KNOWN)
    assert len(clock.sleeps) == 1
    assert 6 <= clock.sleeps[0] <= 8


def test_a_retry_after_past_the_deadline_gives_up_at_once(mocked, clock) -> None:
    mocked.get(STUDY_URL, status=503, headers={"Retry-After": "3600"})
    with pytest.raises(FetchError, match=r"next wait \(3600 s\) would pass the 60 s deadline"):
        client(clock).fetch_study(KNOWN)
    assert len(mocked.calls) == 1
    assert clock.sleeps == []


def test_the_deadline_bounds_all_retries(mocked, clock) -> None:
    mocked.get(STUDY_URL, status=500)
    with pytest.raises(FetchError, match="deadline"):
        patient = client(clock, max_retries=50, backoff_s=4, backoff_max_s=4, deadline_s=20)
        patient.fetch_study(KNOWN)
    assert sum(clock.sleeps) <= 20


def test_requests_are_paced(mocked, clock) -> None:
    mocked.get(STUDY_URL, body=RAW, content_type="application/json")
    paced = client(clock, requests_per_second=2)
    for _ in range(3):
        paced.fetch_study(KNOWN)
    assert clock.sleeps == [0.5, 0.5]


@pytest.mark.parametrize(("deadline", "timeouts"), [(60, (7, 7)), (5, (5, 7))],
                         ids=["time enough", "connecting within the deadline"])
def test_the_timeout_is_passed_to_every_request(mocked, clock, deadline: float,
                                                timeouts: tuple[float, float]) -> None:
    mocked.get(STUDY_URL, body=RAW, content_type="application/json")
    client(clock, timeout_s=7, deadline_s=deadline).fetch_study(KNOWN)
    # (connect, read): a read gets timeout_s, the watchdog ends the whole at the deadline
    assert mocked.calls[0].request.req_kwargs["timeout"] == timeouts


# -- many studies ------------------------------------------------------------------------------


def test_many_ids_go_in_one_list_request(mocked, clock) -> None:
    records = {nct_id: study(nct_id) for nct_id in ("NCT00000011", "NCT00000012", "NCT00000013")}
    list_replies(mocked, records)
    results = list(client(clock).fetch_studies(["nct00000011", "NCT00000012", "NCT00000013"]))
    assert [r.nct_id for r in results] == list(records)
    assert all(isinstance(r, Fetched) and r.data == records[r.nct_id] for r in results)
    assert len(mocked.calls) == 1
    query = parse_qs(urlsplit(mocked.calls[0].request.url).query)
    assert query == {"filter.ids": ["NCT00000011,NCT00000012,NCT00000013"], "pageSize": ["1000"]}
    first = results[0]
    assert first.raw == json.dumps(first.data, ensure_ascii=False, separators=(",", ":")).encode()
    assert first.url == f"{LIST_URL}?filter.ids=NCT00000011"


LISTS = {  # each kind of list request: what it adds to filter.ids and pageSize, in the URL
    "fetch_studies": (lambda c, ids: c.fetch_studies(ids), ""),
    "last_updates": (lambda c, ids: c.last_updates(ids),
                     "&fields=NCTId,NCTIdAlias,LastUpdatePostDate"),
    "changed_since": (lambda c, ids: c.changed_since(ids, date(2024, 1, 15)),
                      "&filter.advanced=AREA%5BLastUpdatePostDate%5DRANGE%5B2024-01-15,MAX%5D"),
}


@pytest.mark.parametrize(("ask", "params"), LISTS.values(), ids=list(LISTS))
def test_each_kind_of_list_request_sends_its_query(mocked, clock, ask, params: str) -> None:
    ids = ["NCT00000001", "NCT00000002"]
    list_replies(mocked, {nct_id: study(nct_id) for nct_id in ids})
    list(ask(client(clock), ids))
    assert [call.request.url for call in mocked.calls] == [
        f"{LIST_URL}?filter.ids=NCT00000001,NCT00000002&pageSize=1000{params}"]


def test_duplicate_ids_are_fetched_once(mocked, clock) -> None:
    list_replies(mocked, {"NCT00000011": study("NCT00000011"), "NCT00000012": study("NCT00000012")})
    results = list(client(clock).fetch_studies(["NCT00000011", "nct00000011", "NCT00000012"]))
    assert [r.nct_id for r in results] == ["NCT00000011", "NCT00000012"]


def test_batches_hold_page_size_ids(mocked, clock) -> None:
    ids = [f"NCT{n:08d}" for n in range(1, 8)]
    list_replies(mocked, {nct_id: study(nct_id) for nct_id in ids})
    mocked.get(f"{BASE}/api/v2/studies/NCT00000007", json=study("NCT00000007"))
    results = list(client(clock, page_size=3).fetch_studies(ids))
    assert sorted(r.nct_id for r in results if isinstance(r, Fetched)) == ids
    assert [len(listed_ids(call.request)) for call in mocked.calls[:2]] == [3, 3]
    # a batch of one is a single-study GET: same cost, and the raw bytes as the registry sent
    assert mocked.calls[2].request.url == f"{BASE}/api/v2/studies/NCT00000007"


def test_pages_are_followed_with_the_same_query(mocked, clock) -> None:
    one, two = study("NCT00000011"), study("NCT00000012")
    mocked.get(LIST_URL, json=page(one, token="tok/1+"),
               match=[responses.matchers.query_param_matcher(
                   {"filter.ids": "NCT00000011,NCT00000012", "pageSize": "1000"})])
    mocked.get(LIST_URL, json=page(two),
               match=[responses.matchers.query_param_matcher(
                   {"filter.ids": "NCT00000011,NCT00000012", "pageSize": "1000",
                    "pageToken": "tok/1+"})])
    results = list(client(clock).fetch_studies(["NCT00000011", "NCT00000012"]))
    assert [r.nct_id for r in results] == ["NCT00000011", "NCT00000012"]
    assert len(mocked.calls) == 2


def test_a_repeated_page_token_ends_the_pages(mocked, clock, caplog) -> None:
    mocked.get(LIST_URL, json=page(study("NCT00000011"), token="again"))
    mocked.get(f"{BASE}/api/v2/studies/NCT00000012", body="<html></html>",
               content_type="text/html")
    caplog.set_level("DEBUG", logger="ctwatch.fetch")
    results = list(client(clock).fetch_studies(["NCT00000011", "NCT00000012"]))
    assert results[0].nct_id == "NCT00000011"
    assert isinstance(results[1], BadResponse)
    assert "repeated a page token" in caplog.text
    assert len(mocked.calls) == 3  # two pages, then the id still missing on its own


def test_an_id_missing_from_the_page_is_confirmed_with_one_get(mocked, clock) -> None:
    list_replies(mocked, {"NCT00000011": study("NCT00000011")})
    missing = f"{BASE}/api/v2/studies/NCT00000012"
    mocked.get(missing, status=404, body="NCT number NCT00000012 not found", content_type=PLAIN)
    results = list(client(clock).fetch_studies(["NCT00000011", "NCT00000012"]))
    assert isinstance(results[0], Fetched)
    assert isinstance(results[1], TrialNotFound)
    assert str(results[1]) == f"NCT00000012 ({missing}): not found"


def test_a_listed_alias_answers_the_old_id(mocked, clock) -> None:
    list_replies(mocked, {"NCT00000021": study("NCT00000021", aliases=["NCT00000020"]),
                          "NCT00000011": study("NCT00000011")})
    results = list(client(clock).fetch_studies(["NCT00000011", "NCT00000020"]))
    assert [(r.nct_id, r.registry_nct_id) for r in results] == [
        ("NCT00000020", "NCT00000021"), ("NCT00000011", "NCT00000011")]
    assert len(mocked.calls) == 1


def test_an_unasked_study_in_a_page_is_not_passed_on(mocked, clock) -> None:
    mocked.get(LIST_URL, json=page(study("NCT00000011"), study("NCT00000099")))
    mocked.get(f"{BASE}/api/v2/studies/NCT00000012", json=study("NCT00000012"))
    results = list(client(clock).fetch_studies(["NCT00000011", "NCT00000012"]))
    assert [r.registry_nct_id for r in results] == ["NCT00000011", "NCT00000012"]


def test_a_414_halves_the_batches(mocked, clock) -> None:
    ids = [f"NCT{n:08d}" for n in range(1, 10)]
    records = {nct_id: study(nct_id) for nct_id in ids}

    def reply(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        wanted = listed_ids(request)
        if len(wanted) > 4:
            return 414, {}, "URI Too Long"
        return 200, {}, json.dumps(page(*(records[nct_id] for nct_id in wanted)))

    mocked.add_callback("GET", LIST_URL, callback=reply, content_type="application/json")
    results = list(client(clock).fetch_studies(ids))
    assert sorted(r.nct_id for r in results) == ids
    assert all(isinstance(r, Fetched) for r in results)
    # 9 ids: 414; 5: 414; then batches of 3, the size that fits, for the rest of the run
    assert [len(listed_ids(call.request)) for call in mocked.calls] == [9, 5, 3, 3, 3]


def test_a_failed_batch_names_each_trial_and_stops_the_run(mocked, clock) -> None:
    mocked.get(LIST_URL, status=503)
    ids = [f"NCT{n:08d}" for n in range(1, 6)]
    results = list(client(clock, page_size=2).fetch_studies(ids))
    assert [r.nct_id for r in results] == ids
    assert all(type(r) is FetchError and "HTTP 503" in str(r) for r in results)
    shown = f"{LIST_URL}?filter.ids=<2 ids>&pageSize=2"
    assert str(results[0]).startswith(f"NCT00000001 ({shown}): server error (HTTP 503)")
    assert str(results[2]).startswith(
        f"NCT00000003 ({shown}): not requested, the registry is failing: server error")
    assert len(mocked.calls) == 3  # one batch, tried 3 times; the others are not asked


def test_the_errors_of_a_failed_batch_share_one_url_and_reason(mocked, clock) -> None:
    mocked.get(LIST_URL, status=503)
    ids = [f"NCT{n:08d}" for n in range(1, 2501)]
    results = list(client(clock).fetch_studies(ids))
    asked, skipped = results[:1000], results[1000:]
    assert len({(r.url, r.reason) for r in asked}) == 1
    assert len({(r.url, r.reason) for r in skipped}) == 1
    assert asked[0].reason.startswith("server error (HTTP 503), gave up after 3 attempts")
    assert skipped[0].reason.startswith("not requested, the registry is failing: server error")
    assert all(str(r) == f"{r.nct_id} ({r.url}): {r.reason}" for r in results)


def test_confirming_gets_stop_when_the_registry_fails(mocked, clock) -> None:
    mocked.get(LIST_URL, json=page())
    mocked.get(f"{BASE}/api/v2/studies/NCT00000001", body=requests.ConnectionError("refused"))
    results = list(client(clock).fetch_studies(["NCT00000001", "NCT00000002", "NCT00000003"]))
    assert [r.nct_id for r in results] == ["NCT00000001", "NCT00000002", "NCT00000003"]
    assert "cannot reach the registry" in str(results[0])
    assert "not requested, the registry is failing" in str(results[2])
    assert len(mocked.calls) == 4  # the list, then 3 attempts at the first single GET


def test_a_bad_page_is_asked_again_in_halves(mocked, clock) -> None:
    mocked.get(LIST_URL, body="<html></html>", content_type="text/html")
    mocked.get(LIST_URL, json=page(study("NCT00000003"), study("NCT00000004")))
    mocked.get(f"{BASE}/api/v2/studies/NCT00000001", body="<html></html>",
               content_type="text/html")
    mocked.get(f"{BASE}/api/v2/studies/NCT00000002", json=study("NCT00000002"))
    ids = [f"NCT{n:08d}" for n in range(1, 5)]
    results = list(client(clock, page_size=2).fetch_studies(ids))
    assert [(r.nct_id, type(r)) for r in results] == [
        ("NCT00000001", BadResponse), ("NCT00000002", Fetched),
        ("NCT00000003", Fetched), ("NCT00000004", Fetched)]
    assert "expected JSON, got text/html" in str(results[0])


def poisoned_replies(mocked: responses.RequestsMock, ids: list[str], bad: str) -> None:
    """A registry whose record ``bad`` is nested too deeply to decode, alone or in a page."""
    deep = "[" * 100_000 + "]" * 100_000

    def reply(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        wanted = listed_ids(request)
        studies = [deep if nct_id == bad else json.dumps(study(nct_id)) for nct_id in wanted]
        return 200, {}, '{"studies":[' + ",".join(studies) + "]}"

    mocked.add_callback("GET", LIST_URL, callback=reply, content_type="application/json")
    for nct_id in ids:
        body = deep if nct_id == bad else json.dumps(study(nct_id))
        mocked.get(f"{BASE}/api/v2/studies/{nct_id}", body=body, content_type="application/json")


def test_a_reply_nested_too_deeply_is_a_bad_response(mocked, clock) -> None:
    poisoned_replies(mocked, [KNOWN], KNOWN)
    with pytest.raises(BadResponse) as raised:
        client(clock).fetch_study(KNOWN)
    assert str(raised.value) == (
        f"{KNOWN} ({STUDY_URL}): reply is not valid JSON (nested too deeply)")


def test_a_page_nested_too_deeply_fails_only_its_bad_trial(mocked, clock) -> None:
    ids = [f"NCT{n:08d}" for n in range(1, 1001)]
    poisoned_replies(mocked, ids, "NCT00000700")
    results = list(client(clock).fetch_studies(ids))
    assert sorted(r.nct_id for r in results) == ids
    [error] = [r for r in results if not isinstance(r, Fetched)]
    assert error.nct_id == "NCT00000700"
    assert "nested too deeply" in str(error)
    lists = [call for call in mocked.calls if call.request.url.startswith(f"{LIST_URL}?")]
    assert len(lists) <= 2 * 10 + 2  # halving 1000 ids down to one takes 10 steps


def test_a_listed_record_with_a_lone_surrogate_is_fetched_as_sent(mocked, clock) -> None:
    odd = study("NCT00000012")
    odd["protocolSection"]["identificationModule"]["briefTitle"] = "Stopped \ud800 early"
    sent = json.dumps(odd).encode()  # the escape "\ud800", as a registry would send it
    mocked.get(LIST_URL, body=b'{"studies":[' + json.dumps(study("NCT00000011")).encode() +
               b"," + sent + b"]}", content_type="application/json")
    mocked.get(f"{BASE}/api/v2/studies/NCT00000012", body=sent, content_type="application/json")
    results = list(client(clock).fetch_studies(["NCT00000011", "NCT00000012"]))
    assert [(r.nct_id, type(r)) for r in results] == [
        ("NCT00000011", Fetched), ("NCT00000012", Fetched)]
    assert results[1].raw == sent  # the bytes as sent: UTF-8 cannot hold a lone surrogate


def test_a_registry_sending_junk_to_every_request_is_not_hammered(mocked, clock) -> None:
    mocked.get(LIST_URL, body="<html>Maintenance</html>", content_type="text/html")
    ids = [f"NCT{n:08d}" for n in range(1, 1001)]
    for nct_id in ids:
        mocked.get(f"{BASE}/api/v2/studies/{nct_id}", body="<html>Maintenance</html>",
                   content_type="text/html")
    results = list(client(clock).fetch_studies(ids))
    assert sorted(r.nct_id for r in results) == ids
    assert all(isinstance(r, BadResponse) and "got text/html" in str(r) for r in results)
    # halving in search of one bad record stops: this is not one bad record
    assert len(mocked.calls) <= 2 * MAX_SPLITS_PER_BATCH + 1


# -- version and history -----------------------------------------------------------------------


def test_data_timestamp(mocked, clock) -> None:
    mocked.get(f"{BASE}/api/v2/version",
               json={"apiVersion": "2.0.5", "dataTimestamp": "2026-08-14T09:00:05"})
    assert client(clock).data_timestamp() == "2026-08-14T09:00:05"


def test_a_failing_version_check_gives_up_after_two_attempts(mocked, clock) -> None:
    mocked.get(f"{BASE}/api/v2/version", status=503)
    patient = client(clock, max_retries=5, timeout_s=10, deadline_s=120)
    with pytest.raises(FetchError, match="gave up after 2 attempts"):
        patient.data_timestamp()
    assert len(mocked.calls) == 2
    assert sum(clock.sleeps) <= 10


def test_a_version_check_that_times_out_is_not_tried_again(mocked, clock) -> None:
    def time_out(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        clock.now += request.req_kwargs["timeout"][1]  # (connect, read)
        raise requests.ReadTimeout("read timed out")

    mocked.add_callback("GET", f"{BASE}/api/v2/version", callback=time_out)
    patient = client(clock, max_retries=5, timeout_s=10, deadline_s=120)
    with pytest.raises(FetchError, match=r"no reply within 10 s .* pass the 10 s deadline"):
        patient.data_timestamp()
    assert len(mocked.calls) == 1
    assert clock.sleeps == []


def test_a_version_reply_without_timestamp_is_a_bad_response(mocked, clock) -> None:
    mocked.get(f"{BASE}/api/v2/version", json={"apiVersion": "2.0.5"})
    with pytest.raises(BadResponse, match=r"\(http://registry.test/api/v2/version\): .*Timestamp"):
        client(clock).data_timestamp()


def test_history_index_from_a_real_reply(mocked, clock) -> None:
    raw = (REALDATA / "history" / "NCT03690141_int_study_history_true.json").read_bytes()
    url = f"{BASE}/api/int/studies/NCT03690141"
    mocked.get(url, body=raw, content_type="application/json",
               match=[responses.matchers.query_param_matcher({"history": "true"})])
    versions = client(clock).history_index("nct03690141")
    assert [v.version for v in versions] == list(range(10))
    assert versions[0] == RegistryVersion(0, "2018-09-27", "NOT_YET_RECRUITING", ())
    assert versions[1].module_labels == ("Study Status", "Contacts/Locations")


def test_history_version_from_a_real_reply(mocked, clock) -> None:
    raw = (REALDATA / "history" / "NCT04280705_history_v0.json").read_bytes()
    url = f"{BASE}/api/int/studies/NCT04280705/history/0"
    mocked.get(url, body=raw, content_type="application/json")
    fetched = client(clock).history_version("NCT04280705", 0)
    assert (fetched.raw, fetched.registry_version, fetched.registry_nct_id) == (raw, 0,
                                                                                "NCT04280705")
    mocked.get(f"{BASE}/api/int/studies/NCT04280705/history/1", body=raw,
               content_type="application/json")
    with pytest.raises(BadResponse, match="not version 1"):
        client(clock).history_version("NCT04280705", 1)


def test_history_of_an_unknown_trial_is_not_found(mocked, clock) -> None:
    mocked.get(f"{BASE}/api/int/studies/NCT99999999", status=404, body="Not found",
               content_type=PLAIN)
    with pytest.raises(TrialNotFound):
        client(clock).history_index("NCT99999999")


# -- the session and saving --------------------------------------------------------------------


def test_a_given_session_is_left_open() -> None:
    class Session(requests.Session):
        closed = False

        def close(self) -> None:
            self.closed = True
            super().close()

    given = Session()
    with Client(ApiSettings(), session=given):
        pass
    assert not given.closed
    given.close()


def test_save_raw_writes_atomically(tmp_path: Path) -> None:
    fetched = Fetched(KNOWN, KNOWN, STUDY_URL, datetime.now(UTC), RAW, {})
    path = save_raw(fetched, tmp_path / "out")
    assert path == tmp_path / "out" / f"{KNOWN}.json"
    assert path.read_bytes() == RAW
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_save_raw_reports_an_unwritable_place(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    fetched = Fetched(KNOWN, KNOWN, STUDY_URL, datetime.now(UTC), RAW, {})
    with pytest.raises(StoreError, match="cannot write the record"):
        save_raw(fetched, tmp_path / "file")


def test_a_retry_after_that_is_no_ascii_number_is_ignored(mocked, clock) -> None:
    url = f"{BASE}/api/v2/studies/NCT00000011"
    mocked.get(url, status=503, headers={"Retry-After": "²"}, body="busy",
               content_type="text/plain")
    mocked.get(url, json=study("NCT00000011"))
    assert client(clock).fetch_study("NCT00000011").nct_id == "NCT00000011"


@pytest.mark.parametrize("location", ["http://[::1/x", "ftp://registry.test/x",
                                      "http://registry.test:99999/x"])
def test_a_redirect_to_an_unusable_location_fails_its_trial_only(mocked, clock,
                                                                  location: str) -> None:
    mocked.get(LIST_URL, json=page())
    mocked.get(f"{BASE}/api/v2/studies/NCT00000011", status=301,
               headers={"Location": location})
    mocked.get(f"{BASE}/api/v2/studies/NCT00000012", json=study("NCT00000012"))
    first, second = client(clock).fetch_studies(["NCT00000011", "NCT00000012"])
    assert isinstance(first, BadResponse) and "unusable Location" in str(first)
    assert isinstance(second, Fetched)
