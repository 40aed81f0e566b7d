"""The fetcher against a hostile registry (issue 11): endless page tokens, a trickling reply,
a body without end, a gzip bomb, a redirect with an endless body, deep JSON; and SIGINT or
SIGTERM abandoning a request that a trickling or silent server holds up.

Each costs bounded requests, memory (traced by tracemalloc, in this very process) and time: a
deadline of 1 s of the client's clock, or a signal; no assertion on wall-clock time.
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import threading
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
import responses

from ctwatch import fetch
from ctwatch.errors import BadResponse, FetchError, Interrupted, TrialNotFound
from ctwatch.fetch import ApiSettings, Client, Fetched
from ctwatch.replay import ReplayServer
from ctwatch.signals import stop_signals
from tests.conftest import REGISTRY_STUDIES, SAFETY_S, Faults, generated_ids, study_raw
from tests.helpers import signal_when, wait_for

MB = 1024 * 1024
TARGET = REGISTRY_STUDIES[2]


@contextmanager
def traced() -> Iterator[list[int]]:
    """The peak of memory allocated by Python in this process (server threads included)."""
    peak: list[int] = []
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


# -- finding 1: endless paging ----------------------------------------------------------------


def test_a_registry_that_always_sends_a_page_token_costs_one_request_per_batch(
    replay: ReplayServer, faults: Faults, fast_api: ApiSettings
) -> None:
    faults.add("list", "endless_tokens", times=50)
    with Client(fast_api) as client:
        results = list(client.fetch_studies(REGISTRY_STUDIES))
    assert [type(r) for r in results] == [Fetched] * len(REGISTRY_STUDIES)
    # every id came back on the first page: a further token is not followed
    assert replay.counts == {"list": 1}


def test_endless_page_tokens_end_after_the_pages_a_batch_needs(
    replay: ReplayServer, faults: Faults, fast_api: ApiSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch, "MAX_SPLITS_PER_BATCH", 0)  # the error itself, not its recovery
    faults.add("list", "endless_tokens", target=TARGET, times=50)
    with Client(fast_api) as client:
        results = {r.nct_id: r for r in client.fetch_studies(REGISTRY_STUDIES)}
    error = results.pop(TARGET)
    assert isinstance(error, BadResponse)
    assert error.reason == "the registry kept sending page tokens (3 pages for 5 ids)"
    assert all(isinstance(r, Fetched) for r in results.values())
    assert replay.counts == {"list": 3}


def test_a_batch_that_pages_forever_is_split_and_its_trials_still_fetched(
    replay: ReplayServer, faults: Faults, fast_api: ApiSettings
) -> None:
    faults.add("list", "endless_tokens", target=TARGET, times=50)
    with Client(fast_api) as client:
        results = list(client.fetch_studies(REGISTRY_STUDIES))
    assert all(isinstance(r, Fetched) for r in results)
    assert {r.nct_id for r in results} == set(REGISTRY_STUDIES)
    # 3 pages for the batch, then TARGET alone: one GET
    assert replay.counts == {"list": 3, "study": 1}


def test_a_registry_paging_forever_for_1000_ids_costs_a_bounded_number_of_requests(
    replay: ReplayServer, faults: Faults, fast_api: ApiSettings
) -> None:
    ids = generated_ids(1000)  # none is published: no page ever completes the batch
    faults.add("list", "endless_tokens", times=5000)
    with Client(fast_api) as client:
        results = list(client.fetch_studies(ids))
    assert sorted(r.nct_id for r in results) == ids
    assert all(isinstance(r, TrialNotFound) or "kept sending page tokens" in r.reason
               for r in results)
    pages = 1 + fetch.EXTRA_PAGES
    assert replay.counts["list"] <= pages * (1 + 2 * fetch.MAX_SPLITS_PER_BATCH)
    assert replay.counts["study"] <= 2 * fetch.MAX_SPLITS_PER_BATCH


# -- finding 2: the deadline holds while a body is read; the body is bounded -------------------


def test_a_trickling_reply_ends_at_the_deadline(
    replay: ReplayServer, faults: Faults, fast_api: ApiSettings, settle: None
) -> None:
    fault = faults.add("study", "trickle", delay_s=0.05)
    with Client(replace(fast_api, deadline_s=1, timeout_s=5)) as client, \
            pytest.raises(FetchError) as raised:
        client.fetch_study(TARGET)
    assert raised.value.reason == "reply not complete within the deadline (1 s)"
    assert replay.counts == {"study": 1}  # the deadline has passed: no retry
    assert fault.hung_up.wait(10), "the abandoned connection was not closed"


def test_a_trickling_list_page_fails_its_trials_as_a_registry_outage(
    replay: ReplayServer, faults: Faults, fast_api: ApiSettings, settle: None
) -> None:
    faults.add("list", "trickle", delay_s=0.05)
    with Client(replace(fast_api, deadline_s=1, timeout_s=5, page_size=2)) as client:
        results = list(client.fetch_studies(REGISTRY_STUDIES))
    assert all(isinstance(r, FetchError) for r in results)
    assert "reply not complete within the deadline (1 s)" in results[0].reason
    assert results[-1].reason.startswith("not requested, the registry is failing: reply not")
    assert replay.counts == {"list": 1}


def test_an_endless_body_stops_at_max_reply_mb(
    replay: ReplayServer, faults: Faults, fast_api: ApiSettings
) -> None:
    fault = faults.add("study", "endless", size_mb=64)
    with traced() as peak, Client(replace(fast_api, max_reply_mb=2)) as client, \
            pytest.raises(BadResponse) as raised:
        client.fetch_study(TARGET)
    assert raised.value.reason == "reply larger than 2 MB (api.max_reply_mb)"
    assert replay.counts == {"study": 1}  # not transient: not retried
    assert peak[0] < 20 * MB
    assert fault.hung_up.wait(10), "the abandoned connection was not closed"


def test_a_list_page_larger_than_max_reply_mb_is_asked_for_in_halves(
    replay: ReplayServer, faults: Faults, fast_api: ApiSettings
) -> None:
    faults.add("list", "endless", size_mb=64)
    with traced() as peak, Client(replace(fast_api, max_reply_mb=2)) as client:
        results = list(client.fetch_studies(REGISTRY_STUDIES))
    assert all(isinstance(r, Fetched) for r in results)  # halves, down to single GETs
    assert replay.counts["list"] <= 2 * len(REGISTRY_STUDIES)
    assert peak[0] < 20 * MB


# -- finding 3: gzip bomb ---------------------------------------------------------------------


def test_a_gzip_bomb_stops_at_the_cap_in_bounded_memory(
    replay: ReplayServer, faults: Faults, fast_api: ApiSettings
) -> None:
    faults.add("study", "gzip_bomb", size_mb=3072)  # ~3 MB on the wire, 3 GB inflated
    with traced() as peak, Client(fast_api) as client, pytest.raises(BadResponse) as raised:
        client.fetch_study(TARGET)
    default = fetch.DEFAULT_MAX_REPLY_MB
    assert raised.value.reason == f"reply larger than {default:g} MB (api.max_reply_mb)"
    assert peak[0] < default * MB + 16 * MB  # the cap, and never a whole inflated read more


def test_a_gzipped_reply_is_read() -> None:
    raw = study_raw(TARGET)
    with responses.RequestsMock() as mocked:
        url = f"http://registry.test/api/v2/studies/{TARGET}"
        mocked.get(url, body=gzip.compress(raw), content_type="application/json",
                   headers={"Content-Encoding": "gzip"})
        with Client(ApiSettings(base_url="http://registry.test")) as client:
            assert client.fetch_study(TARGET).raw == raw
        assert mocked.calls[0].request.headers["Accept-Encoding"] == "gzip"


@pytest.mark.parametrize(("body", "encoding", "reason"), [
    (gzip.compress(b"{}")[:-12], "gzip", "reply cut short (truncated gzip body)"),
    (b"not gzip at all", "gzip", "reply cannot be decompressed (gzip: Error -3"),
    (b"{}", "br", "reply in an encoding that was not asked for (br)"),
], ids=["cut gzip", "not gzip", "brotli"])
def test_a_body_that_cannot_be_inflated_is_one_line(body: bytes, encoding: str,
                                                    reason: str) -> None:
    with responses.RequestsMock() as mocked:
        url = f"http://registry.test/api/v2/studies/{TARGET}"
        mocked.get(url, body=body, content_type="application/json",
                   headers={"Content-Encoding": encoding})
        settings = ApiSettings(base_url="http://registry.test", max_retries=0)
        with Client(settings) as client, pytest.raises(FetchError) as raised:
            client.fetch_study(TARGET)
    assert raised.value.reason.startswith(reason)


# -- redirects: followed by hand, their bodies never read ---------------------------------------


class Endless(io.RawIOBase):
    """A body of ``size`` zero bytes, made as it is read."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def test_a_redirect_with_an_endless_body_is_followed_without_reading_it() -> None:
    old, new = (f"http://registry.test/api/v2/studies/{n}" for n in ("NCT00184067", TARGET))
    record = study_raw(TARGET)
    with responses.RequestsMock() as mocked, traced() as peak:
        mocked.get(old, status=301, headers={"Location": new},
                   body=io.BufferedReader(Endless(512 * MB)), auto_calculate_content_length=False)
        mocked.get(new, body=record.replace(TARGET.encode(), b"NCT00184067", 1),
                   content_type="application/json")
        with Client(ApiSettings(base_url="http://registry.test")) as client:
            fetched = client.fetch_study("NCT00184067")
    assert fetched.url == new
    assert peak[0] < 20 * MB


