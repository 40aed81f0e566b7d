"""Every HTTP request ctwatch makes: pace, attempts, backoff, one deadline, a bounded reply.

The registry client's GETs (:class:`~ctwatch.fetch.Client`) and the webhook channel's POSTs
(:mod:`ctwatch.notify.webhook`) go through a :class:`Transport`, each kind with its
:class:`Policy`. A request waits for its turn (pace), is retried with exponential backoff and
jitter on refused or reset connections, timeouts, 429 and 5xx (honouring ``Retry-After``), and
ends within its deadline, from the first connection to the last byte of the body. A socket
timeout bounds one read only, and a server sending a byte of its status line, of a header or of
a chunk size now and then would renew it for ever: a watchdog shuts the socket in hand down when
the deadline passes, which ends the read under way at once, whatever it waits for. A body is
read a piece at a time, gzip inflated a bounded piece at a time and counted against its limit
(``api.max_reply_mb``). A reply that is not final comes back as a :class:`Failure` saying why;
a Failure never quotes the URL (a webhook's path may be its token): the caller names it.

Why by hand: urllib3's ``Retry`` bounds attempts and waits (tenacity would only replace the
loop, the smallest part), but neither how long a reply may take to arrive nor how large it
grows once decompressed, and requests reads the whole body of a redirect, unbounded, to follow
it. A server trickling a reply, sending one without end or a gzip bomb must cost a bounded time
and memory (issues 11 and 12).

Why on requests, when urllib3 alone would load ~30 ms sooner: requests brings what users of a
Python HTTP client expect and ctwatch would otherwise rewrite: the certifi CA bundle and
``REQUESTS_CA_BUNDLE``, and proxies from the environment (``HTTPS_PROXY``, ``NO_PROXY``). Only
its adapter is called: ``Session.send`` would read a redirect's body.
"""

from __future__ import annotations

import errno
import io
import logging
import random
import re
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ReadTimeoutError

from ctwatch import logs, urls
from ctwatch.connections import Watchdog
from ctwatch.errors import BadResponse, FetchError, RateLimited, chain_of, printable
from ctwatch.limits import DEFAULT_MAX_REPLY_MB, MAX_REDIRECTS

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024  # asked of the connection at a time; a read returns whatever arrived
PIECE = 1024 * 1024  # inflated at a time: a gzip bomb never holds more than this beyond the cap
ERROR_BODY_BYTES = 64 * 1024  # read of a reply that is not data, for its one-line message
MB = 1024 * 1024  # api.max_reply_mb counts these
ACCEPT_ENCODING = "gzip"  # what _Inflater reads; the registry compresses with it


@dataclass(frozen=True)
class Policy:
    """How one kind of request is named, paced, retried and bounded (seconds; MB = 2**20)."""

    user_agent: str
    peer: str  # the server, as messages name it: "the registry"
    url_key: str  # the setting that holds its URL, named when that URL is not usable
    timeout_s: float  # to connect, and for each read
    attempts: int  # in all, the first one included
    backoff_s: float  # the first wait; doubles per retry, with jitter
    backoff_max_s: float  # any one backoff wait, at most
    deadline_s: float  # first connection to last byte of the last try, waits included
    requests_per_second: float | None = None  # None: not paced
    max_reply_mb: float = DEFAULT_MAX_REPLY_MB  # a body wanted whole, decompressed
    # A longer Retry-After is cut to this; None: waited for if the deadline allows, else given up.
    retry_after_max_s: float | None = None
    host_only: bool = False  # logs show the URL's scheme and host only (its path is a token)


