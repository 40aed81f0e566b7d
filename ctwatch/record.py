"""Recording a freshly read version of a trial: diff it against the trial's latest snapshot
and store the snapshot, its change set and its alerts.

Everything written for one trial is one store transaction: the re-parse of a snapshot an older
parser stored, the new snapshot, its change set, its outbox rows and the trial's state. A run
killed at any point leaves the trial as it was before or after, never between.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from ctwatch import sources, timeline
from ctwatch.clock import stamp
from ctwatch.diff import diff
from ctwatch.errors import CtwatchError, FetchError, ParseError
from ctwatch.fetch import Client, Fetched
from ctwatch.model import Change, ChangeSet, Snapshot, Trial
from ctwatch.rules import Rules
from ctwatch.store import Saved, Store, content_hash

log = logging.getLogger("ctwatch.check")

#: the changes of a change set → the channels its alert goes to (none for imports)
Channels = Callable[[list[Change]], list[str]]


@dataclass(frozen=True, slots=True)
class Reading:
    """A version of a trial as read: where from, and what the diff judges it by."""

    fetched: Fetched
    trial: Trial
    source: str  # api_v2, history, or the format of an imported record
    registry_date: str | None
    rules: Rules
    when: date | None  # the day "changed after the study started" is judged on


def record(db: Store, reading: Reading, *, channels: Channels = lambda _: [],
           raw_hash: str | None = None, new: bool = False) -> Saved:
    """Store a version of a trial: a snapshot if its content is new, the change set against
    the trial's latest snapshot if anything changed, and an alert for each of ``channels``.
    ``raw_hash``: the version was read in full from the registry, and its record hashes so;
    ``new``: the store was found to hold no snapshot of the trial (in this transaction)."""
    snapshot = _snapshot(reading)
    raw = reading.fetched.raw
    with db.transaction():  # reads too: one begin and one commit for the whole trial
        head = None if new else db.head(snapshot.nct_id)
        if head and head[1:] == (snapshot.content_hash, sources.PARSER_VERSION):
            return db.save_after(head, snapshot, raw, raw_hash=raw_hash)  # nothing to diff
        if head is None:  # a new trial: nothing to compare with
            return db.save_after(None, snapshot, raw, raw_hash=raw_hash)
        stored, previous = _latest(db, snapshot.nct_id)
        changes = diff(previous.trial, reading.trial, reading.rules, reading.when)
        if previous is not stored:
            db.replace_trial(previous.id or 0, previous.trial, sources.PARSER_VERSION)
            head = head._replace(content_hash=previous.content_hash)
        return db.save_after(head, snapshot, raw, changes, channels(changes), raw_hash=raw_hash)


def preview(db: Store, reading: Reading) -> ChangeSet | None:
    """What :func:`record` would store of a version as a change set (id 0, to snapshot 0),
    writing nothing; None when it would store none (a new trial, the same content, or
    nothing but what the rules ignore)."""
    snapshot = _snapshot(reading)
    head = db.head(snapshot.nct_id)
    if head is None or head[1:] == (snapshot.content_hash, sources.PARSER_VERSION):
        return None
    _, previous = _latest(db, snapshot.nct_id)
    if previous.content_hash == snapshot.content_hash:
        return None
    changes = diff(previous.trial, reading.trial, reading.rules, reading.when)
    return timeline.change_set(previous, snapshot, changes) if changes else None


#: registry bookkeeping in a record that changes with every data release, not with the trial
_BOOKKEEPING = re.compile(rb'"versionHolder"\s*:\s*"[^"]*"')


def raw_hash(raw: bytes) -> str:
    """A hash of a registry record, its bookkeeping left out: equal for a record that did not
    change since it was last read, whatever release it came with."""
    return hashlib.sha256(_BOOKKEEPING.sub(b"", raw)).hexdigest()


def _snapshot(reading: Reading) -> Snapshot:
    fetched, trial = reading.fetched, reading.trial
    return Snapshot(
        id=None, nct_id=trial.nct_id, fetched_at=stamp(fetched.fetched_at), source=reading.source,
        url=fetched.url, registry_version=fetched.registry_version,
        registry_date=reading.registry_date, parser_version=sources.PARSER_VERSION,
        content_hash=content_hash(trial), trial=trial)


def _latest(db: Store, nct_id: str) -> tuple[Snapshot, Snapshot]:
    """A trial's latest snapshot (it has one) as stored, and as this version's parser reads
    it: the one the next version is compared with."""
    stored = db.latest(nct_id)
    assert stored is not None  # the caller found its head in the same transaction
    return stored, current(db, stored)


def current(db: Store, snapshot: Snapshot) -> Snapshot:
    """:func:`ctwatch.timeline.current`, except that a snapshot a stricter parser refuses is
    compared as stored rather than block its trial's checks for good."""
    try:
        return timeline.current(db, snapshot)
    except ParseError as error:
        log.debug("%s: snapshot %s kept as stored: %s", snapshot.nct_id, snapshot.id, error)
        return snapshot


def parse_fetched(fetched: Fetched) -> Trial:
    """The trial in a fetched record (the one the registry filed under the id asked for)."""
    trials = sources.parse_loaded(fetched.data, fetched.raw, f"{fetched.nct_id} ({fetched.url})")
    for trial in trials:
        if trial.nct_id == fetched.registry_nct_id:
            return trial
    raise ParseError(f"the record holds no study {fetched.registry_nct_id}",
                     source=fetched.url)


def fetch_trials(client: Client, nct_ids: Sequence[str]
                 ) -> Iterator[tuple[str, list[Trial] | CtwatchError]]:
    """Fetch and parse trials by id: (id asked for, [its trial] or the error), as they come."""
    for result in client.fetch_studies(nct_ids):
        if isinstance(result, FetchError):
            yield result.nct_id or "?", result
            continue
        try:
            yield result.nct_id, [parse_fetched(result)]
        except ParseError as error:
            yield result.nct_id, error
