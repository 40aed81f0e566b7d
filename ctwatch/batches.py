"""Many trials from the registry's list: batches of ids, their pages, and what becomes of an id
a page left out or could not give; and every page of a search (:func:`query_pages`).

The list answers ``filter.ids`` (ids and aliases alike) ``pageSize`` studies at a time, and a
follow-up page repeats the exact same query plus the token (reference/ctgov-api.md §2). One
:class:`Walker` does this for every kind of list request the client makes, each an
:class:`Ask`: whole records (``fetch_studies``), the light probe (``fields=``) and the
changed-since query (``filter.advanced``). Whatever the kind, a page that cannot be decoded is
asked for again in halves, so that one bad record fails its own trial only; a registry that
is down fails the ids not asked for yet at once; an HTTP 414 halves the batches from then on.

A search (``query.*``, ``filter.*`` without ids) cannot be halved: its pages are all of it or
nothing. :func:`query_pages` walks them, each follow-up the same query plus the token, and
fails the walk when the registry's own count says the pages cannot be the whole answer.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from ctwatch.errors import BadResponse, FetchError
from ctwatch.transport import Failure

log = logging.getLogger("ctwatch.fetch")  # the walk is fetching: its lines are fetch's

LIST_PATH = "/api/v2/studies"
NOT_REQUESTED = "not requested, the registry is failing: "

T = TypeVar("T")
# A batch's results; it returns the URL and failure of an outage that ends the walk, if any.
Batch = Generator["T | FetchError", None, "tuple[str, Failure] | None"]


def failure_key(error: FetchError) -> str:
    """What the errors of one failed request have in common, the ids it held and those not
    asked for because of it alike: to tell them in one line."""
    reason = error.reason.removeprefix(NOT_REQUESTED)
    return f"{error.url}: {reason}" if error.url else reason


def skipped(failure: Failure) -> Failure:
    """The same failure for ids not asked for because of it (``url`` is where it happened)."""
    return Failure(failure.kind, f"{NOT_REQUESTED}{failure.reason}")


class UriTooLong(Failure):
    """HTTP 414: the list URL holds too many ids for this registry."""


@dataclass(frozen=True)
class Ask(Generic[T]):
    """One kind of list request, and what becomes of the studies it lists."""

    params: tuple[tuple[str, str], ...]  # besides filter.ids and pageSize, in this order
    # (study, id asked for, the study's current id) → a result; None: ask for that id alone
    claim: Callable[[dict[str, Any], str, str], T | None]
    single: Callable[[str], T]  # one id alone (a GET of that study); raises Failure
    single_url: Callable[[str], str]  # … its URL, as messages name it
    # The query filters (changed-since): an id its pages leave out did not match, so it is
    # not asked for alone; nor is a batch of one id, and a page naming no study fails.
    filtered: bool = False


class Walker:
    """Walks the list for a client: its base URL, page size, and the batch size it learnt."""

    def __init__(self, base: str, page_size: int,
                 get_json: Callable[[str], dict[str, Any]]) -> None:
        self._base = base
        self._page_size = page_size
        self._batch_size = page_size  # halved for good by an HTTP 414
        self._get_json = get_json  # a list URL's JSON; Failure, or UriTooLong on HTTP 414

    def walk(self, nct_ids: list[str], ask: Ask[T], *, splits: int,
             extra_pages: int) -> Iterator[T | FetchError]:
        """One result per id: ``ask``'s, or the FetchError for that id. ``splits``: how often
        a failed batch may be halved, per batch; ``extra_pages``: beyond those a batch needs."""
        queue = _Queue(nct_ids, self._batch_size, splits)
        while queue:
            outage = yield from self._batch(queue.pop(), queue, ask, extra_pages)
            if outage is not None:
                url, failure = outage
                for nct_id in queue.ids():
                    yield skipped(failure).error(nct_id, url)
                return

    def _batch(self, batch: list[str], queue: _Queue, ask: Ask[T], extra_pages: int) -> Batch:
        if len(batch) == 1 and not ask.filtered:
            return (yield from self._singles(batch, ask))
        pending = dict.fromkeys(batch, False)  # True: listed, but to be asked for alone
        try:
            for studies in self._pages(batch, ask, extra_pages):
                for study in studies:
                    yield from self._claim(study, pending, ask)
                if not pending:
                    break  # every id came back: a further page token is not worth following
        except UriTooLong:
            # The registry limits URL length: halve the batches from now on, retry these ids.
            self._batch_size = max(1, (len(pending) + 1) // 2)
            log.debug("HTTP 414 for %d ids; batches of %d from now on", len(batch),
                      self._batch_size)
            queue.rebatch(list(pending), self._batch_size)
            return None
        except Failure as failure:
            return (yield from self._failed(failure, list(pending), batch, queue, ask))
        alone = [nct_id for nct_id, listed in pending.items() if listed or not ask.filtered]
        return (yield from self._singles(alone, ask))

    def _failed(self, failure: Failure, pending: list[str], batch: list[str], queue: _Queue,
                ask: Ask[T]) -> Batch:
        """The ids of a failed page fail with it, unless one record may be the cause."""
        shown = self._shown(batch, ask)
        # A registry that is down fails every half too; a page that cannot be decoded may be
        # spoiled by one record, and halving finds it in ~log2(n) requests.
        divisible = len(pending) > 1 or not ask.filtered
        if not failure.outage and pending and divisible and queue.split(pending):
            log.debug("%s: %s; asking for its %d ids again in halves", shown, failure.reason,
                      len(pending))
            return None
        for nct_id in pending:
            yield failure.error(nct_id, shown)
        return (shown, failure) if failure.outage else None

    def _pages(self, batch: list[str], ask: Ask[Any],
               extra_pages: int) -> Iterator[list[dict[str, Any]]]:
        """The studies of each page; follow-ups repeat the exact same query plus the token.

        At most the pages the batch needs plus ``extra_pages``: a registry that keeps sending
        tokens fails the batch (not transient, so it is asked for again in halves)."""
        pages = -(-len(batch) // self._page_size) + extra_pages
        seen: set[str] = set()
        token: str | None = None
        for _ in range(pages):
            studies, token = _page_parts(self._get_json(self._list_url(batch, ask, token)))
            yield studies
            if token is None:
                return
            if token in seen:
                raise Failure(BadResponse, "the registry repeated a page token")
            seen.add(token)
        raise Failure(BadResponse, f"the registry kept sending page tokens ({pages} pages for "
                      f"{len(batch)} ids)")

    def _claim(self, study: Any, pending: dict[str, bool], ask: Ask[T]) -> Iterator[T]:
        """Deliver a listed study for every pending id it answers (its id or an alias)."""
        ident = identification(study)
        registry_id = ident.get("nctId")
        if not isinstance(registry_id, str):
            if ask.filtered:  # which id it answers is unknown, and the others are not asked
                raise Failure(BadResponse, "list page holds a study without nctId")
            log.debug("list page holds a study without nctId; its ids will be asked one by one")
            return
        registry_id = registry_id.upper()
        answers = [registry_id, *aliases(ident)]
        wanted = [nct_id for nct_id in dict.fromkeys(answers) if nct_id in pending]
        if not wanted:
            log.debug("list page holds %s, which was not asked for", registry_id)
            return
        for nct_id in wanted:
            result = ask.claim(study, nct_id, registry_id)
            if result is None:
                log.debug("list page holds %s as it cannot be used; asking for it alone", nct_id)
                pending[nct_id] = True
                continue
            del pending[nct_id]
            yield result

    def _singles(self, nct_ids: list[str], ask: Ask[T]) -> Batch:
        """One GET per id: not found, an alias that redirects, or the study after all."""
        for index, nct_id in enumerate(nct_ids):
            try:
                yield ask.single(nct_id)
            except Failure as failure:
                url = ask.single_url(nct_id)
                yield failure.error(nct_id, url)
                if failure.outage:
                    for rest in nct_ids[index + 1 :]:
                        yield skipped(failure).error(rest, url)
                    return url, failure
        return None

    def _list_url(self, batch: list[str], ask: Ask[Any], token: str | None) -> str:
        # Commas left unescaped: the API takes them as is and the URL stays ~12 kB for 1000 ids.
        url = f"{self._base}{LIST_PATH}?filter.ids={','.join(batch)}&pageSize={self._page_size}"
        url += "".join(f"&{name}={quote(value, safe=',')}" for name, value in ask.params)
        return url if token is None else f"{url}&pageToken={quote(token, safe='')}"

    def _shown(self, batch: list[str], ask: Ask[Any]) -> str:
        """The list URL of a batch as messages show it."""
        params = "".join(f"&{name}={value}" for name, value in ask.params)
        return (f"{self._base}{LIST_PATH}?filter.ids=<{len(batch)} ids>"
                f"&pageSize={self._page_size}{params}")


class _Queue:
    """The batches of ids still to ask for, in order, and how often a failed one may be split."""

    def __init__(self, ids: list[str], size: int, splits: int) -> None:
        self._batches = deque(_chunks(ids, size))
        self._splits_left = splits * len(self._batches)

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


def list_url(base: str, params: Iterable[tuple[str, str]]) -> str:
    """The list URL of ``params``, in their order (commas left as they are, as the API takes
    them)."""
    return f"{base}{LIST_PATH}?" + "&".join(f"{name}={quote(value, safe=',')}"
                                           for name, value in params)


def query_pages(get_json: Callable[[str], dict[str, Any]], url: str, page_size: int,
                extra_pages: int) -> Iterator[list[Any]]:
    """The studies of every page of the list query ``url`` (which asks for countTotal), in
    order; follow-ups repeat it exactly, plus the token (reference §2).

    Failure (BadResponse) for a first page without totalCount, a repeated token, more pages
    than totalCount needs plus ``extra_pages``, or fewer studies in all than it counted: the
    pages yielded before are then not the whole answer."""
    data = get_json(url)
    total = data.get("totalCount")
    if type(total) is not int or total < 0:
        raise Failure(BadResponse, "reply has no totalCount")
    allowed = max(1, -(-total // page_size)) + extra_pages
    seen: set[str] = set()
    listed = pages = 0
    while True:
        studies, token = _page_parts(data)
        listed, pages = listed + len(studies), pages + 1
        yield studies
        if token is None:
            break
        if token in seen:
            raise Failure(BadResponse, "the registry repeated a page token")
        if pages >= allowed:
            raise Failure(BadResponse, f"the registry kept sending page tokens ({pages} pages "
                          f"for {total} studies)")
        seen.add(token)
        data = get_json(f"{url}&pageToken={quote(token, safe='')}")
    if listed < total:
        raise Failure(BadResponse, f"the pages listed {listed} of the {total} studies the "
                      "registry counted")


def _chunks(ids: list[str], size: int) -> list[list[str]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def _page_parts(data: dict[str, Any]) -> tuple[list[Any], str | None]:
    studies = data.get("studies")
    token = data.get("nextPageToken")
    if not isinstance(studies, list) or not (token is None or isinstance(token, str)):
        raise Failure(BadResponse, "reply is not a page of studies")
    return studies, token or None


def identification(study: Any) -> dict[str, Any]:
    """A study's identificationModule, or {} if it has none that is an object."""
    section = study.get("protocolSection") if isinstance(study, dict) else None
    ident = section.get("identificationModule") if isinstance(section, dict) else None
    return ident if isinstance(ident, dict) else {}


