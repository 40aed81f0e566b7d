"""SIGHUP: `ctwatch run` re-reads its configuration between two checks and never dies of it.

Most tests run ``schedule.serve`` in pytest's main thread, where signal handlers live, and send
it real signals from a second thread; the last one sends SIGHUP to a real `ctwatch run`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ctwatch import schedule, status
from ctwatch.config import Config, load_config
from ctwatch.replay import Registry
from ctwatch.store import Store
from tests.conftest import Watcher, kept_logging, two_trials
from tests.helpers import wait_for
from tests.test_daemon_e2e import (
    DEADLINE_S,
    OTHER,
    TRIAL,
    configure,
    count,
    log_of,
    logged,
    started,
)


@pytest.fixture
def registry() -> Registry:
    return two_trials()


class Messages(logging.Handler):
    """ctwatch's log messages, as the daemon writes them from its threads."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def seen(self, text: str, times: int = 1) -> Callable[[], bool]:
        return lambda: self.count(text) >= times


@contextmanager
def recorded(*, alone: bool = True) -> Iterator[Messages]:
    """The messages of ctwatch at info level and up; ``alone``: nowhere else."""
    messages = Messages()
    with kept_logging():
        logger = logging.getLogger("ctwatch")
        logger.handlers[:] = [*([] if alone else logger.handlers), messages]
        logger.propagate = False
        logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
        yield messages


