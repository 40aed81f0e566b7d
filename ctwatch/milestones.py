"""Compliance milestones as alerts: each finding of :mod:`ctwatch.compliance` that carries a
milestone key (results due within 30 days, results overdue, verification lapsed) is alerted
once per trial and key, through the outbox like a change set, on the trial's channels.

After a check has stored its trials, :func:`queue` judges the watched trials on the plan's
day. Which milestones a trial has reached is a pure function of its latest snapshot, the day
and the rules, so every watched trial is judged on a day's first check (the day passing may
reach a milestone) and whenever the watch list or the rules changed; a later check of the same
day judges only the trials it stored a new snapshot of (a snapshot written by ``ctwatch
import`` or ``reparse`` is judged on the next day's first check). Judging reads of each latest
snapshot only what the rules need (:meth:`ctwatch.store.Store.outlines`), a few hundred bytes
a trial (``benchmarks/milestones.py``). A key not recorded before is recorded, and its alert
queued, in one transaction with the day's note: a run killed before it commits leaves nothing,
and the next run queues it; once committed, no run queues it again. A moved deadline is a new
key, hence a new alert.

An alert is a change set of its trial from and to the snapshot judged, whose one change is
the finding: path ``compliance.results_overdue`` (its label "Results overdue"), ``new`` the
finding's machine fields (milestone key, finding code, date, days, summary, rule, reasons),
severity major for results overdue and verification lapsed, minor for results due (``rules:``
may override them, or ignore them, by path, as for changes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from ctwatch import sources
from ctwatch.clock import stamp
from ctwatch.compliance import US_PLACES, Finding, assess
from ctwatch.model import Change, ChangeSet, Trial
from ctwatch.record import current
from ctwatch.rules import IGNORED, Rules
from ctwatch.store import Outline, Store

if TYPE_CHECKING:
    from ctwatch.checks import Plan

#: finding code → the path of its alert's change (labels.FIELDS names it)
PATHS = {"results-due-soon": "compliance.results_due_soon",
         "results-overdue": "compliance.results_overdue",
         "verification-lapsed": "compliance.verification_lapsed"}
#: the store's note of the day (and watch list and rules) every watched trial was judged on
ASSESSED = "milestones_assessed"
#: words of a finding's summary that its label says already
_SAID = ("results overdue: ", "results ")


@dataclass(frozen=True, slots=True)
class Judged:
    """A trial as judged: its latest snapshot (0 for one not stored yet) and the trial."""

    nct_id: str
    snapshot_id: int
    registry_version: int | None
    registry_date: str | None
    trial: Trial


@dataclass(frozen=True, slots=True)
class Reached:
    """A milestone not alerted before: the alert's change set, and the channels it goes to."""

    change_set: ChangeSet
    channels: tuple[str, ...]


def queue(plan: Plan, db: Store, changed: Collection[str]) -> list[ChangeSet]:
    """Judge the watched trials (all of them on a day's first run, else those in ``changed``:
    with a new snapshot this run), record each milestone not recorded before and queue its
    alert, in one transaction; the alerts' change sets."""
    today = plan.today()
    note = _note(plan, today)
    every = db.get_meta(ASSESSED) != note
    nct_ids = list(plan.trials) if every else [n for n in plan.trials if n in changed]
    if not nct_ids:
        return []
    found = reached(plan, judged(db, nct_ids), today, db.milestone_keys())
    queued = []
    with db.transaction():
        for one in found:
            change_set = one.change_set
            ident = db.save_milestone(change_set.nct_id, change_set.milestone or "",
                                      change_set.to_snapshot, change_set.changes, one.channels)
            queued.append(replace(change_set, id=ident))
        if every:
            db.set_meta(ASSESSED, note)
    return queued


