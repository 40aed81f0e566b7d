"""Which watched trials a check reads in full, so that its cost follows what changed.

The registry says when a record last moved (its last update posted date) in a light probe of
every watched trial, a thousand to a request. A trial is read in full when it is new, when its
date differs from the one its last full read found, or when the sweep is due: the registry's
date is a promise, not a proof, so each run also re-reads, in full, the share of the trials
least recently read in full that keeps every trial read within ``api.full_sweep_days``
(``check --full`` reads them all). The others cost no download, no parse and no write but
their "last checked" time, written in bulk.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ctwatch.errors import FetchError, TrialNotFound
from ctwatch.fetch import Client
from ctwatch.store import Read


@dataclass(slots=True)
class Triage:
    """The watched trials sorted by what a check does with them."""

    full: list[str] = field(default_factory=list)  # read in full: new, moved or swept
    unmoved: list[str] = field(default_factory=list)  # same date as their last full read
    failed: list[FetchError] = field(default_factory=list)  # the probe could not tell
    stopped: bool = False  # stopped (SIGTERM) before every trial was sorted


def due(trials: Sequence[str], reads: Mapping[str, Read], *, now: datetime,
        since_last_run_s: float | None, sweep_days: float) -> set[str]:
    """The trials to read in full whatever the registry says: never read in full, overdue,
    and this run's share of the least recently read — as many as the time since the last
    run is a share of the sweep's days."""
    window_s = sweep_days * 86400
    if window_s <= 0:
        return set(trials)
    read_at = {nct_id: _moment(reads.get(nct_id)) for nct_id in trials}
    overdue = {nct_id for nct_id, at in read_at.items()
               if at is None or (now - at).total_seconds() >= window_s}
    if since_last_run_s is None:
        return overdue
    share = math.ceil(len(trials) * min(1.0, max(0.0, since_last_run_s) / window_s))
    oldest = sorted((at, nct_id) for nct_id, at in read_at.items()
                    if nct_id not in overdue and at is not None)
    return overdue | {nct_id for _, nct_id in oldest[:share]}


def _moment(read: Read | None) -> datetime | None:
    if read is None or not read.at:
        return None
    return datetime.fromisoformat(read.at.replace("Z", "+00:00"))


def sort(client: Client, trials: Sequence[str], reads: Mapping[str, Read], full: set[str],
         stop: Callable[[], bool], known: Mapping[str, str | None] | None = None) -> Triage:
    """Probe the registry for the trials not already to be read in full, and sort them.
    ``known``: last update dates the registry gave this run already (a search's listing):
    those trials are not probed again."""
    known = known or {}
    found = Triage(full=[nct_id for nct_id in trials if nct_id in full
                         or not (reads.get(nct_id) and reads[nct_id].registry_date)])
    reading = set(found.full)
    probed = []
    for nct_id in trials:
        if nct_id in reading:
            continue
        if known.get(nct_id) is None:
            probed.append(nct_id)
        elif known[nct_id] == reads[nct_id].registry_date:
            found.unmoved.append(nct_id)
        else:
            found.full.append(nct_id)
    for result in client.last_updates(probed) if probed else ():
        if stop():
            found.stopped = True
            break
        if isinstance(result, TrialNotFound):  # a full read tells a 404 from an alias's move
            found.full.append(result.nct_id or "")
        elif isinstance(result, FetchError):
            found.failed.append(result)
        elif result.last_update_posted == reads[result.nct_id].registry_date:
            found.unmoved.append(result.nct_id)
        else:
            found.full.append(result.nct_id)
    return found
