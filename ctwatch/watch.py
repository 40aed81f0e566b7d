"""The application service: every use case of ctwatch over one configuration.

:class:`Watcher` owns the composition — opening the store (its password from the
environment), taking the run lock, the registry client, stopping on SIGTERM/SIGINT between two
trials — so that the command line, the daemon and the demo each call one method and only
choose options, format output and exit codes. The use cases are :meth:`~Watcher.check`
(and its :meth:`~Watcher.dry_run`), :meth:`~Watcher.backfill`, :meth:`~Watcher.import_records`,
:meth:`~Watcher.deliver`, :meth:`~Watcher.test_channels` and :meth:`~Watcher.status`;
:meth:`~Watcher.history`, :meth:`~Watcher.compare` and :meth:`~Watcher.change_sets` are the
query side (:mod:`ctwatch.timeline`), with :meth:`~Watcher.searches` and
:meth:`~Watcher.search_change_sets` for watched searches. Each runs in its
own module; this one only puts them together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, TextIO

from ctwatch import checks, outbox, timeline
from ctwatch.checks import Plan, RunReport
from ctwatch.config import Config
from ctwatch.errors import CtwatchError, FetchError, ParseError, Refused, UsageError
from ctwatch.fetch import Client
from ctwatch.model import ChangeSet, SearchChangeSet
from ctwatch.rules import Rules
from ctwatch.signals import stop_signals
from ctwatch.store import Alert, Store

if TYPE_CHECKING:  # the use cases a check does without are imported when used
    from pathlib import Path

    from ctwatch import preview, sample
    from ctwatch.compliance import Assessment
    from ctwatch.export import Exported
    from ctwatch.imports import Backfilled, Imported
    from ctwatch.searches import Listing
    from ctwatch.status import Status


@dataclass(frozen=True, slots=True)
class Delivery:
    """What delivering the outbox did."""

    delivered: int
    pending: int
    failed: list[tuple[str, str]]  # (channel, error), one per channel that failed


class Watcher:
    """ctwatch over one configuration (config.yaml, or one built in code as the demo does)."""

    def __init__(self, config: Config, *, stdout: TextIO | None = None) -> None:
        """``stdout``: where the stdout channel writes (sys.stdout when None)."""
        self.config = config
        self._stdout = stdout

    @cached_property
    def plan(self) -> Plan:
        """What to watch, how to judge a change and where to send it (a ConfigError if the
        configuration cannot say)."""
        return checks.plan_from(self.config, stdout=self._stdout)

    @cached_property
    def rules(self) -> Rules:
        return Rules.from_config(self.config.rules)

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The store the configuration names, open."""
        with Store(self.config.store, self.config.store_password()) as db:
            yield db

    @contextmanager
    def _locked(self, wait: bool = False) -> Iterator[Store]:
        """The store, with its run lock held: one writer at a time."""
        with self.store() as db, db.lock(wait=wait):
            yield db

    # -- use cases --------------------------------------------------------------------------

    def check(self, *, force: bool = False, full: bool = False, wait: bool = False,
              stop: Callable[[], bool] | None = None,
              progress: checks.Progress | None = None) -> RunReport:
        """One monitoring pass (``ctwatch check``; ``full``: every trial read in full).
        Without ``stop``, SIGTERM and SIGINT stop it after the trial in hand
        (:class:`~ctwatch.errors.Interrupted` past the grace period); the daemon passes its
        own ``stop`` instead. ``progress`` hears of each trial read in full."""
        plan = self.plan
        with self._locked(wait) as db, Client(self.config.api) as client, \
                _stopping(stop) as stopped:
            return checks.check(plan, client, db, force=force, full=full, stop=stopped,
                                progress=progress)

    def dry_run(self, *, force: bool = False, full: bool = False,
                stop: Callable[[], bool] | None = None) -> preview.Preview:
        """What a check would alert now (``ctwatch check --dry-run``), storing and sending
        nothing: no run lock is taken, a running check goes on undisturbed."""
        from ctwatch.preview import preview

        plan = self.plan
        with self.store() as db, Client(self.config.api) as client, \
                _stopping(stop) as stopped:
            return preview(plan, client, db, force=force, full=full, stop=stopped)

    def backfill(self, nct_ids: Sequence[str]) -> Iterator[Backfilled | CtwatchError]:
        """Import the registry's version history of each trial, one after the other: what
        each stored, or why it could not (the others go on; a store error ends them all)."""
        from ctwatch.imports import backfill

        with self._locked() as db, Client(self.config.api) as client:
            for nct_id in dict.fromkeys(nct_ids):
                try:
                    yield backfill(client, db, nct_id, self.rules)
                except (Refused, FetchError, ParseError) as error:
                    yield error

    def import_records(self, records: Sequence[tuple[str, bytes]]) -> Imported:
        """Load saved records — (name, bytes) — as snapshots of their trials."""
        from ctwatch.imports import import_records

        with self._locked() as db:
            return import_records(db, records, self.rules)

    def deliver(self) -> Delivery:
        """Send the alerts waiting in the outbox now (``ctwatch notify --retry``). No run lock:
        a check or the daemon may be delivering too, each channel's alerts by one process at a
        time (:mod:`ctwatch.outbox`)."""
        channels = self.plan.channels
        with self.store() as db:
            done = outbox.deliver_pending(db, channels)
            pending = len(db.pending_alerts())
        return Delivery(done.count, pending, done.failed)

    def test_channels(self, name: str | None = None) -> list[sample.Tried]:
        """Send a sample alert through every configured channel, or the one named
        (``ctwatch notify --test``), and say how each went; the store is not opened."""
        from ctwatch.sample import chosen, sample, send

        channels = chosen(self.plan.channels, name)
        change_set = sample(self.rules, self.plan.today())
        return [send(channel, change_set) for channel in channels]

    def drop_alerts(self, channel: str, *, wait: bool = False) -> int:
        """Give up the pending alerts of a channel no longer configured; how many."""
        channels = self.plan.channels
        with self._locked(wait) as db:
            return outbox.drop_alerts(db, channel, channels)

    def pending_alerts(self) -> list[Alert]:
        with self.store() as db:
            return db.pending_alerts()

    def status(self) -> Status:
        from ctwatch.status import status

        with self.store() as db:
            return status(db)

    def reparse(self, nct_ids: Sequence[str] = (), *, every: bool = False) -> int:
        """Re-parse stored snapshots with this version's parser; how many."""
        with self._locked() as db:
            return timeline.reparse(db, list(nct_ids) or None, every=every)

    @contextmanager
    def serving(self) -> Iterator[Callable[[str | None], None]]:
        """Hold the store for ``ctwatch run`` (one daemon per store); gives the function that
        tells ``ctwatch status`` when the next check is."""
        from ctwatch.status import NEXT_RUN

        with self.store() as db, db.lock(name="daemon"):
            try:
                yield lambda when: db.set_meta(NEXT_RUN, when)
            finally:
                db.set_meta(NEXT_RUN, None)

    # -- the query side ---------------------------------------------------------------------

    def history(self, nct_id: str) -> list[timeline.Entry]:
        with self.store() as db:
            return timeline.history(db, nct_id)

    def compare(self, nct_id: str, old_ref: str | None, new_ref: str | None) -> ChangeSet:
        with self.store() as db:
            return timeline.compare(db, nct_id, old_ref, new_ref, self.rules)

    def change_sets(self, nct_id: str | None = None, *, limit: int | None = None
                    ) -> list[ChangeSet]:
        """Stored change sets, newest first."""
        with self.store() as db:
            return db.change_sets(nct_id, limit=limit)

    def recent_changes(self, limit: int) -> list[ChangeSet]:
        """The newest change sets of trials and searches together, newest first (the feed)."""
        with self.store() as db:
            found = [*db.change_sets(limit=limit), *db.searches.change_sets(limit=limit)]
        return sorted(found, key=lambda change_set: change_set.created_at, reverse=True)[:limit]

    def searches(self) -> list[Listing]:
        """The watched searches: each configured one, then those only the store holds."""
        from ctwatch.searches import listings

        with self.store() as db:
            return listings(self.config.searches, db.searches.states())

    def search_change_sets(self, name: str, *, limit: int | None = None
                           ) -> list[SearchChangeSet]:
        """A search's change sets, newest first; UsageError for a search never checked."""
        with self.store() as db:
            if db.searches.state(name) is None:
                raise UsageError(f"{name}: no search of that name was checked in this store "
                                 "(see ctwatch searches)")
            return db.searches.change_sets(name, limit)

    def search_change(self, name: str, old_ref: str | None,
                      new_ref: str | None) -> SearchChangeSet:
        """The change set of a search that ``ctwatch diff NAME`` shows (``--to``: its id)."""
        from ctwatch.searches import chosen

        return chosen(self.search_change_sets(name), old_ref, new_ref)

    def compliance(self, nct_ids: Sequence[str], today: date) -> list[Assessment]:
        """FDAAA 801 / 42 CFR 11 findings of the trials named (every stored trial: none), as
        of ``today``, from their stored versions."""
        from ctwatch.compliance import from_store

        with self.store() as db:
            return from_store(db, nct_ids, today)

    def export(self, out: Path, fmt: str, nct_ids: Sequence[str] = (), *,
               history: bool = False, force: bool = False) -> Exported:
        """Relational tables (``fmt``: csv, sqlite or parquet) of the latest stored version of
        the trials named (none named: every stored trial), with ``history`` their snapshots
        and change sets too, written to ``out`` whole or not at all (``ctwatch export``,
        :mod:`ctwatch.export`); ``force`` replaces an earlier export there."""
        from ctwatch.export import export

        with self.store() as db:
            return export(db, out, fmt, nct_ids, history=history, force=force)


@contextmanager
def _stopping(stop: Callable[[], bool] | None) -> Iterator[Callable[[], bool]]:
    """``stop``, or one that SIGTERM and SIGINT set (in the main thread, where signals go)."""
    if stop is not None:
        yield stop
        return
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    stopped = threading.Event()
    with stop_signals(stopped.set):
        yield stopped.is_set
