"""The channel base, its configuration helpers, and the local channels: stdout and file.

A channel sends one message about one or more change sets (``send``); with ``digest: true``
the outbox gives it every pending change set of a run at once, otherwise one at a time.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TextIO

from ctwatch import logs, urls
from ctwatch.errors import ConfigError, NotifyError
from ctwatch.logs import key_name, quoted
from ctwatch.model import ChangeSet, SearchChangeSet, Severity
from ctwatch.notify.render import message_text

DEFAULT_MIN_SEVERITY = Severity.MINOR


@dataclass(frozen=True)
class Context:
    """What building channels may use besides their config entry."""

    stdout: TextIO | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


class Channel:
    """Base of the channels: configuration keys shared by every kind."""

    kind: ClassVar[str]
    keys: ClassVar[tuple[str, ...]] = ("kind", "name", "min_severity", "digest")

    def __init__(self, name: str, min_severity: str = DEFAULT_MIN_SEVERITY,
                 digest: bool = False) -> None:
        self.name = name
        self.min_severity = Severity(min_severity)
        self.digest = digest

    @classmethod
    def from_config(cls, key: str, entry: Mapping[str, Any], *,
                    context: Context | None = None) -> Channel:
        """A channel from its ``notify:`` entry; ConfigError naming the key if it is not usable."""
        unknown = sorted(set(entry) - set(cls.keys), key=str)
        if unknown:
            hint = "; secrets come from the environment (password_env, url_env)" \
                if unknown[0] in ("password", "token", "secret") else ""
            raise ConfigError(f"unknown key for a {cls.kind} channel (known: "
                              f"{', '.join(cls.keys)}){hint}", key=f"{key}.{key_name(unknown[0])}")
        if "name" in entry:
            text(key, entry, "name", "a name for the channel (alerts are remembered by it)")
        channel = cls._create(key, entry, context or Context())
        channel.min_severity = _min_severity(key, entry)
        channel.digest = flag(key, entry, "digest", False)
        return channel

    @classmethod
    def _create(cls, key: str, entry: Mapping[str, Any], context: Context) -> Channel:
        raise NotImplementedError

    def accepts(self, severity: str) -> bool:
        """Whether a change set of this top severity is sent on this channel."""
        return Severity(severity) >= self.min_severity

    def send(self, change_sets: Sequence[ChangeSet]) -> None:
        """Deliver one message about these change sets; NotifyError if it did not get through."""
        raise NotImplementedError

    def deliver(self, change_set: ChangeSet) -> None:
        self.send([change_set])

    def identity(self, change_sets: Sequence[ChangeSet]) -> str:
        """The identity of the message about these change sets on this channel."""
        return identity(self.name, change_sets)


def event_id(change_set: ChangeSet) -> str:
    """A change set's identity, the same in every channel and on every sending."""
    key = (f"{change_set.nct_id}:{change_set.from_snapshot}-{change_set.to_snapshot}:"
           f"{change_set.created_at}")
    if change_set.milestone:  # two milestones of a trial may be reached at one moment
        key += f":{change_set.milestone}"
    if isinstance(change_set, SearchChangeSet):  # of no snapshot
        key = f"search:{change_set.search}:{change_set.id}:{change_set.created_at}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def identity(channel: str, change_sets: Sequence[ChangeSet]) -> str:
    """A message's identity: the same channel and change sets always give the same one, so a
    message sent again (after a crash between sending it and recording it as sent) carries the
    same Message-ID or Idempotency-Key and the receiver can drop the repeat."""
    events = ",".join(sorted(event_id(change_set) for change_set in change_sets))
    return hashlib.sha256(f"{channel}|{events}".encode()).hexdigest()[:32]


def event(change_set: ChangeSet) -> dict[str, Any]:
    """A change set's JSON object as the file and webhook channels send it: ``event_id``
    first."""
    return {"event_id": event_id(change_set), **change_set.to_dict()}


# -- configuration helpers --------------------------------------------------------------------


def _min_severity(key: str, entry: Mapping[str, Any]) -> Severity:
    value = entry.get("min_severity", DEFAULT_MIN_SEVERITY)
    try:
        return Severity(value)
    except ValueError:
        raise ConfigError(f"{quoted(value)} is not one of {', '.join(Severity)}",
                          key=f"{key}.min_severity") from None