class Failure(Exception):
    """A failed request; the caller, who knows what to name (a trial and its URL, a channel),
    makes its own error of it: ``kind`` is the FetchError a fetch makes."""

    def __init__(
        self,
        kind: type[FetchError],
        reason: str,
        *,
        transient: bool = False,
        unreachable: bool = False,
        retry_after: float | None = None,
        out_of_time: bool = False,
    ) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.transient = transient  # the server is failing, not this request: worth retrying
        self.unreachable = unreachable  # no request can get through: retrying cannot help
        self.retry_after = retry_after  # seconds the server asked us to wait (Retry-After)
        self.out_of_time = out_of_time  # the request's deadline has passed: no retry fits

    @property
    def outage(self) -> bool:
        """Whether the ids not asked for yet would fail the same way, so must not be asked."""
        return self.transient or self.unreachable

    def error(self, nct_id: str | None, url: str) -> FetchError:
        return self.kind(self.reason, nct_id=nct_id, url=url)


@dataclass(frozen=True)
class Reply:
    """A final reply with its body, decompressed (only the start of it if not HTTP 200; none
    for a POST)."""

    status: int
    url: str  # the URL that answered, after redirects
    headers: Mapping[str, str]  # case-insensitive
    body: bytes
    reason: str = ""  # the status line's phrase ("Not Found"), as it may be shown

    @property
    def media_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def said(self, skip_prefix: str | None = None) -> str:
        """The server's one-line plain-text error message, when it is worth repeating."""
        if self.media_type != "text/plain":
            return ""
        lines = self.body.decode("utf-8", "replace").strip().splitlines()
        line = lines[0][:200] if lines else ""
        if not line or (skip_prefix and line.startswith(skip_prefix)):
            return ""
        return f": {line}"


# One try of a request, given when its deadline ends (the clock's time) and the deadline
# (seconds, for messages): a reply that is not to be retried, or a Failure or requests error.
Try = Callable[[float, float], Reply]


