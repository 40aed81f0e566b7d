"""The one transport of the registry's GETs and the webhook's POSTs (issue 12), against a real
HTTP server on 127.0.0.1 that answers as each test scripts it.

The deadline holds from connecting to the last byte: a server trickling its status line, a
header or a chunk size, a byte at a time, each well within timeout_s, is cut off at the
deadline. Time is measured by the server's own clock, with a generous bound; a regression
fails at SAFETY_S, when the server lets go, rather than hanging.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ctwatch.connections import session_for
from ctwatch.errors import FetchError, NotifyError
from ctwatch.fetch import ApiSettings, Client
from ctwatch.limits import MAX_WEBHOOK_BACKOFF_S
from ctwatch.model import ChangeSet
from ctwatch.notify.webhook import WebhookChannel, payload
from ctwatch.transport import Transport

SAFETY_S = 30  # the server stops trickling then: a deadline that does not hold fails, not hangs
PACE_S = 0.02  # between two bytes of a trickle: far within any timeout below
TOKEN = "T0K3N-s3cr3t"
TRIAL = "NCT00184067"
CHANGE_SET = ChangeSet(1, "NCT04083898", "T", 1, 2, 3, 4, "2024-01-01", "2024-02-01",
                       "2024-02-02T00:00:00Z")


@dataclass
class Answer:
    """One reply: ``head`` at once, then ``drip`` a byte every PACE_S until the server lets go;
    with ``hold``, nothing until then."""

    head: bytes = b""
    drip: bytes = b""
    hold: bool = False


def status(code: int, *headers: str) -> Answer:
    lines = [f"HTTP/1.1 {code} {HTTPStatus(code).phrase}", "Content-Length: 0", *headers]
    return Answer(("\r\n".join(lines) + "\r\n\r\n").encode())


CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
TRICKLES = {
    "status line": Answer(b"HTTP/1.1 200 OK", b" "),  # its phrase, a space at a time
    "header": Answer(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: ", b"a"),
    "chunk size": Answer(CHUNKED, b"0"),  # a size of ever more leading zeros
}


@dataclass
class Endpoint:
    """What the server received (method, path, headers, body) and how long each reply lasted
    before the client hung up, by the server's clock."""

    url: str = ""
    answers: list[Answer] = field(default_factory=list)  # one per request; then 200
    received: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    hung_up_after: list[float] = field(default_factory=list)
    hung_up: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        self.received.append((handler.command, handler.path, dict(handler.headers), body))
        answer = self.answers.pop(0) if self.answers else status(200)
        started = time.monotonic()
        try:
            if answer.hold:
                self.released.wait(SAFETY_S)
            handler.wfile.write(answer.head)
            while answer.drip and not self.released.wait(PACE_S):
                handler.wfile.write(answer.drip)
        except (BrokenPipeError, ConnectionResetError):
            self.hung_up_after.append(time.monotonic() - started)
            self.hung_up.set()
        handler.close_connection = True


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    served = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            served.answer(self)

        def do_POST(self) -> None:
            served.answer(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    safety = threading.Timer(SAFETY_S, served.released.set)
    safety.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield served
    finally:
        safety.cancel()
        served.released.set()
        server.shutdown()
        server.server_close()
        thread.join()


def webhook(endpoint: Endpoint, **settings: Any) -> WebhookChannel:
    return WebhookChannel("hook", f"{endpoint.url}/hook/{TOKEN}", **settings)


# -- the deadline holds end to end --------------------------------------------------------------


@pytest.mark.parametrize("trickle", TRICKLES)
def test_a_trickling_reply_ends_at_the_deadline_wherever_it_trickles(endpoint: Endpoint,
                                                                     trickle: str) -> None:
    endpoint.answers = [TRICKLES[trickle]]
    patient = ApiSettings(base_url=endpoint.url, timeout_s=SAFETY_S, deadline_s=1,
                          max_retries=2, requests_per_second=1000)
    with Client(patient) as client, pytest.raises(FetchError) as raised:
        client.fetch_study(TRIAL)
    assert raised.value.reason == "reply not complete within the deadline (1 s)"
    assert len(endpoint.received) == 1  # the deadline has passed: no retry
    assert endpoint.hung_up.wait(SAFETY_S), "the client never hung up"
    assert endpoint.hung_up_after[0] < SAFETY_S / 3


def test_a_trickle_through_a_proxy_from_the_environment_ends_at_the_deadline(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HTTP_PROXY", endpoint.url)  # the endpoint plays the proxy
    endpoint.answers = [TRICKLES["header"]]
    patient = ApiSettings(base_url="http://registry.test", timeout_s=SAFETY_S, deadline_s=1,
                          requests_per_second=1000)
    with Client(patient) as client, pytest.raises(FetchError) as raised:
        client.fetch_study(TRIAL)
    assert raised.value.reason == "reply not complete within the deadline (1 s)"
    [(_, target, _, _)] = endpoint.received
    assert target == f"http://registry.test/api/v2/studies/{TRIAL}"  # asked of the proxy
    assert endpoint.hung_up.wait(SAFETY_S), "the client never hung up"
    assert endpoint.hung_up_after[0] < SAFETY_S / 3


@pytest.mark.parametrize("trickle", ["status line", "header"])
def test_a_trickling_webhook_answer_ends_at_the_channel_deadline(endpoint: Endpoint,
                                                                 trickle: str) -> None:
    endpoint.answers = [TRICKLES[trickle]]
    channel = webhook(endpoint, timeout_s=0.5, retries=0)
    assert channel.policy.deadline_s == 1  # a try: to connect, then to answer
    with pytest.raises(NotifyError) as raised:
        channel.send([CHANGE_SET])
    assert str(raised.value) == (f"POST to {endpoint.url}/… failed: reply not complete within "
                                 "the deadline (1 s)")
    assert endpoint.hung_up.wait(SAFETY_S), "the client never hung up"
    assert endpoint.hung_up_after[0] < SAFETY_S / 3


# -- the webhook's POST: the transport's retries, its own verdict ---------------------------------


def test_a_webhook_posts_the_payload_with_its_identity(endpoint: Endpoint) -> None:
    channel = webhook(endpoint)
    channel.send([CHANGE_SET])
    [(method, path, headers, body)] = endpoint.received
    assert (method, path) == ("POST", f"/hook/{TOKEN}")
    assert headers["Idempotency-Key"] == channel.identity([CHANGE_SET])
    assert headers["User-Agent"].startswith("ctwatch/") and "(webhook)" in headers["User-Agent"]
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(body) == payload([CHANGE_SET])


def test_a_webhook_redirect_is_neither_followed_nor_retried(endpoint: Endpoint) -> None:
    endpoint.answers = [status(302, f"Location: {endpoint.url}/elsewhere")]
    with pytest.raises(NotifyError) as raised:
        webhook(endpoint, retries=3, backoff_s=0.01).send([CHANGE_SET])
    assert str(raised.value) == f"POST to {endpoint.url}/… failed: HTTP 302 Found"
    assert [path for _, path, _, _ in endpoint.received] == [f"/hook/{TOKEN}"]


def test_a_webhook_waits_as_retry_after_asks_up_to_its_cap(endpoint: Endpoint) -> None:
    endpoint.answers = [status(429, "Retry-After: 3600"), status(503, "Retry-After: 2")]
    channel = webhook(endpoint, retries=2)
    waits: list[float] = []
    with session_for(channel.url) as session:
        reply = Transport(channel.policy, session, sleep=waits.append).post(channel.url, b"{}", {})
    assert reply.status == 200
    assert waits == [MAX_WEBHOOK_BACKOFF_S, 2]
    assert len(endpoint.received) == 3


def test_a_silent_webhook_is_retried_and_named_by_its_host_only(endpoint: Endpoint) -> None:
    endpoint.answers = [Answer(hold=True), Answer(hold=True)]
    with pytest.raises(NotifyError) as raised:
        webhook(endpoint, timeout_s=0.2, retries=1, backoff_s=0.01).send([CHANGE_SET])
    message = str(raised.value)
    assert message.startswith(f"POST to {endpoint.url}/… failed: no reply within 0.2 s (timeout), "
                              "gave up after 2 attempts in ")
    assert TOKEN not in message
    assert len(endpoint.received) == 2


def test_a_refused_webhook_is_retried_and_named_by_its_host_only() -> None:
    with socket.socket() as bound:  # bound but not listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        where = f"http://127.0.0.1:{bound.getsockname()[1]}"
        with pytest.raises(NotifyError) as raised:
            WebhookChannel("hook", f"{where}/hook/{TOKEN}", retries=1,
                           backoff_s=0.01).send([CHANGE_SET])
    assert str(raised.value).startswith(
        f"POST to {where}/… failed: cannot reach the webhook ([Errno 111] Connection refused), "
        "gave up after 2 attempts in ")
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize("url", [f"http://127.0.0.1:99999/hook/{TOKEN}",
                                 f"http://[::1/hook/{TOKEN}", f"http:///hook/{TOKEN}"])
def test_an_unusable_url_is_not_quoted(url: str) -> None:
    with pytest.raises(NotifyError) as raised:
        WebhookChannel("hook", url, retries=3).send([CHANGE_SET])
    assert "not a usable URL" in str(raised.value)
    assert "check the channel's url" in str(raised.value)
    assert TOKEN not in str(raised.value)
