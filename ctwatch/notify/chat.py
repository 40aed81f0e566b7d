"""The ``apprise`` channel: any service apprise knows (Slack, Teams, Discord, ntfy, …).

    - kind: apprise
      url_env: CTWATCH_TEAMS_URL        # e.g. msteams://…, slack://…, ntfy://…, json://…

The body is written in the format the target takes, as apprise's plugin for it says
(``NotifyFormat``; a URL's ``?format=`` chooses among the formats a plugin takes): Markdown
for Slack or Rocket.Chat, HTML for e-mail, plain text for ntfy, and for Discord or json://
unless asked otherwise, so that no target shows Markdown markup such as ``~~old~~`` as text.
Apprise is given the body in that very format, so it converts nothing. Apprise URLs carry
tokens: messages and errors show only the URL's scheme, and apprise's own log lines are
redacted before they are shown.
"""

from __future__ import annotations

import html
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
from ctwatch.notify.render import (
    markdown_escape,
    message_html,
    message_markdown,
    message_text,
    subject,
)

#: apprise's logger: its debug lines can contain whole URLs, so it never reaches ctwatch's logs
APPRISE_LOGGER = "apprise"
_SEVERITY_TYPE = {Severity.CRITICAL: "failure", Severity.MAJOR: "warning", Severity.MINOR: "info",
                  Severity.INFO: "info"}


class AppriseChannel(Channel):
    """A message to any apprise URL (Slack, Teams, Discord, ntfy, Matrix, …), in the format
    the target takes: Markdown, HTML or plain text."""

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
        body_format, title_in_body = self.target_format()
        body, title = _BODIES[body_format](change_sets), subject(change_sets)
        if title_in_body:  # the plugin puts the title into the body: it must be inert there
            title = _TITLE_ESCAPES[body_format](title)
        with _quiet():
            import apprise

            result = self._service().notify(
                body=body, title=title, body_format=apprise.NotifyFormat(body_format),
                notify_type=apprise.NotifyType(_SEVERITY_TYPE[top(change_sets)]))
        if not result:
            raise NotifyError(f"the {self.scheme}:// service did not take the message: "
                              f"{self._reason(result)}")

    def target_format(self) -> tuple[str, bool]:
        """The body format the target takes (``markdown``, ``html`` or ``text``), as its
        apprise plugin resolves it (a URL's ``?format=``, else the plugin's own), and whether
        the plugin writes the title into the body."""
        with _quiet():
            import apprise

            logging.getLogger(APPRISE_LOGGER).propagate = False
            plugin = apprise.Apprise.instantiate(self.url, suppress_exceptions=True)
        if not plugin:
            return "markdown", False  # apprise reports the URL when it is used
        resolve = getattr(plugin, "resolve_format", None)  # apprise 1.x has one format only
        chosen = resolve(None) if resolve else plugin.notify_format
        if isinstance(chosen, list | tuple):
            chosen = chosen[0]
        chosen = str(getattr(chosen, "value", chosen))
        return (chosen if chosen in _BODIES else "text"), getattr(plugin, "title_maxlen", 1) <= 0

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


#: apprise's NotifyFormat value → the body of an alert in that format
_BODIES = {"markdown": message_markdown, "html": message_html, "text": message_text}
_TITLE_ESCAPES = {"markdown": markdown_escape, "html": html.escape, "text": str}


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
