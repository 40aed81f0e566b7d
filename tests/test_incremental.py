"""A check costs what changed: the registry's last-update dates say which trials moved, only
those are read in full, and a rolling sweep (and `check --full`) re-reads the others in case a
record changed without its date moving. Real command in-process, real local registry, real
SQLite file."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner, Result

from ctwatch import triage
from ctwatch.cli import main, monitor
from ctwatch.fetch import ApiSettings
from ctwatch.replay import Registry, ReplayServer
from ctwatch.store import Read
from tests.conftest import clone_record, generated_ids
from tests.helpers import MYELOMA

Study = dict[str, Any]
TRIALS = generated_ids(10)


@pytest.fixture
def registry() -> Registry:
    served = Registry(data_timestamp="2026-02-02T09:00:00")
    for nct_id in TRIALS:
        served.publish(clone_record(MYELOMA.read_bytes(), nct_id))
    return served


class Folder:
    """config.yaml, ctwatch.db and alerts.jsonl of a cron job, and the registry it watches."""

    def __init__(self, path: Path, registry: Registry, server: ReplayServer,
                 api: ApiSettings, **settings: Any) -> None:
        self.path, self.registry, self.server = path, registry, server
        config = {"store": str(path / "ctwatch.db"), "trials": TRIALS,
                  "api": {"base_url": api.base_url, "requests_per_second": 1000,
                          "timeout_s": 5, "max_retries": 1, "backoff_s": 0.01, **settings},
                  "notify": [{"kind": "file", "path": str(path / "alerts.jsonl")}]}
        (path / "config.yaml").write_text(yaml.safe_dump(config))
        self.releases = 0

    def check(self, *args: str) -> Result:
        self.server.reset_counts()
        run = CliRunner().invoke(main, ["--config", str(self.path / "config.yaml"), "check",
                                        *args])
        assert run.exit_code == 0, run.output
        return run

    def edit(self, nct_id: str, change: Callable[[Study], None], *, moved: bool) -> None:
        """A new registry version of a trial (its last-update date moved or not), published
        with a new data release."""
        study = json.loads(self.registry.record(nct_id) or b"{}")
        change(study)
        if moved:
            study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = \
                f"2026-02-{3 + self.releases:02d}"
        self.registry.publish(study)
        self.release()

    def release(self) -> None:
        """A new data release: every record's versionHolder moves, nothing else."""
        self.releases += 1
        holder = f"2026-02-{3 + self.releases:02d}"
        for nct_id in self.registry.ids():
            study = json.loads(self.registry.record(nct_id) or b"{}")
            study["derivedSection"]["miscInfoModule"]["versionHolder"] = holder
            self.registry.publish(study)
        self.registry.data_timestamp = f"{holder}T09:00:00"

    def alerts(self) -> list[dict[str, Any]]:
        path = self.path / "alerts.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def days_pass(self, days: int = 1) -> None:
        """Move the store's memory of when runs started and trials were read back in time."""
        with sqlite3.connect(self.path / "ctwatch.db") as db:
            for table, column in (("runs", "started_at"), ("trial_state", "last_full_read")):
                db.execute(f"update {table} set {column} = strftime('%Y-%m-%dT%H:%M:%SZ', "
                           f"{column}, '-{days} days') where {column} is not null")


