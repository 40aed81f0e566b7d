"""One monitoring pass over the watched trials: sort, fetch, parse, diff, store, notify.

:mod:`ctwatch.triage` says which trials to read in full (new, moved, or due for the sweep);
the others are marked checked in bulk. A trial that fails to fetch or parse keeps its last
good snapshot and is never diffed, so an outage can not look like "everything was removed".
The run records the registry's data timestamp as checked only when every trial was checked;
after a run that failed, was stopped or left a trial unchecked, the next run checks
everything again.
"""

from __future__ import annotations

import gc
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TextIO

from ctwatch import notify, numbering, outbox, triage
from ctwatch.config import DEFAULT_MAX_FAILURES, DEFAULT_NOTIFY, NO_TRIALS, Config
from ctwatch.errors import (
    ConfigError,
    CtwatchError,
    FetchError,
    Interrupted,
    StoreError,
    describe,
    printable,
)
from ctwatch.fetch import Client, Fetched, failure_key
from ctwatch.limits import BATCH_TRIALS, DEFAULT_FULL_SWEEP_DAYS, GC_THRESHOLD
from ctwatch.model import Change, ChangeSet, top_severity
from ctwatch.notify.channels import Channel
from ctwatch.record import Reading, parse_fetched, raw_hash, record
from ctwatch.rules import Rules
from ctwatch.store import Read, Saved, Store

if TYPE_CHECKING:
    from ctwatch.searches import SearchEntry

log = logging.getLogger("ctwatch.check")


@dataclass(frozen=True, slots=True)
class Failure:
    """A trial whose check failed this run."""

    nct_id: str
    error: str  # the line a person reads, naming the trial
    consecutive: int
    notice: bool  # reached max_failures this run: worth telling a person
    reason: str  # the same for every trial that failed the same way (one failed request)


@dataclass(slots=True)
class RunReport:
    """What one check did, for the CLI, the scheduler and ``ctwatch status``."""

    run_id: int
    data_timestamp: str | None = None
    skipped: bool = False  # the registry's data had not changed since the last complete run
    checked: int = 0
    new_snapshots: int = 0
    change_sets: list[ChangeSet] = field(default_factory=list)
    milestones: list[ChangeSet] = field(default_factory=list)  # compliance milestones alerted
    failures: list[Failure] = field(default_factory=list)
    undelivered: list[tuple[str, str]] = field(default_factory=list)  # (channel, error)
    interrupted: bool = False  # stopped by a signal before every trial was checked
    error: str | None = None  # the run itself failed (not one trial): why

    @property
    def status(self) -> str:
        if self.error is not None:
            return "failed"
        if self.interrupted:
            return "interrupted"
        if self.failures or self.undelivered:
            return "partial"
        return "skipped" if self.skipped else "ok"

    @property
    def went_wrong(self) -> bool:
        """A trial, an alert or the run itself failed (exit 3)."""
        return self.status in ("failed", "partial")

    @property
    def complete(self) -> bool:
        """Every watched trial was fetched, parsed, diffed and stored."""
        return self.error is None and not self.interrupted and not self.failures

    def counts(self) -> dict[str, int]:
        return {"checked": self.checked, "new_snapshots": self.new_snapshots,
                "change_sets": len(self.change_sets), "milestones": len(self.milestones),
                "failed": len(self.failures), "undelivered": len(self.undelivered)}


@dataclass(frozen=True, slots=True)
class Plan:
    """What a check needs besides the network and the store: what to watch, how to judge
    a change, where to send it."""

    trials: tuple[str, ...]
    channels: Sequence[Channel] = ()
    rules: Rules = field(default_factory=Rules.default)
    trial_rules: Mapping[str, Rules] = field(default_factory=dict)  # a trial's own ignore:
    max_failures: int = DEFAULT_MAX_FAILURES
    today: Callable[[], date] = date.today
    routes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # a trial's notify:
    full_sweep_days: float = DEFAULT_FULL_SWEEP_DAYS  # every trial read in full this often
    milestones: bool = False  # alert compliance milestones too (config compliance_alerts:)
    searches: tuple[SearchEntry, ...] = ()  # watched searches (ctwatch.searches)
    search_routes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # their notify:

    def rules_for(self, nct_id: str) -> Rules:
        return self.trial_rules.get(nct_id, self.rules)

    def channels_for(self, nct_id: str, searches: Iterable[str] = ()) -> list[Channel]:
        """The channels a trial's alerts go to: its own notify: list, else those of the
        ``searches`` that follow it, else every channel."""
        names = self.routes.get(nct_id)
        if names is None and searches:
            names = tuple({c for name in searches for c in self.search_routes.get(name, ())})
        return [c for c in self.channels if names is None or c.name in names]

    def search_channels(self, name: str) -> list[Channel]:
        """The channels a search's alerts go to: its notify: list, else the top-level ones."""
        names = self.search_routes.get(name)
        return [c for c in self.channels if names is None or c.name in names]


