"""Reading a trial's stored past: its snapshots, a snapshot by reference, the diff between two.

A reference (REF) names a snapshot of one trial:

    latest, previous   the newest snapshot, the one before it
    42                 snapshot id 42
    v7                 registry version 7 (as imported by backfill)
    2023-10-01         the newest snapshot whose registry date (else fetch date) is on or before
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ctwatch import sources, store
from ctwatch.diff import diff
from ctwatch.errors import ConfigError, ParseError
from ctwatch.model import Change, ChangeSet, Snapshot, Trial
from ctwatch.rules import Rules
from ctwatch.store import Store

_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?")


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of ``ctwatch history``."""

    snapshot: Snapshot
    changes: int  # changes from the snapshot before it (0 for the first)

    def to_dict(self) -> dict[str, object]:
        s = self.snapshot
        return {"snapshot": s.id, "registry_version": s.registry_version,
                "registry_date": s.registry_date, "fetched_at": s.fetched_at,
                "source": s.source, "parser_version": s.parser_version, "changes": self.changes}


def history(db: Store, nct_id: str) -> list[Entry]:
    """Every snapshot of a trial, oldest first, with the number of changes each brought."""
    snapshots = db.snapshots(nct_id)
    if not snapshots:
        raise ConfigError(f"{nct_id}: no snapshots in the store {db.target}; run ctwatch check "
                          "or ctwatch backfill first")
    counts = {cs.to_snapshot: len(cs.changes) for cs in db.change_sets(nct_id)}
    return [Entry(s, counts.get(s.id or 0, 0)) for s in snapshots]


def resolve(snapshots: list[Snapshot], ref: str) -> Snapshot:
    """The snapshot a reference names; a ConfigError naming the reference otherwise."""
    found = _find(snapshots, ref.strip().lower())
    if found is None:
        raise ConfigError(f"no snapshot {ref!r} among the {len(snapshots)} of "
                          f"{snapshots[0].nct_id if snapshots else 'this trial'} "
                          "(use latest, previous, a snapshot id, vN or a date)")
    return found


def _find(snapshots: list[Snapshot], ref: str) -> Snapshot | None:
    if ref in ("latest", "previous"):
        index = -1 if ref == "latest" else -2
        return snapshots[index] if len(snapshots) >= -index else None
    if ref.isdigit():
        return next((s for s in snapshots if s.id == int(ref)), None)
    if ref.startswith("v") and ref[1:].isdigit():
        return next((s for s in snapshots if s.registry_version == int(ref[1:])), None)
    if _DATE.fullmatch(ref):
        on_or_before = [s for s in snapshots if (s.registry_date or s.fetched_at)[:10] <= ref
                        or (s.registry_date or s.fetched_at).startswith(ref)]
        return on_or_before[-1] if on_or_before else None
    raise ConfigError(f"{ref!r} is not a snapshot reference (latest, previous, a snapshot id, "
                      "vN or a date)")


def compare(db: Store, nct_id: str, old_ref: str | None, new_ref: str | None,
            rules: Rules | None = None) -> ChangeSet:
    """The changes between two snapshots, as the current parser and rules see them.

    Without references: the latest stored change set's two snapshots (the latest change)."""
    snapshots = db.snapshots(nct_id)
    if not snapshots:
        raise ConfigError(f"{nct_id}: no snapshots in the store {db.target}")
    if old_ref is None and new_ref is None:
        latest = db.change_sets(nct_id, limit=1)
        old_ref, new_ref = (str(latest[0].from_snapshot), str(latest[0].to_snapshot)) if latest \
            else ("previous", "latest")
    new = resolve(snapshots, new_ref or "latest")
    old = resolve(snapshots, old_ref) if old_ref else _before(snapshots, new)
    old, new = (_current(db, old), _current(db, new))
    when = date.fromisoformat(new.registry_date[:10]) if new.registry_date else None
    changes = diff(old.trial, new.trial, rules, when)
    return change_set(old, new, changes)


def _before(snapshots: list[Snapshot], snapshot: Snapshot) -> Snapshot:
    index = snapshots.index(snapshot)
    if index == 0:
        raise ConfigError(f"snapshot {snapshot.id} is the first of {snapshot.nct_id}; "
                          "there is nothing before it to compare with")
    return snapshots[index - 1]


def _current(db: Store, snapshot: Snapshot) -> Snapshot:
    """The snapshot as the current parser reads it (nothing is written)."""
    if snapshot.parser_version == sources.PARSER_VERSION or snapshot.id is None:
        return snapshot
    trial = reparsed_trial(db, snapshot)
    return Snapshot(**{**_fields(snapshot), "trial": trial,
                       "parser_version": sources.PARSER_VERSION})


def _fields(snapshot: Snapshot) -> dict[str, object]:
    return {name: getattr(snapshot, name) for name in Snapshot.__dataclass_fields__}


def reparsed_trial(db: Store, snapshot: Snapshot) -> Trial:
    """A stored snapshot's raw payload, parsed by the current parser."""
    assert snapshot.id is not None
    trials = sources.parse(db.raw(snapshot.id), f"snapshot {snapshot.id} of {snapshot.nct_id}")
    for trial in trials:
        if trial.nct_id == snapshot.nct_id:
            return trial
    raise ParseError(f"holds no study {snapshot.nct_id}", source=f"snapshot {snapshot.id}")


def change_set(old: Snapshot, new: Snapshot, changes: list[Change]) -> ChangeSet:
    """An unsaved change set between two snapshots, for showing (id 0)."""
    return ChangeSet(id=0, nct_id=new.nct_id, title=new.trial.brief_title,
                     from_snapshot=old.id or 0, to_snapshot=new.id or 0,
                     from_version=old.registry_version, to_version=new.registry_version,
                     from_date=old.registry_date, to_date=new.registry_date,
                     created_at=store.now(), changes=tuple(changes))


def reparse(db: Store, nct_ids: list[str] | None = None, *, every: bool = False) -> int:
    """Re-parse stored snapshots whose parser is older (all of them with ``every``) from their
    raw payloads; the number re-parsed."""
    done = 0
    for nct_id in nct_ids or db.trial_ids():
        for snapshot in db.snapshots(nct_id):
            if every or snapshot.parser_version != sources.PARSER_VERSION:
                db.replace_trial(snapshot.id or 0, reparsed_trial(db, snapshot),
                                 sources.PARSER_VERSION)
                done += 1
    return done


def compare_records(old: Trial, new: Trial, rules: Rules | None = None) -> ChangeSet:
    """The changes between two saved records (not stored snapshots) of one trial."""
    if old.nct_id != new.nct_id:
        raise ConfigError(f"the records are of two trials, {old.nct_id} and {new.nct_id}; "
                          "diff compares two versions of one trial")
    return ChangeSet(id=0, nct_id=new.nct_id, title=new.brief_title, from_snapshot=0,
                     to_snapshot=0, from_version=None, to_version=None,
                     from_date=old.status.last_update_posted,
                     to_date=new.status.last_update_posted, created_at=store.now(),
                     changes=tuple(diff(old, new, rules)))
