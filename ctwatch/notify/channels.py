"""The channels: where change sets go."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TextIO

from ctwatch.errors import ConfigError, NotifyError
from ctwatch.model import SEVERITIES, ChangeSet
from ctwatch.notify.render import text

DEFAULT_MIN_SEVERITY = "minor"


class Channel:
    """Base of the channels: configuration keys shared by every kind."""

    kind: ClassVar[str]
    keys: ClassVar[tuple[str, ...]] = ("kind", "name", "min_severity")

    def __init__(self, name: str, min_severity: str = DEFAULT_MIN_SEVERITY) -> None:
        self.name = name
        self.min_severity = min_severity

    @classmethod
    def from_config(cls, key: str, entry: Mapping[str, Any], *,
                    stdout: TextIO | None = None) -> Channel:
        unknown = sorted(set(entry) - set(cls.keys), key=str)
        if unknown:
            raise ConfigError(f"unknown key for a {cls.kind} channel (known: "
                              f"{', '.join(cls.keys)})", key=f"{key}.{unknown[0]}")
        return cls._create(key, entry, stdout)

    @classmethod
    def _create(cls, key: str, entry: Mapping[str, Any], stdout: TextIO | None) -> Channel:
        raise NotImplementedError

    def accepts(self, severity: str) -> bool:
        """Whether a change set of this top severity is sent on this channel."""
        return SEVERITIES.index(severity) >= SEVERITIES.index(self.min_severity)

    def deliver(self, change_set: ChangeSet) -> None:
        raise NotImplementedError


def _min_severity(key: str, entry: Mapping[str, Any]) -> str:
    value = entry.get("min_severity", DEFAULT_MIN_SEVERITY)
    if value not in SEVERITIES:
        raise ConfigError(f"{value!r} is not one of {', '.join(SEVERITIES)}",
                          key=f"{key}.min_severity")
    return value


class StdoutChannel(Channel):
    """A readable summary on standard output (for cron mail and terminals)."""

    kind = "stdout"

    def __init__(self, name: str, min_severity: str, stream: TextIO | None = None) -> None:
        super().__init__(name, min_severity)
        self.stream = stream

    @classmethod
    def _create(cls, key: str, entry: Mapping[str, Any], stdout: TextIO | None) -> Channel:
        return cls(entry.get("name") or "stdout", _min_severity(key, entry), stdout)

    def deliver(self, change_set: ChangeSet) -> None:
        stream = self.stream or sys.stdout
        try:
            stream.write(text(change_set) + "\n")
            stream.flush()
        except OSError as error:
            raise NotifyError(f"{self.name}: cannot write: {error}") from None


class FileChannel(Channel):
    """JSON lines appended to a file, one change set a line: the machine interface."""

    kind = "file"
    keys = (*Channel.keys, "path")

    def __init__(self, name: str, min_severity: str, path: Path) -> None:
        super().__init__(name, min_severity)
        self.path = path

    @classmethod
    def _create(cls, key: str, entry: Mapping[str, Any], stdout: TextIO | None) -> Channel:
        path = entry.get("path")
        if not isinstance(path, str) or not path:
            raise ConfigError("missing: the file to append JSON lines to", key=f"{key}.path")
        return cls(entry.get("name") or f"file:{path}", _min_severity(key, entry), Path(path))

    def deliver(self, change_set: ChangeSet) -> None:
        line = json.dumps(change_set.to_dict(), ensure_ascii=False) + "\n"
        try:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:
            raise NotifyError(f"{self.name}: cannot append to {self.path}: "
                              f"{error.strerror or error}") from None
