"""`ctwatch check` end to end: the real command, a real local registry, a real store — a
SQLite file and a PostgreSQL database (each test runs on both).

The command runs in-process (the same entry point); the smoke tests run it as cron does, in a
``python -m ctwatch`` process of its own.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from ctwatch.replay import Registry, ReplayServer, Version
from tests.conftest import Faults, Study, Watcher, two_trials
from tests.helpers import wait_for

TRIAL = "NCT04083898"
OTHER = "NCT00184067"
DEADLINE_S = 60  # generous: under load a check can take long; a pass never waits for it

pytestmark = pytest.mark.both_stores


@pytest.fixture
def registry() -> Registry:
    return two_trials()


def protocol(study: Study) -> Study:
    return study["protocolSection"]


def bookkeeping(study: Study) -> None:
    """What the registry changes on every refresh, not worth anybody's attention."""
    study["derivedSection"]["miscInfoModule"]["versionHolder"] = "2026-01-20"
    protocol(study)["statusModule"]["lastUpdatePostDateStruct"]["date"] = "2026-01-19"
    protocol(study)["statusModule"]["statusVerifiedDate"] = "2026-01"


def criteria(study: Study) -> str:
    return protocol(study)["eligibilityModule"]["eligibilityCriteria"]


def set_criteria(study: Study, old: str, new: str) -> None:
    text = criteria(study)
    assert old in text
    protocol(study)["eligibilityModule"]["eligibilityCriteria"] = text.replace(old, new)


