"""The searches' part of a check: list each watched search, record which trials entered and
which left, and say which trials the check follows because a search does.

A search is listed whole, light (``Client.search``: a few hundred bytes a trial, a thousand
trials a request), so that a trial that left is known to have left: a listing that fails is
no listing, and the search keeps its members until one succeeds. What the listing says of
each member — its last update posted date — is the probe of the followed trials: they cost no
request of their own. The whole registry (``query: {}``) is not listed but read as it changes
(:mod:`ctwatch.checks` streams ``Client.updated``); here it is only told apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ctwatch.errors import FetchError, TrialNotFound, describe
from ctwatch.fetch import Client, Fetched, Listed
from ctwatch.model import Change, Severity
from ctwatch.rules import IGNORED, Rules
from ctwatch.searches import SearchEntry, entered, left, member, why_left
from ctwatch.store import Store

log = logging.getLogger("ctwatch.check")

#: days the whole registry's daily read goes back before the last date it stored: a record
#: posted late on that day, or in another time zone, is not missed (reference §2)
OVERLAP_DAYS = 1
Route = Callable[[str, Sequence[Change]], list[str]]  # (search, changes) → channel names


@dataclass(slots=True)
class Scan:
    """What listing the searches found."""

    dates: dict[str, str | None] = field(default_factory=dict)  # followed → last update posted
    by: dict[str, set[str]] = field(default_factory=dict)  # followed trial → searches following
    failed: list[tuple[str, str]] = field(default_factory=list)  # (search, the error's line)
    change_ids: list[int] = field(default_factory=list)  # search change sets recorded
    found: list[Membership] = field(default_factory=list)  # each search's, when not recorded


@dataclass(frozen=True, slots=True)
class Membership:
    """What one listing of a search says against the members stored."""

    name: str
    baseline: bool  # its first listing (or as a new definition): nobody is told
    came: dict[str, dict[str, Any]]  # NCT id → searches.member
    went: list[str]
    changes: list[Change]  # [] for a baseline


def scan(entries: Sequence[SearchEntry], client: Client, db: Store, rules: Rules,
         route: Route, stop: Callable[[], bool], *, record: bool = True) -> Scan:
    """List every search but the whole registry and record what entered and left each
    (``record`` False: a dry run, which keeps what it found in ``Scan.found``)."""
    found = Scan()
    for entry in entries:
        if entry.whole_registry or stop():
            continue
        try:
            listed = {item.nct_id: item for page in client.search(entry.query.params)
                      for item in page}
        except FetchError as error:
            log.debug("search %s could not be listed", entry.name, exc_info=True)
            found.failed.append((entry.name, f"search {entry.name}: {describe(error)}"))
            if entry.follow:  # followed as before, their dates unknown: probed like listed ones
                _follow(found, entry.name, dict.fromkeys(db.searches.member_ids([entry.name])))
            continue
        membership = compare(entry, listed, client, db, rules)
        if not record:
            found.found.append(membership)
        elif (change_id := _record(entry, membership, db, route)) is not None:
            found.change_ids.append(change_id)
        if entry.follow:
            _follow(found, entry.name, {i: item.last_update_posted for i, item in listed.items()})
    return found


def _follow(found: Scan, name: str, dates: Mapping[str, str | None]) -> None:
    for nct_id, day in dates.items():
        if day is not None or nct_id not in found.dates:
            found.dates[nct_id] = day
        found.by.setdefault(nct_id, set()).add(name)


def compare(entry: SearchEntry, listed: Mapping[str, Listed], client: Client, db: Store,
            rules: Rules) -> Membership:
    """The search's members as listed against those stored, and the change that makes
    (reads only: one light request per 1,000 trials that left, to tell why)."""
    state = db.searches.state(entry.name)
    if state is None or state.definition != entry.query.key or state.baseline_at is None:
        return Membership(entry.name, True, {i: member(item) for i, item in listed.items()},
                          [], [])
    stored = db.searches.members(entry.name)
    came = {nct_id: member(item) for nct_id, item in listed.items() if nct_id not in stored}
    went = [nct_id for nct_id in stored if nct_id not in listed]
    changes = [*_kept(rules, (entered(listed[i], Severity.MAJOR) for i in came)),
               *_kept(rules, _left(entry, went, stored, client))]
    return Membership(entry.name, False, came, went, changes)


def _record(entry: SearchEntry, found: Membership, db: Store, route: Route) -> int | None:
    """Store the search's members as listed, and their change, in one transaction."""
    if found.baseline:  # its members anew, all at once
        with db.transaction():
            db.searches.begin(entry.name, entry.query.key, entry.query.page_url)
            return db.searches.record(entry.name, found.came, (), (), (), baseline=True)
    return db.searches.record(entry.name, found.came, found.went, found.changes,
                              route(entry.name, found.changes))


