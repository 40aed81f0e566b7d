"""Getting records from ClinicalTrials.gov: the only module that speaks HTTP.

A :class:`Client` asks the registry for one study (``GET /api/v2/studies/{nct}``), for many
(``GET /api/v2/studies?filter.ids=…&pageSize=1000``, so N trials cost ⌈N/1000⌉ requests), for the
data timestamp (``/api/v2/version``) and for the record history (``/api/int/studies/…``).
Every request is paced, retried with backoff on transient failures, bounded in time, and every
response is checked to be the complete JSON record asked for; anything else is a
:class:`~ctwatch.errors.FetchError` naming the trial and the URL. See DESIGN.md §5 and
reference/ctgov-api.md.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import tempfile
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests

from ctwatch import __version__
from ctwatch.errors import BadResponse, FetchError, RateLimited, StoreError, TrialNotFound
from ctwatch.model import parse_nct_id

log = logging.getLogger(__name__)

# Every default that can hang, hammer or surprise, in one place (settable in config.yaml `api:`).
DEFAULT_BASE_URL = "https://clinicaltrials.gov"
PROJECT_URL = "https://github.com/ctwatch/ctwatch"
USER_AGENT = f"ctwatch/{__version__} (+{PROJECT_URL})"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_REQUESTS_PER_SECOND = 1.0  # robots.txt asks for Crawl-delay: 1
DEFAULT_BACKOFF_S = 1.0
DEFAULT_BACKOFF_MAX_S = 30.0
DEFAULT_DEADLINE_S = 120.0
MAX_PAGE_SIZE = 1000  # the API silently clamps larger page sizes to 1000

STUDY_PATH = "/api/v2/studies/{nct_id}"
LIST_PATH = "/api/v2/studies"
VERSION_PATH = "/api/v2/version"
HISTORY_INDEX_PATH = "/api/int/studies/{nct_id}?history=true"
HISTORY_VERSION_PATH = "/api/int/studies/{nct_id}/history/{version}"


@dataclass(frozen=True)
class ApiSettings:
    """How the client talks to the registry; the field names are the `api:` keys of config.yaml."""

    base_url: str = DEFAULT_BASE_URL
    timeout_s: float = DEFAULT_TIMEOUT_S  # per request attempt (connect, and each read)
    max_retries: int = DEFAULT_MAX_RETRIES  # attempts after the first one
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    backoff_s: float = DEFAULT_BACKOFF_S  # first wait; doubles per retry, with jitter
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    deadline_s: float = DEFAULT_DEADLINE_S  # ceiling on one request, retries and waits included
    page_size: int = MAX_PAGE_SIZE  # ids per list request
    user_agent: str = USER_AGENT


@dataclass(frozen=True)
class Fetched:
    """One registry record as received, with where and when it came from.

    ``raw`` is the body as sent by the registry for single-study and history requests; for a
    record taken from a list page it is that study object re-serialised as compact JSON.
    ``url`` is the URL that answered (after a redirect); for a list page it is the list URL
    narrowed to this id. ``registry_nct_id`` differs from ``nct_id`` when the id asked for is an
    alias of the record's current id.
    """

    nct_id: str
    registry_nct_id: str
    url: str
    fetched_at: datetime
    raw: bytes
    data: dict[str, Any]
    registry_version: int | None = None


@dataclass(frozen=True)
class RegistryVersion:
    """One entry of the registry's record history (`/api/int/studies/{nct}?history=true`)."""

    version: int  # 0 = first registration
    date: str
    status: str | None
    module_labels: tuple[str, ...]


Result = Fetched | FetchError


