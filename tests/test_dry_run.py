"""``ctwatch check --dry-run``: the alerts a check would send now, as the stdout channel shows
them, with their channels — and the store exactly as it was, nothing sent. The real command,
a real local registry and a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import yaml

from ctwatch.replay import Registry
from tests.conftest import Faults, Study, Watcher, two_trials
from tests.helpers import wait_for

TRIAL = "NCT04083898"
OTHER = "NCT00184067"
DEADLINE_S = 60
#: every table of the store, as a person with a database client would read it
TABLES = ("snapshots", "change_sets", "outbox", "milestones", "runs", "trial_state",
          "ctwatch_meta")

pytestmark = pytest.mark.both_stores


@pytest.fixture
def registry() -> Registry:
    return two_trials()


def status(overall: str) -> Any:
    def change(study: Study) -> None:
        study["protocolSection"]["statusModule"]["overallStatus"] = overall
    return change


def contents(watcher: Watcher) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (the raw payloads' bytes left out: compared by their ids)."""
    return {table: watcher.store.query(
        f"select * from {table} order by 1") for table in TABLES}


def change_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("  [")]


def test_a_dry_run_shows_what_the_check_then_alerts_and_writes_nothing(
        watcher: Watcher) -> None:
    watcher.check()
    watcher.publish(status("ACTIVE_NOT_RECRUITING"))
    before = contents(watcher)

    dry = watcher.check("--dry-run")
    assert dry.code == 0, dry.stderr
    assert change_lines(dry.stdout) == [
        "  [MAJOR] Overall Status: Recruiting → Active, not recruiting"]
    assert dry.stdout.rstrip().endswith("would alert: stdout, file:alerts.jsonl")
    assert "dry run: checked 2 trials: 1 with changes, 0 failed; nothing stored or sent" in \
        dry.stderr
    assert contents(watcher) == before  # no snapshot, change set, alert, run, state, meta
    assert watcher.alerts() == []  # nothing sent

    again = watcher.check("--dry-run")  # it changed nothing a check decides by
    assert change_lines(again.stdout) == change_lines(dry.stdout)
    real = watcher.check()
    assert real.code == 0, real.stderr
    assert change_lines(real.stdout) == change_lines(dry.stdout)
    assert [alert["changes"][0]["path"] for alert in watcher.alerts()] == ["status.overall"]


def test_a_change_below_every_channel_is_shown_as_going_nowhere(watcher: Watcher) -> None:
    path = watcher.folder / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["notify"] = [{"kind": "file", "path": "alerts.jsonl", "min_severity": "critical"}]
    path.write_text(yaml.safe_dump(config))
    watcher.check()
    watcher.publish(status("ACTIVE_NOT_RECRUITING"))
    dry = watcher.check("--dry-run", "--exit-code")
    assert dry.code == 1  # changes found, as check --exit-code says
    assert "would alert: no channel (below every channel's min_severity)" in dry.stdout


def test_nothing_changed_upstream_reads_nothing(watcher: Watcher) -> None:
    watcher.check()
    dry = watcher.check("--dry-run")
    assert dry.code == 0 and dry.stdout == ""
    assert "dry run: registry data unchanged since the last run" in dry.stderr
    forced = watcher.check("--dry-run", "--force")
    assert "dry run: checked 2 trials: 0 with changes, 0 failed" in forced.stderr


def test_a_trial_that_fails_fails_alone_and_nothing_is_recorded(watcher: Watcher,
                                                                faults: Faults) -> None:
    watcher.check()
    watcher.publish(status("ACTIVE_NOT_RECRUITING"))
    watcher.publish(status("COMPLETED"), nct_id=OTHER)
    watcher.configure(page_size=1)
    faults.add("study", "html", only=OTHER, probes=False)
    before = contents(watcher)
    dry = watcher.check("--dry-run")
    assert dry.code == 3
    assert change_lines(dry.stdout) == [
        "  [MAJOR] Overall Status: Recruiting → Active, not recruiting"]
    [failed] = [line for line in dry.stderr.splitlines() if OTHER in line]
    assert failed.startswith(f"ctwatch: error: {OTHER}")
    assert contents(watcher) == before  # its failure is not counted either


def test_a_dry_run_needs_no_lock(watcher: Watcher) -> None:
    watcher.check()
    watcher.publish(status("ACTIVE_NOT_RECRUITING"))
    with watcher.store.open() as other, other.lock():  # another process's check, as it were
        dry = watcher.check("--dry-run")
    assert dry.code == 0, dry.stderr
    assert change_lines(dry.stdout) == [
        "  [MAJOR] Overall Status: Recruiting → Active, not recruiting"]


@pytest.mark.smoke
def test_a_dry_run_beside_a_running_check_leaves_it_whole(watcher: Watcher,
                                                          faults: Faults) -> None:
    watcher.check()
    watcher.configure(page_size=1, timeout_s=DEADLINE_S, deadline_s=DEADLINE_S)
    watcher.publish(status("ACTIVE_NOT_RECRUITING"))
    held = faults.add("study", "slow", times=1, delay_s=DEADLINE_S, probes=False)
    check = subprocess.Popen([sys.executable, "-m", "ctwatch", "check"], cwd=watcher.folder,
                             env=watcher.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert held.reached.wait(DEADLINE_S)  # the check holds the lock, its record on its way
        dry = watcher.check("--dry-run")
        faults.release()
        out, err = check.communicate(timeout=DEADLINE_S)
    finally:
        check.kill()
        check.wait()
    assert dry.code == 0, dry.stderr
    assert check.returncode == 0, err.decode()
    assert change_lines(out.decode()) == change_lines(dry.stdout) == [
        "  [MAJOR] Overall Status: Recruiting → Active, not recruiting"]
    assert wait_for(lambda: watcher.rows("change_sets") == 1)
    assert [alert["nct_id"] for alert in watcher.alerts()] == [TRIAL]
