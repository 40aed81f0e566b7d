"""``ctwatch notify --test``: a sample alert sent straight through each channel, to see that it
arrives and how it reads there.

The sample is a real change set: NCT04083898's record as bundled with the demo, against a copy
whose overall status went from Recruiting to Active, not recruiting and whose enrollment
became actual, diffed by the configured rules. Each of its changes carries the ``test`` flag,
which every format spells out ("A test alert …") and which puts "TEST" in the subject
(``[ctwatch] TEST MAJOR NCT04083898: Overall Status → Active, not recruiting …``); the JSON
channels keep the flag in ``changes[].flags``. It is never stored: no outbox row, no delivery
recorded, a new ``event_id`` each time. A channel's ``min_severity`` does not hold it back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from importlib import resources

from ctwatch import sources
from ctwatch.diff import diff
from ctwatch.errors import NotifyError, UsageError, describe
from ctwatch.model import ChangeSet, Trial
from ctwatch.notify.channels import Channel
from ctwatch.notify.present import TEST_FLAG
from ctwatch.rules import Rules

log = logging.getLogger("ctwatch.notify")

#: the bundled record the sample is made of (ctwatch demo's)
RECORD = "NCT04083898.json"


@dataclass(frozen=True, slots=True)
class Tried:
    """How sending the sample on one channel went."""

    channel: str
    error: str | None  # None: the channel took it

    @property
    def line(self) -> str:
        """``stdout: ok``, or the channel and the one-line error it gave."""
        return f"{self.channel}: " + ("ok" if self.error is None else f"failed: {self.error}")


def sample(rules: Rules, today: date) -> ChangeSet:
    """The sample alert: a status change of NCT04083898, every change flagged ``test``."""
    before = _bundled()
    status = replace(before.status, overall="ACTIVE_NOT_RECRUITING",
                     last_update_posted=today.isoformat())
    enrollment = replace(before.design.enrollment, type="ACTUAL")
    after = replace(before, status=status,
                    design=replace(before.design, enrollment=enrollment))
    changes = tuple(replace(change, flags=(*change.flags, TEST_FLAG))
                    for change in diff(before, after, rules, today))
    return ChangeSet(id=0, nct_id=before.nct_id, title=before.brief_title, from_snapshot=0,
                     to_snapshot=0, from_version=None, to_version=None,
                     from_date=before.status.last_update_posted, to_date=today.isoformat(),
                     created_at=_now(), changes=changes)


def chosen(channels: Sequence[Channel], name: str | None) -> list[Channel]:
    """Every channel, or the one named (a UsageError naming the others when none is)."""
    if not name:
        return list(channels)
    found = [channel for channel in channels if channel.name == name]
    if not found:
        names = ", ".join(channel.name for channel in channels)
        raise UsageError(f"no channel named {name!r} (channels: {names})", option="--test")
    return found


def send(channel: Channel, change_set: ChangeSet) -> Tried:
    """Send the sample on one channel; its error, if any, in one line."""
    try:
        channel.send([change_set])
    except Exception as error:  # a channel's bug must not keep the others from being tried
        if not isinstance(error, NotifyError):
            log.debug("%s: test failed", channel.name, exc_info=True)
        return Tried(channel.name, describe(error))
    return Tried(channel.name, None)


def _now() -> str:
    """This moment to the microsecond: each sample is a new event (its ``event_id``), however
    quickly another follows."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _bundled() -> Trial:
    raw = resources.files("ctwatch").joinpath("demo", RECORD).read_bytes()
    return sources.parse(raw, RECORD)[0]