def aliases(ident: dict[str, Any]) -> list[str]:
    """The record's other ids; a malformed list is read as none (the record is checked later)."""
    found = ident.get("nctIdAliases")
    if not isinstance(found, list):
        return []
    return [alias.upper() for alias in found if isinstance(alias, str)]


# Set by the client on every page of a search it walks: a caller's own would contradict them.
WALK_PARAMS = ("pageSize", "pageToken", "countTotal", "fields")
_NCT = re.compile(r"NCT\d{8}")


@dataclass(frozen=True, slots=True)
class Listed:
    """A study as a search lists it (``fetch.SEARCH_FIELDS``), values as the registry sends
    them ("PHASE2", "RECRUITING", "2024-01-23"); a value absent or malformed is None (or no
    phase). Defined here, with the list code; ``ctwatch.fetch.Listed`` is the same class."""

    nct_id: str
    title: str | None
    phases: tuple[str, ...]
    status: str | None
    sponsor: str | None
    first_posted: str | None
    last_update_posted: str | None

    @classmethod
    def from_study(cls, study: Any) -> Listed:
        """What a projected or full study record says; ValueError only if it has no usable
        nctId (such a study cannot be a member of anything)."""
        nct_id = usable_id(study)
        if nct_id is None:
            raise ValueError("the study has no usable protocolSection.identificationModule.nctId")
        section = _object(study.get("protocolSection"))
        status, design = _object(section.get("statusModule")), _object(section.get("designModule"))
        sponsor = _object(_object(section.get("sponsorCollaboratorsModule")).get("leadSponsor"))
        phases = design.get("phases")
        return cls(
            nct_id=nct_id,
            title=_text(identification(study).get("briefTitle")),
            phases=tuple(p for p in phases if _text(p)) if isinstance(phases, list) else (),
            status=_text(status.get("overallStatus")),
            sponsor=_text(sponsor.get("name")),
            first_posted=_text(_object(status.get("studyFirstPostDateStruct")).get("date")),
            last_update_posted=last_update_posted(study),
        )