class _Failure(Exception):
    """A failed request; the caller, who knows the trial and URL to show, makes the FetchError."""

    def __init__(self, kind: type[FetchError], reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.transient = transient  # the registry is failing, not this record

    def error(self, nct_id: str | None, url: str) -> FetchError:
        return self.kind(self.reason, nct_id=nct_id, url=url)

    def skipped(self) -> _Failure:
        """The same failure for ids not asked for because of it (``url`` is where it happened)."""
        return _Failure(self.kind, f"not requested, the registry is failing: {self.reason}")


class _UriTooLong(_Failure):
    """HTTP 414: the list URL holds too many ids for this registry."""


class Client:
    """A polite ClinicalTrials.gov client. Not thread-safe: use one per thread.

    The network is a parameter: pass a ``requests.Session`` (the client then leaves it open),
    and ``sleep``/``clock`` to take time out of tests.
    """

    def __init__(
        self,
        settings: ApiSettings | None = None,
        session: requests.Session | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or ApiSettings()
        self._base = self.settings.base_url.rstrip("/")
        self._owns_session = session is None
        self._session = session or requests.Session()
        if session is None and _loopback(self._base):
            self._session.trust_env = False  # a proxy from the environment cannot reach it
        self._sleep = sleep
        self._clock = clock
        self._next_slot = 0.0
        self._page_size = max(1, min(self.settings.page_size, MAX_PAGE_SIZE))
        self._batch_size = self._page_size

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- public requests -------------------------------------------------------------------

    def fetch_study(self, nct_id: str) -> Fetched:
        """The current record of one trial; an alias is followed to its current id."""
        nct_id = parse_nct_id(nct_id)
        try:
            return self._study(nct_id)
        except _Failure as failure:
            raise failure.error(nct_id, self._study_url(nct_id)) from failure.__cause__

    def fetch_studies(self, nct_ids: Iterable[str]) -> Iterator[Result]:
        """One result per distinct id asked for: its record, or the FetchError for that id.

        Every id is validated before the first request (InvalidNctId). Ids go to the registry
        ``page_size`` at a time; results stream in the registry's order, and ids missing from a
        batch are confirmed with a single GET at the end of that batch. Once a request has failed
        after all its retries (the registry is down), the ids not yet asked for fail at once with
        the same cause instead of hammering a failing server.
        """
        queue = deque(dict.fromkeys(parse_nct_id(value) for value in nct_ids))
        while queue:
            batch = [queue.popleft() for _ in range(min(self._batch_size, len(queue)))]
            outage = yield from self._batch(batch, queue)
            if outage is not None:
                url, failure = outage
                for nct_id in queue:
                    yield failure.skipped().error(nct_id, url)
                return

    def data_timestamp(self) -> str:
        """The registry's data version (`/api/v2/version` dataTimestamp, UTC).

        Unchanged since the last successful run means nothing changed upstream.
        """
        url = self._base + VERSION_PATH
        try:
            stamp = self._json(url).get("dataTimestamp")
            if not isinstance(stamp, str) or not stamp:
                raise _Failure(BadResponse, "reply has no dataTimestamp")
        except _Failure as failure:
            raise failure.error(None, url) from failure.__cause__
        return stamp

    def history_index(self, nct_id: str) -> list[RegistryVersion]:
        """The registry versions of a trial, oldest first (undocumented site API)."""
        nct_id = parse_nct_id(nct_id)
        url = self._base + HISTORY_INDEX_PATH.format(nct_id=nct_id)
        try:
            data = self._json(url, not_found=TrialNotFound)
            if isinstance(data.get("study"), dict):
                _registry_id(data["study"], nct_id)
            return _versions(data)
        except _Failure as failure:
            raise failure.error(nct_id, url) from failure.__cause__

    def history_version(self, nct_id: str, version: int) -> Fetched:
        """One registry version: ``{"studyVersion": v, "study": {…}}``, markup in HTML."""
        nct_id = parse_nct_id(nct_id)
        url = self._base + HISTORY_VERSION_PATH.format(nct_id=nct_id, version=version)
        try:
            response = self._get(url)
            data = _decode(response, not_found=TrialNotFound)
            if data.get("studyVersion") != version or not isinstance(data.get("study"), dict):
                raise _Failure(BadResponse, f"reply is not version {version} of the record")
            registry_id = _registry_id(data["study"], nct_id)
        except _Failure as failure:
            raise failure.error(nct_id, url) from failure.__cause__
        return Fetched(nct_id, registry_id, response.url, _now(), response.content, data, version)

    # -- batches ---------------------------------------------------------------------------

    def _batch(
        self, batch: list[str], queue: deque[str]
    ) -> Generator[Result, None, tuple[str, _Failure] | None]:
        if len(batch) == 1:
            return (yield from self._confirm(batch))
        pending = dict.fromkeys(batch)
        shown = f"{self._base}{LIST_PATH}?filter.ids=<{len(batch)} ids>&pageSize={self._page_size}"
        try:
            for studies in self._pages(batch):
                for study in studies:
                    yield from self._claim(study, pending)
        except _UriTooLong:
            # The registry limits URL length: halve the batches from now on, retry these ids.
            self._batch_size = max(1, (len(pending) + 1) // 2)
            log.debug("HTTP 414 for %d ids; batches of %d from now on", len(batch),
                      self._batch_size)
            queue.extendleft(reversed(pending))
            return None
        except _Failure as failure:
            for nct_id in pending:
                yield failure.error(nct_id, shown)
            return (shown, failure) if failure.transient else None
        return (yield from self._confirm(list(pending)))

    def _pages(self, batch: list[str]) -> Iterator[list[dict[str, Any]]]:
        """The studies of each page; follow-ups repeat the exact same query plus the token."""
        seen: set[str] = set()
        token: str | None = None
        while True:
            data = self._json(self._list_url(batch, token), too_long=True)
            studies, token = _page_parts(data)
            yield studies
            if token is None:
                return
            if token in seen:
                raise _Failure(BadResponse, "the registry repeated a page token")
            seen.add(token)

    def _claim(self, study: dict[str, Any], pending: dict[str, None]) -> Iterator[Fetched]:
        """Deliver a listed study for every pending id it answers (its id or an alias)."""
        ident = _identification(study)
        registry_id = ident.get("nctId")
        if not isinstance(registry_id, str):
            log.debug("list page holds a study without nctId; its ids will be asked one by one")
            return
        registry_id = registry_id.upper()
        answers = [registry_id, *(str(alias).upper() for alias in ident.get("nctIdAliases") or ())]
        wanted = [nct_id for nct_id in dict.fromkeys(answers) if nct_id in pending]
        if not wanted:
            log.debug("list page holds %s, which was not asked for", registry_id)
            return
        raw = json.dumps(study, ensure_ascii=False, separators=(",", ":")).encode()
        for nct_id in wanted:
            del pending[nct_id]
            url = f"{self._base}{LIST_PATH}?filter.ids={nct_id}"
            yield Fetched(nct_id, registry_id, url, _now(), raw, study)

    def _confirm(self, nct_ids: list[str]) -> Generator[Result, None, tuple[str, _Failure] | None]:
        """Single GETs: the id is not found, an alias that redirects, or fetched after all."""
        for index, nct_id in enumerate(nct_ids):
            try:
                yield self._study(nct_id)
            except _Failure as failure:
                url = self._study_url(nct_id)
                yield failure.error(nct_id, url)
                if failure.transient:
                    for rest in nct_ids[index + 1 :]:
                        yield failure.skipped().error(rest, url)
                    return url, failure
        return None

    # -- one request -----------------------------------------------------------------------

    def _study(self, nct_id: str) -> Fetched:
        response = self._get(self._study_url(nct_id))
        data = _decode(response, not_found=TrialNotFound)
        registry_id = _registry_id(data, nct_id)
        return Fetched(nct_id, registry_id, response.url, _now(), response.content, data)

    def _study_url(self, nct_id: str) -> str:
        return self._base + STUDY_PATH.format(nct_id=nct_id)

    def _list_url(self, batch: list[str], token: str | None) -> str:
        # Commas left unescaped: the API takes them as is and the URL stays ~12 kB for 1000 ids.
        url = f"{self._base}{LIST_PATH}?filter.ids={','.join(batch)}&pageSize={self._page_size}"
        return url if token is None else f"{url}&pageToken={requests.utils.quote(token, safe='')}"

    def _json(
        self, url: str, *, not_found: type[FetchError] = BadResponse, too_long: bool = False
    ) -> dict[str, Any]:
        response = self._get(url)
        if too_long and response.status_code == 414:
            raise _UriTooLong(BadResponse, "URI too long (HTTP 414)")
        return _decode(response, not_found=not_found)

    def _get(self, url: str) -> requests.Response:
        """GET with pace, retries and deadline; returns the first response that is not retried."""
        settings = self.settings
        started = self._clock()
        attempts = 0
        while True:
            self._pace()
            remaining = settings.deadline_s - (self._clock() - started)
            timeout = max(0.001, min(settings.timeout_s, remaining))
            wait: float | None = None
            try:
                response = self._session.get(url, timeout=timeout, headers=self._headers())
            except requests.RequestException as exc:
                failure = _transport_failure(exc, timeout)
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                failure = _status_failure(response)
                wait = _retry_after(response.headers.get("Retry-After"))
            attempts += 1
            wait = self._backoff(attempts) if wait is None else wait
            elapsed = self._clock() - started
            if not failure.transient or attempts > settings.max_retries:
                raise _gave_up(failure, attempts, elapsed)
            if elapsed + wait > settings.deadline_s:
                raise _gave_up(failure, attempts, elapsed, wait=wait, deadline=settings.deadline_s)
            log.debug("%s: %s; retry %d in %.1f s", url, failure.reason, attempts, wait)
            self._sleep(wait)

    def _headers(self) -> dict[str, str]:
        return {"User-Agent": self.settings.user_agent, "Accept": "application/json"}

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


def save_raw(fetched: Fetched, directory: Path) -> Path:
    """Write the raw record to ``directory/<nct_id>.json`` atomically (temp file, then rename)."""
    path = Path(directory) / f"{fetched.nct_id}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(fetched.raw)
            os.replace(temp, path)
        except BaseException:
            os.unlink(temp)
            raise
    except OSError as error:
        raise StoreError(f"{path}: cannot write the record: {error.strerror or error}") from error
    return path


# -- checking replies ------------------------------------------------------------------------


def _decode(response: requests.Response, *, not_found: type[FetchError]) -> dict[str, Any]:
    """The JSON object of a final reply, or a _Failure saying why it is not one."""
    status = response.status_code
    if status == 404:
        raise _Failure(not_found, "not found" + _said(response, "NCT number"))
    if status != 200:
        raise _Failure(BadResponse, f"unexpected reply HTTP {status}{_said(response)}")
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise _Failure(BadResponse, f"expected JSON, got {media_type or 'no content type'}")
    try:
        data = json.loads(response.content)
    except ValueError:
        size = len(response.content)
        raise _Failure(BadResponse, f"reply is not valid JSON ({size} bytes; truncated?)") from None
    if not isinstance(data, dict):
        raise _Failure(BadResponse, f"expected a JSON object, got {type(data).__name__}")
    return data


def _said(response: requests.Response, skip_prefix: str | None = None) -> str:
    """The registry's one-line plain-text error message, when it is worth repeating."""
    if not response.headers.get("Content-Type", "").startswith("text/plain"):
        return ""
    line = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    if not line or (skip_prefix and line.startswith(skip_prefix)):
        return ""
    return f": {line}"


def _identification(study: Any) -> dict[str, Any]:
    section = study.get("protocolSection") if isinstance(study, dict) else None
    ident = section.get("identificationModule") if isinstance(section, dict) else None
    return ident if isinstance(ident, dict) else {}


def _registry_id(study: dict[str, Any], nct_id: str) -> str:
    """The record's nctId, checked to answer ``nct_id`` (itself, or one of its aliases)."""
    ident = _identification(study)
    registry_id = ident.get("nctId")
    if not isinstance(registry_id, str):
        raise _Failure(BadResponse, "reply has no protocolSection.identificationModule.nctId")
    aliases = {str(alias).upper() for alias in ident.get("nctIdAliases") or ()}
    if registry_id.upper() != nct_id and nct_id not in aliases:
        raise _Failure(BadResponse, f"registry returned {registry_id}, not the trial asked for")
    return registry_id.upper()


def _page_parts(data: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    studies = data.get("studies")
    token = data.get("nextPageToken")
    if not isinstance(studies, list) or not (token is None or isinstance(token, str)):
        raise _Failure(BadResponse, "reply is not a page of studies")
    return studies, token or None


def _versions(data: dict[str, Any]) -> list[RegistryVersion]:
    history = data.get("history")
    changes = history.get("changes") if isinstance(history, dict) else None
    if not isinstance(changes, list) or not changes:
        raise _Failure(BadResponse, "reply has no history.changes")
    try:
        versions = [
            RegistryVersion(
                version=int(change["version"]),
                date=str(change["date"]),
                status=change.get("status"),
                module_labels=tuple(change.get("moduleLabels") or ()),
            )
            for change in changes
        ]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise _Failure(BadResponse, "history.changes entries lack version or date") from None
    return sorted(versions, key=lambda entry: entry.version)


# -- failures and retries --------------------------------------------------------------------

_BODY_CUT = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+|Remote end closed connection without response")


def _transport_failure(exc: requests.RequestException, timeout: float) -> _Failure:
    if isinstance(exc, requests.Timeout):
        failure = _Failure(FetchError, f"no reply within {timeout:g} s (timeout)", transient=True)
    elif isinstance(exc, _BODY_CUT):
        failure = _Failure(FetchError, "reply cut short (truncated body)", transient=True)
    elif isinstance(exc, requests.ConnectionError):
        found = _ERRNO.search(str(exc))
        detail = found.group(0).strip() if found else type(exc).__name__
        failure = _Failure(FetchError, f"cannot reach the registry ({detail})", transient=True)
    else:
        failure = _Failure(FetchError, f"request failed: {exc}")
    failure.__cause__ = exc
    return failure


def _status_failure(response: requests.Response) -> _Failure:
    status = response.status_code
    if status == 429:
        return _Failure(RateLimited, "rate limited (HTTP 429)", transient=True)
    return _Failure(FetchError, f"server error (HTTP {status}{_said(response)})", transient=True)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _gave_up(
    failure: _Failure,
    attempts: int,
    elapsed: float,
    *,
    wait: float | None = None,
    deadline: float | None = None,
) -> _Failure:
    if attempts == 1 and wait is None:
        return failure
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    why = f"gave up after {tries} in {elapsed:.1f} s"
    if wait is not None:
        why += f"; the next wait ({wait:.0f} s) would pass the {deadline:g} s deadline"
    given_up = _Failure(failure.kind, f"{failure.reason}, {why}", transient=failure.transient)
    given_up.__cause__ = failure.__cause__
    return given_up


def _loopback(url: str) -> bool:
    """Whether a base URL names this machine (a local registry: tests, the demo)."""
    host = urlsplit(url).hostname or ""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _now() -> datetime:
    return datetime.now(UTC)
