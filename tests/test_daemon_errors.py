"""A bug inside a scheduled check is one log line, never the end of `ctwatch run`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ctwatch import checks, logs
from ctwatch.config import load_config
from ctwatch.replay import Registry
from tests.conftest import Watcher, two_trials
from tests.test_daemon_e2e import DEADLINE_S, configure, wait_for
from tests.test_daemon_reload import kept_logging, ready, recorded, serve_here


@pytest.fixture
def registry() -> Registry:
    return two_trials()


@pytest.mark.parametrize("verbosity", [0, 1], ids=["default", "-v"])
def test_an_unexpected_error_in_a_check_is_one_json_line(
        watcher: Watcher, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        verbosity: int) -> None:
    monkeypatch.chdir(watcher.folder)
    configure(watcher, schedule={"every": "1s"})
    real_check, calls = checks.check, []

    def first_one_fails(*args: Any, **kwargs: Any) -> checks.RunReport:
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("boom\nin two lines")
        return real_check(*args, **kwargs)

    monkeypatch.setattr(checks, "check", first_one_fails)

    def script() -> None:
        ready(messages)
        assert wait_for(messages.seen("check failed"), DEADLINE_S), messages.lines
        assert wait_for(messages.seen("checked 2 trials"), DEADLINE_S), messages.lines

    with kept_logging():
        logs.setup(verbosity, "json")
        with recorded(alone=False) as messages:
            serve_here(load_config(Path("config.yaml")), script, now=True)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    [error] = [line for line in lines if line["level"] == "error"]
    assert error["message"] == "check failed: unexpected RuntimeError: boom in two lines"
    if verbosity > 0:
        assert error["traceback"].endswith("RuntimeError: boom\nin two lines")
        assert any(line["logger"].startswith("apscheduler") for line in lines)
    else:
        assert "traceback" not in error
    assert lines[-1]["message"] == "ctwatch run: stopped"
