"""The use cases: one monitoring pass over the watched trials, and a trial's backfill.

``check`` composes the stages — fetch, parse, diff, store, notify — and is all the CLI and
the scheduler call. A trial that fails to fetch or parse keeps its last good snapshot and is
never diffed, so an outage can not look like "everything was removed".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from ctwatch import notify, outbox, sources, store, timeline
from ctwatch.clock import stamp
from ctwatch.config import DEFAULT_MAX_FAILURES, DEFAULT_NOTIFY, NO_TRIALS, Config
from ctwatch.diff import diff
from ctwatch.errors import (
    ConfigError,
    CtwatchError,
    FetchError,
    Interrupted,
    ParseError,
    describe,
    printable,
)
from ctwatch.fetch import Client, Fetched, failure_key
from ctwatch.model import Change, ChangeSet, Snapshot, Trial, top_severity
from ctwatch.notify.channels import Channel
from ctwatch.rules import Rules
from ctwatch.store import Store

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
                "change_sets": len(self.change_sets), "failed": len(self.failures),
                "undelivered": len(self.undelivered)}


@dataclass(frozen=True, slots=True)
class Watch:
    """What a check needs besides the network and the store."""

    trials: tuple[str, ...]
    channels: Sequence[Channel] = ()
    rules: Rules = field(default_factory=Rules.default)
    trial_rules: Mapping[str, Rules] = field(default_factory=dict)  # a trial's own ignore:
    max_failures: int = DEFAULT_MAX_FAILURES
    today: Callable[[], date] = date.today
    routes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # a trial's notify:

    def rules_for(self, nct_id: str) -> Rules:
        return self.trial_rules.get(nct_id, self.rules)

    def channels_for(self, nct_id: str) -> list[Channel]:
        """The channels a trial's alerts go to: its own notify: list, else every channel."""
        names = self.routes.get(nct_id)
        return [c for c in self.channels if names is None or c.name in names]


def from_config(config: Config, *, stdout: TextIO | None = None) -> Watch:
    """The watch a config.yaml describes; a config without channels reports on stdout."""
    if not config.trials:
        raise ConfigError(NO_TRIALS, key="trials")
    rules = Rules.from_config(config.rules)
    trial_rules = {
        entry.nct_id: rules.with_ignore(entry.ignore, key=f"trials[{index}].ignore")
        for index, entry in enumerate(config.trials) if entry.ignore
    }
    routing = notify.routing(config.notify or list(DEFAULT_NOTIFY),
                             [(entry.nct_id, entry.notify) for entry in config.trials],
                             stdout=stdout)
    return Watch(
        trials=tuple(entry.nct_id for entry in config.trials),
        channels=routing.channels, routes=routing.routes,
        rules=rules, trial_rules=trial_rules, max_failures=config.max_failures,
    )


def open_store(config: Config) -> Store:
    """The store config.yaml names, with its password from ``store_password_env``."""
    return Store(config.store, config.store_password())


def check(watch: Watch, client: Client, db: Store, *, force: bool = False,
          stop: Callable[[], bool] = lambda: False) -> RunReport:
    """One pass over the watched trials. The caller holds the store's lock.

    The run records the registry's data timestamp as checked only when every trial was
    checked; after a run that failed, was stopped or left a trial unchecked, the next run
    checks everything again. One trial's failure, expected or not, is that trial's alone.
    ``stop`` is asked before each trial: once it says yes (SIGTERM), the trial in hand has been
    stored whole and the run ends there."""
    report = RunReport(run_id=db.start_run())
    try:
        _run(watch, client, db, report, force, stop)
        if not report.interrupted:  # the alerts of the trials checked, even if the run failed
            report.undelivered = outbox.deliver_pending(db, watch.channels)
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
        db.finish_run(report.run_id, report.status, report.counts(),
                      report.data_timestamp if report.complete else None)
    return report


def _run(watch: Watch, client: Client, db: Store, report: RunReport, force: bool,
         stop: Callable[[], bool]) -> None:
    """Check the trials; a failure outside any one trial is recorded in the report, not
    raised, so that the alerts of the trials already stored still go out."""
    try:
        report.data_timestamp = _data_timestamp(client)
        if not force and _unchanged_upstream(watch, db, report):
            report.skipped = True
        else:
            _check_all(watch, client, db, report, stop)
    except Exception as error:  # outside any one trial: the run failed, the next redoes it
        log.debug("the run failed", exc_info=True)
        report.error = describe(error)


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


