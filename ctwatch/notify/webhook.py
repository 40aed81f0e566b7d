"""The ``webhook`` channel: an HTTP POST of the change-set JSON, with retries.

    - kind: webhook
      url_env: CTWATCH_WEBHOOK_URL      # or url: https://…
      retries: 2                        # more tries after a connection error, 429 or 5xx

The body is the object the ``file`` channel writes (the change set with its ``event_id``); a
digest channel posts ``{"change_sets": [...], "top_severity": ...}``. The ``Idempotency-Key``
header identifies the message: one posted again after a crash carries the same key. The URL may
carry a token, so messages name only its scheme and host (``logs.mask_url(url, host_only=True)``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests

from ctwatch import __version__, logs
from ctwatch.errors import NotifyError, chain_of
from ctwatch.limits import MAX_CHANNEL_TIMEOUT_S, MAX_WEBHOOK_BACKOFF_S, MAX_WEBHOOK_RETRIES
from ctwatch.model import ChangeSet
from ctwatch.notify.channels import Channel, Context, event, http_url, number
from ctwatch.notify.present import top

WEBHOOK_TIMEOUT_S = 10
WEBHOOK_RETRIES = 2
WEBHOOK_BACKOFF_S = 1.0  # doubled after each failed try
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
        key = self.identity(change_sets)
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.backoff_s * 2 ** (attempt - 1), MAX_WEBHOOK_BACKOFF_S))
            problem, again = self._post(body, key)
            if not problem:
                return
            if not again:
                break
        raise NotifyError(f"POST to {self.where} failed: {problem}")

    @property
    def where(self) -> str:
        """The URL as it may be shown: scheme and host, no path, query or credentials."""
        return logs.mask_url(self.url, host_only=True)

    def _post(self, body: bytes, key: str) -> tuple[str, bool]:
        """One try: ("", _) when accepted, else (the problem, whether to try again)."""
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                   "Idempotency-Key": key}
        try:
            response = requests.post(self.url, data=body, headers=headers,
                                     timeout=self.timeout_s, allow_redirects=False)
        except requests.Timeout:
            return f"no answer within {self.timeout_s:g} s", True
        except requests.RequestException as error:
            return f"cannot connect: {_cause(error)}", True
        with response:
            if 200 <= response.status_code < 300:
                return "", False
            again = response.status_code == 429 or response.status_code >= 500
            return f"HTTP {response.status_code} {response.reason or ''}".strip(), again


def _cause(error: BaseException) -> str:
    """The operating system's reason under a requests error (its own text names the URL)."""
    reasons = (seen.strerror for seen in chain_of(error)
               if isinstance(seen, OSError) and seen.strerror)
    return next(reasons, type(error).__name__)


def payload(change_sets: Sequence[ChangeSet], *, digest: bool = False) -> dict[str, Any]:
    """What is posted: one change set's object, or on a digest channel the run's digest."""
    if not digest and len(change_sets) == 1:
        return event(change_sets[0])
    return {"change_sets": [event(change_set) for change_set in change_sets],
            "top_severity": top(change_sets)}
