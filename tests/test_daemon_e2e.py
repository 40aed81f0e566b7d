"""`ctwatch run` as ops people run it: on a schedule, alone, stopping cleanly; and `status`.

The daemons are real processes (smoke tests: signals, a lock held by another process); the
commands run beside them, and `status` and `config check`, run in-process.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from ctwatch.replay import Registry
from tests.conftest import Faults, Watcher, two_trials
from tests.helpers import ctwatch, wait_for

TRIAL = "NCT04083898"
OTHER = "NCT00184067"


@pytest.fixture
def registry() -> Registry:
    return two_trials()


def configure(watcher: Watcher, **settings: object) -> None:
    path = watcher.folder / "config.yaml"
    config = yaml.safe_load(path.read_text())
    for key, value in settings.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    path.write_text(yaml.safe_dump(config))


DEADLINE_S = 60  # generous: under load a check can take long; a pass never waits for it


@contextmanager
def started(watcher: Watcher, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """`ctwatch ARGS` running in the background, its stderr in a file (see ``log_of``) that
    a test can read while it runs; killed at the end if still alive."""
    env = {**watcher.env, "PYTHONFAULTHANDLER": "1"}
    with open(watcher.folder / "daemon.stderr", "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "ctwatch", *args], cwd=watcher.folder,
                                   env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        yield process
    finally:
        if process.poll() is None:  # hung: SIGABRT has faulthandler write where each thread is
            process.send_signal(signal.SIGABRT)
            if process.wait(timeout=10) is None:
                process.kill()
        process.wait(timeout=10)


def log_of(watcher: Watcher) -> str:
    """What the daemon of ``started`` has written on stderr so far."""
    return (watcher.folder / "daemon.stderr").read_text(errors="replace")


def logged(watcher: Watcher, text: str, times: int = 1) -> Callable[[], bool]:
    """A condition: the daemon has logged ``text`` (at least ``times`` times)."""
    return lambda: log_of(watcher).count(text) >= times


@dataclass
class Gate:
    """Requests held at the local registry until ``release`` is set: a check that lasts
    exactly as long as a test needs, however slow the machine."""

    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@contextmanager
def holding(monkeypatch: pytest.MonkeyPatch, faults: Faults, route: str,
            only: str | None = None) -> Iterator[Gate]:
    """Hold the first request of ``route`` (for trial ``only``) until the gate is released."""
    gate, lock, take = Gate(), threading.Lock(), faults.take

    def held(asked: str, nct_id: str | None, *, probe: bool = False) -> object:
        with lock:
            first = asked == route and only in (None, nct_id) and not gate.arrived.is_set()
            if first:
                gate.arrived.set()
        if first:
            gate.release.wait(DEADLINE_S)
        return take(asked, nct_id, probe=probe)

    monkeypatch.setattr(faults, "take", held)
    try:
        yield gate
    finally:
        gate.release.set()  # the registry's threads end before the server closes


def query(watcher: Watcher, sql: str) -> list[tuple[object, ...]]:
    """Read the store as another process would; nothing while the daemon creates it."""
    path = watcher.folder / "ctwatch.db"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def count(watcher: Watcher, table: str, where: str = "1") -> int:
    rows = query(watcher, f"select count(*) from {table} where {where}")
    return int(rows[0][0]) if rows else 0


@pytest.mark.smoke
def test_run_checks_on_schedule_alone_and_stops_on_sigterm(watcher: Watcher) -> None:
    configure(watcher, schedule={"every": "1s"})
    with started(watcher, "run") as daemon:
        assert wait_for(lambda: count(watcher, "runs", "finished_at is not null") >= 3,
                        DEADLINE_S)

        # a process too: a second daemon that was not refused would run until killed
        second = watcher.run("run", process=True, timeout=DEADLINE_S)
        assert second.code == 4
        [line] = second.stderr.splitlines()
        assert "another ctwatch run daemon already uses it" in line

        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=DEADLINE_S) == 0


@pytest.mark.smoke
def test_sigterm_during_a_long_check_leaves_a_consistent_store(
        watcher: Watcher, faults: Faults, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(watcher, schedule={"every": "1h"},  # one request a trial, waited for
              api={"page_size": 1, "timeout_s": DEADLINE_S, "deadline_s": DEADLINE_S})
    with holding(monkeypatch, faults, "study", only=OTHER) as gate, \
            started(watcher, "run", "--now") as daemon:
        assert gate.arrived.wait(DEADLINE_S)  # the first trial's record is read by now
        daemon.send_signal(signal.SIGTERM)
        assert wait_for(logged(watcher, "SIGTERM received"), DEADLINE_S)
        gate.release.set()  # the second trial's record arrives after SIGTERM
        assert daemon.wait(timeout=DEADLINE_S) == 0
    assert "Traceback" not in log_of(watcher)
    assert query(watcher, "pragma integrity_check") == [("ok",)]
    assert query(watcher, "select status from runs") == [("interrupted",)]
    assert count(watcher, "snapshots") == 1  # the trial read before SIGTERM, not the late one

    faults.clear()
    run = watcher.check()
    assert run.code == 0, run.stderr
    assert "checked 2 trials" in run.stderr
    assert count(watcher, "snapshots") == 2


@pytest.mark.smoke
def test_a_cron_check_waits_or_is_refused_while_the_daemon_checks(
        watcher: Watcher, faults: Faults, monkeypatch: pytest.MonkeyPatch) -> None:
    if not os.path.exists("/proc/locks"):
        pytest.skip("needs Linux's /proc/locks to see a process wait for the store's lock")
    configure(watcher, schedule={"every": "1h"},
              api={"timeout_s": DEADLINE_S, "deadline_s": DEADLINE_S})
    with holding(monkeypatch, faults, "list") as gate, \
            started(watcher, "run", "--now") as daemon:
        assert gate.arrived.wait(DEADLINE_S)  # the daemon's check is under way
        refused = watcher.check()
        assert refused.code == 4 and "--wait" in refused.stderr
        waiting = subprocess.Popen([sys.executable, "-m", "ctwatch", "check", "--wait"],
                                   cwd=watcher.folder, env=watcher.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert wait_for(lambda: watcher.store.lock_waiters() == 1, DEADLINE_S)
        gate.release.set()
        _, stderr = waiting.communicate(timeout=DEADLINE_S)
        assert waiting.returncode == 0, stderr.decode()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=DEADLINE_S) == 0


def test_status_shows_a_failing_trial_and_a_pending_alert(watcher: Watcher,
                                                          faults: Faults) -> None:
    watcher.check()

    def closed(study: dict) -> None:  # type: ignore[type-arg]
        study["protocolSection"]["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"

    watcher.publish(closed)
    faults.add("list", "drop", target=OTHER)
    faults.add("study", "status", status=404, only=OTHER, text=f"NCT number {OTHER} not found")
    (watcher.folder / "alerts.jsonl").mkdir()  # the file channel cannot append
    assert watcher.check().code == 3

    state = json.loads(watcher.run("status", "--format", "json").stdout)
    assert state["last_run"]["status"] == "partial"
    assert state["last_run"]["counts"]["failed"] == 1
    assert state["next_run"] is None and state["running"] is False
    trials = {t["nct_id"]: t for t in state["trials"]}
    assert trials[OTHER]["consecutive_failures"] == 1
    assert "not found" in trials[OTHER]["last_error"]
    assert trials[TRIAL]["consecutive_failures"] == 0
    [alert] = state["pending_alerts"]
    assert (alert["channel"], alert["nct_id"], alert["attempts"]) == ("file:alerts.jsonl", TRIAL, 1)
    assert "alerts.jsonl" in alert["last_error"]

    text = watcher.run("status").stdout
    assert "pending alerts: 1" in text and "failures in a row 1" in text


def test_json_logs_for_log_shippers(watcher: Watcher) -> None:
    run = watcher.run("--log-format", "json", "check")
    assert run.code == 0
    [line] = [json.loads(line) for line in run.stderr.splitlines()]
    assert line["level"] == "info" and line["message"].startswith("checked 2 trials")


def test_config_check_names_every_problem(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({
        "trials": ["NCT04083898", "NCT123"],
        "schedule": "0 7 * *",
        "notfy": [],
        "notify": [{"kind": "pager"}, {"kind": "webhook", "url_env": "CTWATCH_TEST_NO_SUCH_VAR"}],
    }))
    run = ctwatch(tmp_path, "config", "check")
    assert run.code == 2
    lines = run.stderr.splitlines()
    assert len(lines) == 5, run.stderr
    for expected in ("notfy: unknown key", "trials[1]: 'NCT123' is not an NCT id",
                     "schedule: '0 7 * *' is not a cron expression",
                     "notify[0].kind: unknown channel kind 'pager'",
                     "CTWATCH_TEST_NO_SUCH_VAR"):
        assert any(expected in line for line in lines), (expected, run.stderr)
    assert "Traceback" not in run.stderr


def test_config_check_of_a_good_file(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("trials: [NCT04083898]\nschedule: {every: 6h}\n")
    run = ctwatch(tmp_path, "config", "check")
    assert run.code == 0, run.stderr
    assert "config.yaml: OK" in run.stderr