def _left(entry: SearchEntry, went: Sequence[str], stored: Mapping[str, dict | None],
          client: Client) -> list[Change]:
    """The changes of the trials that left, each with why, as their records tell it now."""
    now: dict[str, Listed | None] = {}
    missing: set[str] = set()
    for result in client.summaries(went) if went else ():
        if isinstance(result, TrialNotFound):
            missing.add(result.nct_id or "")
        elif isinstance(result, Listed):
            now[result.nct_id] = result
    return [left(nct_id, now.get(nct_id), stored.get(nct_id),
                 why_left(now.get(nct_id), entry.query, nct_id in missing), Severity.MAJOR)
            for nct_id in went]


def _kept(rules: Rules, changes: Iterable[Change]) -> list[Change]:
    """The changes with the severity the rules give them; those the rules ignore dropped."""
    kept = []
    for change in changes:
        category, severity = rules.classify(change.path)
        if severity == IGNORED:
            continue
        kept.append(Change(change.path, change.kind, change.old, change.new, category,
                           severity, change.summary, change.flags, change.label))
    return kept


# -- the whole registry -----------------------------------------------------------------------


StoreBatch = Callable[[list[Fetched | FetchError]], None]  # stores as a check does


def stream(entry: SearchEntry, client: Client, db: Store, rules: Rules, route: Route,
           store: StoreBatch, stop: Callable[[], bool]) -> tuple[set[str], int | None]:
    """The whole registry's day: every record updated since the search's cursor (a day of
    overlap), a thousand to a request, in the order of their dates. A followed registry's
    records are stored as they come (``store``); the trials new to it make one change set
    at the end. Its baseline is the same walk from the start, its cursor and members stored
    page by page, so that a baseline cut short goes on from where it stopped.

    Returns the trials read in full, and the change set's id if one was recorded. A failure
    mid-way raises the FetchError: what was stored stays, the cursor and the new members are
    those of before, and the next run reads the same records again."""
    state = db.searches.state(entry.name)
    if state is None or state.definition != entry.query.key:
        db.searches.begin(entry.name, entry.query.key, entry.query.page_url)
        state = db.searches.state(entry.name)
    assert state is not None
    baseline = state.baseline_at is None
    members = db.searches.member_ids([entry.name])
    came: dict[str, Listed] = {}
    read: set[str] = set()
    cursor = state.cursor
    for page in _pages(entry, client, cursor):
        if stop():
            return read, None
        if entry.follow:  # a record that could not be had is its trial's failure
            store(list(page))
            read.update(item.registry_nct_id if isinstance(item, Fetched) else item.nct_id or ""
                        for item in page)
        listed = [Listed.from_study(item.data) if isinstance(item, Fetched) else item
                  for item in page if not isinstance(item, FetchError)]
        new = {item.nct_id: item for item in listed if item.nct_id not in members}
        members.update(new)
        cursor = max([cursor or "", *(item.last_update_posted or "" for item in listed)]) or None
        if baseline:  # page by page: an interrupted baseline goes on from here
            db.searches.record(entry.name, {i: None for i in new}, (), (), (), cursor=cursor)
        else:
            came.update(new)
    if baseline:
        db.searches.record(entry.name, {}, (), (), (), baseline=True, cursor=cursor)
        return read, None
    changes = _kept(rules, (entered(item, Severity.MAJOR) for item in came.values()))
    change_id = db.searches.record(entry.name, {i: member(item) for i, item in came.items()},
                                   (), changes, route(entry.name, changes), cursor=cursor)
    return read, change_id if changes else None


def _pages(entry: SearchEntry, client: Client,
           cursor: str | None) -> Iterator[Sequence[Fetched | FetchError | Listed]]:
    """The registry's records updated since the day before ``cursor``: whole when followed,
    else light."""
    since = None if cursor is None else (date.fromisoformat(cursor[:10])
                                         - timedelta(days=OVERLAP_DAYS)).isoformat()
    if entry.follow:
        yield from client.updated(since, entry.query.params)
        return
    advanced = f"AREA[LastUpdatePostDate]RANGE[{since or 'MIN'},MAX]"
    yield from client.search((*entry.query.params, ("filter.advanced", advanced),
                              ("sort", "LastUpdatePostDate:asc")))
