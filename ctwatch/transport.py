"""One request to the registry: pace, attempts, backoff, a deadline and a bounded body.

:class:`~ctwatch.fetch.Client` sends every GET through a :class:`Transport`. A request waits
for its turn (``api.requests_per_second``), is retried with exponential backoff and jitter on
refused or reset connections, timeouts, 429 and 5xx (honouring ``Retry-After``), and ends
within its deadline (``api.deadline_s``) *including the body*: the reply is read a piece at a
time, no read waiting longer than the time left, and its bytes, gzip inflated a bounded piece
at a time, are counted against ``api.max_reply_mb``. A reply that is not final comes back as a
:class:`Failure` saying why.

The loop is written by hand rather than left to urllib3's ``Retry`` and requests' redirect
handling: those bound attempts and waits, but neither how long a body may take to arrive, nor
how large it grows once decompressed, and requests reads the whole body of a redirect,
unbounded, to follow it. A registry trickling a reply, sending one without end or a gzip bomb
must cost a bounded time and memory (issue 11).
"""

from __future__ import annotations

import errno
import io
import logging
import random
import re
import socket
import ssl
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ReadTimeoutError

from ctwatch import urls
from ctwatch.errors import BadResponse, FetchError, RateLimited, chain_of, printable
from ctwatch.limits import MAX_REDIRECTS

if TYPE_CHECKING:
    from ctwatch.fetch import ApiSettings

log = logging.getLogger("ctwatch.fetch")

READ_SIZE = 64 * 1024  # asked of the connection at a time; a read returns whatever arrived
PIECE = 1024 * 1024  # inflated at a time: a gzip bomb never holds more than this beyond the cap
ERROR_BODY_BYTES = 64 * 1024  # read of a reply that is not data, for its one-line message
MB = 1024 * 1024  # api.max_reply_mb counts these
ACCEPT_ENCODING = "gzip"  # what _Inflater reads; the registry compresses with it


class Failure(Exception):
    """A failed request; the caller, who knows the trial and URL to show, makes the FetchError."""

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
        self.transient = transient  # the registry is failing, not this record: worth retrying
        self.unreachable = unreachable  # no request can get through: retrying cannot help
        self.retry_after = retry_after  # seconds the registry asked us to wait (Retry-After)
        self.out_of_time = out_of_time  # the request's deadline has passed: no retry fits

    @property
    def outage(self) -> bool:
        """Whether the ids not asked for yet would fail the same way, so must not be asked."""
        return self.transient or self.unreachable

    def error(self, nct_id: str | None, url: str) -> FetchError:
        return self.kind(self.reason, nct_id=nct_id, url=url)


@dataclass(frozen=True)
class Reply:
    """A final reply with its whole body, decompressed (only the start of it if not HTTP 200)."""

    status: int
    url: str  # the URL that answered, after redirects
    headers: Mapping[str, str]  # case-insensitive
    body: bytes

    @property
    def media_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def said(self, skip_prefix: str | None = None) -> str:
        """The registry's one-line plain-text error message, when it is worth repeating."""
        if self.media_type != "text/plain":
            return ""
        lines = self.body.decode("utf-8", "replace").strip().splitlines()
        line = lines[0][:200] if lines else ""
        if not line or (skip_prefix and line.startswith(skip_prefix)):
            return ""
        return f": {line}"


