"""Reading a trial's stored past: its snapshots, a snapshot by reference, the diff between two.

A reference (REF) names a snapshot of one trial:

    latest, previous   the newest snapshot, the one before it
    42                 snapshot id 42 (see ctwatch history)
    v7                 the snapshot carrying registry version 7 (v0: the first registration);
                       backfill stores every version with its number; a check numbers only
                       the two ends of a change it finds (if the registry's history index
                       answers); an imported record carries none
    2023-10-01         the newest snapshot whose registry date (else fetch date) is on or
    2023-10, 2023      before it, a month or a year counting to its end; four digits are a
                       year unless the trial has a snapshot with that id

``diff --from REF --to REF`` refuses two references to the same snapshot and a --from newer
than its --to (snapshots are ordered as stored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date

from ctwatch import sources
from ctwatch.clock import stamp
from ctwatch.diff import diff
from ctwatch.errors import NoSuchSnapshot, ParseError, UsageError
from ctwatch.model import Change, ChangeSet, Snapshot, Trial
from ctwatch.rules import Rules
from ctwatch.store import Store, content_hash

_ID = re.compile(r"\d+", re.ASCII)
_VERSION = re.compile(r"v\d+", re.ASCII)
_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?", re.ASCII)


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
        raise NoSuchSnapshot(f"{nct_id}: no snapshots in the store {db.target}; run ctwatch check "
                          "or ctwatch backfill first")
    counts = {cs.to_snapshot: len(cs.changes) for cs in db.change_sets(nct_id)}
    return [Entry(s, counts.get(s.id or 0, 0)) for s in snapshots]


def resolve(snapshots: list[Snapshot], ref: str, option: str | None = None) -> Snapshot:
    """The snapshot a reference names; a UsageError naming the reference (and the option it
    was given to) otherwise."""
    wanted = ref.strip().lower()
    found = _find(snapshots, wanted, option)
    if found is not None:
        return found
    nct_id = snapshots[0].nct_id if snapshots else "this trial"
    raise NoSuchSnapshot(f"no snapshot {ref!r} among the {len(snapshots)} of {nct_id}"
                         f"{_hint(snapshots, wanted)}", option=option)


def _hint(snapshots: list[Snapshot], ref: str) -> str:
    if _VERSION.fullmatch(ref):
        return _no_version(snapshots)
    if _DATE.fullmatch(ref) and snapshots:
        return f" (the oldest is of {_day(snapshots[0])})"
    return " (use latest, previous, a snapshot id, vN or a date)"


def _find(snapshots: list[Snapshot], ref: str, option: str | None) -> Snapshot | None:
    if ref in ("latest", "previous"):
        index = -1 if ref == "latest" else -2
        return snapshots[index] if len(snapshots) >= -index else None
    if _ID.fullmatch(ref):  # four digits that are no snapshot id of the trial: a year
        by_id = next((s for s in snapshots if s.id == int(ref)), None)
        if by_id is not None or len(ref) != 4:
            return by_id
    if _VERSION.fullmatch(ref):
        return next((s for s in snapshots if s.registry_version == int(ref[1:])), None)
    if not _DATE.fullmatch(ref):
        raise UsageError(f"{ref!r} is not a snapshot reference (latest, previous, a snapshot "
                         "id, vN or a date)", option=option)
    if not _is_date(ref):
        raise UsageError(f"{ref!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)", option=option)
    on_or_before = [s for s in snapshots if _day(s) <= ref or _day(s).startswith(ref)]
    return on_or_before[-1] if on_or_before else None


def _is_date(ref: str) -> bool:
    """A year, a month or a day of the calendar (not 2024-13 nor 2024-02-30)."""
    year, month, day = [*map(int, ref.split("-")), 1, 1][:3]
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _day(snapshot: Snapshot) -> str:
    return (snapshot.registry_date or snapshot.fetched_at)[:10]


def _no_version(snapshots: list[Snapshot]) -> str:
    """Which registry versions the snapshots carry, and why the others carry none."""
    known = sorted({s.registry_version for s in snapshots if s.registry_version is not None})
    if len(known) == len(snapshots):
        return f" (known versions: {_spans(known)})"
    nct_id = snapshots[0].nct_id
    return (f": {'known versions: ' + _spans(known) if known else 'no registry version is known'}"
            "; a snapshot stored by ctwatch check learns its registry version only when a check "
            "finds a change to or from it, an imported record never, while ctwatch backfill "
            f"{nct_id}, run before the trial's first check or import, stores every version, v0 "
            "being the first registration; name the snapshot by id or date instead (see "
            f"ctwatch history {nct_id})")


def _spans(numbers: list[int]) -> str:
    """v0-v3, v7: sorted version numbers, runs shortened."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(f"v{run[0]}" if len(run) == 1 else f"v{run[0]}-v{run[-1]}" for run in runs)