def test_a_redirect_loop_ends_after_a_few_hops() -> None:
    url = f"http://registry.test/api/v2/studies/{TARGET}"
    with responses.RequestsMock() as mocked:
        mocked.get(url, status=301, headers={"Location": url})
        with Client(ApiSettings(base_url="http://registry.test")) as client, \
                pytest.raises(BadResponse, match="more than 5 redirects"):
            client.fetch_study(TARGET)
        assert len(mocked.calls) == 6


# -- deep JSON --------------------------------------------------------------------------------


def test_a_version_reply_nested_too_deeply_is_one_line(
    replay: ReplayServer, faults: Faults, fast_api: ApiSettings
) -> None:
    faults.add("version", "poison")
    with Client(fast_api) as client, pytest.raises(BadResponse) as raised:
        client.data_timestamp()
    assert str(raised.value) == (f"({fast_api.base_url}/api/v2/version): reply is not valid JSON "
                                 "(nested too deeply)")


# -- SIGINT and SIGTERM: abandon what holds the stop up, after a grace period -------------------


@pytest.mark.parametrize(("kind", "signum"), [
    ("trickle", signal.SIGINT), ("silent", signal.SIGTERM)],
    ids=["SIGINT, a reply trickles", "SIGTERM, the server is silent"])
def test_a_stop_signal_abandons_a_request_held_up_after_the_grace_period(
    replay: ReplayServer, faults: Faults, fast_api: ApiSettings, settle: None, kind: str,
    signum: int
) -> None:
    fault = faults.add("study", kind, delay_s=0.05 if kind == "trickle" else SAFETY_S)
    stopped = threading.Event()
    patient = replace(fast_api, timeout_s=SAFETY_S, deadline_s=2 * SAFETY_S)
    sender = signal_when(lambda: replay.counts["study"] > 0, signum)
    with pytest.raises(Interrupted) as raised, Client(patient) as client, \
            stop_signals(stopped.set, grace_s=0.2):
        client.fetch_study(TARGET)
    sender.join()
    assert stopped.is_set()
    assert not faults.released.is_set()  # stopped by the signal, not by the safety release
    assert str(raised.value) == (f"stopped by {signal.Signals(signum).name}; the next run checks "
                                 "every trial again")
    if kind == "trickle":
        assert fault.hung_up.wait(10), "the abandoned connection was not closed"
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL


def test_a_second_signal_stops_at_once(
    replay: ReplayServer, faults: Faults, fast_api: ApiSettings, settle: None
) -> None:
    faults.add("study", "silent", delay_s=SAFETY_S)
    stopped = threading.Event()
    patient = replace(fast_api, timeout_s=SAFETY_S, deadline_s=2 * SAFETY_S)
    sender = signal_when(lambda: replay.counts["study"] > 0, signal.SIGINT, stopped.is_set)
    with pytest.raises(Interrupted), Client(patient) as client, \
            stop_signals(stopped.set, grace_s=SAFETY_S):
        client.fetch_study(TARGET)
    sender.join()
    assert not faults.released.is_set()  # the second signal, not the grace or the safety


def test_without_a_grace_period_a_signal_only_asks_to_stop() -> None:
    """The daemon's way: its checks run in a worker thread, which a signal cannot interrupt."""
    stopped = threading.Event()
    with stop_signals(stopped.set, grace_s=None):
        os.kill(os.getpid(), signal.SIGTERM)
        assert wait_for(stopped.is_set)
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        os.kill(os.getpid(), signal.SIGTERM)  # a second one: still no exception