def summary(report: RunReport) -> str:
    if report.error is not None:
        return f"the check failed after {report.checked} trials"
    if report.interrupted:
        return f"stopped after {report.checked} trials; the next run checks them all again"
    if report.skipped:
        return (f"registry data unchanged since the last run ({report.data_timestamp}); "
                "nothing to check")
    counts = report.counts()
    return (f"checked {counts['checked']} trials: {counts['change_sets']} with changes, "
            f"{counts['new_snapshots']} new snapshots, {counts['failed']} failed")


def _data_timestamp(client: Client) -> str | None:
    try:
        return client.data_timestamp()
    except FetchError as error:
        log.debug("no data timestamp, so every trial is checked: %s", error)
        return None


def _unchanged_upstream(watch: Watch, db: Store, report: RunReport) -> bool:
    """Whether the run before this one checked every trial against this very data."""
    if report.data_timestamp is None:
        return False
    last = db.last_run(before=report.run_id)
    if last is None or last["data_timestamp"] != report.data_timestamp:
        return False
    return set(watch.trials) <= set(db.trial_ids())


def _check_all(watch: Watch, client: Client, db: Store, report: RunReport,
               stop: Callable[[], bool]) -> None:
    for result in client.fetch_studies(watch.trials):
        if stop():
            report.interrupted = True
            return
        report.checked += 1
        if isinstance(result, FetchError):
            _failed(watch, db, report, result.nct_id or "?", describe(result),
                    printable(failure_key(result)))
            continue
        try:
            saved = _check_one(watch, client, db, result)
        except Exception as error:  # a bad record is data: it fails its own trial only
            log.debug("%s: check failed", result.nct_id, exc_info=True)
            _failed(watch, db, report, result.nct_id, _trial_error(result.nct_id, error),
                    describe(error))
            continue
        report.new_snapshots += saved.snapshot_id is not None
        if saved.change_set:
            report.change_sets.append(saved.change_set)


def _trial_error(nct_id: str, error: Exception) -> str:
    line = describe(error)
    if isinstance(error, CtwatchError) and nct_id in line:
        return line
    return f"{nct_id}: {line}"


def _failed(watch: Watch, db: Store, report: RunReport, nct_id: str, error: str,
            reason: str) -> None:
    """Record a trial's failed check (a store that cannot record even that fails the run).
    ``reason`` is the same for the trials that failed the same way, to tell them at once."""
    consecutive = db.record_failure(nct_id, error)
    report.failures.append(Failure(nct_id, error, consecutive,
                                   consecutive == watch.max_failures, reason))


def _check_one(watch: Watch, client: Client, db: Store, fetched: Fetched) -> store.Saved:
    trial = parse_fetched(fetched)
    return _store(db, fetched, trial, source="api_v2",
                  registry_date=trial.status.last_update_posted,
                  rules=watch.rules_for(trial.nct_id), when=watch.today(),
                  channels=lambda changes: [c.name for c in watch.channels_for(trial.nct_id)
                                            if _wants(c, changes)],
                  numbers=lambda old, new: _version_numbers(client, trial.nct_id, old, new))


Numbers = Callable[[str | None, str | None], tuple[int | None, int | None]]


def _store(db: Store, fetched: Fetched, trial: Trial, *, source: str, registry_date: str | None,
           rules: Rules, when: date | None, channels: Callable[[list[Change]], list[str]],
           numbers: Numbers | None = None) -> store.Saved:
    """Diff a freshly read trial against its latest snapshot and store both in one go."""
    snapshot = Snapshot(
        id=None, nct_id=trial.nct_id, fetched_at=stamp(fetched.fetched_at), source=source,
        url=fetched.url,
        registry_version=fetched.registry_version, registry_date=registry_date,
        parser_version=sources.PARSER_VERSION, content_hash=store.content_hash(trial),
        trial=trial)
    if db.latest_hash(trial.nct_id) == (snapshot.content_hash, sources.PARSER_VERSION):
        return db.save(snapshot, fetched.raw)  # the usual case: nothing to read back or diff
    previous = current_snapshot(db, trial.nct_id)
    changes = diff(previous.trial, trial, rules, when) if previous else []
    if previous and changes and numbers and snapshot.registry_version is None:
        snapshot = _numbered(db, previous, snapshot, numbers)
    return db.save(snapshot, fetched.raw, changes, channels(changes))