def terminated(study: Study) -> None:
    study["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"


@pytest.fixture
def folder(tmp_path: Path, registry: Registry, replay: ReplayServer,
           fast_api: ApiSettings) -> Folder:
    return Folder(tmp_path, registry, replay, fast_api)


def test_a_trial_whose_date_moved_is_read_alone_and_alerted_once(folder: Folder) -> None:
    folder.check()
    folder.edit(TRIALS[3], terminated, moved=True)
    run = folder.check()
    assert [alert["nct_id"] for alert in folder.alerts()] == [TRIALS[3]]
    assert "checked 10 trials: 1 with changes" in run.stderr
    counts = folder.server.counts
    assert counts["version"] == 1 and counts["list"] == 2  # the probe, then the records
    assert counts["history_index"] == 1  # its version numbers, for the alert's link
    # the probe (~150 B a trial), the moved record, and one the sweep re-reads (its share of
    # the run's time, rounded up)
    record = len(folder.registry.record(TRIALS[3]) or b"")
    assert folder.server.bytes_by_route["list"] < 2 * record + 200 * len(TRIALS)
    again = folder.check()  # the same data: nothing to do
    assert "nothing to check" in again.stderr and len(folder.alerts()) == 1


def test_a_new_release_where_nothing_moved_reads_no_record(folder: Folder) -> None:
    folder.check()
    folder.release()
    run = folder.check()
    assert "checked 10 trials: 0 with changes, 0 new snapshots" in run.stderr
    assert folder.server.counts["list"] == 1  # the probe only
    assert folder.alerts() == []


def test_an_edit_without_a_moved_date_is_found_by_check_full_once(folder: Folder) -> None:
    folder.check()
    folder.edit(TRIALS[5], terminated, moved=False)
    folder.check()
    assert folder.alerts() == []  # the registry's date promised nothing moved
    folder.check("--full")
    assert [alert["nct_id"] for alert in folder.alerts()] == [TRIALS[5]]
    folder.check("--full")
    assert len(folder.alerts()) == 1


def test_the_sweep_finds_an_edit_without_a_moved_date_within_its_days(
        tmp_path: Path, registry: Registry, replay: ReplayServer, fast_api: ApiSettings) -> None:
    folder = Folder(tmp_path, registry, replay, fast_api, full_sweep_days=3)
    folder.check()
    folder.edit(TRIALS[9], terminated, moved=False)  # the last trial by id: swept last
    found_on = None
    for day in range(1, 4):
        folder.days_pass()
        folder.release()
        run = folder.check()
        assert "checked 10 trials" in run.stderr
        if folder.alerts() and found_on is None:
            found_on = day
    assert found_on is not None and found_on <= 3
    assert [alert["nct_id"] for alert in folder.alerts()] == [TRIALS[9]]


def test_a_record_unchanged_but_its_bookkeeping_is_not_parsed(
        folder: Folder, monkeypatch: pytest.MonkeyPatch) -> None:
    folder.check()
    folder.release()
    parsed: list[str] = []
    import ctwatch.checks

    real = ctwatch.checks.parse_fetched
    monkeypatch.setattr(ctwatch.checks, "parse_fetched",
                        lambda fetched: parsed.append(fetched.nct_id) or real(fetched))
    run = folder.check("--full")
    assert "checked 10 trials: 0 with changes, 0 new snapshots" in run.stderr
    assert parsed == []


def test_version_numbers_are_looked_up_only_for_alerted_changes(
        tmp_path: Path, registry: Registry, replay: ReplayServer, fast_api: ApiSettings) -> None:
    folder = Folder(tmp_path, registry, replay, fast_api)
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    config["notify"][0]["min_severity"] = "critical"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    folder.check()

    def enrollment(study: Study) -> None:
        study["protocolSection"]["designModule"]["enrollmentInfo"]["count"] += 1

    folder.edit(TRIALS[1], enrollment, moved=True)  # stored, below the channel's minimum
    folder.check()
    assert folder.server.counts["history_index"] == 0 and folder.alerts() == []
    folder.edit(TRIALS[2], terminated, moved=True)
    folder.check()
    assert folder.server.counts["history_index"] == 1
    assert [alert["nct_id"] for alert in folder.alerts()] == [TRIALS[2]]


NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def read_days_ago(days: float | None) -> Read:
    when = None if days is None else (NOW - timedelta(days=days)).isoformat()
    return Read("2026-01-01", "hash", when)


@pytest.mark.parametrize(("ages", "since_last_run_days", "expected"), [
    ({"A": 1, "B": 2, "C": 3}, None, set()),  # a first run: nothing due but the overdue
    ({"A": 1, "B": 8, "C": None}, None, {"B", "C"}),  # overdue, and never read in full
    ({"A": 1, "B": 2, "C": 3, "D": 4}, 1, {"D"}),  # a day of 7: a seventh, rounded up
    ({"A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6, "G": 6.5, "H": 0}, 2, {"F", "G", "E"}),
    ({"A": 1, "B": 2}, 30, {"A", "B"}),  # a month since the last run: all of them
], ids=["first run", "overdue", "one day", "two days", "a month"])
def test_each_run_sweeps_its_share_of_the_least_recently_read(
        ages: dict[str, float | None], since_last_run_days: float | None,
        expected: set[str]) -> None:
    reads = {nct_id: read_days_ago(age) for nct_id, age in ages.items()}
    since = None if since_last_run_days is None else since_last_run_days * 86400
    assert triage.due(list(ages), reads, now=NOW, since_last_run_s=since,
                      sweep_days=7) == expected


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("tty", "verbosity", "total", "shown"), [
    (True, 0, 500, True), (False, 0, 500, False), (True, -1, 500, False), (True, 0, 10, False)],
    ids=["terminal", "cron", "-q", "few trials"])
def test_a_progress_bar_only_for_a_person_at_a_terminal_and_many_trials(
        monkeypatch: pytest.MonkeyPatch, tty: bool, verbosity: int, total: int,
        shown: bool) -> None:
    stderr = Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    context = click.Context(main, obj={"verbosity": verbosity})
    with monitor.progress_bar(context) as advance:
        for done in range(1, total + 1):
            if advance is not None:
                advance(done, total)
    assert ("reading" in stderr.getvalue()) is shown