@contextmanager
def guarded_signals() -> Iterator[None]:
    """A signal that ctwatch failed to handle fails the test instead of ending pytest."""
    def unhandled(signum: int, _frame: object) -> None:
        raise AssertionError(f"{signal.Signals(signum).name} was not handled by ctwatch")

    previous = {sig: signal.signal(sig, unhandled) for sig in (signal.SIGHUP, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def send(sig: signal.Signals) -> None:
    """A real signal to the main thread, where Python runs signal handlers."""
    signal.pthread_kill(threading.main_thread().ident or 0, sig)


def serve_here(config: Config, script: Callable[[], None], **options: Any) -> None:
    """``schedule.serve(config, **options)`` in this (main) thread, as `ctwatch run` does,
    while ``script`` runs in another thread; then a SIGTERM ends it. The script's failure
    is re-raised here."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers need the main thread")
    failures: list[BaseException] = []
    serving, lock = [True], threading.Lock()

    def drive() -> None:
        try:
            script()
        except BaseException as error:  # re-raised in the test's thread
            failures.append(error)
        finally:
            with lock:  # never a SIGTERM after serve has returned and pytest's handler is back
                if serving[0]:
                    send(signal.SIGTERM)

    driver = threading.Thread(target=drive, daemon=True)
    with guarded_signals():
        driver.start()
        try:
            schedule.serve(config, **options)
        finally:
            with lock:
                serving[0] = False
        driver.join(DEADLINE_S)
    if failures:
        raise failures[0]


def ready(messages: Messages) -> None:
    """Wait until the daemon serves, its signal handlers in place."""
    assert wait_for(messages.seen("ctwatch run: checking on"), DEADLINE_S), messages.lines


def test_sighup_reloads_trials_and_schedule_between_checks(
        watcher: Watcher, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(watcher.folder)
    configure(watcher, schedule={"every": "1h"}, trials=[TRIAL])
    path = watcher.folder / "config.yaml"

    def script() -> None:
        ready(messages)
        assert wait_for(messages.seen("checked 1 trials"), DEADLINE_S), messages.lines
        configure(watcher, schedule={"every": "1s"}, trials=[TRIAL, OTHER])
        send(signal.SIGHUP)
        # an hourly schedule would not check again: this is the new schedule and trial list
        assert wait_for(messages.seen("checked 2 trials"), DEADLINE_S), messages.lines

    with recorded() as messages:
        serve_here(load_config(path), script, now=True, reload=lambda: load_config(path))
    assert messages.count("SIGHUP received: reloading the configuration") == 1
    assert messages.count("configuration reloaded: 2 trials, 2 channels") == 1
    assert messages.count("checking on every 1s from now on; next check at") == 1
    with Store(str(watcher.folder / "ctwatch.db")) as db:
        assert status.next_run(db) is None  # told to `ctwatch status` once stopped


@pytest.mark.parametrize(("edit", "error"), [
    ({"schedule": "0 7 * *"}, "schedule: '0 7 * *' is not a cron expression"),
    ({"trials": ["NCT123"]}, "trials[0]: 'NCT123' is not an NCT id"),
    ({"notify": [{"kind": "pager"}]}, "notify[0].kind: unknown channel kind 'pager'"),
    ({"trials": []}, "trials: no trials to watch"),
    ("trials: [NCT04083898\n", "config.yaml: not valid YAML"),
], ids=["cron", "nct-id", "channel", "no-trials", "yaml"])
def test_an_invalid_configuration_is_not_reloaded(
        watcher: Watcher, monkeypatch: pytest.MonkeyPatch, edit: dict[str, Any] | str,
        error: str) -> None:
    monkeypatch.chdir(watcher.folder)
    configure(watcher, schedule={"every": "1s"})
    path = watcher.folder / "config.yaml"
    config = load_config(path)

    def script() -> None:
        ready(messages)
        if isinstance(edit, str):
            path.write_text(edit)
        else:
            configure(watcher, **edit)
        send(signal.SIGHUP)
        assert wait_for(messages.seen("configuration not reloaded"), DEADLINE_S), messages.lines
        checks = messages.count("next check at")
        assert wait_for(messages.seen("next check at", checks + 1), DEADLINE_S), messages.lines

    with recorded() as messages:
        serve_here(config, script, now=True, reload=lambda: load_config(path))
    [line] = [line for line in messages.lines if line.startswith("configuration not reloaded")]
    assert error in line
    assert messages.count("configuration reloaded") == 0
    assert count(watcher, "runs", "status = 'running'") == 0


def test_without_a_way_to_reload_sighup_is_ignored(
        watcher: Watcher, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(watcher.folder)
    configure(watcher, schedule={"every": "1s"})

    def script() -> None:
        ready(messages)
        send(signal.SIGHUP)
        assert wait_for(messages.seen("SIGHUP received: ignored"), DEADLINE_S), messages.lines
        checks = messages.count("next check at")
        assert wait_for(messages.seen("next check at", checks + 1), DEADLINE_S), messages.lines

    with recorded() as messages:
        serve_here(load_config(Path("config.yaml")), script, now=True)
    assert messages.lines[-1] == "ctwatch run: stopped"


def test_a_reload_waits_for_the_check_in_progress() -> None:
    events: list[str] = []
    checking, finish = threading.Event(), threading.Event()

    def job() -> None:
        events.append("check started")
        checking.set()
        finish.wait(DEADLINE_S)
        events.append("check ended")

    def reload() -> schedule.Schedule:
        events.append("reloaded")
        return schedule.parse_schedule({"every": "2h"})

    daemon = schedule.Daemon(schedule.parse_schedule({"every": "1h"}), job, reload=reload)
    thread = threading.Thread(target=daemon.serve, kwargs={"now": True})
    with recorded() as messages:
        thread.start()
        try:
            assert checking.wait(DEADLINE_S)
            daemon.request_reload()
            assert wait_for(messages.seen("SIGHUP received: reloading"), DEADLINE_S)
            finish.set()  # only now may the reload happen
            assert wait_for(messages.seen("checking on every 2h from now on"), DEADLINE_S)
        finally:
            finish.set()
            daemon.stop()
            thread.join(DEADLINE_S)
    assert events == ["check started", "check ended", "reloaded"]
    assert daemon.schedule.text == "every 2h"


def test_a_running_daemon_survives_sighup(watcher: Watcher) -> None:
    configure(watcher, schedule={"every": "1s"})
    with started(watcher, "run") as daemon:
        assert wait_for(logged(watcher, "ctwatch run: checking on"), DEADLINE_S), \
            log_of(watcher)  # its signal handlers are in place
        daemon.send_signal(signal.SIGHUP)
        assert wait_for(logged(watcher, "SIGHUP received"), DEADLINE_S), log_of(watcher)
        done = count(watcher, "runs", "finished_at is not null")
        assert wait_for(lambda: count(watcher, "runs", "finished_at is not null") > done,
                        DEADLINE_S), log_of(watcher)
        assert daemon.poll() is None
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=DEADLINE_S) == 0
    assert "Traceback" not in log_of(watcher)


def test_systemctl_reload_applies_a_new_schedule(watcher: Watcher) -> None:
    configure(watcher, schedule={"every": "1h"})
    with started(watcher, "run") as daemon:
        assert wait_for(logged(watcher, "ctwatch run: checking on"), DEADLINE_S), \
            log_of(watcher)
        configure(watcher, schedule={"every": "1s"})
        daemon.send_signal(signal.SIGHUP)
        assert wait_for(logged(watcher, "checking on every 1s from now on"), DEADLINE_S), \
            log_of(watcher)
        assert wait_for(lambda: count(watcher, "runs", "finished_at is not null") >= 1,
                        DEADLINE_S), log_of(watcher)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=DEADLINE_S) == 0
