"""Alert channels, chosen by ``kind`` in the ``notify:`` list of config.yaml.

Each channel has a stable ``name`` (the outbox remembers deliveries by it), a
``min_severity`` (change sets whose top severity is lower are not sent to it) and
``deliver(change_set)``, which raises :class:`NotifyError` when the alert did not get through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from ctwatch.errors import ConfigError
from ctwatch.notify.channels import Channel, FileChannel, StdoutChannel

#: kind → channel class; the first line of each class docstring is its help text
KINDS: dict[str, type[Channel]] = {"stdout": StdoutChannel, "file": FileChannel}


def build(entries: Sequence[Any], *, stdout: TextIO | None = None) -> list[Channel]:
    """Channels from the ``notify:`` entries; a bad entry is a ConfigError naming its key."""
    channels = [_channel(f"notify[{index}]", entry, stdout) for index, entry in enumerate(entries)]
    names = [channel.name for channel in channels]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ConfigError(f"a second channel named {name!r}; give one a distinct name",
                              key=f"notify[{index}]")
    return channels


def _channel(key: str, entry: Any, stdout: TextIO | None) -> Channel:
    if isinstance(entry, str):
        entry = {"kind": entry}
    if not isinstance(entry, Mapping):
        raise ConfigError("must be a mapping with a kind", key=key)
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"unknown channel kind {kind!r} (known: {', '.join(KINDS)})",
                          key=f"{key}.kind")
    return KINDS[kind].from_config(key, entry, stdout=stdout)
