"""Getting records from ClinicalTrials.gov.

A :class:`Client` asks the registry for one study (``GET /api/v2/studies/{nct}``), for many
(``GET /api/v2/studies?filter.ids=…&pageSize=1000``, so N trials cost ⌈N/1000⌉ requests), for the
data timestamp (``/api/v2/version``) and for the record history (``/api/int/studies/…``).
Every request goes through a :class:`~ctwatch.transport.Transport`, as the webhook's do: paced,
retried with backoff on transient failures, bounded in size and in time, from connecting to the
body's end. Every reply is checked to be the complete JSON record asked for; anything else is a
:class:`~ctwatch.errors.FetchError` naming the trial and the URL. See DESIGN.md §5 and
reference/ctgov-api.md.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ctwatch import __version__
from ctwatch.connections import session_for
from ctwatch.errors import BadResponse, FetchError, StoreError, TrialNotFound
from ctwatch.files import write_atomic
from ctwatch.limits import DEFAULT_MAX_REPLY_MB, EXTRA_PAGES, MAX_SPLITS_PER_BATCH, VERSION_ATTEMPTS
from ctwatch.model import parse_nct_id
from ctwatch.transport import Failure, Policy, Reply, Transport

if TYPE_CHECKING:
    import requests

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
    max_reply_mb: float = DEFAULT_MAX_REPLY_MB  # one reply's body, decompressed (MB = 2**20)


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
NOT_REQUESTED = "not requested, the registry is failing: "


def failure_key(error: FetchError) -> str:
    """What the errors of one failed request have in common, the ids it held and those not
    asked for because of it alike: to tell them in one line."""
    reason = error.reason.removeprefix(NOT_REQUESTED)
    return f"{error.url}: {reason}" if error.url else reason


def _skipped(failure: Failure) -> Failure:
    """The same failure for ids not asked for because of it (``url`` is where it happened)."""
    return Failure(failure.kind, f"{NOT_REQUESTED}{failure.reason}")


class _UriTooLong(Failure):
    """HTTP 414: the list URL holds too many ids for this registry."""


class _Queue:
    """The batches of ids still to ask for, in order, and how often a failed one may be split."""

    def __init__(self, ids: list[str], size: int) -> None:
        self._batches = deque(_chunks(ids, size))
        self._splits_left = MAX_SPLITS_PER_BATCH * len(self._batches)

    def __bool__(self) -> bool:
        return bool(self._batches)

    def pop(self) -> list[str]:
        return self._batches.popleft()

    def ids(self) -> list[str]:
        return [nct_id for batch in self._batches for nct_id in batch]

    def rebatch(self, first: list[str], size: int) -> None:
        """Ask for ``first``, then every id still queued, ``size`` at a time."""
        # Halves of a failed page queued here merge again; if they fail again, they are halved.
        self._batches = deque(_chunks([*first, *self.ids()], size))

    def split(self, ids: list[str]) -> bool:
        """Ask for ``ids`` next, as two halves (one id: a single GET); False if out of splits."""
        if self._splits_left <= 0:
            return False
        self._splits_left -= 1
        middle = (len(ids) + 1) // 2
        self._batches.extendleft(reversed([half for half in (ids[:middle], ids[middle:]) if half]))
        return True


def _chunks(ids: list[str], size: int) -> list[list[str]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


class Client:
    """A polite ClinicalTrials.gov client. Not thread-safe: use one per thread.

    The network is a parameter: pass a ``requests.Session`` (the client then leaves it open;
    the deadline watches the connections of :func:`~ctwatch.connections.session_for`'s only),
    and ``sleep``/``clock`` to take time out of tests.
    """

    def __init__(
        self,
        settings: ApiSettings | None = None,
        session: requests.Session | None = None,
        *,
        sleep: Callable[[float], None] | None = None,  # default: time.sleep, looked up now
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or ApiSettings()
        self._base = self.settings.base_url.rstrip("/")
        self._owns_session = session is None
        self._session = session or session_for(self._base)
        self._transport = Transport(_policy(self.settings), self._session,
                                    sleep=sleep or time.sleep, clock=clock)
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
        except Failure as failure:
            raise failure.error(nct_id, self._study_url(nct_id)) from failure.__cause__

    def fetch_studies(self, nct_ids: Iterable[str]) -> Iterator[Result]:
        """One result per distinct id asked for: its record, or the FetchError for that id.

        Every id is validated before the first request (InvalidNctId). Ids go to the registry
        ``page_size`` at a time; results stream in the registry's order, and ids missing from a
        batch are confirmed with a single GET at the end of that batch. A page that cannot be
        decoded (one bad record spoils the whole page) is asked for again in halves, down to
        single GETs, so that only the trial at fault fails. Once a request has failed after all
        its retries (the registry is down) or cannot get through at all (no DNS, no route, TLS),
        the ids not yet asked for fail at once with the same cause instead of hammering a failing
        server.
        """
        queue = _Queue(list(dict.fromkeys(parse_nct_id(value) for value in nct_ids)),
                       self._batch_size)
        while queue:
            outage = yield from self._batch(queue.pop(), queue)
            if outage is not None:
                url, failure = outage
                for nct_id in queue.ids():
                    yield _skipped(failure).error(nct_id, url)
                return

    def data_timestamp(self) -> str:
        """The registry's data version (`/api/v2/version` dataTimestamp, UTC).

        Unchanged since the last successful run means nothing changed upstream.
        """
        url = self._base + VERSION_PATH
        quick = min(self.settings.deadline_s, self.settings.timeout_s)
        try:
            stamp = self._json(url, attempts=VERSION_ATTEMPTS, deadline=quick).get("dataTimestamp")
            if not isinstance(stamp, str) or not stamp:
                raise Failure(BadResponse, "reply has no dataTimestamp")
        except Failure as failure:
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
        except Failure as failure:
            raise failure.error(nct_id, url) from failure.__cause__

    def history_version(self, nct_id: str, version: int) -> Fetched:
        """One registry version: ``{"studyVersion": v, "study": {…}}``, markup in HTML."""
        nct_id = parse_nct_id(nct_id)
        url = self._base + HISTORY_VERSION_PATH.format(nct_id=nct_id, version=version)
        try:
            reply = self._transport.get(url)
            data = _decode(reply, not_found=TrialNotFound)
            if data.get("studyVersion") != version or not isinstance(data.get("study"), dict):
                raise Failure(BadResponse, f"reply is not version {version} of the record")
            registry_id = _registry_id(data["study"], nct_id)
        except Failure as failure:
            raise failure.error(nct_id, url) from failure.__cause__
        return Fetched(nct_id, registry_id, reply.url, _now(), reply.body, data, version)

    # -- batches ---------------------------------------------------------------------------

    def _batch(
        self, batch: list[str], queue: _Queue
    ) -> Generator[Result, None, tuple[str, Failure] | None]:
        if len(batch) == 1:
            return (yield from self._confirm(batch))
        pending = dict.fromkeys(batch)
        shown = f"{self._base}{LIST_PATH}?filter.ids=<{len(batch)} ids>&pageSize={self._page_size}"
        try:
            for studies in self._pages(batch):
                for study in studies:
                    yield from self._claim(study, pending)
                if not pending:
                    break  # every id came back: a further page token is not worth following
        except _UriTooLong:
            # The registry limits URL length: halve the batches from now on, retry these ids.
            self._batch_size = max(1, (len(pending) + 1) // 2)
            log.debug("HTTP 414 for %d ids; batches of %d from now on", len(batch),
                      self._batch_size)
            queue.rebatch(list(pending), self._batch_size)
            return None
        except Failure as failure:
            return (yield from self._failed(failure, list(pending), shown, queue))
        return (yield from self._confirm(list(pending)))

    def _failed(
        self, failure: Failure, pending: list[str], shown: str, queue: _Queue
    ) -> Generator[Result, None, tuple[str, Failure] | None]:
        """The ids of a failed page fail with it, unless one record may be the cause."""
        # A registry that is down fails every half too; a page that cannot be decoded may be
        # spoiled by one record, and halving finds it in ~log2(n) requests.
        if not failure.outage and pending and queue.split(pending):
            log.debug("%s: %s; asking for its %d ids again in halves", shown, failure.reason,
                      len(pending))
            return None
        for nct_id in pending:
            yield failure.error(nct_id, shown)
        return (shown, failure) if failure.outage else None

    def _pages(self, batch: list[str]) -> Iterator[list[dict[str, Any]]]:
        """The studies of each page; follow-ups repeat the exact same query plus the token.

        At most the pages the batch needs plus EXTRA_PAGES: a registry that keeps sending
        tokens fails the batch (not transient, so it is asked for again in halves)."""
        pages = -(-len(batch) // self._page_size) + EXTRA_PAGES
        seen: set[str] = set()
        token: str | None = None
        for _ in range(pages):
            data = self._json(self._list_url(batch, token), too_long=True)
            studies, token = _page_parts(data)
            yield studies
            if token is None:
                return
            if token in seen:
                raise Failure(BadResponse, "the registry repeated a page token")
            seen.add(token)
        raise Failure(BadResponse, f"the registry kept sending page tokens ({pages} pages for "
                      f"{len(batch)} ids)")

    def _claim(self, study: dict[str, Any], pending: dict[str, None]) -> Iterator[Fetched]:
        """Deliver a listed study for every pending id it answers (its id or an alias)."""
        ident = _identification(study)
        registry_id = ident.get("nctId")
        if not isinstance(registry_id, str):
            log.debug("list page holds a study without nctId; its ids will be asked one by one")
            return
        registry_id = registry_id.upper()
        answers = [registry_id, *_aliases(ident)]
        wanted = [nct_id for nct_id in dict.fromkeys(answers) if nct_id in pending]
        if not wanted:
            log.debug("list page holds %s, which was not asked for", registry_id)
            return
        try:
            raw = json.dumps(study, ensure_ascii=False, separators=(",", ":")).encode()
        except UnicodeEncodeError:
            # A lone surrogate escape ("\ud800") decodes but UTF-8 cannot hold it; the single
            # GET at the end of the batch gives the record as the registry sent it.
            log.debug("list page holds %s with text that is not valid Unicode", registry_id)
            return
        for nct_id in wanted:
            del pending[nct_id]
            url = f"{self._base}{LIST_PATH}?filter.ids={nct_id}"
            yield Fetched(nct_id, registry_id, url, _now(), raw, study)

    def _confirm(self, nct_ids: list[str]) -> Generator[Result, None, tuple[str, Failure] | None]:
        """Single GETs: the id is not found, an alias that redirects, or fetched after all."""
        for index, nct_id in enumerate(nct_ids):
            try:
                yield self._study(nct_id)
            except Failure as failure:
                url = self._study_url(nct_id)
                yield failure.error(nct_id, url)
                if failure.outage:
                    for rest in nct_ids[index + 1 :]:
                        yield _skipped(failure).error(rest, url)
                    return url, failure
        return None

    # -- one request -----------------------------------------------------------------------

    def _study(self, nct_id: str) -> Fetched:
        reply = self._transport.get(self._study_url(nct_id))
        data = _decode(reply, not_found=TrialNotFound)
        registry_id = _registry_id(data, nct_id)
        return Fetched(nct_id, registry_id, reply.url, _now(), reply.body, data)

    def _study_url(self, nct_id: str) -> str:
        return self._base + STUDY_PATH.format(nct_id=nct_id)

    def _list_url(self, batch: list[str], token: str | None) -> str:
        # Commas left unescaped: the API takes them as is and the URL stays ~12 kB for 1000 ids.
        url = f"{self._base}{LIST_PATH}?filter.ids={','.join(batch)}&pageSize={self._page_size}"
        return url if token is None else f"{url}&pageToken={quote(token, safe='')}"

    def _json(
        self,
        url: str,
        *,
        not_found: type[FetchError] = BadResponse,
        too_long: bool = False,
        attempts: int | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        reply = self._transport.get(url, attempts=attempts, deadline=deadline)
        if too_long and reply.status == 414:
            raise _UriTooLong(BadResponse, "URI too long (HTTP 414)")
        return _decode(reply, not_found=not_found)


def _policy(settings: ApiSettings) -> Policy:
    """How the transport treats the registry: the api: settings."""
    return Policy(user_agent=settings.user_agent, peer="the registry", url_key="api.base_url",
                  timeout_s=settings.timeout_s, attempts=settings.max_retries + 1,
                  backoff_s=settings.backoff_s, backoff_max_s=settings.backoff_max_s,
                  deadline_s=settings.deadline_s,
                  requests_per_second=settings.requests_per_second,
                  max_reply_mb=settings.max_reply_mb)


def save_raw(fetched: Fetched, directory: Path) -> Path:
    """Write the raw record to ``directory/<nct_id>.json`` atomically (temp file, then rename)."""
    path = Path(directory) / f"{fetched.nct_id}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, fetched.raw)
    except OSError as error:
        raise StoreError(f"{path}: cannot write the record: {error.strerror or error}") from error
    return path


# -- checking replies ------------------------------------------------------------------------


def _decode(reply: Reply, *, not_found: type[FetchError]) -> dict[str, Any]:
    """The JSON object of a final reply, or a Failure saying why it is not one."""
    if reply.status == 404:
        raise Failure(not_found, "not found" + reply.said("NCT number"))
    if reply.status != 200:
        raise Failure(BadResponse, f"unexpected reply HTTP {reply.status}{reply.said()}")
    if reply.media_type != "application/json":
        raise Failure(BadResponse, f"expected JSON, got {reply.media_type or 'no content type'}")
    try:
        data = json.loads(reply.body)
    except ValueError:
        size = len(reply.body)
        raise Failure(BadResponse, f"reply is not valid JSON ({size} bytes; truncated?)") from None
    except RecursionError:
        raise Failure(BadResponse, "reply is not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise Failure(BadResponse, f"expected a JSON object, got {type(data).__name__}")
    return data


def _identification(study: Any) -> dict[str, Any]:
    section = study.get("protocolSection") if isinstance(study, dict) else None
    ident = section.get("identificationModule") if isinstance(section, dict) else None
    return ident if isinstance(ident, dict) else {}


def _registry_id(study: dict[str, Any], nct_id: str) -> str:
    """The record's nctId, checked to answer ``nct_id`` (itself, or one of its aliases)."""
    ident = _identification(study)
    registry_id = ident.get("nctId")
    if not isinstance(registry_id, str):
        raise Failure(BadResponse, "reply has no protocolSection.identificationModule.nctId")
    if registry_id.upper() != nct_id and nct_id not in _aliases(ident):
        raise Failure(BadResponse, f"registry returned {registry_id}, not the trial asked for")
    return registry_id.upper()


def _aliases(ident: dict[str, Any]) -> list[str]:
    """The record's other ids; a malformed list is read as none (the record is checked later)."""
    aliases = ident.get("nctIdAliases")
    if not isinstance(aliases, list):
        return []
    return [alias.upper() for alias in aliases if isinstance(alias, str)]


def _page_parts(data: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    studies = data.get("studies")
    token = data.get("nextPageToken")
    if not isinstance(studies, list) or not (token is None or isinstance(token, str)):
        raise Failure(BadResponse, "reply is not a page of studies")
    return studies, token or None


def _versions(data: dict[str, Any]) -> list[RegistryVersion]:
    history = data.get("history")
    changes = history.get("changes") if isinstance(history, dict) else None
    if not isinstance(changes, list) or not changes:
        raise Failure(BadResponse, "reply has no history.changes")
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
        raise Failure(BadResponse, "history.changes entries lack version or date") from None
    return sorted(versions, key=lambda entry: entry.version)


def _now() -> datetime:
    return datetime.now(UTC)
