"""No log line ever shows a secret, whatever the format; -q keeps only what matters."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import yaml

from ctwatch import logs
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


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """logs.setup changes process-wide loggers: put them back for the tests that follow."""
    loggers = [logging.getLogger(name) for name in (logs.LOGGER, logs.SCHEDULER_LOGGER)]
    saved = [(logger.handlers[:], logger.propagate, logger.level) for logger in loggers]
    yield
    for logger, (handlers, propagate, level) in zip(loggers, saved, strict=True):
        logger.handlers[:], logger.propagate = handlers, propagate
        logger.setLevel(level)


def log_a_failure(logger: logging.Logger, *, with_traceback: bool) -> None:
    try:
        raise RuntimeError(f"boom at {TOKEN}")
    except RuntimeError:
        logger.error("check failed", exc_info=with_traceback)


@pytest.mark.usefixtures("restored_logging")
def test_a_traceback_stays_inside_its_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    logs.secret(TOKEN)
    logs.setup(1, "json")
    log_a_failure(logging.getLogger("ctwatch.schedule"), with_traceback=True)
    log_a_failure(logging.getLogger("ctwatch.schedule"), with_traceback=False)
    with_tb, without = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert with_tb["level"] == "error" and with_tb["message"] == "check failed"
    assert with_tb["traceback"].startswith("Traceback (most recent call last):")
    assert with_tb["traceback"].endswith("RuntimeError: boom at ***")
    assert "traceback" not in without


@pytest.mark.usefixtures("restored_logging")
def test_a_text_traceback_only_when_one_is_logged(capsys: pytest.CaptureFixture[str]) -> None:
    logs.secret(TOKEN)
    logs.setup(1, "text")
    log_a_failure(logging.getLogger("ctwatch.schedule"), with_traceback=False)
    assert capsys.readouterr().err == "ctwatch: error: check failed\n"
    log_a_failure(logging.getLogger("ctwatch.schedule"), with_traceback=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines[:2] == ["ctwatch: error: check failed", "Traceback (most recent call last):"]
    assert lines[-1] == "RuntimeError: boom at ***"


@pytest.mark.parametrize(("verbosity", "shown"), [
    (-1, ["warning"]), (0, ["warning"]), (1, ["debug", "info", "warning"]),
])
@pytest.mark.usefixtures("restored_logging")
def test_the_schedulers_messages_go_through_ctwatchs_json(
        capsys: pytest.CaptureFixture[str], verbosity: int, shown: list[str]) -> None:
    logs.setup(verbosity, "json")
    scheduler = logging.getLogger("apscheduler.scheduler")
    for level in (logging.DEBUG, logging.INFO, logging.WARNING):
        scheduler.log(level, "Job %s was missed", "check")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["level"] for line in lines] == shown
    assert {line["logger"] for line in lines} == {"apscheduler.scheduler"}


@pytest.mark.usefixtures("restored_logging")
def test_a_text_log_line_shows_control_characters_escaped(
        capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup(0, "text")
    logging.getLogger("ctwatch.test").error("title \x1b[2J\u202eexe.txt\tok")
    assert capsys.readouterr().err == "ctwatch: error: title \\x1b[2J\\u202eexe.txt\tok\n"


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.usefixtures("restored_logging")
def test_a_password_in_any_url_of_a_message_is_masked(
        capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    logs.setup(0, fmt)
    logging.getLogger("ctwatch.test").warning("store: still postgresql://ops:pw-Zz9@db/x")
    err = capsys.readouterr().err
    assert "pw-Zz9" not in err and "postgresql://ops:***@db/x" in err
