"""The ``webhook`` channel: an HTTP POST of the change-set JSON, with retries.

    - kind: webhook
      url_env: CTWATCH_WEBHOOK_URL      # or url: https://…
      retries: 2                        # more tries after a connection error, 429 or 5xx

The body is the object the ``file`` channel writes (the change set with its ``event_id``); a
digest channel posts ``{"change_sets": [...], "top_severity": ...}``. The ``Idempotency-Key``
header identifies the message: one posted again after a crash carries the same key. The URL may
carry a token, so messages name only its scheme and host (``logs.mask_url(url, host_only=True)``).

The POST goes through the registry client's :class:`~ctwatch.transport.Transport`: the same
attempts, backoff with jitter, ``Retry-After`` (cut to MAX_WEBHOOK_BACKOFF_S), deadline and
wording of failures, under this channel's :meth:`WebhookChannel.policy`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ctwatch import __version__, logs
from ctwatch.connections import session_for
from ctwatch.errors import NotifyError
from ctwatch.limits import MAX_CHANNEL_TIMEOUT_S, MAX_WEBHOOK_BACKOFF_S, MAX_WEBHOOK_RETRIES
from ctwatch.model import ChangeSet
from ctwatch.notify.channels import Channel, Context, event, http_url, number
from ctwatch.notify.present import top
from ctwatch.transport import Failure, Policy, Transport

WEBHOOK_TIMEOUT_S = 10
WEBHOOK_RETRIES = 2
WEBHOOK_BACKOFF_S = 1.0  # doubled after each failed try, with jitter
USER_AGENT = f"ctwatch/{__version__} (webhook)"


class WebhookChannel(Channel):
    """An HTTP POST of the change-set JSON (the same object as the file channel) to a URL."""

    kind = "webhook"
    keys = (*Channel.keys, "url", "url_env", "timeout_s", "retries", "backoff_s")

    def __init__(self, name: str, url: str, *, timeout_s: float = WEBHOOK_TIMEOUT_S,
                 retries: int = WEBHOOK_RETRIES, backoff_s: float = WEBHOOK_BACKOFF_S) -> None:
        super().__init__(name)
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s

    @classmethod
    def _create(cls, key: str, entry: Mapping[str, Any], context: Context) -> Channel:
        url, variable = http_url(key, entry, context)
        name = entry.get("name") or f"webhook:{variable or urlsplit(url).hostname}"
        return cls(name, url, timeout_s=number(key, entry, "timeout_s", WEBHOOK_TIMEOUT_S,
                                               minimum=0.1, maximum=MAX_CHANNEL_TIMEOUT_S),
                   retries=int(number(key, entry, "retries", WEBHOOK_RETRIES,
                                      maximum=MAX_WEBHOOK_RETRIES)),
                   backoff_s=number(key, entry, "backoff_s", WEBHOOK_BACKOFF_S,
                                    maximum=MAX_WEBHOOK_BACKOFF_S))

    def send(self, change_sets: Sequence[ChangeSet]) -> None:
        body = json.dumps(payload(change_sets, digest=self.digest), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Idempotency-Key": self.identity(change_sets)}
        with session_for(self.url) as session:
            try:
                reply = Transport(self.policy, session).post(self.url, body, headers)
            except Failure as failure:
                # from None: the errors under it quote the whole URL, token and all
                raise NotifyError(self._failed(failure.reason)) from None
        if not 200 <= reply.status < 300:  # a redirect too: a POST is not sent elsewhere
            raise NotifyError(self._failed(f"HTTP {reply.status} {reply.reason}".strip()))

    @property
    def policy(self) -> Policy:
        """How the transport treats this channel's POSTs. The deadline is as long as every try
        (to connect, then to answer: twice timeout_s) and every wait may take: it only ends a
        reply that trickles in."""
        tries = self.retries + 1
        return Policy(user_agent=USER_AGENT, peer="the webhook", url_key="the channel's url",
                      timeout_s=self.timeout_s, attempts=tries, backoff_s=self.backoff_s,
                      backoff_max_s=MAX_WEBHOOK_BACKOFF_S,
                      deadline_s=tries * 2 * self.timeout_s + self.retries * MAX_WEBHOOK_BACKOFF_S,
                      retry_after_max_s=MAX_WEBHOOK_BACKOFF_S, host_only=True)

    @property
    def where(self) -> str:
        """The URL as it may be shown: scheme and host, no path, query or credentials."""
        return logs.mask_url(self.url, host_only=True)

    def _failed(self, problem: str) -> str:
        return f"POST to {self.where} failed: {problem}"


def payload(change_sets: Sequence[ChangeSet], *, digest: bool = False) -> dict[str, Any]:
    """What is posted: one change set's object, or on a digest channel the run's digest."""
    if not digest and len(change_sets) == 1:
        return event(change_sets[0])
    return {"change_sets": [event(change_set) for change_set in change_sets],
            "top_severity": top(change_sets)}