def amendment(study: Study) -> None:
    """Status, enrollment and one criterion change; arms and interventions are reordered."""
    protocol(study)["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    protocol(study)["designModule"]["enrollmentInfo"]["count"] = 24
    set_criteria(study, "within 14 days prior to enrollment", "within 28 days prior to enrollment")
    arms = protocol(study)["armsInterventionsModule"]
    arms["armGroups"].reverse()
    arms["interventions"].reverse()
    bookkeeping(study)


def test_first_check_stores_a_baseline_and_says_nothing(watcher: Watcher) -> None:
    run = watcher.check()
    assert run.code == 0, run.stderr
    assert run.stdout == ""
    assert "checked 2 trials: 0 with changes, 2 new snapshots, 0 failed" in run.stderr
    assert (watcher.rows("snapshots"), watcher.rows("change_sets")) == (2, 0)
    assert watcher.alerts() == []


def test_unchanged_registry_data_stops_after_one_request(watcher: Watcher,
                                                         replay: ReplayServer) -> None:
    watcher.check()
    replay.reset_counts()
    run = watcher.check()
    assert run.code == 0
    assert sum(replay.counts.values()) == 1 and replay.counts["version"] == 1
    assert "unchanged" in run.stderr


def test_an_unchanged_record_gives_no_change_set_and_no_snapshot(watcher: Watcher) -> None:
    watcher.check()
    watcher.registry.data_timestamp = "2026-02-01T09:00:00"  # something else changed upstream
    run = watcher.check()
    assert run.code == 0
    assert (watcher.rows("snapshots"), watcher.rows("change_sets")) == (2, 0)
    assert run.stdout == ""


@pytest.mark.smoke
def test_an_amendment_gives_exactly_its_three_major_changes(watcher: Watcher) -> None:
    """As cron runs it: a process of its own, its exit code, its stdout (cron mails it)."""
    assert watcher.check(process=True).code == 0
    watcher.publish(amendment)
    run = watcher.check("--exit-code", process=True)
    assert run.code == 1, run.stderr
    [alert] = watcher.alerts()
    assert alert["nct_id"] == TRIAL and alert["top_severity"] == "major"
    changes = {c["path"]: (c["old"], c["new"], c["severity"]) for c in alert["changes"]}
    assert changes == {
        "status.overall": ("RECRUITING", "ACTIVE_NOT_RECRUITING", "major"),
        "design.enrollment.count": (37, 24, "major"),
        "eligibility.exclusion[Receiving any other investigational agents within 14 days prior "
        "to enrollment.]": (
            "Receiving any other investigational agents within 14 days prior to enrollment.",
            "Receiving any other investigational agents within 28 days prior to enrollment.",
            "major"),
    }
    assert "Overall Status: Recruiting → Active, not recruiting" in run.stdout
    assert f"https://clinicaltrials.gov/study/{TRIAL}" in run.stdout
    # The local registry's history lists one version only: no exact comparison to link to.
    assert "tab=history&a=" not in run.stdout
    assert f"https://clinicaltrials.gov/study/{TRIAL}?tab=history" in run.stdout


def only_change(watcher: Watcher, change: Callable[[Study], None]) -> dict[str, Any]:
    watcher.check()
    watcher.publish(change)
    run = watcher.check()
    assert run.code == 0, run.stderr
    [alert] = watcher.alerts()
    [found] = alert["changes"]
    return found


def test_primary_outcome_changed_after_start_is_critical_and_flagged(watcher: Watcher) -> None:
    def new_time_frame(study: Study) -> None:
        protocol(study)["outcomesModule"]["primaryOutcomes"][1]["timeFrame"] = "12 months"

    found = only_change(watcher, new_time_frame)
    assert found["path"] == (
        "outcomes[primary: Overall response rate (ORR) (Phase II only)].time_frame")
    assert (found["old"], found["new"], found["severity"]) == ("6 months", "12 months", "critical")
    assert found["flags"] == ["outcome_changed_after_start"]


def test_one_inserted_criterion_is_one_change(watcher: Watcher) -> None:
    def insert(study: Study) -> None:
        set_criteria(study, "* Prior exposure to isatuximab or bendamustine\n",
                     "* Prior exposure to isatuximab or bendamustine\n"
                     "* Prior allogeneic stem cell transplant\n")

    found = only_change(watcher, insert)
    assert (found["kind"], found["severity"]) == ("added", "major")
    assert found["path"] == "eligibility.exclusion[Prior allogeneic stem cell transplant]"


def test_a_renamed_arm_is_one_change(watcher: Watcher) -> None:
    old, new = "Phase II: Isatuximab + Bendamustine + Prednisone", "Phase II expansion"

    def rename(study: Study) -> None:
        arms = protocol(study)["armsInterventionsModule"]
        next(arm for arm in arms["armGroups"] if arm["label"] == old)["label"] = new
        for intervention in arms["interventions"]:
            intervention["armGroupLabels"] = [new if label == old else label
                                              for label in intervention["armGroupLabels"]]

    found = only_change(watcher, rename)
    assert (found["kind"], found["old"], found["new"]) == ("changed", old, new)


def test_terminated_is_critical(watcher: Watcher) -> None:
    def terminate(study: Study) -> None:
        protocol(study)["statusModule"]["overallStatus"] = "TERMINATED"
        protocol(study)["statusModule"]["whyStopped"] = "Slow accrual"

    watcher.check()
    watcher.publish(terminate)
    run = watcher.check()
    [alert] = watcher.alerts()
    assert alert["top_severity"] == "critical"
    assert alert["changes"][0]["path"] == "status.overall"
    assert "[CRITICAL] Overall Status: Recruiting → Terminated" in run.stdout


FAULTS = {
    "500": ("status", {"status": 500}, "500"),
    "html page": ("html", {}, "HTML"),
    "truncated body": ("truncate", {}, "truncated"),
    "404": ("status", {"status": 404, "text": f"NCT number {TRIAL} not found"}, "not found"),
    "wrong id": ("wrong_id", {"target": TRIAL}, "NCT00000001"),
    "429": ("status", {"status": 429, "headers": (("Retry-After", "0"),)}, "429"),
}


@pytest.mark.parametrize("name", FAULTS)
def test_a_fault_loses_nothing_and_invents_nothing(watcher: Watcher, faults: Faults,
                                                   name: str) -> None:
    watcher.check()
    kind, options, cause = FAULTS[name]
    watcher.publish(amendment)
    faults.add("list", kind, **options)
    faults.add("study", kind, **options)
    run = watcher.check()
    assert run.code == 3, run.stderr
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("ctwatch: error:")]
    assert errors and all(TRIAL in line or OTHER in line for line in errors)
    assert any(cause.lower() in line.lower() for line in errors), run.stderr
    assert (watcher.rows("snapshots"), watcher.rows("change_sets")) == (2, 0)
    assert watcher.alerts() == [] and run.stdout == ""

    faults.clear()
    run = watcher.check()
    assert run.code == 0, run.stderr
    [alert] = watcher.alerts()
    assert {c["path"].split("[")[0] for c in alert["changes"]} == {
        "status.overall", "design.enrollment.count", "eligibility.exclusion"}


def test_a_trial_dropped_from_a_batch_is_confirmed_not_lost(watcher: Watcher,
                                                            faults: Faults) -> None:
    watcher.check()
    watcher.publish(amendment)
    faults.add("list", "drop", target=TRIAL)
    run = watcher.check()
    assert run.code == 0, run.stderr
    assert len(watcher.alerts()) == 1


