"""``ctwatch check --dry-run``: what a check would alert now, with nothing stored or sent.

It reads what a check reads — the registry's data timestamp, the light probe of the watched
trials, the records of those new, moved or due for the sweep — and parses and diffs each
against its trial's latest snapshot as a check does (:func:`ctwatch.record.preview`, the
read half of :func:`ctwatch.record.record`), with the same decisions (:func:`ctwatch.checks.
unchanged_upstream`, :func:`ctwatch.checks.sort_trials`). It calls no method of the store that
writes: no run record, snapshot, change set, outbox row, milestone, trial state or version
number is written, and no channel is called. Being read-only it takes no run lock, and a
check running meanwhile is not held up (SQLite readers never block its writer in WAL mode;
PostgreSQL reads take no lock a writer waits for).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ctwatch import checks, milestones
from ctwatch.errors import CtwatchError, FetchError, describe
from ctwatch.fetch import Client, Fetched
from ctwatch.model import ChangeSet, SearchChangeSet, Trial
from ctwatch.notify.render import message_text
from ctwatch.record import Reading, parse_fetched, raw_hash
from ctwatch.record import preview as change_set_of
from ctwatch.store import Read, Store

log = logging.getLogger("ctwatch.check")


@dataclass(frozen=True, slots=True)
class Alerting:
    """An alert a check would queue: its change set and the channels it would go to (none:
    below every channel's min_severity; the change set would be stored all the same)."""

    change_set: ChangeSet
    channels: tuple[str, ...]


@dataclass(slots=True)
class Preview:
    """What a check would do now."""

    data_timestamp: str | None = None
    skipped: bool = False  # the registry's data unchanged since the last complete run
    checked: int = 0
    alerts: list[Alerting] = field(default_factory=list)
    milestones: list[Alerting] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # one line each, naming the trial
    interrupted: bool = False

    def text(self) -> str:
        """Each alert as the stdout channel shows it, then the channels it would go to."""
        return "\n\n".join(message_text([one.change_set]) + "\n  would alert: "
                           + (", ".join(one.channels) or "no channel (below every channel's "
                                                         "min_severity)")
                           for one in [*self.alerts, *self.milestones])

    def summary(self) -> str:
        if self.interrupted:
            return f"dry run stopped after {self.checked} trials; nothing stored or sent"
        tail = f", {checks.reached(len(self.milestones))}" if self.milestones else ""
        if self.skipped:
            return (f"dry run: registry data unchanged since the last run "
                    f"({self.data_timestamp}), a check would read nothing{tail}; "
                    "nothing stored or sent")
        return (f"dry run: checked {self.checked} trials: {len(self.alerts)} with changes, "
                f"{len(self.failures)} failed{tail}; nothing stored or sent")


def preview(plan: checks.Plan, client: Client, db: Store, *, force: bool = False,
            full: bool = False, stop: Callable[[], bool] = lambda: False) -> Preview:
    """What :func:`ctwatch.checks.check` would alert now (with the same ``force`` and
    ``full``), from reads only. Compliance milestones (``plan.milestones``) are judged for
    every watched trial, as on a day's first check, the trials read now as read."""
    found = Preview(data_timestamp=checks.data_timestamp(client))
    last_run = db.last_run()
    read: dict[str, Trial] = {}
    if not (force or full) and checks.unchanged_upstream(plan, db, last_run,
                                                         found.data_timestamp):
        found.skipped = True
    else:
        reads = db.reads()
        trials, known = (_searches(plan, client, db, found, stop) if plan.searches
                         else (plan.trials, {}))
        sorted_out = checks.sort_trials(plan, client, reads, last_run, full=full, stop=stop,
                                        trials=trials, known=known)
        found.failures += [describe(error) for error in sorted_out.failed]
        found.checked += len(sorted_out.failed) + len(sorted_out.unmoved)
        found.interrupted = sorted_out.stopped
        if sorted_out.full and not found.interrupted:
            _read(plan, db, client.fetch_studies(sorted_out.full), reads, found, read, stop)
    if plan.milestones and not found.interrupted:
        found.milestones = [Alerting(one.change_set, one.channels)
                            for one in milestones.preview(plan, db, read)]
    return found


def _searches(plan: checks.Plan, client: Client, db: Store, found: Preview,
              stop: Callable[[], bool]) -> tuple[list[str], dict[str, str | None]]:
    """What each search's listing would alert, and the trials a check would then sort (its
    listed and followed ones) with the dates the listings gave. The whole registry's day is
    not previewed: it would mean reading it."""
    from ctwatch import searching

    scanned = searching.scan(plan.searches, client, db, plan.rules, lambda *_: [], stop,
                             record=False)
    found.failures += [line for _, line in scanned.failed]
    for membership in scanned.found:
        if not membership.changes:
            continue
        change_set = SearchChangeSet(
            id=0, nct_id="", title=f"Search {membership.name}", from_snapshot=0,
            to_snapshot=0, from_version=None, to_version=None, from_date=None, to_date=None,
            created_at="", changes=tuple(membership.changes), search=membership.name,
            search_url=next(e.query.page_url for e in plan.searches if e.name == membership.name))
        channels = tuple(c.name for c in plan.search_channels(membership.name)
                         if c.accepts(change_set.top_severity))
        found.alerts.append(Alerting(change_set, channels))
    for entry in plan.searches:
        if entry.whole_registry:
            log.info("dry run: the whole registry's search %s is not previewed", entry.name)
    listed = set(plan.trials)
    return [*plan.trials, *(i for i in scanned.dates if i not in listed)], scanned.dates


def _read(plan: checks.Plan, db: Store, results: Iterable[Fetched | FetchError],
          reads: dict[str, Read], found: Preview, read: dict[str, Trial],
          stop: Callable[[], bool]) -> None:
    """Parse and diff each record read in full; ``read`` gains the trials parsed (for the
    milestones, when they are judged)."""
    for result in results:
        if stop():
            found.interrupted = True
            return
        found.checked += 1
        if isinstance(result, FetchError):
            found.failures.append(describe(result))
            continue
        try:
            change_set = _one(plan, db, result, reads.get(result.registry_nct_id), read)
        except Exception as error:  # a bad record is data: it fails its own trial only
            log.debug("%s: dry run failed", result.nct_id, exc_info=True)
            line = describe(error)
            found.failures.append(line if isinstance(error, CtwatchError)
                                  and result.nct_id in line else f"{result.nct_id}: {line}")
            continue
        if change_set is not None:
            channels = tuple(c.name for c in plan.channels_for(change_set.nct_id)
                             if c.accepts(change_set.top_severity))
            found.alerts.append(Alerting(change_set, channels))


def _one(plan: checks.Plan, db: Store, fetched: Fetched, last_read: Read | None,
         read: dict[str, Trial]) -> ChangeSet | None:
    if last_read is not None and last_read.raw_hash == raw_hash(fetched.raw):
        return None  # nothing but registry bookkeeping since its last read
    trial = parse_fetched(fetched)
    if plan.milestones:
        read[trial.nct_id] = trial
    reading = Reading(fetched, trial, "api_v2", trial.status.last_update_posted,
                      plan.rules_for(trial.nct_id), plan.today())
    return change_set_of(db, reading)
