"""Filling a trial's past in: the registry's own version history (backfill) and saved records
of any format (import), stored as snapshots with change sets between them and no alerts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from ctwatch import sources
from ctwatch.errors import CtwatchError, ParseError, Refused
from ctwatch.fetch import Client, Fetched
from ctwatch.model import Trial
from ctwatch.record import Reading, parse_fetched, record
from ctwatch.rules import Rules
from ctwatch.store import Saved, Store


@dataclass(frozen=True, slots=True)
class Backfilled:
    """What importing a trial's registry history stored."""

    nct_id: str
    versions: int  # versions the registry lists
    snapshots: int  # new snapshots stored
    change_sets: int


def backfill(client: Client, db: Store, nct_id: str, rules: Rules) -> Backfilled:
    """Import the registry's own version history of a trial as snapshots, oldest first.
    Versions already stored are skipped, so an interrupted backfill can simply be run again;
    a trial that already has snapshots of checks or imports is refused (its history would
    come after them)."""
    existing = db.snapshots(nct_id)
    if any(snapshot.registry_version is None for snapshot in existing):
        raise Refused(f"{nct_id} already has snapshots from checks or imported records; "
                      "backfill imports a trial's history before its first check or import")
    known = {snapshot.registry_version for snapshot in existing}
    versions = client.history_index(nct_id)
    stored = changed = 0
    for entry in versions:
        if entry.version in known:
            continue
        fetched = client.history_version(nct_id, entry.version)
        saved = record(db, Reading(fetched, parse_fetched(fetched), "history", entry.date, rules,
                                   _day(entry.date)))
        stored += saved.snapshot_id is not None
        changed += saved.change_set is not None
    return Backfilled(nct_id, len(versions), stored, changed)


def _day(registry_date: str | None) -> date | None:
    """The day a version was posted, on which "changed after the study started" is judged."""
    if not registry_date or len(registry_date) < 10:
        return None
    try:
        return date.fromisoformat(registry_date[:10])
    except ValueError:
        return None


@dataclass(slots=True)
class Imported:
    """What importing saved records stored."""

    records: int = 0  # trials read from the records
    snapshots: int = 0  # new snapshots stored
    change_sets: int = 0
    failures: list[CtwatchError] = field(default_factory=list)  # records not imported


def import_records(db: Store, records: Sequence[tuple[str, bytes]], rules: Rules) -> Imported:
    """Load saved records — (name, bytes) — as snapshots of their trials, in registry-date
    order (last update posted). A record whose content equals its trial's latest snapshot adds
    nothing; one older than the latest snapshot is refused, so the latest stays the newest and
    a check compares the registry with it. A record that cannot be read is reported."""
    done = Imported()
    found: list[tuple[str, int, Trial, str]] = []
    for order, (name, raw) in enumerate(records):
        try:
            trials = sources.parse(raw, name)
        except ParseError as error:
            done.failures.append(error)
            continue
        kind = sources.detect(raw)
        found += [(trial.status.last_update_posted or "", order, trial, kind) for trial in trials]
    for _, order, trial, kind in sorted(found, key=lambda item: item[:2]):
        done.records += 1
        name, raw = records[order]
        try:
            saved = _import_one(db, name, raw, trial, kind, rules)
        except Refused as error:
            done.failures.append(error)
            continue
        done.snapshots += saved.snapshot_id is not None
        done.change_sets += saved.change_set is not None
    return done


def _import_one(db: Store, name: str, raw: bytes, trial: Trial, kind: str,
                rules: Rules) -> Saved:
    posted = trial.status.last_update_posted
    latest = db.latest(trial.nct_id)
    if latest and latest.registry_date and posted and posted < latest.registry_date:
        raise Refused(f"{name}: {trial.nct_id} of {posted} is older than its latest snapshot "
                      f"({latest.registry_date}); import records oldest first, before the "
                      "trial's first check")
    url = Path(name).resolve().as_uri() if Path(name).is_file() else name
    fetched = Fetched(trial.nct_id, trial.nct_id, url, datetime.now(UTC), raw, {})
    when = _day(posted) if posted and len(posted) == 10 else None
    return record(db, Reading(fetched, trial, kind, posted, rules, when))
