"""The local registry (ctwatch/replay.py) answers like clinicaltrials.gov, and the client agrees."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from ctwatch.errors import FetchError
from ctwatch.fetch import ApiSettings, Client, Fetched
from ctwatch.replay import Registry, ReplayServer, Version, canonical_id
from tests.conftest import clone_record, generated_ids, study_raw

KNOWN = "NCT00184067"
RAW = study_raw(KNOWN)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get(http: requests.Session, replay: ReplayServer, path: str) -> requests.Response:
    return http.get(replay.url + path, allow_redirects=False, timeout=5)


@pytest.mark.parametrize(("value", "expected"), [
    ("NCT00184067", "NCT00184067"), ("nct184067", "NCT00184067"), ("NCT0", None),
    ("NCT123456789", None), ("NCTx", None),
])
def test_canonical_id_follows_the_api_pattern(value: str, expected: str | None) -> None:
    assert canonical_id(value) == expected


def test_a_study_is_served_as_is(http, replay) -> None:
    reply = get(http, replay, f"/api/v2/studies/{KNOWN}")
    assert (reply.status_code, reply.headers["Content-Type"]) == (200, "application/json")
    assert reply.content == RAW


@pytest.mark.parametrize(("path", "status", "text"), [
    ("/api/v2/studies/NCT99999999", 404, "NCT number NCT99999999 not found"),
    ("/api/v2/studies/NCT1x", 400, "Parameter `nctId` has incorrect format"),
    ("/api/v2/studies?foo=1", 400, "`foo` is unknown parameter"),
    ("/api/v2/studies?filter.ids=NCT00184067&pageToken=9.bad", 400,
     "Invalid value in parameter `pageToken`"),
    ("/api/v2/studies?pageSize=0", 400, "Invalid value in parameter `pageSize`"),
    ("/nothing/here", 404, "Not Found"),
])
def test_errors_are_one_line_of_plain_text(http, replay, path: str, status: int, text: str) -> None:
    reply = get(http, replay, path)
    assert reply.status_code == status
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert reply.text == text


def test_an_alias_redirects_to_the_current_id(http, replay, registry: Registry) -> None:
    study = clone_record(RAW, "NCT20000000")
    study["protocolSection"]["identificationModule"]["nctIdAliases"] = ["NCT20000001"]
    registry.publish(study)
    reply = get(http, replay, "/api/v2/studies/NCT20000001")
    assert (reply.status_code, reply.headers["Location"]) == (301, "/api/v2/studies/NCT20000000")
    listed = get(http, replay, "/api/v2/studies?filter.ids=NCT20000001").json()
    assert [_id(s) for s in listed["studies"]] == ["NCT20000000"]


def test_list_pages_follow_tokens(http, replay) -> None:
    ids = ["NCT00184067", "NCT00973089", "NCT99999999", "NCT03475563"]
    query = f"/api/v2/studies?filter.ids={'|'.join(ids)}&pageSize=2"
    first = get(http, replay, query).json()
    assert [_id(s) for s in first["studies"]] == ids[:2]
    second = get(http, replay, f"{query}&pageToken={first['nextPageToken']}").json()
    assert [_id(s) for s in second["studies"]] == ["NCT03475563"]
    assert "nextPageToken" not in second
    assert replay.counts == {"list": 2}
    assert replay.paths == {"/api/v2/studies": 2}


def test_page_size_defaults_to_10_and_is_clamped_to_1000(http, replay, registry) -> None:
    for nct_id in generated_ids(1005):
        registry.publish(clone_record(RAW, nct_id))
    assert len(get(http, replay, "/api/v2/studies").json()["studies"]) == 10
    assert len(get(http, replay, "/api/v2/studies?pageSize=5000").json()["studies"]) == 1000


def test_version_and_history(http, replay, registry: Registry) -> None:
    registry.data_timestamp = "2026-08-14T09:00:05"
    assert get(http, replay, "/api/v2/version").json() == {
        "apiVersion": "2.0.5", "dataTimestamp": "2026-08-14T09:00:05"}
    first = json.loads(RAW)
    registry.add_version(KNOWN, Version("2005-09-16", first))
    registry.add_version(KNOWN, Version("2014-05-21", first, ("Study Status",)))
    index = get(http, replay, f"/api/int/studies/{KNOWN}?history=true").json()
    assert index["history"]["changes"][1] == {"version": 1, "date": "2014-05-21",
                                              "status": "TERMINATED",
                                              "moduleLabels": ["Study Status"]}
    assert "history" not in get(http, replay, f"/api/int/studies/{KNOWN}").json()
    version = get(http, replay, f"/api/int/studies/{KNOWN}/history/1").json()
    assert version == {"studyVersion": 1, "study": first}
    assert get(http, replay, f"/api/int/studies/{KNOWN}/history/2").status_code == 404


def test_the_client_against_the_local_registry(replay, registry: Registry, fast_api) -> None:
    ids = generated_ids(2500)
    for nct_id in ids:
        registry.publish(clone_record(RAW, nct_id))
    with Client(fast_api) as client:
        results = list(client.fetch_studies([*ids, "NCT99999999"]))
        versions = client.history_index(KNOWN)
        version = client.history_version(KNOWN, 0)
        stamp = client.data_timestamp()
    assert sum(isinstance(r, Fetched) for r in results) == 2500
    assert str(results[-1]).endswith("/api/v2/studies/NCT99999999): not found")
    assert replay.counts == {"list": 3, "study": 1, "history_index": 1, "history_version": 1,
                             "version": 1}
    assert [v.version for v in versions] == [0]
    assert version.registry_nct_id == KNOWN
    assert stamp == registry.data_timestamp


def test_a_closed_server_is_a_connection_failure(registry: Registry) -> None:
    with ReplayServer(registry) as server:
        url = server.url
    settings = ApiSettings(base_url=url, max_retries=1, backoff_s=0.01, requests_per_second=100)
    with Client(settings) as client, pytest.raises(FetchError, match="cannot reach the registry"):
        client.fetch_study(KNOWN)


def _id(study: dict) -> str:
    return study["protocolSection"]["identificationModule"]["nctId"]