def plan_from(config: Config, *, stdout: TextIO | None = None) -> Plan:
    """The plan a config.yaml describes; a config without channels reports on stdout."""
    if not config.trials and not config.searches:
        raise ConfigError(NO_TRIALS, key="trials")
    rules = Rules.from_config(config.rules)
    trial_rules = {
        entry.nct_id: rules.with_ignore(entry.ignore, key=f"trials[{index}].ignore")
        for index, entry in enumerate(config.trials) if entry.ignore
    }
    routing = notify.routing(config.notify or list(DEFAULT_NOTIFY),
                             [(entry.nct_id, entry.notify) for entry in config.trials],
                             stdout=stdout,
                             searches=[(entry.name, entry.notify) for entry in config.searches])
    return Plan(
        trials=tuple(entry.nct_id for entry in config.trials),
        channels=routing.channels, routes=routing.routes,
        rules=rules, trial_rules=trial_rules, max_failures=config.max_failures,
        full_sweep_days=config.api.full_sweep_days, milestones=config.compliance_alerts,
        searches=config.searches, search_routes=routing.search_routes,
    )


Progress = Callable[[int, int], None]  # (trials done, trials in all)


def check(plan: Plan, client: Client, db: Store, *, force: bool = False, full: bool = False,
          stop: Callable[[], bool] = lambda: False,
          progress: Progress | None = None) -> RunReport:
    """One pass over the watched trials. The caller holds the store's lock.

    ``force``: even if the registry's data did not change since the last complete run;
    ``full``: read every trial in full, whatever the registry says moved. One trial's failure,
    expected or not, is that trial's alone. ``stop`` is asked before each trial: once it says
    yes (SIGTERM), the trials read before are stored, whole, and the run ends there."""
    report = RunReport(run_id=db.start_run())
    try:
        with _collecting_less():
            _Pass(plan, client, db, report, stop, progress).run(force=force, full=full)
        if not report.interrupted:  # the alerts of the trials checked, even if the run failed
            report.undelivered = outbox.deliver_pending(db, plan.channels).failed
    except Exception as error:
        log.debug("the run failed", exc_info=True)
        report.error = report.error or describe(error)
    except Interrupted:
        report.interrupted = True
        raise
    except BaseException:
        report.error = "stopped abruptly"
        raise
    finally:
        with db.transaction():  # what was checked and against which data, together
            if report.complete:
                db.set_meta(CHECKED, watched(plan))
            db.finish_run(report.run_id, report.status, report.counts(),
                          report.data_timestamp if report.complete else None)
    return report


@contextmanager
def _collecting_less() -> Iterator[None]:
    """Python's cyclic garbage collector runs less often: a check makes millions of small
    objects that reference counting frees, while a page of a thousand decoded records stays
    alive, and each collection at the default threshold walks that page again (a fifth of the
    time of parsing, measured by benchmarks/check.py's first check)."""
    threshold = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def tell(report: RunReport) -> None:
    """A run's outcome in the log: one line per failure (trials that failed the same way
    share it), one notice for those failing too often, then a one-line summary."""
    for reason, failures in _grouped(report.failures):
        if len(failures) == 1:
            log.error("%s", failures[0].error)
        else:
            log.error("%s (%d trials: %s)", reason, len(failures), _some(failures))
    noticed = [failure for failure in report.failures if failure.notice]
    if noticed:
        count = noticed[0].consecutive
        log.warning("%d trial%s failed %d checks in a row: %s (see ctwatch status)",
                    len(noticed), " has" if len(noticed) == 1 else "s have", count,
                    _some(noticed))
    for channel, error in report.undelivered:
        log.error("alert not delivered on %s (kept for the next run): %s", channel, error)
    if report.error is not None:
        log.error("the check failed: %s; the next run checks every trial again", report.error)
    log.info("%s", summary(report))


def _grouped(failures: Sequence[Failure]) -> list[tuple[str, list[Failure]]]:
    groups: dict[str, list[Failure]] = {}
    for failure in failures:
        groups.setdefault(failure.reason or failure.error, []).append(failure)
    return list(groups.items())


