"""Webhook and apprise channels end to end: the real command, a real HTTP endpoint on
127.0.0.1, a real SQLite file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ctwatch.store import Store
from tests.test_notify_support import (
    HOSTILE,
    TRIAL,
    Hook,
    ctwatch,
    environment,
    http_endpoint,
    myeloma,
    outbox,
    save_change,
    with_status,
    with_title,
    write_config,
)

TOKEN = "T0K3N-s3cr3t"


@pytest.fixture
def hook() -> Any:
    with http_endpoint(Hook()) as endpoint:
        yield endpoint


def queue_status_change(folder: Path, channels: list[str], overall: str = "SUSPENDED",
                        title: str | None = None) -> None:
    trial = myeloma()
    new = with_status(trial, overall)
    with Store(str(folder / "ctwatch.db")) as db:
        save_change(db, trial, with_title(new, title) if title else new, channels)


def test_the_webhook_posts_the_same_object_as_the_file_channel(tmp_path: Path,
                                                               hook: Hook) -> None:
    write_config(tmp_path, [{"kind": "webhook", "url_env": "HOOK_URL"},
                            {"kind": "file", "path": "alerts.jsonl"}])
    queue_status_change(tmp_path, ["webhook:HOOK_URL", "file:alerts.jsonl"])
    run = ctwatch(tmp_path, "notify", "--retry",
                  env=environment(HOOK_URL=f"{hook.url}/hook/{TOKEN}"))
    assert run.code == 0, run.stderr
    [(path, headers, body)] = hook.requests
    assert path == f"/hook/{TOKEN}"
    assert headers["Content-Type"].startswith("application/json")
    assert headers["User-Agent"].startswith("ctwatch/")
    assert json.loads(body) == json.loads((tmp_path / "alerts.jsonl").read_text())
    assert json.loads(body)["changes"][0]["new"] == "SUSPENDED"


def test_a_500_leaves_the_alert_pending_until_the_endpoint_takes_it(tmp_path: Path,
                                                                    hook: Hook) -> None:
    write_config(tmp_path, [{"kind": "webhook", "url_env": "HOOK_URL", "retries": 1,
                             "backoff_s": 0.01}])
    queue_status_change(tmp_path, ["webhook:HOOK_URL"])
    env = environment(HOOK_URL=f"{hook.url}/hook/{TOKEN}")
    hook.statuses = [500, 503]
    run = ctwatch(tmp_path, "notify", "--retry", env=env)
    assert run.code == 3
    assert len(hook.requests) == 2  # the first try and one retry
    assert "Traceback" not in run.stderr and TOKEN not in run.stderr
    assert re.search(re.escape("alert not delivered on webhook:HOOK_URL (kept for the next run): "
                               f"POST to {hook.url}/… failed: server error (HTTP 503), gave up "
                               "after 2 attempts in ") + r"\d+\.\d s \(1 alert pending\)",
                     run.stderr), run.stderr
    [row] = outbox(tmp_path)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "HTTP 503" in row["last_error"] and TOKEN not in row["last_error"]

    assert ctwatch(tmp_path, "notify", "--retry", env=env).code == 0
    assert ctwatch(tmp_path, "notify", "--retry", env=env).code == 0
    assert len(hook.requests) == 3
    [row] = outbox(tmp_path)
    assert (row["status"], row["attempts"]) == ("delivered", 2)


def test_a_client_error_is_not_retried(tmp_path: Path, hook: Hook) -> None:
    write_config(tmp_path, [{"kind": "webhook", "url": f"{hook.url}/gone", "retries": 3,
                             "backoff_s": 0.01}])
    queue_status_change(tmp_path, ["webhook:127.0.0.1"])
    hook.statuses = [410]
    run = ctwatch(tmp_path, "notify", "--retry")
    assert run.code == 3 and "HTTP 410 Gone" in run.stderr
    assert len(hook.requests) == 1


def test_apprise_delivers_markdown_to_a_real_endpoint(tmp_path: Path, hook: Hook) -> None:
    write_config(tmp_path, [{"kind": "apprise", "url_env": "CHAT_URL"}])
    queue_status_change(tmp_path, ["apprise:CHAT_URL"], title=HOSTILE)
    # json:// takes text, HTML or Markdown: ?format= asks for Markdown (test_apprise_formats)
    chat_url = hook.url.replace("http://", "json://") + f"/chat/{TOKEN}?format=markdown"
    run = ctwatch(tmp_path, "notify", "--retry", env=environment(CHAT_URL=chat_url))
    assert run.code == 0, run.stderr
    [(path, _, body)] = hook.requests
    assert path.startswith(f"/chat/{TOKEN}")
    posted = json.loads(body)
    assert posted["title"] == f"[ctwatch] CRITICAL {TRIAL}: Overall Status → Suspended and 1 " \
                              "more change"
    message = posted["message"]
    assert "- **Overall Status**: ~~Recruiting~~ → **Suspended**" in message
    assert f"(https://clinicaltrials.gov/study/{TRIAL}?tab=history&a=13&b=14)" in message
    assert "\\<script\\>" in message and "<script>" not in message


def test_an_apprise_failure_is_pending_and_shows_no_token(tmp_path: Path) -> None:
    write_config(tmp_path, [{"kind": "apprise", "url_env": "CHAT_URL"}])
    queue_status_change(tmp_path, ["apprise:CHAT_URL"])
    run = ctwatch(tmp_path, "-vv", "notify", "--retry",
                  env=environment(CHAT_URL=f"json://127.0.0.1:9/chat/{TOKEN}"))
    assert run.code == 3
    assert "alert not delivered on apprise:CHAT_URL" in run.stderr
    assert "json://" in run.stderr and TOKEN not in run.stderr
    [row] = outbox(tmp_path)
    assert row["status"] == "pending" and TOKEN not in row["last_error"]
