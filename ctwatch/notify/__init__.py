"""Alert channels, chosen by ``kind`` in the ``notify:`` list of config.yaml, and where each
trial's alerts go.

Each channel has a stable ``name`` (the outbox remembers deliveries by it), a
``min_severity`` (change sets whose top severity is lower are not sent to it), ``digest``
(one message per run instead of one per change set) and ``send(change_sets)``, which raises
:class:`NotifyError` when the message did not get through.

A trial with its own ``notify:`` list in ``trials:`` goes to exactly those channels: a string
names a channel of the top-level list, a mapping is a channel for that trial alone. A trial
without one goes to every top-level channel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from ctwatch.errors import ConfigError
from ctwatch.logs import quoted
from ctwatch.notify.channels import Channel, Context, FileChannel, StdoutChannel
from ctwatch.notify.chat import AppriseChannel
from ctwatch.notify.mail import EmailChannel
from ctwatch.notify.webhook import WebhookChannel

__all__ = ["KINDS", "Channel", "Routing", "build", "check_entry", "routing"]

#: kind → channel class; the first line of each class docstring is its help text
KINDS: dict[str, type[Channel]] = {
    "stdout": StdoutChannel, "file": FileChannel, "email": EmailChannel,
    "webhook": WebhookChannel, "apprise": AppriseChannel,
}


def build(entries: Sequence[Any], *, stdout: TextIO | None = None,
          environ: Mapping[str, str] | None = None) -> list[Channel]:
    """Channels from the ``notify:`` entries; a bad entry is a ConfigError naming its key."""
    return routing(entries, (), stdout=stdout, environ=environ).channels


@dataclass(frozen=True)
class Routing:
    """Every configured channel, and the channel names each trial's alerts go to."""

    channels: list[Channel]
    routes: dict[str, tuple[str, ...]]  # NCT id → channel names, for every trial listed
    search_routes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # by search name


def routing(entries: Sequence[Any], trials: Sequence[tuple[str, Sequence[Any]]], *,
            stdout: TextIO | None = None, environ: Mapping[str, str] | None = None,
            searches: Sequence[tuple[str, Sequence[Any]]] = ()) -> Routing:
    """Channels of the top-level ``notify:`` entries and of the trials' and searches' own
    ``notify:`` lists (``trials``: (NCT id, its notify entries) in the order of ``trials:``;
    ``searches``: (name, its notify entries) in the order of ``searches:``)."""
    context = Context(stdout, dict(os.environ) if environ is None else environ)
    channels: dict[str, tuple[Channel, Any]] = {}
    top = [_add(channels, f"notify[{i}]", entry, context) for i, entry in enumerate(entries)]

    def routes_of(section: str, owners: Sequence[tuple[str, Sequence[Any]]]
                  ) -> dict[str, tuple[str, ...]]:
        return {owner: tuple(_route(channels, top, f"{section}[{index}].notify[{i}]", item,
                                    context) for i, item in enumerate(own)) if own else tuple(top)
                for index, (owner, own) in enumerate(owners)}

    routes = routes_of("trials", trials)
    search_routes = routes_of("searches", searches)
    return Routing([channel for channel, _ in channels.values()], routes, search_routes)


def _add(channels: dict[str, tuple[Channel, Any]], key: str, entry: Any,
         context: Context) -> str:
    channel = _channel(key, entry, context)
    if channel.name in channels:
        if channels[channel.name][1] == entry and not key.startswith("notify["):
            return channel.name  # the same channel given again for another trial
        raise ConfigError(f"a second channel named {quoted(channel.name)}; give one a distinct "
                          "name", key=key)
    channels[channel.name] = (channel, entry)
    return channel.name


def _route(channels: dict[str, tuple[Channel, Any]], top: list[str], key: str, item: Any,
           context: Context) -> str:
    if isinstance(item, str) and item in top:
        return item
    if isinstance(item, str) and item not in KINDS:
        raise ConfigError(f"no channel named {quoted(item)} in notify: (names: "
                          f"{', '.join(top) or 'none'})", key=key)
    return _add(channels, key, item, context)


def check_entry(key: str, entry: Any) -> None:
    """Check one ``notify:`` entry on its own (``ctwatch config check``): a ConfigError
    naming the key for an unknown kind or key, a bad value or a missing secret."""
    _channel(key, entry, Context(None, dict(os.environ)))


def _channel(key: str, entry: Any, context: Context) -> Channel:
    if isinstance(entry, str):
        entry = {"kind": entry}
    if not isinstance(entry, Mapping):
        raise ConfigError("must be a mapping with a kind", key=key)
    kind = entry.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ConfigError(f"unknown channel kind {quoted(kind)} (known: {', '.join(KINDS)})",
                          key=f"{key}.kind")
    return KINDS[kind].from_config(key, entry, context=context)