def merged(params: Iterable[tuple[str, str]],
           reserved: tuple[str, ...] = WALK_PARAMS) -> list[tuple[str, str]]:
    """A search's parameters, ``filter.advanced`` given twice made one (both held); ValueError
    for another repeated one, or one the walk sets itself (``reserved``)."""
    found: dict[str, str] = {}
    for name, value in params:
        if name in reserved:
            raise ValueError(f"{name}: set by the client on every page, not by a search")
        if name == "filter.advanced" and name in found:
            found[name] = f"({found[name]}) AND ({value})"
        elif name in found:
            raise ValueError(f"{name} is given twice")
        else:
            found[name] = value
    return list(found.items())


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def last_update_posted(study: dict[str, Any]) -> str | None:
    """The record's lastUpdatePostDateStruct.date; None if absent or not a text (a record
    without one is read in full, never taken for unmoved)."""
    section = study.get("protocolSection")
    status = section.get("statusModule") if isinstance(section, dict) else None
    struct = status.get("lastUpdatePostDateStruct") if isinstance(status, dict) else None
    posted = struct.get("date") if isinstance(struct, dict) else None
    return posted if isinstance(posted, str) and posted else None


def usable_id(study: Any) -> str | None:
    """A study's nctId if it is one ("NCT" + 8 digits, any case), upper-cased; else None."""
    nct_id = identification(study).get("nctId")
    if isinstance(nct_id, str) and _NCT.fullmatch(nct_id.strip().upper()):
        return nct_id.strip().upper()
    return None