class Transport:
    """Requests on one session, paced, retried and bounded by a :class:`Policy`. The session
    should come from :func:`~ctwatch.connections.session_for`: the deadline watches the
    sockets of its connections only. Not thread-safe: one per thread."""

    def __init__(self, policy: Policy, session: requests.Session, *,
                 sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._session = session
        self._sleep = sleep or time.sleep
        self._clock = clock
        self._next_slot = 0.0
        self._max_body = max(1, int(policy.max_reply_mb * MB))

    def get(self, url: str, *, attempts: int | None = None,
            deadline: float | None = None) -> Reply:
        """GET ``url``, its redirects followed: the first reply that is not retried, its body
        whole if HTTP 200. ``attempts`` and ``deadline`` (seconds) override the policy's."""
        return self._request(url, partial(self._get, url), attempts, deadline)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        """POST ``body``: the first reply that is not retried (a redirect is not followed: it is
        that reply). Its body is not read: the answer is the status, and a server's text could
        quote the token in the URL."""
        return self._request(url, partial(self._post, url, body, headers))

    def _request(self, url: str, once: Try, attempts: int | None = None,
                 deadline: float | None = None) -> Reply:
        """Tries of ``once``, paced, with waits between them, all within the deadline."""
        attempts = self.policy.attempts if attempts is None else attempts
        deadline = self.policy.deadline_s if deadline is None else deadline
        started = self._clock()
        tried = 0
        while True:
            self._pace()
            outcome = self._attempt(url, once, started + deadline, deadline)
            if isinstance(outcome, Reply):
                return outcome
            tried += 1
            wait = self._wait(tried, outcome.retry_after)
            elapsed = self._clock() - started
            if not outcome.transient or tried >= attempts or outcome.out_of_time:
                raise _gave_up(outcome, tried, elapsed)
            if elapsed + wait > deadline:
                raise _gave_up(outcome, tried, elapsed, wait=wait, deadline=deadline)
            log.debug("%s: %s; retry %d in %.1f s", self._shown(url), outcome.reason, tried, wait)
            self._sleep(wait)

    def _attempt(self, url: str, once: Try, ends_at: float, deadline: float) -> Reply | Failure:
        """One try, watched until its deadline: a reply not to retry, or why there is none."""
        connect = self._timeout(ends_at)  # of the first hop, for a message
        with Watchdog(ends_at - self._clock()) as watchdog:
            try:
                outcome: Reply | Failure = once(ends_at, deadline)
            except requests.RequestException as exc:
                outcome = self._failure(exc, url, connect)
            except Failure as failure:
                outcome = failure
            # The watchdog's shutdown looks like a reset, or like the end of a status line, of
            # the headers or of a body without length: whatever came of it, it is late.
            if watchdog.fired:
                outcome = _late(deadline)
        return outcome

    def _get(self, url: str, ends_at: float, deadline: float) -> Reply:
        response = self._open(url, ends_at)
        try:
            status = response.status_code
            data = status == 200  # any other body is only read for its message
            limit = self._max_body if data else ERROR_BODY_BYTES
            body = self._body(response, ends_at, deadline, limit, whole=data)
            return _final(Reply(status, response.url or "", response.headers, body,
                                _reason(response)))
        finally:
            response.close()  # a body not read to its end takes its connection with it

    def _post(self, url: str, body: bytes, headers: Mapping[str, str], ends_at: float,
              deadline: float) -> Reply:
        sent = {"User-Agent": self.policy.user_agent, **headers}
        response = self._send("POST", url, ends_at, sent, body)
        response.close()
        return _final(Reply(response.status_code, url, response.headers, b"", _reason(response)))

    def _open(self, url: str, ends_at: float) -> requests.Response:
        """The response to a GET of ``url`` after its redirects, its body not read yet."""
        headers = {"User-Agent": self.policy.user_agent, "Accept": "application/json",
                   "Accept-Encoding": ACCEPT_ENCODING}
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send("GET", url, ends_at, headers)
            if not response.is_redirect:
                return response
            response.close()  # its body is not worth reading
            url = self._location(response)
        raise Failure(BadResponse, f"more than {MAX_REDIRECTS} redirects")

    def _send(self, method: str, url: str, ends_at: float, headers: Mapping[str, str],
              body: bytes | None = None) -> requests.Response:
        # The session's adapter is called directly: Session.send reads the whole body of a
        # redirect to follow it (even with allow_redirects=False), without bound or deadline.
        session = self._session
        request = session.prepare_request(requests.Request(method, url, headers=dict(headers),
                                                            data=body))
        options = session.merge_environment_settings(request.url, {}, True, None, None)
        adapter = session.get_adapter(request.url or url)
        # Connecting gets the time left (its socket is not watched yet); each read timeout_s;
        # the watchdog ends the whole at the deadline.
        timeout = (self._timeout(ends_at), self.policy.timeout_s)
        return adapter.send(request, timeout=timeout, **options)

    def _body(self, response: requests.Response, ends_at: float, deadline: float,
              limit: int, *, whole: bool) -> bytes:
        """The decompressed body, read within the deadline; more than ``limit`` bytes is a
        Failure when the ``whole`` body is wanted, else the first ``limit`` bytes."""
        body = _Body(response.headers.get("Content-Encoding", ""), limit)
        try:
            if self._read(response, body, ends_at, deadline):
                return body.value()
            if whole:
                mb = self.policy.max_reply_mb
                raise Failure(BadResponse, f"reply larger than {mb:g} MB (api.max_reply_mb)")
            return body.value(cut=True)
        finally:
            # A Failure's traceback holds this frame: the bytes must not live on with it.
            body.close()

    def _read(self, response: requests.Response, body: _Body, ends_at: float,
              deadline: float) -> bool:
        """Read the body into ``body``: True at its end, False once it holds too much."""
        try:
            while self._clock() < ends_at:
                # read1: one read of the connection, so that a trickle returns to this loop
                data = response.raw.read1(READ_SIZE, decode_content=False)
                if not data:
                    return True
                if not body.add(data):
                    return False
        except ReadTimeoutError as exc:
            raise _timed_out(self.policy.timeout_s) from exc
        except (Urllib3Error, OSError) as exc:
            failure = Failure(FetchError, "reply cut short (truncated body)", transient=True)
            raise failure from exc
        raise _late(deadline)

    def _failure(self, exc: requests.RequestException, url: str, connect: float) -> Failure:
        """What a requests error means; its text is quoted without the URL."""
        if isinstance(exc, requests.ConnectTimeout):
            failure = _timed_out(connect)
        elif isinstance(exc, requests.Timeout):
            failure = _timed_out(self.policy.timeout_s)
        elif isinstance(exc, _BODY_CUT):
            failure = Failure(FetchError, "reply cut short (truncated body)", transient=True)
        elif isinstance(exc, _BAD_URL):
            failure = Failure(FetchError, f"not a usable URL ({_without(exc, url)}); check "
                              f"{self.policy.url_key}", unreachable=True)
        elif isinstance(exc, requests.ConnectionError):
            failure = _connection_failure(exc, url, self.policy.peer)
        else:
            failure = Failure(FetchError, f"request failed: {_without(exc, url)}")
        failure.__cause__ = exc
        return failure

    def _location(self, response: requests.Response) -> str:
        """Where a redirect points; a Location that is no http(s) URL is a bad reply of the
        server (not a bad URL setting, and not a reason to stop asking for other trials)."""
        try:
            url = urljoin(response.url, response.headers["Location"])
        except (KeyError, ValueError):
            url = ""
        if urls.http(url) is None:
            raise Failure(BadResponse, f"{self.policy.peer} redirected to an unusable Location")
        return url

    def _timeout(self, ends_at: float) -> float:
        return max(0.001, min(self.policy.timeout_s, ends_at - self._clock()))

    def _shown(self, url: str) -> str:
        return logs.mask_url(url, host_only=self.policy.host_only)

    def _pace(self) -> None:
        rate = self.policy.requests_per_second
        if not rate:
            return
        now = self._clock()
        if now < self._next_slot:
            self._sleep(self._next_slot - now)
            now = self._next_slot
        self._next_slot = now + 1.0 / rate

    def _wait(self, attempts: int, retry_after: float | None) -> float:
        """How long to wait before the next try: what the server asked (cut to the policy's
        cap, if it has one), else a backoff."""
        if retry_after is not None:
            cap = self.policy.retry_after_max_s
            return retry_after if cap is None else min(retry_after, cap)
        ceiling = min(self.policy.backoff_max_s, self.policy.backoff_s * 2 ** (attempts - 1))
        # Jitter spreads the retries of many clients hit by the same outage.
        return ceiling * random.uniform(0.5, 1.0)


# -- the body ---------------------------------------------------------------------------------


class _Body:
    """A reply's bytes as they arrive, inflated a bounded piece at a time, at most ``limit``
    of them; the bytes on the wire count too (data after the end of a gzip stream)."""

    def __init__(self, encoding: str, limit: int) -> None:
        self._inflater = _inflater(encoding)
        self._limit = limit
        self._wire = 0
        self._kept = io.BytesIO()

    def add(self, data: bytes) -> bool:
        """Take what arrived; False once there is more than the limit (the rest not kept)."""
        self._wire += len(data)
        if self._wire > self._limit:
            return False
        for piece in self._pieces(data):
            room = self._limit - self._kept.tell()
            self._kept.write(piece[:room])
            if len(piece) > room:
                return False
        return True

    def value(self, *, cut: bool = False) -> bytes:
        """The bytes; a gzip stream that has not ended is a reply cut short, unless ``cut``."""
        if self._inflater is not None and not self._inflater.eof and not cut:
            raise Failure(FetchError, "reply cut short (truncated gzip body)", transient=True)
        return self._kept.getvalue()

    def close(self) -> None:
        self._kept.close()

    def _pieces(self, data: bytes) -> Iterator[bytes]:
        inflater = self._inflater
        if inflater is None:
            yield data
            return
        try:
            while not inflater.eof:
                piece = inflater.decompress(data, PIECE)
                yield piece
                data = inflater.unconsumed_tail
                if not data and len(piece) < PIECE:  # all in: no output held back either
                    return
        except zlib.error as error:
            raise Failure(BadResponse, f"reply cannot be decompressed (gzip: {error})") from None


def _inflater(encoding: str) -> zlib._Decompress | None:
    coding = encoding.strip().lower()
    if coding in ("", "identity"):
        return None
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    shown = printable(coding[:40])
    raise Failure(BadResponse, f"reply in an encoding that was not asked for ({shown})")


# -- failures and retries --------------------------------------------------------------------

# An adapter that reads the body itself (a caller's, a mock) reports a cut-off body this way.
_BODY_CUT = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
_BAD_URL = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema)
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+|Remote end closed connection without response")
_RESOLVING = re.compile(r"Failed to resolve '([^']+)'")  # urllib3 names the host it looked up
_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)$")


