"""The ``apprise`` channel: any service apprise knows (Slack, Teams, Discord, ntfy, …).

    - kind: apprise
      url_env: CTWATCH_TEAMS_URL        # e.g. msteams://…, slack://…, ntfy://…, json://…

The body is Markdown. Apprise URLs carry tokens: messages and errors show only the URL's
scheme, and apprise's own log lines are redacted before they are shown.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from ctwatch.errors import ConfigError, NotifyError
from ctwatch.model import ChangeSet, Severity
from ctwatch.notify.channels import Channel, Context, check_port, url_option
from ctwatch.notify.present import top
from ctwatch.notify.render import message_markdown, subject

#: apprise's logger: its debug lines can contain whole URLs, so it never reaches ctwatch's logs
APPRISE_LOGGER = "apprise"
_SEVERITY_TYPE = {Severity.CRITICAL: "failure", Severity.MAJOR: "warning", Severity.MINOR: "info",
                  Severity.INFO: "info"}


class AppriseChannel(Channel):
    """A Markdown message to any apprise URL: Slack, Teams, Discord, ntfy, Matrix, …"""

    kind = "apprise"
    keys = (*Channel.keys, "url", "url_env")

    def __init__(self, name: str, url: str) -> None:
        super().__init__(name)
        self.url = url
        self.scheme = _scheme(url)

    @classmethod
    def _create(cls, key: str, entry: Mapping[str, Any], context: Context) -> Channel:
        url, variable = url_option(key, entry, context)
        check_port(key, url, variable)
        channel = cls(entry.get("name") or f"apprise:{variable or _scheme(url)}", url)
        if not channel._service().urls():
            where = f"the URL in {variable}" if variable else f"the {channel.scheme}:// URL"
            raise ConfigError(f"{where} is not one apprise understands",
                              key=f"{key}.{'url_env' if variable else 'url'}")
        return channel

    def send(self, change_sets: Sequence[ChangeSet]) -> None:
        with _quiet():
            import apprise

            result = self._service().notify(
                body=message_markdown(change_sets), title=subject(change_sets),
                body_format=apprise.NotifyFormat.MARKDOWN,
                notify_type=apprise.NotifyType(_SEVERITY_TYPE[top(change_sets)]))
        if not result:
            raise NotifyError(f"the {self.scheme}:// service did not take the message: "
                              f"{self._reason(result)}")

    def _service(self) -> Any:
        with _quiet():
            import apprise

            logging.getLogger(APPRISE_LOGGER).propagate = False
            service = apprise.Apprise()
            service.add(self.url)
        return service

    def _reason(self, result: Any) -> str:
        problems = [entry.message for entry in result.logs()
                    if entry.level in ("WARNING", "ERROR", "CRITICAL")]
        return redact(problems[-1], self.url) if problems else "no reason given"


@contextmanager
def _quiet() -> Iterator[None]:
    """Apprise's plugins import imghdr, deprecated since Python 3.11: not ours to fix."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*imghdr", category=DeprecationWarning)
        yield


def _scheme(url: str) -> str:
    """The scheme of an apprise URL, all that is ever shown of it."""
    scheme = url.partition("://")[0] if "://" in url else ""
    return scheme.lower() if scheme.isascii() and scheme.isalnum() else "?"


def redact(message: str, url: str) -> str:
    """A message with every part of a secret URL past its scheme replaced by ***: apprise
    URLs often carry a token where the host would be."""
    try:
        parts = urlsplit(url)
        pieces = {url, parts.netloc, parts.path, parts.query, parts.hostname or "",
                  parts.username or "", parts.password or ""}
        rest = f"{parts.path}?{parts.query}"
    except ValueError:  # an unclosed [ in the host: every piece of it is secret
        pieces, rest = {url}, url.partition("://")[2]
    pieces.update(re.split(r"[/?&=:@#,\[\]]+", rest))
    message = " ".join(message.split())
    for piece in sorted((p for p in pieces if len(p) >= 4), key=len, reverse=True):
        message = message.replace(piece, "***").replace(unquote(piece), "***")
    return message
