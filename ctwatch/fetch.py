"""Getting records from ClinicalTrials.gov.

A :class:`Client` asks the registry for one study (``GET /api/v2/studies/{nct}``), for many
(``GET /api/v2/studies?filter.ids=…&pageSize=1000``, so N trials cost ⌈N/1000⌉ requests, walked
by :mod:`ctwatch.batches`), for when each of many last moved (the same list with
``fields=NCTId,NCTIdAlias,LastUpdatePostDate``: a light probe), for those of many that moved
since a day (``filter.advanced=AREA[LastUpdatePostDate]RANGE[day,MAX]``), for the data
timestamp (``/api/v2/version``) and for the record history (``/api/int/studies/…``); and it walks
a search (``query.*``, ``filter.*``): the light listing of its members (:meth:`Client.search`),
the records of every study updated since a day (:meth:`Client.updated`, the whole registry's
daily work), and what became of trials that left one (:meth:`Client.summaries`).
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ctwatch import __version__
from ctwatch.batches import (
    LIST_PATH,
    WALK_PARAMS,
    Ask,
    UriTooLong,
    Walker,
    aliases,
    identification,
    list_url,
    merged,
    query_pages,
    usable_id,
)
from ctwatch.batches import Listed as Listed  # the client's, defined with the list code
from ctwatch.batches import failure_key as failure_key  # public here, as it always was
from ctwatch.batches import last_update_posted as _last_update_posted
from ctwatch.connections import session_for
from ctwatch.errors import BadResponse, FetchError, StoreError, TrialNotFound
from ctwatch.files import write_atomic
from ctwatch.limits import (
    DEFAULT_FULL_SWEEP_DAYS,
    DEFAULT_MAX_REPLY_MB,
    EXTRA_PAGES,
    MAX_SPLITS_PER_BATCH,
    VERSION_ATTEMPTS,
)
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
VERSION_PATH = "/api/v2/version"
HISTORY_INDEX_PATH = "/api/int/studies/{nct_id}?history=true"
HISTORY_VERSION_PATH = "/api/int/studies/{nct_id}/history/{version}"
# The light probe: a trial's current id, its aliases (an alias asked for is mapped back) and
# its last update posted date, ~150 bytes a trial instead of ~15 kB (reference §2, §4).
PROBE_FIELDS = "NCTId,NCTIdAlias,LastUpdatePostDate"
# A search's light listing: what an alert says of a trial that entered, ~300 bytes a trial.
SEARCH_FIELDS = ("NCTId,BriefTitle,Phase,OverallStatus,LeadSponsorName,StudyFirstPostDate,"
                 "LastUpdatePostDate")
# The same for trials asked for by id, with their aliases: an alias asked for is matched to the
# record that answers it (as the probe's are).
SUMMARY_FIELDS = f"{SEARCH_FIELDS},NCTIdAlias"
# The whole registry's daily work, oldest first: a caller that stores page by page resumes
# after a kill from the last day it stored (the RANGE holds that day again).
UPDATED_SORT = "LastUpdatePostDate:asc"


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
    # every watched trial is read in full at least this often, however its date stands
    full_sweep_days: float = DEFAULT_FULL_SWEEP_DAYS


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
class LastUpdate:
    """When the registry last posted an update of a trial, as the light probe tells it."""

    nct_id: str  # as asked for
    registry_nct_id: str  # the record's current id: differs when ``nct_id`` is an alias
    last_update_posted: str | None  # lastUpdatePostDateStruct.date (yyyy-MM-dd); None: absent
    url: str  # the list URL narrowed to this id, or the single GET's


@dataclass(frozen=True)
class RegistryVersion:
    """One entry of the registry's record history (`/api/int/studies/{nct}?history=true`)."""

    version: int  # 0 = first registration
    date: str
    status: str | None
    module_labels: tuple[str, ...]


