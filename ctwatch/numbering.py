"""Registry version numbers for the change sets a check alerts, so that an alert links to the
registry's own comparison view (``…?tab=history&a=13&b=14``).

API v2 records do not carry their version number; the trial's history index (one request,
an unsupported site API) tells which version was current on a date. That costs a request per
changed trial, so a check asks only for the change sets it alerts, after every trial was
stored and before the alerts go out, and at most MAX_VERSION_LOOKUPS a run: the others link
to the record's history tab, as they do when the index cannot be had.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from ctwatch.errors import FetchError
from ctwatch.fetch import Client
from ctwatch.limits import MAX_VERSION_LOOKUPS
from ctwatch.model import ChangeSet
from ctwatch.store import Store

log = logging.getLogger("ctwatch.check")


def number(client: Client, db: Store, change_sets: Sequence[ChangeSet],
           stop: Callable[[], bool], limit: int = MAX_VERSION_LOOKUPS) -> int:
    """Store the version numbers of both ends of each change set (the first ``limit`` that
    lack them); how many were numbered."""
    done = 0
    for change_set in [c for c in change_sets if c.to_version is None][:limit]:
        if stop():
            break
        old, new = versions_on(client, change_set.nct_id, change_set.from_date,
                               change_set.to_date)
        if old is None or new is None:
            continue
        with db.transaction():
            if change_set.from_version is None:
                db.set_registry_version(change_set.from_snapshot, old)
            db.set_registry_version(change_set.to_snapshot, new)
        done += 1
    return done


def versions_on(client: Client, nct_id: str, old_date: str | None,
                new_date: str | None) -> tuple[int | None, int | None]:
    """The registry versions current on two dates, from the trial's history index; (None,
    None) when the index cannot be had or does not tell the two apart."""
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
        return None, None
    return old, new
