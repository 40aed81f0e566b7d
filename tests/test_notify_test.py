"""``ctwatch notify --test [CHANNEL]``: a sample alert through each configured channel, a line
each saying whether it arrived, exit 3 when one did not — through the real command, a real
SMTP server (aiosmtpd) and a real HTTP endpoint on 127.0.0.1. The sample says it is a test
wherever it is read, and leaves nothing in the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import ctwatch
from tests.test_notify_support import (
    Hook,
    Mailbox,
    free_port,
    http_endpoint,
    smtp_server,
    write_config,
)

SUBJECT = ("[ctwatch] TEST MAJOR NCT04083898: Overall Status → Active, not recruiting and 1 "
           "more change")
TEST_NOTE = "A test alert (ctwatch notify --test): nothing changed in the registry"


def mail(port: int, **more: Any) -> dict[str, Any]:
    return {"kind": "email", "name": "ra-team", "to": ["ra-team@example.org"],
            "from": "ctwatch@example.org",
            "smtp": {"host": "127.0.0.1", "port": port, "starttls": False, "timeout_s": 5},
            **more}


def channels(port: int, hook: Hook) -> list[Any]:
    return [{"kind": "stdout"}, {"kind": "file", "path": "alerts.jsonl"},
            mail(port, min_severity="critical"),  # a test is sent whatever the severity
            {"kind": "webhook", "name": "hook", "url": f"{hook.url}/in", "retries": 0}]


def test_a_sample_alert_reaches_every_channel_and_each_says_ok(tmp_path: Path) -> None:
    port, mailbox = free_port(), Mailbox()
    with http_endpoint(Hook()) as hook, smtp_server(port, mailbox):
        write_config(tmp_path, channels(port, hook))
        run = ctwatch(tmp_path, "notify", "--test")
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[-4:] == ["stdout: ok", "file:alerts.jsonl: ok", "ra-team: ok", "hook: ok"]
    assert "NCT04083898 — Isatuximab, Bendamustine, and Prednisone" in run.stdout  # stdout's
    assert TEST_NOTE in run.stdout
    assert "[MAJOR] Overall Status: Recruiting → Active, not recruiting" in run.stdout

    [message] = mailbox.messages
    assert message["Subject"] == SUBJECT
    assert TEST_NOTE in message.get_body(("plain",)).get_content()
    [line] = (tmp_path / "alerts.jsonl").read_text().splitlines()
    written = json.loads(line)
    [(path, headers, body)] = hook.requests
    assert json.loads(body) == written and path == "/in"  # the same object, machine-readable
    assert {change["path"]: change["flags"] for change in written["changes"]} == {
        "status.overall": ["test"], "design.enrollment.type": ["test"]}
    assert headers["Idempotency-Key"]
    assert not (tmp_path / "ctwatch.db").exists()  # never stored, so never counted delivered


def test_each_test_is_a_new_message(tmp_path: Path) -> None:
    write_config(tmp_path, [{"kind": "file", "path": "alerts.jsonl"}])
    for _ in range(2):
        assert ctwatch(tmp_path, "notify", "--test").code == 0
    first, second = (json.loads(line) for line in
                     (tmp_path / "alerts.jsonl").read_text().splitlines())
    assert first["event_id"] != second["event_id"]  # no receiver drops it as a repeat


def test_a_channel_that_fails_says_why_in_one_line_and_the_run_exits_3(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    with http_endpoint(Hook(statuses=[503])) as hook:
        write_config(tmp_path, channels(port, hook))
        run = ctwatch(tmp_path, "notify", "--test")
    assert run.code == 3
    stdout, file, email, webhook = run.stdout.splitlines()[-4:]
    assert (stdout, file) == ("stdout: ok", "file:alerts.jsonl: ok")
    assert email.startswith(f"ra-team: failed: cannot send through 127.0.0.1:{port}: ")
    assert webhook.startswith("hook: failed: ") and "HTTP 503" in webhook
    assert "Traceback" not in run.stderr


def test_one_channel_by_name(tmp_path: Path) -> None:
    port, mailbox = free_port(), Mailbox()
    with smtp_server(port, mailbox):
        write_config(tmp_path, [{"kind": "file", "path": "alerts.jsonl"}, mail(port)])
        run = ctwatch(tmp_path, "notify", "--test", "ra-team")
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines() == ["ra-team: ok"]
    assert [m["Subject"] for m in mailbox.messages] == [SUBJECT]
    assert not (tmp_path / "alerts.jsonl").exists()


def test_an_unknown_channel_or_a_second_action_is_a_usage_error(tmp_path: Path) -> None:
    write_config(tmp_path, [{"kind": "stdout"}, {"kind": "file", "path": "alerts.jsonl"}])
    unknown = ctwatch(tmp_path, "notify", "--test", "email")
    assert unknown.code == 2 and unknown.stdout == ""
    assert ("--test: no channel named 'email' (channels: stdout, file:alerts.jsonl)"
            in unknown.stderr)
    both = ctwatch(tmp_path, "notify", "--test", "--retry")
    assert both.code == 2 and "give one of --retry, --drop and --test" in both.stderr