Result = Fetched | FetchError
T = TypeVar("T")


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
        self._walker = Walker(self._base, self._page_size, self._list_json)

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
        yield from self._walk(nct_ids, Ask((), self._listed, self._study, self._study_url))

    def last_updates(self, nct_ids: Iterable[str]) -> Iterator[LastUpdate | FetchError]:
        """One result per distinct id asked for: when the registry last posted an update of
        that trial (:class:`LastUpdate`), or the FetchError for that id.

        The light probe: the list of :meth:`fetch_studies` with ``fields=`` NCTId, NCTIdAlias
        and LastUpdatePostDate, ~150 bytes a trial, batched, paced, retried and with bad pages
        halved as there. An alias asked for is answered with the record's current id; an id
        the pages leave out is asked for alone (the same three fields), so that it is reported
        as fetch_studies reports it: TrialNotFound on a 404, or followed if it moved.
        """
        ask = Ask((("fields", PROBE_FIELDS),), self._posted, self._probe, self._probe_url)
        yield from self._walk(nct_ids, ask)

    def changed_since(self, nct_ids: Iterable[str], day: date | str) -> Iterator[Result]:
        """The records, as fetch_studies yields them, of the trials asked for whose last update
        was posted on ``day`` or later; an id that did not move yields nothing.

        One list request per 1000 ids with ``filter.advanced=AREA[LastUpdatePostDate]RANGE[day,
        MAX]`` (reference §2): cheap when few moved, and nothing tells a trial that did not move
        from one the registry lost or renumbered; a probe, or a full read, does. Bad pages are
        halved as in fetch_studies (down to a list request for one id); a study the pages
        list but cannot be used as listed is asked for alone, whole.
        """
        advanced = f"AREA[LastUpdatePostDate]RANGE[{_day(day)},MAX]"
        ask = Ask((("filter.advanced", advanced),), self._listed, self._study, self._study_url,
                  filtered=True)
        yield from self._walk(nct_ids, ask)

    def search(self, params: Sequence[tuple[str, str]]) -> Iterator[list[Listed]]:
        """Every page of a search (``query.*``, ``filter.*`` parameters), each a list of its
        studies as :class:`Listed` (``fields=`` :data:`SEARCH_FIELDS`, ``page_size`` a page).

        Follow-ups repeat the same parameters plus the token. A failure (after the transport's
        retries), a reply that is not a page of studies, a repeated token, more pages or fewer
        studies than the registry's count raises a FetchError naming the search's URL: the
        caller must take the membership as unknown, never as what the pages so far held. A
        listed study without a usable nctId cannot be a member: it is left out (debug log).
        ``filter.advanced`` given twice is one, both held (AND)."""
        for studies in self._query_pages(merged(params), ("fields", SEARCH_FIELDS)):
            page = []
            for study in studies:
                try:
                    page.append(Listed.from_study(study))
                except ValueError:
                    log.debug("search page holds a study without a usable nctId; left out")
            yield page

    def summaries(self, nct_ids: Iterable[str]) -> Iterator[Listed | FetchError]:
        """One result per distinct id asked for: the trial as a search lists it, or the
        FetchError for that id (TrialNotFound on a 404); an alias is answered with the record's
        current id. To tell why a trial left a search. Batched, paced and retried as
        :meth:`fetch_studies` (``fields=`` :data:`SUMMARY_FIELDS`)."""
        ask = Ask((("fields", SUMMARY_FIELDS),), self._summary, self._summary_alone,
                  self._summary_url)
        yield from self._walk(nct_ids, ask)

    def updated(self, since: date | str | None,
                params: Sequence[tuple[str, str]] = ()) -> Iterator[list[Fetched | FetchError]]:
        """The whole records, a page at a time and as :meth:`fetch_studies` yields them, of
        every study matching ``params`` whose last update was posted on ``since`` or later
        (None: every one), oldest first.

        ``filter.advanced=AREA[LastUpdatePostDate]RANGE[since,MAX]`` (with the search's own,
        AND) and ``sort=`` :data:`UPDATED_SORT`: 1 request per ``page_size`` records, and a
        caller that stores page by page resumes after a kill from the last day it stored. A
        failure mid-way raises a FetchError; the pages yielded before stay valid. A study
        without a usable nctId is left out (debug log); one that cannot be used as listed is
        read alone, and is that trial's FetchError if that fails but the registry does not."""
        query = merged(params, (*WALK_PARAMS, "sort"))
        if since is not None:
            window = f"AREA[LastUpdatePostDate]RANGE[{_day(since)},MAX]"
            query = merged([*query, ("filter.advanced", window)])
        for studies in self._query_pages(query, ("sort", UPDATED_SORT)):
            yield [record for study in studies if (record := self._whole(study)) is not None]

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

    def _walk(self, nct_ids: Iterable[str], ask: Ask[T]) -> Iterator[T | FetchError]:
        # Every id validated before the first request (InvalidNctId), each asked for once.
        ids = list(dict.fromkeys(parse_nct_id(value) for value in nct_ids))
        return self._walker.walk(ids, ask, splits=MAX_SPLITS_PER_BATCH, extra_pages=EXTRA_PAGES)

    def _listed(self, study: dict[str, Any], nct_id: str, registry_id: str) -> Fetched | None:
        """A listed study as the record of ``nct_id``; None if it must be asked for alone."""
        try:
            raw = json.dumps(study, ensure_ascii=False, separators=(",", ":")).encode()
        except UnicodeEncodeError:
            # A lone surrogate escape ("\ud800") decodes but UTF-8 cannot hold it; a single GET
            # gives the record as the registry sent it.
            return None
        url = f"{self._base}{LIST_PATH}?filter.ids={nct_id}"
        return Fetched(nct_id, registry_id, url, _now(), raw, study)

    def _posted(self, study: dict[str, Any], nct_id: str, registry_id: str) -> LastUpdate:
        url = f"{self._base}{LIST_PATH}?filter.ids={nct_id}&fields={PROBE_FIELDS}"
        return LastUpdate(nct_id, registry_id, _last_update_posted(study), url)

    def _summary(self, study: dict[str, Any], nct_id: str, registry_id: str) -> Listed | None:
        try:
            return Listed.from_study(study)
        except ValueError:
            return None  # asked for alone, where it fails as a bad reply

    def _whole(self, study: Any) -> Fetched | FetchError | None:
        """A listed study as the record of its id (or the FetchError of its id, if it cannot
        be had); None if it has none."""
        nct_id = usable_id(study)
        if nct_id is None:
            log.debug("list page holds a study without a usable nctId; left out")
            return None
        listed = self._listed(study, nct_id, nct_id)
        if listed is not None:
            return listed
        try:
            return self._study(nct_id)
        except Failure as failure:
            if failure.outage:
                raise failure.error(nct_id, self._study_url(nct_id)) from failure.__cause__
            return failure.error(nct_id, self._study_url(nct_id))

    def _query_pages(self, params: list[tuple[str, str]],
                     extra: tuple[str, str]) -> Iterator[list[Any]]:
        """The studies of every page of a search; FetchError (no nct_id) naming its URL."""
        walked = [*params, ("pageSize", str(self._page_size)), ("countTotal", "true"), extra]
        url = list_url(self._base, walked)
        try:
            yield from query_pages(self._list_json, url, self._page_size, EXTRA_PAGES)
        except Failure as failure:
            raise failure.error(None, url) from failure.__cause__

    # -- one request -----------------------------------------------------------------------

    def _study(self, nct_id: str) -> Fetched:
        reply = self._transport.get(self._study_url(nct_id))
        data = _decode(reply, not_found=TrialNotFound)
        registry_id = _registry_id(data, nct_id)
        return Fetched(nct_id, registry_id, reply.url, _now(), reply.body, data)

    def _study_url(self, nct_id: str) -> str:
        return self._base + STUDY_PATH.format(nct_id=nct_id)

    def _probe(self, nct_id: str) -> LastUpdate:
        reply = self._transport.get(self._probe_url(nct_id))
        data = _decode(reply, not_found=TrialNotFound)
        return LastUpdate(nct_id, _registry_id(data, nct_id), _last_update_posted(data),
                          reply.url)

    def _probe_url(self, nct_id: str) -> str:
        return f"{self._study_url(nct_id)}?fields={PROBE_FIELDS}"

    def _summary_alone(self, nct_id: str) -> Listed:
        reply = self._transport.get(self._summary_url(nct_id))
        data = _decode(reply, not_found=TrialNotFound)
        _registry_id(data, nct_id)
        try:
            return Listed.from_study(data)
        except ValueError as error:
            raise Failure(BadResponse, str(error)) from None

    def _summary_url(self, nct_id: str) -> str:
        return f"{self._study_url(nct_id)}?fields={SUMMARY_FIELDS}"

    def _list_json(self, url: str) -> dict[str, Any]:
        return self._json(url, too_long=True)

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
            raise UriTooLong(BadResponse, "URI too long (HTTP 414)")
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


def _registry_id(study: dict[str, Any], nct_id: str) -> str:
    """The record's nctId, checked to answer ``nct_id`` (itself, or one of its aliases)."""
    ident = identification(study)
    registry_id = ident.get("nctId")
    if not isinstance(registry_id, str):
        raise Failure(BadResponse, "reply has no protocolSection.identificationModule.nctId")
    if registry_id.upper() != nct_id and nct_id not in aliases(ident):
        raise Failure(BadResponse, f"registry returned {registry_id}, not the trial asked for")
    return registry_id.upper()


def _day(day: date | str) -> str:
    """yyyy-MM-dd, the form RANGE takes; ValueError for anything that is not a day."""
    if isinstance(day, datetime):
        day = day.date()
    return day.isoformat() if isinstance(day, date) else date.fromisoformat(day).isoformat()


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
