"""``ctwatch status``: the last run, the next one, each trial's state and the pending alerts,
read from the store, so that it tells the same whichever process asks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ctwatch.model import SearchChangeSet
from ctwatch.store import Store
from ctwatch.store.searches import SearchState

NEXT_RUN = "daemon.next_run"  # store meta key: when the daemon checks next


@dataclass(frozen=True, slots=True)
class LastRun:
    id: int
    started_at: str
    finished_at: str | None
    status: str  # running, ok, skipped, partial, interrupted, failed, aborted
    data_timestamp: str | None  # the registry data it checked completely
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class TrialState:
    nct_id: str
    last_checked: str | None
    last_success: str | None
    consecutive_failures: int
    last_error: str | None
    registry_date: str | None  # the last update posted of its record when last read in full
    last_full_read: str | None  # when its whole record was last read (see api.full_sweep_days)


@dataclass(frozen=True, slots=True)
class PendingAlert:
    id: int
    channel: str
    nct_id: str
    change_set: int
    attempts: int
    last_error: str | None
    maybe_sent: bool  # claimed by a run that stopped while sending it
    milestone: str | None = None  # a compliance milestone's alert: its key (change_set: its id)
    search: str | None = None  # a watched search's alert: its name (change_set: its id)


@dataclass(frozen=True, slots=True)
class Status:
    """What ``ctwatch status`` shows."""

    last_run: LastRun | None
    running: bool  # a check holds the store's run lock right now
    next_run: str | None  # when the daemon serving this store checks next
    trials: list[TrialState]
    pending_alerts: list[PendingAlert]
    searches: list[SearchState] = field(default_factory=list)  # watched searches as checked

    def to_dict(self) -> dict[str, Any]:
        """``ctwatch status --format json``."""
        return asdict(self)

    def text(self) -> str:
        """``ctwatch status`` for people."""
        run = self.last_run
        lines = ["last run:  " + (
            f"#{run.id} {run.started_at} → {run.finished_at or '(running)'}  {run.status}  "
            + ", ".join(f"{k} {v}" for k, v in run.counts.items()) if run else "none yet")]
        lines.append("next run:  "
                     + (self.next_run or "no ctwatch run daemon is serving this store"))
        lines.append("trials:")
        lines += [f"  {t.nct_id}  last checked {t.last_checked}  "
                  f"failures in a row {t.consecutive_failures}"
                  + (f"  last error: {t.last_error}" if t.last_error else "")
                  for t in self.trials]
        if self.searches:
            lines.append("searches:")
            lines += [f"  {s.name}  {s.size} trials  last checked {s.last_checked}  "
                      f"last change {s.last_changed or 'none'}"
                      + ("" if s.baseline_at else "  baseline in progress")
                      for s in self.searches]
        lines.append(f"pending alerts: {len(self.pending_alerts)}")
        lines += [f"  {a.channel}  {a.nct_id or 'search ' + (a.search or '')} "
                  + (f"milestone {a.milestone}" if a.milestone else f"change set {a.change_set}")
                  + f"  attempts {a.attempts}"
                  + (f"  last error: {a.last_error}" if a.last_error else "")
                  for a in self.pending_alerts]
        return "\n".join(lines)


def status(db: Store) -> Status:
    """The store's status now."""
    running = db.locked("run")
    row = db.last_run()
    last = LastRun(**row) if row else None
    if last and last.status == "running" and not running:
        last = LastRun(**{**asdict(last), "status": "aborted"})  # its process died
    return Status(
        last_run=last, running=running, next_run=next_run(db),
        trials=[TrialState(**state) for state in db.trial_states()],
        pending_alerts=[
            PendingAlert(alert.id, alert.channel, alert.change_set.nct_id, alert.change_set.id,
                         alert.attempts, alert.last_error, alert.maybe_sent,
                         alert.change_set.milestone,
                         alert.change_set.search
                         if isinstance(alert.change_set, SearchChangeSet) else None)
            for alert in db.pending_alerts()],
        searches=db.searches.states())


def next_run(db: Store) -> str | None:
    """When the daemon serving this store checks next; None when no daemon runs."""
    return db.get_meta(NEXT_RUN) if db.locked("daemon") else None
