"""The use cases: one monitoring pass over the watched trials, and a trial's backfill.

``check`` composes the stages — fetch, parse, diff, store, notify — and is all the CLI and
the scheduler call. A trial that fails to fetch or parse keeps its last good snapshot and is
never diffed, so an outage can not look like "everything was removed".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TextIO

from ctwatch import notify, sources, store, timeline
from ctwatch.config import DEFAULT_MAX_FAILURES, Config
from ctwatch.diff import diff
from ctwatch.errors import ConfigError, CtwatchError, FetchError, NotifyError, ParseError
from ctwatch.fetch import Client, Fetched
from ctwatch.model import Change, ChangeSet, Snapshot, Trial, top_severity
from ctwatch.notify.channels import Channel
from ctwatch.rules import Rules
from ctwatch.store import Store


@dataclass(frozen=True, slots=True)
class Failure:
    """A trial whose check failed this run."""

    nct_id: str
    error: str
    consecutive: int
    notice: bool  # reached max_failures this run: worth telling a person


@dataclass(slots=True)
class RunReport:
    """What one check did, for the CLI, the scheduler and ``ctwatch status``."""

    run_id: int
    data_timestamp: str | None = None
    skipped: bool = False  # the registry's data had not changed since the last good run
    checked: int = 0
    new_snapshots: int = 0
    change_sets: list[ChangeSet] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    undelivered: list[tuple[str, str]] = field(default_factory=list)  # (channel, error)

    @property
    def status(self) -> str:
        if self.failures or self.undelivered:
            return "partial"
        return "skipped" if self.skipped else "ok"

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

    def rules_for(self, nct_id: str) -> Rules:
        return self.trial_rules.get(nct_id, self.rules)


def from_config(config: Config, *, stdout: TextIO | None = None) -> Watch:
    """The watch a config.yaml describes; a config without channels reports on stdout."""
    if not config.trials:
        raise ConfigError("no trials to watch: list NCT ids under trials:", key="trials")
    rules = Rules.from_config(config.rules)
    trial_rules = {
        entry.nct_id: rules.with_ignore(entry.ignore, key=f"trials[{index}].ignore")
        for index, entry in enumerate(config.trials) if entry.ignore
    }
    return Watch(
        trials=tuple(entry.nct_id for entry in config.trials),
        channels=notify.build(config.notify or ["stdout"], stdout=stdout),
        rules=rules, trial_rules=trial_rules, max_failures=config.max_failures,
    )


def check(watch: Watch, client: Client, db: Store, *, force: bool = False) -> RunReport:
    """One pass over the watched trials. The caller holds the store's lock."""
    report = RunReport(run_id=db.start_run())
    try:
        report.data_timestamp = _data_timestamp(client)
        if not force and _unchanged_upstream(watch, db, report.data_timestamp):
            report.skipped = True
        else:
            _check_all(watch, client, db, report)
        report.undelivered = deliver_pending(db, watch.channels)
    finally:
        db.finish_run(report.run_id, report.status, report.counts(),
                      report.data_timestamp if not report.failures else None)
    return report


def _data_timestamp(client: Client) -> str | None:
    try:
        return client.data_timestamp()
    except FetchError:
        return None  # cannot tell whether anything changed: check everything


def _unchanged_upstream(watch: Watch, db: Store, stamp: str | None) -> bool:
    if stamp is None:
        return False
    last = db.last_run(status="ok")
    if last is None or last["data_timestamp"] != stamp:
        return False
    return set(watch.trials) <= set(db.trial_ids())


def _check_all(watch: Watch, client: Client, db: Store, report: RunReport) -> None:
    for result in client.fetch_studies(watch.trials):
        report.checked += 1
        if isinstance(result, FetchError):
            _failed(watch, db, report, result.nct_id or "?", result)
            continue
        try:
            saved = _check_one(watch, db, result)
        except ParseError as error:
            _failed(watch, db, report, result.nct_id, error)
            continue
        report.new_snapshots += saved.snapshot_id is not None
        if saved.change_set:
            report.change_sets.append(saved.change_set)


def _failed(watch: Watch, db: Store, report: RunReport, nct_id: str, error: CtwatchError) -> None:
    consecutive = db.record_failure(nct_id, str(error))
    report.failures.append(Failure(nct_id, str(error), consecutive,
                                   consecutive == watch.max_failures))


def _check_one(watch: Watch, db: Store, fetched: Fetched) -> store.Saved:
    trial = parse_fetched(fetched)
    return _store(db, fetched, trial, source="api_v2",
                  registry_date=trial.status.last_update_posted,
                  rules=watch.rules_for(trial.nct_id), when=watch.today(),
                  channels=lambda changes: [c.name for c in watch.channels if _wants(c, changes)])


def _store(db: Store, fetched: Fetched, trial: Trial, *, source: str, registry_date: str | None,
           rules: Rules, when: date | None,
           channels: Callable[[list[Change]], list[str]]) -> store.Saved:
    """Diff a freshly read trial against its latest snapshot and store both in one go."""
    previous = current_snapshot(db, trial.nct_id)
    changes = diff(previous.trial, trial, rules, when) if previous else []
    snapshot = Snapshot(
        id=None, nct_id=trial.nct_id, fetched_at=_iso(fetched), source=source, url=fetched.url,
        registry_version=fetched.registry_version, registry_date=registry_date,
        parser_version=sources.PARSER_VERSION, content_hash=store.content_hash(trial),
        trial=trial)
    return db.save(snapshot, fetched.raw, changes, channels(changes))


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
    return reparse_snapshot(db, snapshot)


def reparse_snapshot(db: Store, snapshot: Snapshot) -> Snapshot:
    """Parse a snapshot's stored raw payload again with the current parser and keep that."""
    trial = timeline.reparsed_trial(db, snapshot)
    db.replace_trial(snapshot.id or 0, trial, sources.PARSER_VERSION)
    return replace(snapshot, trial=trial, parser_version=sources.PARSER_VERSION,
                   content_hash=store.content_hash(trial))


def _wants(channel: Channel, changes: Sequence[Change]) -> bool:
    top = top_severity(changes)
    return top is not None and channel.accepts(top)


def _iso(fetched: Fetched) -> str:
    return fetched.fetched_at.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def deliver_pending(db: Store, channels: Sequence[Channel]) -> list[tuple[str, str]]:
    """Send every pending alert whose channel is configured; failures stay pending."""
    by_name = {channel.name: channel for channel in channels}
    failed: list[tuple[str, str]] = []
    for alert in db.pending_alerts():
        channel = by_name.get(alert.channel)
        if channel is None:
            continue
        try:
            channel.deliver(alert.change_set)
        except NotifyError as error:
            db.delivery_failed(alert.id, str(error))
            failed.append((alert.channel, str(error)))
        else:
            db.delivered(alert.id)
    return failed


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
        raise ConfigError(f"{nct_id} already has snapshots from checks; backfill imports a "
                          "trial's history before its first check")
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