def preview(plan: Plan, db: Store, read: Mapping[str, Trial]) -> list[Reached]:
    """What :func:`queue` would alert after a check that read the trials ``read`` (by NCT id,
    as parsed), writing nothing: every watched trial judged, as on a day's first run."""
    watched = set(plan.trials)
    stored = judged(db, [n for n in plan.trials if n not in read])
    fresh = [Judged(nct_id, 0, None, trial.status.last_update_posted, trial)
             for nct_id, trial in read.items() if nct_id in watched]
    return reached(plan, stored + fresh, plan.today(), db.milestone_keys())


def reached(plan: Plan, trials: Sequence[Judged], today: date,
            alerted: Collection[tuple[str, str]]) -> list[Reached]:
    """The milestones of ``trials`` on ``today`` not among ``alerted`` ((NCT id, key)), as
    alerts (those the trial's rules ignore left out)."""
    found = []
    for one in trials:
        rules = plan.rules_for(one.nct_id)
        for finding in milestone_findings(one.trial, today):
            if (one.nct_id, finding.milestone) in alerted:
                continue
            change = finding_change(finding, rules)
            if change is None:
                continue
            channels = tuple(c.name for c in plan.channels_for(one.nct_id)
                             if c.accepts(change.severity))
            found.append(Reached(_change_set(one, change), channels))
    return found


def milestone_findings(trial: Trial, today: date) -> list[Finding]:
    """The findings of the trial on ``today`` that carry a milestone key."""
    return [f for f in assess(trial, today).findings if f.milestone and f.code in PATHS]


def finding_change(finding: Finding, rules: Rules) -> Change | None:
    """The change a milestone's alert holds; None when ``rules`` ignore it."""
    path = PATHS[finding.code]
    category, severity = rules.classify(path)
    if severity == IGNORED:
        return None
    key = finding.milestone or ""
    text = finding.summary
    for said in _SAID:
        text = text.removeprefix(said)
    new = {"milestone": key, "finding": finding.code, "date": key.partition(":")[2],
           "days": finding.days, "summary": finding.summary, "rule": finding.rule,
           "reasons": list(finding.reasons)}
    return Change(path, "added", None, new, category, severity, summary=text)


def judged(db: Store, nct_ids: Sequence[str]) -> list[Judged]:
    """The latest snapshot of each trial named that has one, as judging reads it: its
    outline, or, stored by an older parser, the whole of it as this version's parser reads
    it."""
    found = []
    for outline in db.outlines(nct_ids, US_PLACES):
        if outline.parser_version == sources.PARSER_VERSION:
            trial = outline_trial(outline)
        else:
            snapshot = db.snapshot(outline.snapshot_id)
            if snapshot is None:
                continue
            trial = current(db, snapshot).trial
        found.append(Judged(outline.nct_id, outline.snapshot_id, outline.registry_version,
                            outline.registry_date, trial))
    return found


def outline_trial(outline: Outline) -> Trial:
    """The trial as far as its outline tells: all that :func:`ctwatch.compliance.assess`
    reads to find milestones (its locations: one in the U.S., or none)."""
    return Trial.from_dict({
        "nct_id": outline.nct_id, **outline.parts,
        "interventions": [{"type": kind, "name": ""} for kind in outline.intervention_types],
        "locations": [{"country": US_PLACES[0]}] if outline.located else [],
    })


def _change_set(one: Judged, change: Change) -> ChangeSet:
    """A milestone's alert as a change set (id 0 until stored), from and to its snapshot."""
    return ChangeSet(id=0, nct_id=one.nct_id, title=one.trial.brief_title,
                     from_snapshot=one.snapshot_id, to_snapshot=one.snapshot_id,
                     from_version=one.registry_version, to_version=one.registry_version,
                     from_date=one.registry_date, to_date=one.registry_date,
                     created_at=stamp(), changes=(change,))


def _note(plan: Plan, today: date) -> str:
    """The day, with what else decides which milestones are alerted: the watch list, rules."""
    rules = (plan.trials, plan.rules, sorted(plan.trial_rules.items()))
    return f"{today.isoformat()} {hashlib.sha256(repr(rules).encode()).hexdigest()[:16]}"