def _final(reply: Reply) -> Reply:
    """The reply, unless it asks for a retry (429, 5xx): then a Failure."""
    if reply.status == 429 or reply.status >= 500:
        raise _status_failure(reply, _retry_after(reply.headers.get("Retry-After")))
    return reply


def _reason(response: requests.Response) -> str:
    """The status line's phrase as it may be shown: one line, no control characters."""
    return logs.visible(" ".join(str(response.reason or "").split()))[:80]


def _without(exc: BaseException, url: str) -> str:
    """An error's text without the URL it may quote (a webhook's path may be its token)."""
    return " ".join(str(exc).replace(url, "…").split())[:200] or type(exc).__name__


def _late(deadline: float) -> Failure:
    return Failure(FetchError, f"reply not complete within the deadline ({deadline:g} s)",
                   transient=True, out_of_time=True)


def _timed_out(timeout: float) -> Failure:
    return Failure(FetchError, f"no reply within {timeout:g} s (timeout)", transient=True)


def _connection_failure(exc: requests.ConnectionError, url: str, peer: str) -> Failure:
    """A refused or reset connection may work next time; no name, no route or bad TLS will not."""
    causes = list(chain_of(exc))
    lookup = next((cause for cause in causes if isinstance(cause, socket.gaierror)), None)
    if lookup is not None:
        named = _RESOLVING.search(str(exc))
        host = named.group(1) if named else urlsplit(url).hostname
        return Failure(FetchError, f"cannot reach {peer} (name resolution failed for "
                       f"{host}: {lookup})", unreachable=True)
    if isinstance(exc, requests.exceptions.SSLError):
        tls = next((cause for cause in causes if isinstance(cause, ssl.SSLError)), exc)
        detail = _SSL_SOURCE.sub("", str(tls))
        return Failure(FetchError, f"cannot reach {peer} (TLS failed: {detail})",
                       unreachable=True)
    found = _ERRNO.search(str(exc))
    detail = found.group(0).strip() if found else type(exc).__name__
    no_route = any(isinstance(cause, OSError) and cause.errno == errno.ENETUNREACH
                   for cause in causes)
    return Failure(FetchError, f"cannot reach {peer} ({detail})", transient=not no_route,
                   unreachable=no_route)


def _status_failure(reply: Reply, wait: float | None) -> Failure:
    if reply.status == 429:
        return Failure(RateLimited, "rate limited (HTTP 429)", transient=True, retry_after=wait)
    return Failure(FetchError, f"server error (HTTP {reply.status}{reply.said()})",
                   transient=True, retry_after=wait)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() is true too
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _gave_up(
    failure: Failure,
    attempts: int,
    elapsed: float,
    *,
    wait: float | None = None,
    deadline: float | None = None,
) -> Failure:
    if attempts == 1 and wait is None:
        return failure
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    why = f"gave up after {tries} in {elapsed:.1f} s"
    if wait is not None:
        why += f"; the next wait ({wait:.0f} s) would pass the {deadline:g} s deadline"
    given_up = Failure(failure.kind, f"{failure.reason}, {why}", transient=failure.transient,
                       unreachable=failure.unreachable)
    given_up.__cause__ = failure.__cause__
    return given_up
