"""No log line ever shows a secret, whatever the format; -q keeps only what matters."""

from __future__ import annotations

import json

import pytest
import yaml

from ctwatch.replay import Registry
from tests.conftest import Watcher, two_trials

TOKEN = "s3cr3t-T0ken-in-the-url"


@pytest.fixture
def registry() -> Registry:
    return two_trials()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_webhook_token_never_reaches_the_logs(watcher: Watcher, fmt: str) -> None:
    path = watcher.folder / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["notify"] = [{"kind": "webhook", "url_env": "CTWATCH_TEST_HOOK", "retries": 0,
                         "min_severity": "info"}]
    path.write_text(yaml.safe_dump(config))
    watcher.env["CTWATCH_TEST_HOOK"] = f"http://127.0.0.1:9/hook?token={TOKEN}"  # nothing there
    watcher.check()
    watcher.publish(lambda study: study["protocolSection"]["statusModule"].update(
        overallStatus="SUSPENDED"))
    run = watcher.run("-v", "--log-format", fmt, "check")
    assert run.code == 3
    assert "alert not delivered on webhook:CTWATCH_TEST_HOOK" in run.stderr
    assert "127.0.0.1" in run.stderr  # the error names where it went, without the token
    assert TOKEN not in run.stderr and TOKEN not in run.stdout
    if fmt == "json":
        levels = {json.loads(line)["level"] for line in run.stderr.splitlines()}
        assert "error" in levels


def test_quiet_keeps_errors_only(watcher: Watcher) -> None:
    run = watcher.run("-q", "check")
    assert run.code == 0 and run.stderr == ""
