"""E-mail alerts end to end: the real command, a real SMTP server (aiosmtpd on 127.0.0.1),
a real local registry and a real store (a SQLite file and a PostgreSQL database: each test runs
on both). One smoke test runs ``python -m ctwatch``, the password in its environment; the
others run the command in-process."""

from __future__ import annotations

import json
from dataclasses import asdict
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from ctwatch.fetch import ApiSettings
from ctwatch.replay import Registry, ReplayServer
from tests.conftest import posted_anew
from tests.helpers import MYELOMA
from tests.stores import StoreUnderTest
from tests.test_notify_support import (
    TRIAL,
    Mailbox,
    ctwatch,
    environment,
    free_port,
    myeloma,
    outbox,
    save_change,
    smtp_server,
    with_status,
    write_config,
)

PASSWORD = "s3cret-Pa55word"
CHANNEL = "email:ra-team@example.org"
COMPARE = f"https://clinicaltrials.gov/study/{TRIAL}?tab=history&a=13&b=14"

pytestmark = pytest.mark.both_stores


def email_channel(port: int, **more: Any) -> dict[str, Any]:
    return {"kind": "email", "to": ["ra-team@example.org"], "from": "ctwatch@example.org",
            "smtp": {"host": "127.0.0.1", "port": port, "starttls": False, "user": "ctwatch",
                     "password_env": "CTWATCH_SMTP_PASSWORD", "timeout_s": 5}, **more}


def parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


@pytest.mark.smoke
def test_an_alert_arrives_as_multipart_text_and_html(tmp_path: Path,
                                                     store: StoreUnderTest) -> None:
    port, mailbox = free_port(), Mailbox()
    write_config(tmp_path, [email_channel(port)], **store.settings)
    trial = myeloma()
    with store.open() as db:
        save_change(db, trial, with_status(trial, "ACTIVE_NOT_RECRUITING"), [CHANNEL])
    env = environment(CTWATCH_SMTP_PASSWORD=PASSWORD)
    with smtp_server(port, mailbox):
        run = ctwatch(tmp_path, "notify", "--retry", env=env, process=True)
    assert run.code == 0, run.stderr
    assert "delivered 1 alerts, 0 pending" in run.stderr
    [message] = mailbox.messages
    assert mailbox.logins == [("ctwatch", PASSWORD)]
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == (f"[ctwatch] MAJOR {TRIAL}: Overall Status → Active, not "
                                  "recruiting")
    assert message["Auto-Submitted"] == "auto-generated"
    assert (message["From"], message["To"]) == ("ctwatch@example.org", "ra-team@example.org")
    body = parts(message)
    assert set(body) == {"text/plain", "text/html"}
    assert "[MAJOR] Overall Status: Recruiting → Active, not recruiting" in body["text/plain"]
    assert f"compare: {COMPARE}" in body["text/plain"]
    page = lxml.html.fromstring(body["text/html"])
    assert "Overall Status Recruiting → Active, not recruiting" in " ".join(
        page.text_content().split())
    assert COMPARE in page.xpath("//a/@href")
    assert PASSWORD not in run.stdout + run.stderr
    [row] = outbox(store)
    assert (row["status"], row["attempts"]) == ("delivered", 1)


@pytest.fixture
def registry() -> Registry:
    served = Registry(data_timestamp="2026-01-05T09:00:05")
    served.publish(MYELOMA.read_bytes())
    return served


def publish_status(registry: Registry, overall: str) -> None:
    study = json.loads(registry.record(TRIAL) or b"{}")
    study["protocolSection"]["statusModule"]["overallStatus"] = overall
    posted_anew(study)
    registry.publish(study)
    registry.data_timestamp = "2026-01-06T09:00:05"


def test_smtp_down_keeps_the_alert_pending_and_the_next_run_sends_it_once(
        tmp_path: Path, registry: Registry, replay: ReplayServer, fast_api: ApiSettings,
        store: StoreUnderTest) -> None:
    port, mailbox = free_port(), Mailbox()
    api = {key: value for key, value in asdict(fast_api).items() if key != "user_agent"}
    write_config(tmp_path, [email_channel(port)], api=api, **store.settings)
    env = environment(CTWATCH_SMTP_PASSWORD=PASSWORD)
    assert ctwatch(tmp_path, "check", env=env).code == 0  # the baseline
    publish_status(registry, "SUSPENDED")

    run = ctwatch(tmp_path, "check", env=env)  # nothing listens on the SMTP port
    assert run.code == 3
    assert "Traceback" not in run.stderr and PASSWORD not in run.stderr
    [line] = [line for line in run.stderr.splitlines() if line.startswith("ctwatch: error:")]
    assert f"alert not delivered on {CHANNEL}" in line and "127.0.0.1" in line
    [row] = outbox(store)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"] and PASSWORD not in row["last_error"]
    listed = ctwatch(tmp_path, "notify", env=env)
    assert CHANNEL in listed.stdout and "attempts 1" in listed.stdout

    with smtp_server(port, mailbox):
        run = ctwatch(tmp_path, "check", env=env)
        assert run.code == 0, run.stderr
        assert len(mailbox.messages) == 1
        assert ctwatch(tmp_path, "check", env=env).code == 0
        assert ctwatch(tmp_path, "notify", "--retry", env=env).code == 0
    assert len(mailbox.messages) == 1
    [message] = mailbox.messages
    assert message["Subject"] == f"[ctwatch] CRITICAL {TRIAL}: Overall Status → Suspended"
    assert message["Auto-Submitted"] == "auto-generated"
    text = parts(message)["text/plain"]
    assert "[CRITICAL] Overall Status: Recruiting → Suspended" in text
    assert f"https://clinicaltrials.gov/study/{TRIAL}?tab=history" in text
    [row] = outbox(store)
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 2, None)