def flag(key: str, entry: Mapping[str, Any], name: str, default: bool) -> bool:
    value = entry.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"must be true or false (got {quoted(value)})", key=f"{key}.{name}")
    return value


def text(key: str, entry: Mapping[str, Any], name: str, what: str) -> str:
    """A required non-empty string option; ``what`` says what it is for."""
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"missing: {what}", key=f"{key}.{name}")
    return value.strip()


def number(key: str, entry: Mapping[str, Any], name: str, default: float, *,
           minimum: float = 0, maximum: float) -> float:
    """A number option from ``minimum`` to ``maximum`` (NaN and infinity are not numbers
    here: a timeout of .inf overflows the system's timers)."""
    value = entry.get(name, default)
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not minimum <= value <= maximum):
        raise ConfigError(f"must be a number from {minimum:g} to {maximum:g} "
                          f"(got {quoted(value)})", key=f"{key}.{name}")
    return value


def secret(key: str, entry: Mapping[str, Any], name: str, context: Context) -> str:
    """The value of the environment variable that option ``name`` names; never shown."""
    variable = text(key, entry, name, "the name of an environment variable")
    value = context.environ.get(variable)
    if not value:
        raise ConfigError(f"environment variable {variable} is not set", key=f"{key}.{name}")
    logs.secret(value)
    return value


def http_url(key: str, entry: Mapping[str, Any], context: Context) -> tuple[str, str | None]:
    """:func:`url_option`, which must be an http(s) URL with a host and a valid port. A URL
    from the environment is never quoted (its path or query may be the token)."""
    url, variable = url_option(key, entry, context)
    where = f"{key}.{'url_env' if variable else 'url'}"
    shown = f"the URL in {variable}" if variable else quoted(logs.mask_url(url))
    parts = urls.split(url)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{shown} is not an http(s) URL", key=where)
    check_port(key, url, variable)
    return url, variable


def check_port(key: str, url: str, variable: str | None) -> None:
    """A ConfigError when the URL (of option url, or url_env: ``variable``) has a port that
    is not one (99999, or text)."""
    parts = urls.split(url)
    if parts is not None and not urls.port_ok(parts):
        owner = f"the URL in {variable} has" if variable else "has"
        raise ConfigError(f"{owner} a port that is not a number from 1 to 65535",
                          key=f"{key}.{'url_env' if variable else 'url'}")


def url_option(key: str, entry: Mapping[str, Any], context: Context) -> tuple[str, str | None]:
    """``url`` or ``url_env`` (exactly one): the URL, and the variable it came from if any."""
    if ("url" in entry) == ("url_env" in entry):
        raise ConfigError("give either url or url_env (the environment variable holding the "
                          "URL)", key=f"{key}.url")
    if "url_env" in entry:
        return secret(key, entry, "url_env", context), entry["url_env"]
    url = text(key, entry, "url", "the URL to send to")
    logs.secret(url)  # a URL may carry a token even when written in the file
    return url, None


# -- local channels ---------------------------------------------------------------------------


class StdoutChannel(Channel):
    """A readable summary on standard output (for cron mail and terminals)."""

    kind = "stdout"

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        super().__init__(name)
        self.stream = stream

    @classmethod
    def _create(cls, key: str, entry: Mapping[str, Any], context: Context) -> Channel:
        return cls(entry.get("name") or "stdout", context.stdout)

    def send(self, change_sets: Sequence[ChangeSet]) -> None:
        stream = self.stream or sys.stdout
        try:
            stream.write(message_text(change_sets) + "\n")
            stream.flush()
        except OSError as error:
            raise NotifyError(f"cannot write: {error.strerror or error}") from None


class FileChannel(Channel):
    """JSON lines appended to a file, one change set a line: the machine interface."""

    kind = "file"
    keys = (*Channel.keys, "path")

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name)
        self.path = path

    @classmethod
    def _create(cls, key: str, entry: Mapping[str, Any], context: Context) -> Channel:
        path = text(key, entry, "path", "the file to append JSON lines to")
        return cls(entry.get("name") or f"file:{path}", Path(path))

    def send(self, change_sets: Sequence[ChangeSet]) -> None:
        lines = "".join(json.dumps(event(change_set), ensure_ascii=False) + "\n"
                        for change_set in change_sets)
        try:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(lines)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:
            raise NotifyError(f"cannot append to {self.path}: {error.strerror or error}") \
                from None
