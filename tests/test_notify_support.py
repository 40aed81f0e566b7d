"""Shared helpers of the alert tests (no tests here): trials and their edits, stored change
sets, a real SMTP server (aiosmtpd) and a real HTTP endpoint on 127.0.0.1, the real command
(:func:`tests.helpers.ctwatch`: in-process, or a real process with ``process=True``)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from aiosmtpd.controller import Controller

from ctwatch import sources, store
from ctwatch.diff import diff
from ctwatch.model import ChangeSet, Criterion, Snapshot, Trial
from ctwatch.store import Store
from tests.helpers import MYELOMA
from tests.helpers import Run as Run
from tests.helpers import ctwatch as ctwatch
from tests.helpers import environment as environment
from tests.stores import StoreUnderTest, sqlite_store

TRIAL = "NCT04083898"
TODAY = date(2026, 1, 20)  # after the study's start: primary outcome edits are flagged
HOSTILE = "<script>alert('x')</script> {{ 7*7 }} <img src=x onerror=alert(1)> [a](javascript:x)"


def myeloma() -> Trial:
    return sources.parse(MYELOMA.read_bytes())[0]


def with_status(trial: Trial, overall: str) -> Trial:
    return replace(trial, status=replace(trial.status, overall=overall))


def with_title(trial: Trial, title: str) -> Trial:
    return replace(trial, brief_title=title)


def with_nct_id(trial: Trial, nct_id: str) -> Trial:
    return replace(trial, nct_id=nct_id)


def with_exclusion(trial: Trial, text: str) -> Trial:
    """The trial with one more exclusion criterion."""
    added = Criterion(id=f"E{len(trial.eligibility.exclusion) + 1}", text=text)
    eligibility = replace(trial.eligibility, exclusion=(*trial.eligibility.exclusion, added))
    return replace(trial, eligibility=eligibility)


def snapshot(trial: Trial, version: int | None) -> Snapshot:
    return Snapshot(id=None, nct_id=trial.nct_id, fetched_at="2026-01-20T07:00:00Z",
                    source="api_v2", url=None, registry_version=version,
                    registry_date=trial.status.last_update_posted,
                    parser_version=sources.PARSER_VERSION, content_hash=store.content_hash(trial),
                    trial=trial)


def save_change(db: Store, old: Trial, new: Trial, channels: Sequence[str] = (),
                versions: tuple[int | None, int | None] = (12, 13)) -> ChangeSet:
    """Store ``old`` (unless the trial has a snapshot already) and ``new`` with the changes
    between them, queued on ``channels``; the change set."""
    if db.latest(old.nct_id) is None:
        db.save(snapshot(old, versions[0]), json.dumps(old.to_dict()).encode())
    changes = diff(old, new, today=TODAY)
    saved = db.save(snapshot(new, versions[1]), json.dumps(new.to_dict()).encode(), changes,
                    channels)
    assert saved.change_set is not None
    return saved.change_set


def outbox(where: Path | StoreUnderTest) -> list[dict[str, Any]]:
    """The outbox rows of a test's store, or of the SQLite file ``where/ctwatch.db``."""
    found = where if isinstance(where, StoreUnderTest) else sqlite_store(where)
    try:
        return found.query("select * from outbox order by id")
    finally:
        found.close()


# -- the real command: ctwatch, environment and Run come from tests.helpers -----------------------


def write_config(folder: Path, notify: list[Any], **more: Any) -> None:
    """config.yaml in ``folder``: its store a SQLite file there unless ``more`` names one."""
    config = {"store": "ctwatch.db", "trials": [TRIAL], "notify": notify, **more}
    (folder / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))


# -- a real SMTP server -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Mailbox:
    """What an aiosmtpd server on 127.0.0.1 received: the messages, and the logins."""

    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(auth_data, LoginPassword):
            self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)


@contextmanager
def smtp_server(port: int, mailbox: Mailbox) -> Iterator[Controller]:
    controller = Controller(mailbox, hostname="127.0.0.1", port=port,
                            authenticator=mailbox.authenticate, auth_require_tls=False)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


# -- a real HTTP endpoint -----------------------------------------------------------------------


@dataclass
class Hook:
    """What an HTTP endpoint on 127.0.0.1 received, and the statuses it answers with."""

    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # one per request; then 200
    url: str = ""
    received: threading.Event = field(default_factory=threading.Event)  # a body was read
    hold: threading.Event | None = None  # answer only once this is set (the test releases it)

    def bodies(self) -> list[Any]:
        return [json.loads(body) for _, _, body in self.requests]


@contextmanager
def http_endpoint(hook: Hook) -> Iterator[Hook]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.requests.append((self.path, dict(self.headers), body))
            hook.received.set()
            if hook.hold is not None:
                hook.hold.wait(timeout=60)
            status = hook.statuses.pop(0) if hook.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
