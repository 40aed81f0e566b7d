"""The fetcher when the registry cannot be reached, or sends a record that cannot be decoded.

Failures below HTTP are made where they happen (the resolver, the socket, a TLS handshake
with a server that does not speak TLS); bad records come from the local registry's faults.
"""

from __future__ import annotations

import errno
import math
import socket
from dataclasses import replace
from typing import Any

import pytest
import requests

from ctwatch.errors import BadResponse, FetchError
from ctwatch.fetch import ApiSettings, Client, Fetched, Result
from ctwatch.replay import Registry, ReplayServer
from tests.conftest import REGISTRY_STUDIES, Faults, clone_record, generated_ids, study_raw

NAME_FAILURE = "[Errno -3] Temporary failure in name resolution"


def fetch_offline(base_url: str, ids: list[str]) -> tuple[list[Result], list[float]]:
    """The results of fetching ``ids`` from ``base_url``, and the waits the client asked for."""
    sleeps: list[float] = []
    with requests.Session() as session:
        session.trust_env = False  # a proxy from the environment would be resolved instead
        with Client(ApiSettings(base_url=base_url), session, sleep=sleeps.append) as client:
            return list(client.fetch_studies(ids)), sleeps


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Name resolution fails, as it does offline; the names looked up."""
    names: list[str] = []

    def fail(host: str, *args: Any, **kwargs: Any) -> Any:
        names.append(host)
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    return names


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """No route to any network, as on a machine whose interface is down; the connect calls."""
    calls: list[Any] = []

    def fail(sock: socket.socket, address: Any) -> None:
        calls.append(address)
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(socket.socket, "connect", fail)
    return calls


# -- the registry cannot be reached: one attempt, no waiting ----------------------------------


def test_an_unresolvable_registry_fails_one_trial_at_once(lookups: list[str]) -> None:
    [error], sleeps = fetch_offline("http://registry.test", ["NCT00184067"])
    assert isinstance(error, FetchError)
    assert error.reason == (
        f"cannot reach the registry (name resolution failed for registry.test: {NAME_FAILURE})")
    assert lookups == ["registry.test"]
    assert sleeps == []


def test_an_unresolvable_registry_fails_2500_trials_with_one_attempt(lookups: list[str]) -> None:
    ids = generated_ids(2500)
    results, sleeps = fetch_offline("http://registry.test", ids)
    assert lookups == ["registry.test"]
    assert sum(sleeps) == 0
    assert [r.nct_id for r in results] == ids
    assert all(isinstance(r, FetchError) and "name resolution failed" in r.reason
               for r in results)
    # the 1000 ids asked for share one failure, the 1500 not asked for share another
    assert len({(r.url, r.reason) for r in results}) == 2
    assert results[-1].reason.startswith("not requested, the registry is failing: cannot reach")


def test_an_unreachable_network_is_not_retried(connects: list[Any]) -> None:
    results, sleeps = fetch_offline("http://192.0.2.1", generated_ids(1500))
    assert len(connects) == 1
    assert sleeps == []
    assert all(isinstance(r, FetchError) for r in results)
    assert "cannot reach the registry ([Errno 101] Network is unreachable)" in str(results[0])


def test_a_server_that_does_not_speak_tls_is_not_retried(replay: ReplayServer,
                                                         fast_api: ApiSettings) -> None:
    sleeps: list[float] = []
    # The handshake fails at once: the server's answer, an HTTP 400, is not a TLS record.
    settings = replace(fast_api, base_url=replay.url.replace("http://", "https://"))
    with Client(settings, sleep=sleeps.append) as client:
        results = list(client.fetch_studies(REGISTRY_STUDIES))
        with pytest.raises(FetchError) as raised:
            client.fetch_study(REGISTRY_STUDIES[0])
    assert [r.nct_id for r in results] == list(REGISTRY_STUDIES)
    assert all(isinstance(r, FetchError) for r in results)
    assert raised.value.reason.startswith("cannot reach the registry (TLS failed: [SSL: ")
    assert "gave up" not in raised.value.reason
    assert sleeps == []


def test_a_registry_that_is_down_is_still_retried(registry: Registry) -> None:
    with ReplayServer(registry) as server:
        url = server.url  # closed on leaving: connections are refused
    settings = ApiSettings(base_url=url, max_retries=2, backoff_s=0.01, requests_per_second=1000)
    with Client(settings) as client, pytest.raises(FetchError) as raised:
        client.fetch_study(REGISTRY_STUDIES[0])
    assert raised.value.reason.startswith("cannot reach the registry ([Errno 111] Connection "
                                          "refused), gave up after 3 attempts")


# -- the version check ------------------------------------------------------------------------


def test_a_failing_version_check_makes_two_attempts(replay: ReplayServer, faults: Faults,
                                                    fast_api: ApiSettings) -> None:
    faults.add("version", "status", status=500)
    # the bound is one timeout in all; 5 s leaves room for a slow machine to make both attempts
    with Client(replace(fast_api, timeout_s=5.0, max_retries=5)) as client, \
            pytest.raises(FetchError, match="gave up after 2 attempts"):
        client.data_timestamp()
    assert replay.counts == {"version": 2}


# -- a record that cannot be decoded fails alone ----------------------------------------------


def many_trials(registry: Registry, count: int) -> list[str]:
    ids = generated_ids(count)
    template = study_raw(REGISTRY_STUDIES[1])
    for nct_id in ids:
        registry.publish(clone_record(template, nct_id))
    return ids


@pytest.mark.parametrize(("count", "poisoned"), [(5, 0), (5, 2), (5, 4), (200, 137)],
                         ids=["5, first", "5, middle", "5, last", "200"])
def test_a_record_that_cannot_be_decoded_fails_alone(
    registry: Registry, replay: ReplayServer, faults: Faults, fast_api: ApiSettings,
    count: int, poisoned: int
) -> None:
    ids = list(REGISTRY_STUDIES) if count == 5 else many_trials(registry, count)
    target = ids[poisoned]
    faults.add("list", "poison", target=target)
    faults.add("study", "poison", target=target)
    with Client(fast_api) as client:
        results = list(client.fetch_studies(ids))
    assert sorted(r.nct_id for r in results if isinstance(r, Fetched)) == sorted(
        set(ids) - {target})
    [error] = [r for r in results if not isinstance(r, Fetched)]
    assert isinstance(error, BadResponse)
    assert error.nct_id == target
    assert error.reason == "reply is not valid JSON (nested too deeply)"
    assert replay.counts["list"] <= 2 * math.log2(count) + 2