def _numbered(db: Store, previous: Snapshot, snapshot: Snapshot, numbers: Numbers) -> Snapshot:
    """The registry's version numbers of both ends of a change, for the link to its own
    comparison view (API v2 records do not carry them)."""
    old, new = numbers(previous.registry_date, snapshot.registry_date)
    if old is not None and previous.registry_version is None and previous.id is not None:
        db.set_registry_version(previous.id, old)
    return replace(snapshot, registry_version=new)


def _version_numbers(client: Client, nct_id: str, old_date: str | None,
                     new_date: str | None) -> tuple[int | None, int | None]:
    """The registry versions current on two dates, from the history index; (None, None)
    when the index cannot be had (it is an unsupported site API)."""
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
        return None, None  # the index does not tell the two versions apart: no exact link
    return old, new


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


def parse_fetched(fetched: Fetched) -> Trial:
    """The trial in a fetched record (the one the registry filed under the id asked for)."""
    trials = sources.parse(fetched.raw, f"{fetched.nct_id} ({fetched.url})")
    for trial in trials:
        if trial.nct_id == fetched.registry_nct_id:
            return trial
    raise ParseError(f"the record holds no study {fetched.registry_nct_id}",
                     source=fetched.url)


def current_snapshot(db: Store, nct_id: str) -> Snapshot | None:
    """The latest snapshot as the current parser reads it: a snapshot stored by an older
    parser is re-parsed from its raw payload first, so a parser upgrade never looks like a
    change in the registry."""
    snapshot = db.latest(nct_id)
    if snapshot is None or snapshot.parser_version == sources.PARSER_VERSION:
        return snapshot
    try:
        return reparse_snapshot(db, snapshot)
    except ParseError as error:
        # A stricter parser refuses what an older one stored: compare with that reading
        # rather than block the trial's checks for good.
        log.debug("%s: snapshot %s kept as stored: %s", nct_id, snapshot.id, error)
        return snapshot


def reparse_snapshot(db: Store, snapshot: Snapshot) -> Snapshot:
    """Parse a snapshot's stored raw payload again with the current parser and keep that."""
    trial = timeline.reparsed_trial(db, snapshot)
    db.replace_trial(snapshot.id or 0, trial, sources.PARSER_VERSION)
    return replace(snapshot, trial=trial, parser_version=sources.PARSER_VERSION,
                   content_hash=store.content_hash(trial))


def _wants(channel: Channel, changes: Sequence[Change]) -> bool:
    top = top_severity(changes)
    return top is not None and channel.accepts(top)


@dataclass(frozen=True, slots=True)
class Backfilled:
    """What importing a trial's registry history stored."""

    nct_id: str
    versions: int  # versions the registry lists
    snapshots: int  # new snapshots stored
    change_sets: int


def backfill(client: Client, db: Store, nct_id: str, rules: Rules | None = None) -> Backfilled:
    """Import the registry's own version history of a trial as snapshots, oldest first, with
    change sets between consecutive versions and no alerts. Versions already stored are
    skipped, so an interrupted backfill can simply be run again."""
    existing = db.snapshots(nct_id)
    if any(snapshot.registry_version is None for snapshot in existing):
        raise ConfigError(f"{nct_id} already has snapshots from checks or imported records; "
                          "backfill imports a trial's history before its first check or import")
    known = {snapshot.registry_version for snapshot in existing}
    versions = client.history_index(nct_id)
    stored = changed = 0
    for entry in versions:
        if entry.version in known:
            continue
        fetched = client.history_version(nct_id, entry.version)
        saved = _store_version(db, fetched, entry.date, rules or Rules.default())
        stored += saved.snapshot_id is not None
        changed += saved.change_set is not None
    return Backfilled(nct_id, len(versions), stored, changed)


def _store_version(db: Store, fetched: Fetched, registry_date: str, rules: Rules) -> store.Saved:
    # "Changed after the study started" is judged on the day the version was posted.
    when = date.fromisoformat(registry_date[:10]) if registry_date else None
    return _store(db, fetched, parse_fetched(fetched), source="history",
                  registry_date=registry_date, rules=rules, when=when, channels=lambda _: [])