def compare(db: Store, nct_id: str, old_ref: str | None, new_ref: str | None,
            rules: Rules | None = None) -> ChangeSet:
    """The changes between two snapshots, as the current parser and rules see them.

    Without references: the latest stored change set's two snapshots (the latest change)."""
    snapshots = db.snapshots(nct_id)
    if not snapshots:
        raise NoSuchSnapshot(f"{nct_id}: no snapshots in the store {db.target}")
    if old_ref is None and new_ref is None:
        latest = db.change_sets(nct_id, limit=1)
        old_ref, new_ref = (str(latest[0].from_snapshot), str(latest[0].to_snapshot)) if latest \
            else ("previous", "latest")
    old, new = _pair(snapshots, old_ref, new_ref)
    old, new = (current(db, old), current(db, new))
    when = date.fromisoformat(new.registry_date[:10]) if new.registry_date else None
    changes = diff(old.trial, new.trial, rules, when)
    return change_set(old, new, changes)


def _pair(snapshots: list[Snapshot], old_ref: str | None,
         new_ref: str | None) -> tuple[Snapshot, Snapshot]:
    """The snapshots --from and --to name (by default latest, and the one before --to); never
    one snapshot twice nor a --from newer than its --to."""
    new_ref = new_ref or "latest"
    new = resolve(snapshots, new_ref, "--to")
    if old_ref is None:
        return _before(snapshots, new), new
    old = resolve(snapshots, old_ref, "--from")
    if old.id == new.id:
        raise UsageError(f"--from {old_ref} and --to {new_ref} are the same snapshot "
                         f"({old.id}); nothing to compare")
    if (old.id or 0) > (new.id or 0):  # snapshots are ordered as stored
        raise UsageError(f"--from {old_ref} (snapshot {old.id}) is newer than --to {new_ref} "
                         f"(snapshot {new.id}); swap them: --from {new_ref} --to {old_ref}")
    return old, new


def _before(snapshots: list[Snapshot], snapshot: Snapshot) -> Snapshot:
    index = snapshots.index(snapshot)
    if index == 0:
        raise NoSuchSnapshot(f"snapshot {snapshot.id} is the first of {snapshot.nct_id}; "
                             "there is nothing before it to compare with")
    return snapshots[index - 1]


def current(db: Store, snapshot: Snapshot) -> Snapshot:
    """The snapshot as the current parser reads it (nothing is written), so that a parser
    upgrade never looks like a change in the registry."""
    if snapshot.parser_version == sources.PARSER_VERSION or snapshot.id is None:
        return snapshot
    trial = reparsed_trial(db, snapshot)
    return replace(snapshot, trial=trial, parser_version=sources.PARSER_VERSION,
                   content_hash=content_hash(trial))


def reparsed_trial(db: Store, snapshot: Snapshot) -> Trial:
    """A stored snapshot's raw payload, parsed by the current parser."""
    assert snapshot.id is not None
    return parsed_trial(db.raw(snapshot.id), snapshot.nct_id, snapshot.id)


def parsed_trial(raw: bytes, nct_id: str, snapshot_id: int) -> Trial:
    """The trial ``nct_id`` of a snapshot's raw payload, as the current parser reads it."""
    for trial in sources.parse(raw, f"snapshot {snapshot_id} of {nct_id}"):
        if trial.nct_id == nct_id:
            return trial
    raise ParseError(f"holds no study {nct_id}", source=f"snapshot {snapshot_id}")


def change_set(old: Snapshot, new: Snapshot, changes: list[Change]) -> ChangeSet:
    """An unsaved change set between two snapshots, for showing (id 0)."""
    return ChangeSet(id=0, nct_id=new.nct_id, title=new.trial.brief_title,
                     from_snapshot=old.id or 0, to_snapshot=new.id or 0,
                     from_version=old.registry_version, to_version=new.registry_version,
                     from_date=old.registry_date, to_date=new.registry_date,
                     created_at=stamp(), changes=tuple(changes))


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
        raise UsageError(f"the records are of two trials, {old.nct_id} and {new.nct_id}; "
                         "diff compares two versions of one trial")
    return ChangeSet(id=0, nct_id=new.nct_id, title=new.brief_title, from_snapshot=0,
                     to_snapshot=0, from_version=None, to_version=None,
                     from_date=old.status.last_update_posted,
                     to_date=new.status.last_update_posted, created_at=stamp(),
                     changes=tuple(diff(old, new, rules)))