def _some(failures: Sequence[Failure], shown: int = 5) -> str:
    ids = ", ".join(failure.nct_id for failure in failures[:shown])
    return ids + (f" and {len(failures) - shown} more" if len(failures) > shown else "")


def reached(count: int) -> str:
    """"1 compliance milestone", "2 compliance milestones"."""
    return f"{count} compliance milestone{'s' if count != 1 else ''}"


def summary(report: RunReport) -> str:
    if report.error is not None:
        return f"the check failed after {report.checked} trials"
    if report.interrupted:
        return f"stopped after {report.checked} trials; the next run checks them all again"
    milestones = f"; {reached(len(report.milestones))} reached" if report.milestones else ""
    if report.skipped:
        return (f"registry data unchanged since the last run ({report.data_timestamp}); "
                f"nothing to check{milestones}")
    counts = report.counts()
    return (f"checked {counts['checked']} trials: {counts['change_sets']} with changes, "
            f"{counts['new_snapshots']} new snapshots, {counts['failed']} failed{milestones}")


def data_timestamp(client: Client) -> str | None:
    """The registry's data timestamp; None when it cannot be had (every trial is checked)."""
    try:
        return client.data_timestamp()
    except FetchError as error:
        log.debug("no data timestamp, so every trial is checked: %s", error)
        return None


def unchanged_upstream(plan: Plan, db: Store, last_run: Mapping[str, Any] | None,
                       timestamp: str | None) -> bool:
    """Whether the run before (``last_run``) checked every trial and search of this plan, all
    of them, against this very data."""
    if timestamp is None:
        return False
    if last_run is None or last_run["data_timestamp"] != timestamp:
        return False
    return db.get_meta(CHECKED) == watched(plan)


#: the store's note of what the last complete run checked (:func:`watched`)
CHECKED = "checked_plan"


def watched(plan: Plan) -> str:
    """A digest of what a plan watches: its trials, and its searches as defined. A run that
    checked it all records it; a change of the config's trials or searches changes it."""
    parts = sorted(plan.trials) + sorted(f"{entry.name} {entry.follow} {entry.query.key}"
                                         for entry in plan.searches)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def sort_trials(plan: Plan, client: Client, reads: Mapping[str, Read],
                last_run: Mapping[str, Any] | None, *, full: bool, stop: Callable[[], bool],
                trials: Sequence[str] | None = None,
                known: Mapping[str, str | None] | None = None) -> triage.Triage:
    """Which watched trials (``trials``, else the plan's) to read in full (all with ``full``:
    new, moved, or due for the sweep), which did not move, and which the probe could not
    tell; ``known``: last update dates a search's listing gave already."""
    trials = plan.trials if trials is None else trials
    sweep = set(trials) if full else triage.due(
        trials, reads, now=datetime.now(UTC), since_last_run_s=_since(last_run),
        sweep_days=plan.full_sweep_days)
    return triage.sort(client, trials, reads, sweep, stop, known=known or {})


def _since(last_run: Mapping[str, Any] | None) -> float | None:
    """Seconds since the run before began (None: there was none)."""
    if last_run is None:
        return None
    started = datetime.fromisoformat(last_run["started_at"].replace("Z", "+00:00"))
    return (datetime.now(UTC) - started).total_seconds()