def test_failures_are_told_after_max_failures(watcher: Watcher, faults: Faults) -> None:
    watcher.check()
    faults.add("study", "status", status=404, only=OTHER, text=f"NCT number {OTHER} not found")
    faults.add("list", "drop", target=OTHER)
    notices = []
    for _ in range(4):
        watcher.registry.data_timestamp += "1"
        run = watcher.check()
        assert run.code == 3
        notices.append("failed 3 checks in a row" in run.stderr)
    assert notices == [False, False, True, False]
    assert watcher.rows("snapshots") == 2


def test_a_second_check_is_refused_while_one_runs(watcher: Watcher) -> None:
    watcher.check()
    with watcher.store.open() as other, other.lock():  # another process's run, as it were
        run = watcher.check()
        status = json.loads(watcher.run("status", "--format", "json").stdout)
    assert run.code == 4
    [line] = run.stderr.splitlines()
    assert "another ctwatch run holds its lock" in line and "--wait" in line
    assert status["running"] is True
    assert json.loads(watcher.run("status", "--format", "json").stdout)["running"] is False


@pytest.mark.smoke
def test_sigkill_mid_run_loses_and_duplicates_nothing(watcher: Watcher, faults: Faults) -> None:
    watcher.check()
    watcher.configure(page_size=1, timeout_s=DEADLINE_S, deadline_s=DEADLINE_S)  # one request
    watcher.publish(amendment)  # per trial, so that the kill falls between them
    watcher.publish(lambda study: protocol(study)["statusModule"].update(
        overallStatus="COMPLETED"), nct_id=OTHER)
    # The first trial's record goes through; the second one's is held until the test lets it
    # go (whichever order the check reads them in), and the check is killed meanwhile.
    faults.add("study", "none", times=1, probes=False)
    held = faults.add("study", "slow", delay_s=DEADLINE_S, probes=False)
    process = subprocess.Popen([sys.executable, "-m", "ctwatch", "check"], cwd=watcher.folder,
                               env=watcher.env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        assert held.reached.wait(DEADLINE_S)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=DEADLINE_S) == -signal.SIGKILL
    finally:
        process.kill()
        process.wait()
    assert watcher.rows("change_sets") <= 1 and watcher.alerts() == []  # none sent yet
    assert watcher.store.consistent()
    faults.clear()
    faults.release()  # the held reply goes to a process that is gone
    # A PostgreSQL server ends the dead process's session, and its lock, once it sees the
    # connection closed: a moment after the kill, not at once as a file lock goes.
    with watcher.store.open() as db:
        assert wait_for(lambda: not db.locked(), DEADLINE_S)
    run = watcher.check()
    assert run.code == 0, run.stderr
    assert sorted(alert["nct_id"] for alert in watcher.alerts()) == [OTHER, TRIAL]
    assert watcher.rows("change_sets") == 2
    watcher.registry.data_timestamp += "1"
    assert watcher.check().code == 0
    assert watcher.rows("change_sets") == 2 and len(watcher.alerts()) == 2


def test_an_undeliverable_alert_stays_pending_and_is_sent_once(watcher: Watcher) -> None:
    watcher.check()
    watcher.publish(amendment)
    (watcher.folder / "alerts.jsonl").mkdir()  # the file channel cannot append
    run = watcher.check()
    assert run.code == 3
    assert "alert not delivered on file:alerts.jsonl" in run.stderr
    (watcher.folder / "alerts.jsonl").rmdir()
    run = watcher.check()
    assert run.code == 0, run.stderr
    assert len(watcher.alerts()) == 1
    watcher.registry.data_timestamp += "1"
    watcher.check()
    assert len(watcher.alerts()) == 1



def test_an_alert_links_to_the_registry_comparison_of_its_two_versions(
        watcher: Watcher) -> None:
    first = json.loads(watcher.registry.record(TRIAL) or b"{}")
    watcher.registry.add_version(TRIAL, Version("2022-06-15", first))
    watcher.check()
    watcher.publish(amendment)  # posted 2026-01-19
    watcher.registry.add_version(TRIAL, Version("2026-01-19", json.loads(
        watcher.registry.record(TRIAL) or b"{}")))
    run = watcher.check()
    [alert] = watcher.alerts()
    assert (alert["from_version"], alert["to_version"]) == (0, 1)
    assert f"https://clinicaltrials.gov/study/{TRIAL}?tab=history&a=1&b=2" in run.stdout