class Transport:
    """GETs for one :class:`~ctwatch.fetch.Client`, on its session, paced and bounded."""

    def __init__(self, settings: ApiSettings, session: requests.Session, *,
                 sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self.settings = settings
        self._session = session
        self._sleep = sleep
        self._clock = clock
        self._next_slot = 0.0
        self._max_body = max(1, int(settings.max_reply_mb * MB))

    def get(self, url: str, *, attempts: int | None = None,
            deadline: float | None = None) -> Reply:
        """GET with pace, retries and deadline; the first reply that is not retried.

        ``attempts`` and ``deadline`` (seconds, waits and body included) override the
        settings' bounds; a Failure says why no reply came."""
        settings = self.settings
        attempts = settings.max_retries + 1 if attempts is None else attempts
        deadline = settings.deadline_s if deadline is None else deadline
        started = self._clock()
        tried = 0
        while True:
            self._pace()
            outcome = self._attempt(url, started + deadline, deadline)
            if isinstance(outcome, Reply):
                return outcome
            tried += 1
            wait = self._backoff(tried) if outcome.retry_after is None else outcome.retry_after
            elapsed = self._clock() - started
            if not outcome.transient or tried >= attempts or outcome.out_of_time:
                raise _gave_up(outcome, tried, elapsed)
            if elapsed + wait > deadline:
                raise _gave_up(outcome, tried, elapsed, wait=wait, deadline=deadline)
            log.debug("%s: %s; retry %d in %.1f s", url, outcome.reason, tried, wait)
            self._sleep(wait)

    def _attempt(self, url: str, ends_at: float, deadline: float) -> Reply | Failure:
        """One GET, its redirects followed and its body read: a reply not to retry, or why."""
        timeout = self._timeout(ends_at)  # of the first hop; a redirect's gets the time left
        try:
            response = self._open(url, ends_at)
        except requests.RequestException as exc:
            return _transport_failure(exc, url, timeout)
        except Failure as failure:
            return failure
        try:
            return self._reply(response, ends_at, deadline)
        except Failure as failure:
            return failure
        finally:
            response.close()  # a body not read to its end takes its connection with it

    def _open(self, url: str, ends_at: float) -> requests.Response:
        """The response to a GET of ``url`` after its redirects, its body not read yet."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(url, self._timeout(ends_at))
            if not response.is_redirect:
                return response
            response.close()  # its body is not worth reading
            url = _location(response)
        raise Failure(BadResponse, f"more than {MAX_REDIRECTS} redirects")

    def _send(self, url: str, timeout: float) -> requests.Response:
        # The session's adapter is called directly: Session.send reads the whole body of a
        # redirect to follow it (even with allow_redirects=False), without bound or deadline.
        session = self._session
        request = session.prepare_request(requests.Request("GET", url, headers=self._headers()))
        options = session.merge_environment_settings(request.url, {}, True, None, None)
        adapter = session.get_adapter(request.url or url)
        return adapter.send(request, timeout=timeout, **options)

    def _reply(self, response: requests.Response, ends_at: float,
               deadline: float) -> Reply | Failure:
        status = response.status_code
        data = status == 200  # any other body is only read for its message
        limit = self._max_body if data else ERROR_BODY_BYTES
        body = self._body(response, ends_at, deadline, limit, whole=data)
        reply = Reply(status, response.url or "", response.headers, body)
        if status == 429 or status >= 500:
            return _status_failure(reply, _retry_after(response.headers.get("Retry-After")))
        return reply

    def _body(self, response: requests.Response, ends_at: float, deadline: float,
              limit: int, *, whole: bool) -> bytes:
        """The decompressed body, read within the deadline; more than ``limit`` bytes is a
        Failure when the ``whole`` body is wanted, else the first ``limit`` bytes."""
        body = _Body(response.headers.get("Content-Encoding", ""), limit)
        try:
            if self._read(response, body, ends_at, deadline):
                return body.value()
            if whole:
                mb = self.settings.max_reply_mb
                raise Failure(BadResponse, f"reply larger than {mb:g} MB (api.max_reply_mb)")
            return body.value(cut=True)
        finally:
            # A Failure's traceback holds this frame: the bytes must not live on with it.
            body.close()

    def _read(self, response: requests.Response, body: _Body, ends_at: float,
              deadline: float) -> bool:
        """Read the body into ``body``: True at its end, False once it holds too much."""
        timeout = self.settings.timeout_s
        remaining = ends_at - self._clock()
        try:
            while remaining > 0:
                _read_timeout(response, min(timeout, remaining))
                # read1: one read of the connection, so that a trickle returns to this loop
                data = response.raw.read1(READ_SIZE, decode_content=False)
                if not data:
                    return True
                if not body.add(data):
                    return False
                remaining = ends_at - self._clock()
        except ReadTimeoutError as exc:
            raise _late(deadline) if remaining < timeout else _timed_out(exc, timeout) from None
        except (Urllib3Error, OSError) as exc:
            failure = Failure(FetchError, "reply cut short (truncated body)", transient=True)
            raise failure from exc
        raise _late(deadline)

    def _timeout(self, ends_at: float) -> float:
        return max(0.001, min(self.settings.timeout_s, ends_at - self._clock()))

    def _headers(self) -> dict[str, str]:
        return {"User-Agent": self.settings.user_agent, "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING}

    def _pace(self) -> None:
        now = self._clock()
        if now < self._next_slot:
            self._sleep(self._next_slot - now)
            now = self._next_slot
        self._next_slot = now + 1.0 / self.settings.requests_per_second

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self.settings.backoff_max_s, self.settings.backoff_s * 2 ** (attempts - 1))
        # Jitter spreads the retries of many clients hit by the same outage.
        return ceiling * random.uniform(0.5, 1.0)


def _read_timeout(response: requests.Response, seconds: float) -> None:
    """Wait at most ``seconds`` for the next bytes: the time left, not a whole timeout_s."""
    connection = getattr(response.raw, "connection", None)  # None once the body is all read
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(0.001, seconds))


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


def _late(deadline: float) -> Failure:
    return Failure(FetchError, f"reply not complete within the deadline ({deadline:g} s)",
                   transient=True, out_of_time=True)


def _timed_out(exc: BaseException | None, timeout: float) -> Failure:
    failure = Failure(FetchError, f"no reply within {timeout:g} s (timeout)", transient=True)
    failure.__cause__ = exc
    return failure


def _transport_failure(exc: requests.RequestException, url: str, timeout: float) -> Failure:
    if isinstance(exc, requests.Timeout):
        return _timed_out(exc, timeout)
    if isinstance(exc, _BODY_CUT):
        failure = Failure(FetchError, "reply cut short (truncated body)", transient=True)
    elif isinstance(exc, _BAD_URL):
        failure = Failure(FetchError, f"not a usable URL ({exc}); check api.base_url",
                          unreachable=True)
    elif isinstance(exc, requests.ConnectionError):
        failure = _connection_failure(exc, url)
    else:
        failure = Failure(FetchError, f"request failed: {exc}")
    failure.__cause__ = exc
    return failure


def _connection_failure(exc: requests.ConnectionError, url: str) -> Failure:
    """A refused or reset connection may work next time; no name, no route or bad TLS will not."""
    causes = list(chain_of(exc))
    lookup = next((cause for cause in causes if isinstance(cause, socket.gaierror)), None)
    if lookup is not None:
        named = _RESOLVING.search(str(exc))
        host = named.group(1) if named else urlsplit(url).hostname
        return Failure(FetchError, f"cannot reach the registry (name resolution failed for "
                       f"{host}: {lookup})", unreachable=True)
    if isinstance(exc, requests.exceptions.SSLError):
        tls = next((cause for cause in causes if isinstance(cause, ssl.SSLError)), exc)
        detail = _SSL_SOURCE.sub("", str(tls))
        return Failure(FetchError, f"cannot reach the registry (TLS failed: {detail})",
                       unreachable=True)
    found = _ERRNO.search(str(exc))
    detail = found.group(0).strip() if found else type(exc).__name__
    no_route = any(isinstance(cause, OSError) and cause.errno == errno.ENETUNREACH
                   for cause in causes)
    return Failure(FetchError, f"cannot reach the registry ({detail})", transient=not no_route,
                   unreachable=no_route)


def _status_failure(reply: Reply, wait: float | None) -> Failure:
    if reply.status == 429:
        return Failure(RateLimited, "rate limited (HTTP 429)", transient=True, retry_after=wait)
    return Failure(FetchError, f"server error (HTTP {reply.status}{reply.said()})",
                   transient=True, retry_after=wait)


def _location(response: requests.Response) -> str:
    """Where a redirect points; a Location that is no http(s) URL is a bad reply of the
    registry (not a bad api.base_url, and not a reason to stop asking for other trials)."""
    try:
        url = urljoin(response.url, response.headers["Location"])
    except (KeyError, ValueError):
        url = ""
    if urls.http(url) is None:
        raise Failure(BadResponse, "the registry redirected to an unusable Location")
    return url


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