class _Pass:
    """One check's work: which trials to read, reading them, and what it found."""

    def __init__(self, plan: Plan, client: Client, db: Store, report: RunReport,
                 stop: Callable[[], bool], progress: Progress | None) -> None:
        self.plan, self.client, self.db, self.report = plan, client, db, report
        self.stop = stop
        self.progress = progress or (lambda _done, _all: None)
        self.alerted: list[ChangeSet] = []  # change sets with alerts: worth version numbers
        self.snapshotted: set[str] = set()  # trials with a new snapshot: milestones to judge
        self.last_run = db.last_run(before=report.run_id)  # the run before this one
        self.followers: dict[str, set[str]] = {}  # a trial followed by searches → their names
        # the whole registry's followed searches: they follow every trial
        self.everywhere = tuple(entry.name for entry in plan.searches
                                if entry.whole_registry and entry.follow)

    def run(self, *, force: bool, full: bool) -> None:
        """Check the trials; a failure outside any one trial is recorded in the report, not
        raised, so that the alerts of the trials already stored still go out."""
        report = self.report
        try:
            report.data_timestamp = data_timestamp(self.client)
            if not (force or full) and unchanged_upstream(self.plan, self.db, self.last_run,
                                                          report.data_timestamp):
                report.skipped = True  # the day may still have reached a milestone
            else:
                self._check_all(full)
            if not report.interrupted:
                if self.plan.milestones:  # compliance judging: loaded only when it is on
                    from ctwatch import milestones

                    report.milestones = milestones.queue(self.plan, self.db, self.snapshotted)
                numbering.number(self.client, self.db, self.alerted, self.stop)
        except Exception as error:  # outside any one trial: the run failed, the next redoes it
            log.debug("the run failed", exc_info=True)
            report.error = describe(error)

    def _check_all(self, full: bool) -> None:
        reads = self.db.reads()
        plan = self.plan
        trials, known = self._search(reads) if plan.searches else (plan.trials, {})
        sorted_out = sort_trials(plan, self.client, reads, self.last_run, full=full,
                                 stop=self.stop, trials=trials, known=known)
        with self.db.transaction():  # one commit, however many trials a failed request cost
            for failure in sorted_out.failed:
                self._failed(failure.nct_id or "?", describe(failure),
                             printable(failure_key(failure)))
            self.db.mark_checked(sorted_out.unmoved)
        self.report.checked += len(sorted_out.failed) + len(sorted_out.unmoved)
        if sorted_out.stopped:
            self.report.interrupted = True
            return
        self._read(sorted_out.full, reads)

    def _read(self, nct_ids: Sequence[str], reads: Mapping[str, Read]) -> None:
        """Read trials in full and record what changed, a batch of trials to a transaction
        (each trial its own savepoint in it): a kill loses at most the batch in hand, which
        the next run reads again. A batch is read before its transaction begins, so that a
        slow registry never holds the store's write lock."""
        total = self.report.checked + len(nct_ids)
        self._save(self.client.fetch_studies(nct_ids) if nct_ids else (), reads, total)

    def _save(self, results: Iterable[Fetched | FetchError], reads: Mapping[str, Read],
              total: int) -> None:
        for batch in self._batches(results):
            with self.db.transaction():
                saved, error = self._store(batch, reads, total)
            self._stored(saved)  # committed: counted, and their alerts go out
            if error is not None:
                raise error

    # -- searches ---------------------------------------------------------------------------

    def _search(self, reads: Mapping[str, Read]) -> tuple[list[str], dict[str, str | None]]:
        """List the searches, read the whole registry's changes: the trials still to sort
        (listed and followed ones, but those read in full already), and the last update
        dates the listings gave."""
        from ctwatch import searching

        plan = self.plan
        found = searching.scan(plan.searches, self.client, self.db, plan.rules,
                               self._search_route, self.stop)
        self.followers = found.by
        self._searched(found.change_ids, found.failed)
        streamed = self._stream(reads)
        # a trial of the whole registry whose record could not be read or stored is read again
        # until it is: the registry's stream has gone past it
        retried = [nct_id for nct_id in self.db.failing() if nct_id not in streamed] \
            if self.everywhere else []
        listed = set(plan.trials)
        trials = [nct_id for nct_id in dict.fromkeys(
                      (*plan.trials, *(i for i in found.dates if i not in listed), *retried))
                  if nct_id not in streamed]  # a trial in two searches is read once
        return trials, found.dates

    def _following(self, nct_id: str) -> set[str]:
        """The searches that follow a trial (the whole registry's follow them all)."""
        return self.followers.get(nct_id, set()).union(self.everywhere)

    def _search_route(self, name: str, changes: Sequence[Change]) -> list[str]:
        return [c.name for c in self.plan.search_channels(name) if _wants(c, changes)]

    def _searched(self, change_ids: Iterable[int], failed: Iterable[tuple[str, str]]) -> None:
        """A search's change sets and failures, in the run's report."""
        self.report.change_sets += [self.db.searches.change_set(i) for i in change_ids]
        self.report.failures += [Failure(name, error, 1, False, error) for name, error in failed]

    def _stream(self, reads: Mapping[str, Read]) -> set[str]:
        """The whole registry's searches, read as it changed; the trials they read in full."""
        from ctwatch import searching

        read: set[str] = set()
        for entry in self.plan.searches:
            if not entry.whole_registry or self.report.interrupted:
                continue
            try:
                got, change_id = searching.stream(
                    entry, self.client, self.db, self.plan.rules, self._search_route,
                    lambda batch: self._save(batch, reads, self.report.checked + len(batch)),
                    self.stop)
            except FetchError as error:
                self._searched((), [(entry.name, f"search {entry.name}: {describe(error)}")])
                continue
            read |= got
            self._searched([change_id] if change_id is not None else [], ())
        return read

    def _batches(self, results: Iterable[Fetched | FetchError]
                 ) -> Iterator[list[Fetched | FetchError]]:
        """The results in batches of BATCH_TRIALS, up to a stop: one read after it is left
        for the next run, and this one is interrupted."""
        batch: list[Fetched | FetchError] = []
        for result in results:
            if self.stop():
                self.report.interrupted = True
                break
            batch.append(result)
            if len(batch) == BATCH_TRIALS:
                yield batch
                batch = []
        if batch:
            yield batch

    def _store(self, batch: list[Fetched | FetchError], reads: Mapping[str, Read],
               total: int) -> tuple[list[Saved], StoreError | None]:
        """Store a batch's trials, up to one whose failure the store cannot record (the
        error, returned so that the trials before it are committed)."""
        saved = []
        # one query for the batch, not one a trial, for the first check's many new trials
        stored = self.db.with_snapshots([r.registry_nct_id for r in batch
                                         if isinstance(r, Fetched)])
        for result in batch:
            try:
                saved.append(self._read_one(result, reads, stored, total))
            except StoreError as error:
                return saved, error
        return saved, None

    def _read_one(self, result: Fetched | FetchError, reads: Mapping[str, Read],
                  stored: set[str], total: int) -> Saved:
        self.report.checked += 1
        self.progress(self.report.checked, total)
        if isinstance(result, FetchError):
            self._failed(result.nct_id or "?", describe(result), printable(failure_key(result)))
            return _NOTHING
        try:
            with self.db.unit():  # a failed trial leaves nothing behind but its failure
                return self._check_one(result, reads.get(result.registry_nct_id),
                                       new=result.registry_nct_id not in stored)
        except Exception as error:  # a bad record is data: it fails its own trial only
            log.debug("%s: check failed", result.nct_id, exc_info=True)
            self._failed(result.nct_id, _trial_error(result.nct_id, error), describe(error))
            return _NOTHING

    def _check_one(self, fetched: Fetched, last_read: Read | None, *, new: bool) -> Saved:
        digest = raw_hash(fetched.raw)
        if last_read is not None and last_read.raw_hash == digest:  # nothing but bookkeeping
            self.db.mark_read(fetched.registry_nct_id, last_read.registry_date, digest)
            return _NOTHING
        trial = parse_fetched(fetched)
        plan = self.plan
        reading = Reading(fetched, trial, "api_v2", trial.status.last_update_posted,
                          plan.rules_for(trial.nct_id), plan.today())
        channels = plan.channels_for(trial.nct_id, self._following(trial.nct_id))
        return record(db=self.db, reading=reading, raw_hash=digest, new=new,
                      channels=lambda changes: [c.name for c in channels if _wants(c, changes)])

    def _stored(self, saved: Iterable[Saved]) -> None:
        for one in saved:
            self.report.new_snapshots += one.snapshot_id is not None
            if one.snapshot_id is not None and one.nct_id is not None:
                self.snapshotted.add(one.nct_id)
            change_set = one.change_set
            if change_set is None:
                continue
            self.report.change_sets.append(change_set)
            channels = self.plan.channels_for(change_set.nct_id,
                                              self._following(change_set.nct_id))
            if any(_wants(c, change_set.changes) for c in channels):
                self.alerted.append(change_set)

    def _failed(self, nct_id: str, error: str, reason: str) -> None:
        """Record a trial's failed check (a store that cannot record even that fails the
        run). ``reason`` is the same for the trials that failed the same way."""
        with self.db.unit():  # on its own: a failed write of it spoils no other trial's
            consecutive = self.db.record_failure(nct_id, error)
        self.report.failures.append(Failure(nct_id, error, consecutive,
                                            consecutive == self.plan.max_failures, reason))


_NOTHING = Saved(None, None)  # a trial whose check stored no snapshot


def _trial_error(nct_id: str, error: Exception) -> str:
    line = describe(error)
    if isinstance(error, CtwatchError) and nct_id in line:
        return line
    return f"{nct_id}: {line}"


def _wants(channel: Channel, changes: Sequence[Change]) -> bool:
    top = top_severity(changes)
    return top is not None and channel.accepts(top)
