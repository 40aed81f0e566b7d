"""Delivering the alert outbox: each pending alert to its channel, at least once and never as
an unrecognisable repeat.

Sending and recording "sent" can not be one transaction with an SMTP or HTTP server, so an
alert is claimed before it is sent and confirmed after. One found claimed (the run died in
between) may have been sent: it is sent again as the same message — the same identity, hence
the same Message-ID, Idempotency-Key and event_id — so that the receiver can drop the repeat.

Any number of processes may deliver at once (a check, the daemon, a ``notify --retry`` on
another host): a channel's alerts are read and claimed under the store's lock of that channel
(an advisory lock on PostgreSQL), which one process holds at a time, so no alert is sent twice
by two live processes and a channel's alerts keep their order. An alert found claimed under
that lock was claimed by a process that died.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from ctwatch.errors import ConfigError, NotifyError, describe
from ctwatch.notify.channels import Channel
from ctwatch.store import Alert, Store

log = logging.getLogger("ctwatch.notify")


@dataclass
class Delivered:
    """What delivering the outbox did."""

    count: int = 0  # alerts delivered by this process
    failed: list[tuple[str, str]] = field(default_factory=list)  # (channel, error) per channel


def deliver_pending(db: Store, channels: Sequence[Channel]) -> Delivered:
    """Send every pending alert whose channel is configured, oldest first; a digest channel
    gets them all in one message. A failed delivery stays pending with its error, and stops
    that channel for this run (so its alerts never arrive out of order). Another process
    delivering a channel is waited for, then what it left is sent."""
    done = Delivered()
    for channel in channels:
        with db.lock(wait=True, name=f"outbox:{channel.name}"):
            error = _deliver_queue(db, channel, db.pending_alerts(channel.name), done)
        if error:
            done.failed.append((channel.name, error))
    return done


def _deliver_queue(db: Store, channel: Channel, alerts: list[Alert],
                   done: Delivered) -> str | None:
    batches = _batches(channel, alerts)
    for sent, batch in enumerate(batches):
        ids = [alert.id for alert in batch]
        change_sets = [alert.change_set for alert in batch]
        identity = batch[0].claim or channel.identity(change_sets)
        if batch[0].maybe_sent:
            log.info("sending again %d alert(s) on %s that a stopped run may have sent "
                     "(same identity %s)", len(batch), channel.name, identity)
        if not db.claim(ids, identity):  # delivered or dropped since it was read: not ours
            continue
        try:
            channel.send(change_sets)
        except Exception as error:  # a channel's bug must not cost the other channels
            if not isinstance(error, NotifyError):
                log.debug("%s: delivery failed", channel.name, exc_info=True)
            db.delivery_failed(ids, describe(error))
            left = sum(len(rest) for rest in batches[sent:])
            return f"{describe(error)} ({left} alert{'s' if left != 1 else ''} pending)"
        db.delivered(ids)
        done.count += len(ids)
    return None


def _batches(channel: Channel, alerts: list[Alert]) -> list[list[Alert]]:
    """The messages to send: first those tried before, exactly as they were first tried; then
    the alerts never tried, all in one message on a digest channel."""
    tried: dict[str, list[Alert]] = {}
    for alert in alerts:
        if alert.claim is not None:
            tried.setdefault(alert.claim, []).append(alert)
    fresh = [alert for alert in alerts if alert.claim is None]
    batches = list(tried.values())
    return batches + ([fresh] if channel.digest and fresh else [[alert] for alert in fresh])


def drop_alerts(db: Store, channel: str, configured: Sequence[Channel]) -> int:
    """Give up the undelivered alerts of a channel that is no longer configured."""
    if any(c.name == channel for c in configured):
        raise ConfigError(f"{channel} is still configured under notify:; remove it from the "
                          "configuration first, or deliver its alerts with notify --retry",
                          key="--drop")
    with db.lock(wait=True, name=f"outbox:{channel}"):  # none of them is being sent now
        dropped = db.drop_alerts(channel)
    if not dropped:
        owed = sorted({alert.channel for alert in db.pending_alerts()})
        raise ConfigError(f"no pending alerts on a channel named {channel!r} (pending on: "
                          f"{', '.join(owed) or 'none'})", key="--drop")
    return dropped