def status(db: Store, next_run: str | None) -> dict[str, object]:
    """What ``ctwatch status`` shows: the last run, the next one, each trial, pending alerts."""
    running = db.locked("run")
    last = db.last_run()
    if last and last["status"] == "running" and not running:
        last["status"] = "aborted"  # its process died; the next run marks it so too
    return {
        "last_run": last,
        "running": running,
        "next_run": next_run,
        "trials": db.trial_states(),
        "pending_alerts": [
            {"id": alert.id, "channel": alert.channel, "nct_id": alert.change_set.nct_id,
             "change_set": alert.change_set.id, "attempts": alert.attempts,
             "last_error": alert.last_error, "maybe_sent": alert.maybe_sent}
            for alert in db.pending_alerts()
        ],
    }


@dataclass(slots=True)
class Imported:
    """What importing saved records stored."""

    records: int = 0  # trials read from the records
    snapshots: int = 0  # new snapshots stored
    change_sets: int = 0
    failures: list[CtwatchError] = field(default_factory=list)  # records not imported


def import_records(db: Store, records: Sequence[tuple[str, bytes]],
                   rules: Rules | None = None) -> Imported:
    """Load saved records of any format — (name, bytes) — as snapshots of their trials, in
    registry-date order (last update posted), with change sets between consecutive versions
    and no alerts. A record whose content equals its trial's latest snapshot adds nothing; one
    older than the latest snapshot is refused, so the latest stays the newest and a check
    compares the registry with it. A record that cannot be read is reported, not imported."""
    done = Imported()
    found: list[tuple[str, int, Trial, str, bytes]] = []
    for order, (name, raw) in enumerate(records):
        try:
            trials = sources.parse(raw, name)
        except ParseError as error:
            done.failures.append(error)
            continue
        kind = sources.detect(raw)
        found += [(trial.status.last_update_posted or "", order, trial, kind, raw)
                  for trial in trials]
    for _, order, trial, kind, raw in sorted(found, key=lambda item: item[:2]):
        done.records += 1
        try:
            saved = _import_one(db, records[order][0], trial, kind, raw, rules or Rules.default())
        except ConfigError as error:
            done.failures.append(error)
            continue
        done.snapshots += saved.snapshot_id is not None
        done.change_sets += saved.change_set is not None
    return done


def _import_one(db: Store, name: str, trial: Trial, kind: str, raw: bytes,
                rules: Rules) -> store.Saved:
    posted = trial.status.last_update_posted
    latest = db.latest(trial.nct_id)
    if latest and latest.registry_date and posted and posted < latest.registry_date:
        raise ConfigError(f"{name}: {trial.nct_id} of {posted} is older than its latest "
                          f"snapshot ({latest.registry_date}); import records oldest first, "
                          "before the trial's first check")
    url = Path(name).resolve().as_uri() if Path(name).is_file() else name
    fetched = Fetched(trial.nct_id, trial.nct_id, url, datetime.now(UTC), raw, {})
    when = date.fromisoformat(posted[:10]) if posted and len(posted) == 10 else None
    return _store(db, fetched, trial, source=kind, registry_date=posted, rules=rules,
                  when=when, channels=lambda _: [])


def status_text(state: dict[str, Any]) -> str:
    """``ctwatch status`` for people."""
    run = state["last_run"]
    lines = ["last run:  " + (
        f"#{run['id']} {run['started_at']} → {run['finished_at'] or '(running)'}  {run['status']}"
        f"  {', '.join(f'{k} {v}' for k, v in run['counts'].items())}" if run else "none yet")]
    lines.append(f"next run:  {state['next_run'] or 'no ctwatch run daemon is serving this store'}")
    lines.append("trials:")
    lines.extend(f"  {t['nct_id']}  last checked {t['last_checked']}  "
                 f"failures in a row {t['consecutive_failures']}"
                 + (f"  last error: {t['last_error']}" if t["last_error"] else "")
                 for t in state["trials"])
    lines.append(f"pending alerts: {len(state['pending_alerts'])}")
    lines.extend(f"  {a['channel']}  {a['nct_id']} change set {a['change_set']}  "
                 f"attempts {a['attempts']}" + (f"  last error: {a['last_error']}"
                                                if a["last_error"] else "")
                 for a in state["pending_alerts"])
    return "\n".join(lines)
