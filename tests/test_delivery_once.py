"""Exactly once, honestly: an alert is claimed before it is sent and confirmed after, so a run
killed in between sends it again as the same message (same Idempotency-Key, Message-ID and
event_id) — a repeat the receiver can recognise. Also: dropping the alerts of a channel that
left the configuration, and the outbox of a store written by an older schema. Each test runs
on a SQLite file and on a PostgreSQL database."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from contextlib import chdir
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ctwatch.cli import main
from ctwatch.store import SCHEMA_VERSION
from tests.stores import StoreUnderTest
from tests.test_notify_support import (
    Hook,
    environment,
    http_endpoint,
    myeloma,
    outbox,
    save_change,
    with_status,
    write_config,
)

pytestmark = pytest.mark.both_stores


def queue_change(store: StoreUnderTest, channels: list[str], overall: str = "SUSPENDED") -> None:
    trial = myeloma()
    with store.open() as db:
        save_change(db, trial, with_status(trial, overall), channels)


def invoke(folder: Path, *args: str) -> Result:
    with chdir(folder):
        return CliRunner().invoke(main, list(args))


@pytest.fixture
def held_hook() -> Any:
    """An HTTP endpoint that reads a POST, then answers only when the test releases it."""
    with http_endpoint(Hook(hold=threading.Event())) as hook:
        yield hook
        assert hook.hold is not None
        hook.hold.set()


@pytest.mark.smoke
def test_a_webhook_resent_after_a_kill_carries_the_same_identity(
        tmp_path: Path, held_hook: Hook, store: StoreUnderTest) -> None:
    write_config(tmp_path, [{"kind": "webhook", "name": "hook", "url": f"{held_hook.url}/in",
                             "retries": 0}], **store.settings)
    queue_change(store, ["hook"])
    process = subprocess.Popen([sys.executable, "-m", "ctwatch", "notify", "--retry"],
                               cwd=tmp_path, env=environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        assert held_hook.received.wait(timeout=60), "the webhook was never posted"
        process.send_signal(signal.SIGKILL)  # the receiver has the body; ctwatch never hears
        process.wait(timeout=30)
    finally:
        process.kill()
    assert held_hook.hold is not None
    held_hook.hold.set()
    [row] = outbox(store)
    assert row["status"] == "sending" and row["claim"]

    listing = invoke(tmp_path, "notify")
    assert "maybe sent" in listing.stdout
    result = invoke(tmp_path, "notify", "--retry")
    assert result.exit_code == 0, result.stderr
    (_, first_headers, first_body), (_, again_headers, again_body) = held_hook.requests
    assert again_headers["Idempotency-Key"] == first_headers["Idempotency-Key"]
    assert again_body == first_body  # the same event_id too
    assert [row["status"] for row in outbox(store)] == ["delivered"]


def test_an_email_resent_after_a_crash_has_the_same_message_id(tmp_path: Path,
                                                              store: StoreUnderTest) -> None:
    from tests.test_notify_support import Mailbox, free_port, smtp_server

    port = free_port()
    mail = {"kind": "email", "to": "ra@example.org", "from": "ctwatch@example.org",
            "smtp": {"host": "127.0.0.1", "port": port, "starttls": False}}
    write_config(tmp_path, [mail], **store.settings)
    queue_change(store, ["email:ra@example.org"])
    mailbox = Mailbox()
    with smtp_server(port, mailbox):
        assert invoke(tmp_path, "notify", "--retry").exit_code == 0
        # As if the run had died between the server's 250 and recording it: claimed again.
        store.execute("update outbox set status = 'sending'")
        assert invoke(tmp_path, "notify", "--retry").exit_code == 0
    first, again = mailbox.messages
    assert first["Message-ID"] == again["Message-ID"]


def test_alerts_of_a_removed_channel_can_be_dropped(tmp_path: Path,
                                                    store: StoreUnderTest) -> None:
    write_config(tmp_path, [{"kind": "file", "path": "alerts.jsonl"}], **store.settings)
    queue_change(store, ["file:old.jsonl", "file:alerts.jsonl"])

    listing = invoke(tmp_path, "notify")
    assert "notify --drop file:old.jsonl" in listing.stdout
    assert invoke(tmp_path, "notify", "--retry").exit_code == 0  # the configured one goes
    assert [row["status"] for row in outbox(store)] == ["pending", "delivered"]

    refused = invoke(tmp_path, "notify", "--drop", "file:alerts.jsonl")
    assert refused.exit_code == 2 and "still configured" in refused.stderr
    unknown = invoke(tmp_path, "notify", "--drop", "file:typo.jsonl")
    assert unknown.exit_code == 2 and "pending on: file:old.jsonl" in unknown.stderr

    dropped = invoke(tmp_path, "notify", "--drop", "file:old.jsonl")
    assert dropped.exit_code == 0 and "dropped 1 alerts of file:old.jsonl" in dropped.stderr
    assert invoke(tmp_path, "notify").stdout == ""
    assert [row["status"] for row in outbox(store)] == ["dropped", "delivered"]
    status = invoke(tmp_path, "status", "--format", "json")
    assert '"pending_alerts": []' in status.stdout


def test_a_store_of_the_first_schema_is_migrated_and_keeps_its_alerts(
        tmp_path: Path, store: StoreUnderTest) -> None:
    write_config(tmp_path, [{"kind": "file", "path": "alerts.jsonl"}], **store.settings)
    queue_change(store, ["file:alerts.jsonl"])
    store.before_milestones()  # version 5
    store.execute(*(f"alter table {table} drop column {column}"  # as version 1 left it
                    for table, column in [("outbox", "claim"), ("outbox", "claimed_at"),  # v2
                                          ("trial_state", "registry_date"),  # version 3
                                          ("trial_state", "raw_hash"),
                                          ("trial_state", "last_full_read")]),
                  "update ctwatch_meta set value = '1' where key = 'schema_version'")
    if store.kind == "postgresql":  # version 4 made the JSON jsonb, and channels of any length
        store.execute(*(f"alter table {table} alter column {column} type text"
                        for table, column in [("snapshots", "trial"), ("change_sets", "changes"),
                                              ("runs", "counts")]),
                      "alter table outbox alter column channel type varchar(128)")

    assert invoke(tmp_path, "notify", "--retry").exit_code == 0
    version = store.query("select value from ctwatch_meta where key = 'schema_version'")
    assert version == [{"value": str(SCHEMA_VERSION)}]
    assert [row["status"] for row in outbox(store)] == ["delivered"]
    if store.kind == "postgresql":  # what an analyst queries: the JSON, as jsonb
        [row] = store.query("select changes -> 0 ->> 'path' as path from change_sets")
        assert row == {"path": "status.overall"}
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 1


def test_a_digest_that_failed_is_tried_again_as_the_same_message(tmp_path: Path,
                                                                store: StoreUnderTest) -> None:
    with http_endpoint(Hook(statuses=[500])) as hook:  # the answer, perhaps after reading it
        write_config(tmp_path, [{"kind": "webhook", "name": "digest", "digest": True,
                                 "url": f"{hook.url}/in", "retries": 0}], **store.settings)
        queue_change(store, ["digest"])
        assert invoke(tmp_path, "notify", "--retry").exit_code == 3
        queue_change(store, ["digest"], overall="TERMINATED")  # a later change set
        assert invoke(tmp_path, "notify", "--retry").exit_code == 0
    failed, again, later = hook.requests
    assert again[1]["Idempotency-Key"] == failed[1]["Idempotency-Key"]
    assert again[2] == failed[2]
    assert later[1]["Idempotency-Key"] != failed[1]["Idempotency-Key"]
    assert [len(json.loads(body)["change_sets"]) for _, _, body in hook.requests] == [1, 1, 1]
