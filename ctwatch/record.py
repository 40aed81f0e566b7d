"""Recording a freshly read version of a trial: diff it against the trial's latest snapshot
and store the snapshot, its change set and its alerts.

Everything written for one trial is one store transaction: the re-parse of a snapshot an older
parser stored, the registry version numbers learnt for the link to the registry's comparison
view, the new snapshot, its change set and its outbox rows. A run killed at any point leaves
the trial as it was before or after, never between. The network (the history index, for the
version numbers) is asked before that transaction opens, never while it holds the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date

from ctwatch import sources, timeline
from ctwatch.clock import stamp
from ctwatch.diff import diff
from ctwatch.errors import CtwatchError, FetchError, ParseError
from ctwatch.fetch import Client, Fetched
from ctwatch.model import Change, Snapshot, Trial
from ctwatch.rules import Rules
from ctwatch.store import Saved, Store, content_hash

log = logging.getLogger("ctwatch.check")

#: (registry date of the older snapshot, of the newer) → their registry version numbers
Numbers = Callable[[str | None, str | None], tuple[int | None, int | None]]
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
           numbers: Numbers | None = None) -> Saved:
    """Store a version of a trial: a snapshot if its content is new, the change set against
    the trial's latest snapshot if anything changed, and an alert for each of ``channels``."""
    snapshot = _snapshot(reading)
    if db.latest_hash(snapshot.nct_id) == (snapshot.content_hash, sources.PARSER_VERSION):
        return db.save(snapshot, reading.fetched.raw)  # the usual case: nothing to diff
    stored = db.latest(snapshot.nct_id)
    previous = current(db, stored) if stored else None
    changes = diff(previous.trial, reading.trial, reading.rules, reading.when) if previous else []
    old_version = None
    if previous and changes and numbers and snapshot.registry_version is None:
        old_version, new_version = numbers(previous.registry_date, snapshot.registry_date)
        snapshot = replace(snapshot, registry_version=new_version)
    with db.transaction():
        if previous and stored and previous is not stored:
            db.replace_trial(previous.id or 0, previous.trial, sources.PARSER_VERSION)
        if previous and old_version is not None and previous.registry_version is None:
            db.set_registry_version(previous.id or 0, old_version)
        return db.save(snapshot, reading.fetched.raw, changes, channels(changes))


def _snapshot(reading: Reading) -> Snapshot:
    fetched, trial = reading.fetched, reading.trial
    return Snapshot(
        id=None, nct_id=trial.nct_id, fetched_at=stamp(fetched.fetched_at), source=reading.source,
        url=fetched.url, registry_version=fetched.registry_version,
        registry_date=reading.registry_date, parser_version=sources.PARSER_VERSION,
        content_hash=content_hash(trial), trial=trial)


def current(db: Store, snapshot: Snapshot) -> Snapshot:
    """A stored snapshot as the current parser reads it (nothing is written), so a parser
    upgrade never looks like a change in the registry. A snapshot a stricter parser refuses
    is compared as stored rather than block its trial's checks for good."""
    if snapshot.parser_version == sources.PARSER_VERSION:
        return snapshot
    try:
        trial = timeline.reparsed_trial(db, snapshot)
    except ParseError as error:
        log.debug("%s: snapshot %s kept as stored: %s", snapshot.nct_id, snapshot.id, error)
        return snapshot
    return replace(snapshot, trial=trial, parser_version=sources.PARSER_VERSION,
                   content_hash=content_hash(trial))


def parse_fetched(fetched: Fetched) -> Trial:
    """The trial in a fetched record (the one the registry filed under the id asked for)."""
    trials = sources.parse(fetched.raw, f"{fetched.nct_id} ({fetched.url})")
    for trial in trials:
        if trial.nct_id == fetched.registry_nct_id:
            return trial
    raise ParseError(f"the record holds no study {fetched.registry_nct_id}",
                     source=fetched.url)


def version_numbers(client: Client, nct_id: str) -> Numbers:
    """The registry versions current on two dates, from the trial's history index; (None,
    None) when the index cannot be had (it is an unsupported site API) or does not tell the
    two apart."""
    def numbers(old_date: str | None, new_date: str | None) -> tuple[int | None, int | None]:
        try:
            index = client.history_index(nct_id)
        except FetchError as error:
            log.debug("no version numbers for %s: %s", nct_id, error)
            return None, None

        def on(day: str | None) -> int | None:
            found = [entry.version for entry in index if day and entry.date <= day]
            return max(found) if found else None

        old, new = on(old_date), on(new_date)
        if old is None or new is None or old >= new:
            return None, None
        return old, new

    return numbers


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
