"""Compliance milestone alerts (``compliance_alerts: true``): each milestone of a watched trial
— results due within 30 days, results overdue, verification lapsed — alerted once, through the
outbox, anew when its deadline moves; recorded in the transaction that queues it, so that a
run that fails or is killed neither loses nor repeats one. End to end: the real command (or
the application service, where the day must be another than today), a real local registry
and a real store, SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from ctwatch import milestones, sources
from ctwatch.checks import Plan, RunReport
from ctwatch.compliance import assess
from ctwatch.notify import build, render
from ctwatch.replay import Registry
from ctwatch.store import SCHEMA_VERSION
from ctwatch.validate import load
from ctwatch.watch import Watcher as Service
from tests.conftest import Study, Watcher
from tests.helpers import MYELOMA, ctwatch, realdata_files
from tests.stores import StoreUnderTest
from tests.test_notify_support import (
    Hook,
    http_endpoint,
    myeloma,
    save_change,
    snapshot,
    with_status,
)

TRIAL = "NCT04083898"
OVERDUE, LAPSED = "results-overdue:2024-10-27", "verification-lapsed:2022-06"
DEADLINE_S = 60

pytestmark = pytest.mark.both_stores


@pytest.fixture
def registry() -> Registry:
    served = Registry(data_timestamp="2026-01-05T09:00:05")
    served.publish(MYELOMA.read_bytes())
    return served


def configure(watcher: Watcher, **more: Any) -> None:
    """config.yaml with compliance alerts on, and ``more``."""
    path = watcher.folder / "config.yaml"
    config = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**config, "compliance_alerts": True, **more}))


def reached(watcher: Watcher) -> list[tuple[str, str]]:
    """(milestone key, severity) of each milestone alert the file channel received."""
    return [(alert["changes"][0]["new"]["milestone"], alert["top_severity"])
            for alert in watcher.alerts() if alert["changes"][0]["category"] == "compliance"]


def completion(day: str) -> Any:
    def change(study: Study) -> None:
        study["protocolSection"]["statusModule"]["primaryCompletionDateStruct"] = {
            "date": day, "type": "ESTIMATED"}
    return change


def check_on(watcher: Watcher, day: date) -> RunReport:
    """One check by the application service, judging the milestones on ``day``."""
    service = Service(load(watcher.folder / "config.yaml"), stdout=io.StringIO())
    service.plan = replace(service.plan, today=lambda: day)
    with contextlib.chdir(watcher.folder):
        return service.check()


def test_a_milestone_is_alerted_once_and_anew_when_its_deadline_moves(watcher: Watcher) -> None:
    configure(watcher)
    first = watcher.check()
    assert first.code == 0, first.stderr
    assert sorted(reached(watcher)) == [(OVERDUE, "major"), (LAPSED, "major")]
    assert "[MAJOR] Results overdue: due 2024-10-27, " in first.stdout
    assert "[MAJOR] Verification lapsed: record last verified 2022-06: " in first.stdout
    assert "0 failed; 2 compliance milestones reached" in first.stderr

    assert watcher.check().code == 0  # registry data unchanged
    assert watcher.check("--force").code == 0
    assert len(reached(watcher)) == 2 and watcher.rows("milestones") == 2

    watcher.publish(completion("2025-03-31"))  # results now due 2026-03-31: a new deadline
    moved = watcher.check()
    assert moved.code == 0, moved.stderr
    assert sorted(reached(watcher)) == [(OVERDUE, "major"), ("results-overdue:2026-03-31",
                                                             "major"), (LAPSED, "major")]
    assert [a["changes"][0]["path"] for a in watcher.alerts()][-2:] == [
        "status.primary_completion.date", "compliance.results_overdue"]
    assert watcher.check("--force").code == 0
    assert watcher.rows("milestones") == 3 and len(watcher.alerts()) == 4
    assert watcher.store.rows("outbox", "status <> 'delivered'") == 0


def test_results_come_due_then_overdue_as_the_days_pass(watcher: Watcher) -> None:
    configure(watcher)
    days = {date(2024, 9, 30): [("results-due-30d:2024-10-27", "minor"), (LAPSED, "major")],
            date(2024, 10, 20): [],  # still due within 30 days: the same key
            date(2024, 11, 10): [],  # past due, within the 30-day grace: no milestone
            date(2024, 11, 26): [],  # the grace's last day
            date(2024, 11, 27): [(OVERDUE, "major")],  # the first check after it
            date(2024, 11, 28): []}
    for day, expected in days.items():
        before = len(reached(watcher))
        report = check_on(watcher, day)
        assert report.status in ("ok", "skipped"), (day, report)
        assert sorted(reached(watcher)[before:]) == expected, day
        assert [cs.milestone for cs in report.milestones] == [key for key, _ in expected]


def test_a_run_that_cannot_record_a_milestone_queues_none_and_the_next_queues_it_once(
        watcher: Watcher) -> None:
    configure(watcher)
    with watcher.store.open():  # the store's tables, made
        pass
    watcher.store.fail_writes("no_milestone_alert", "outbox", "INSERT",
                              "NEW.milestone IS NOT NULL")
    failed = watcher.check()
    assert failed.code == 3 and "database or disk is full" in failed.stderr
    assert watcher.rows("milestones") == 0 and reached(watcher) == []  # rolled back together
    watcher.store.allow_writes("no_milestone_alert", "outbox")
    assert watcher.check().code == 0
    assert watcher.check("--force").code == 0
    assert sorted(key for key, _ in reached(watcher)) == [OVERDUE, LAPSED]


def test_an_undelivered_milestone_alert_waits_and_is_listed(watcher: Watcher) -> None:
    configure(watcher, notify=[{"kind": "file", "path": "missing/alerts.jsonl"}])
    run = watcher.check()
    assert run.code == 3 and "alert not delivered on file:missing/alerts.jsonl" in run.stderr
    listing = watcher.run("notify").stdout.splitlines()
    assert sorted(line.split("\t")[2] for line in listing) == [f"milestone {OVERDUE}",
                                                               f"milestone {LAPSED}"]
    status = watcher.run("status").stdout
    assert f"file:missing/alerts.jsonl  {TRIAL} milestone {OVERDUE}  attempts 1" in status
    (watcher.folder / "missing").mkdir()
    assert watcher.check("--force").code == 0  # delivered now, not queued again
    lines = (watcher.folder / "missing" / "alerts.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["changes"][0]["new"]["milestone"] for line in lines) == [
        OVERDUE, LAPSED]


@pytest.mark.smoke
def test_a_check_killed_while_sending_one_neither_loses_nor_repeats_it(
        watcher: Watcher) -> None:
    with http_endpoint(Hook(hold=threading.Event())) as hook:
        configure(watcher, notify=[{"kind": "webhook", "name": "hook", "retries": 0,
                                    "url": f"{hook.url}/in"}])
        process = subprocess.Popen([sys.executable, "-m", "ctwatch", "check"],
                                   cwd=watcher.folder, env=watcher.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert hook.received.wait(DEADLINE_S)  # committed, and the first one on its way
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=DEADLINE_S) == -signal.SIGKILL
        finally:
            process.kill()
            process.wait()
        assert hook.hold is not None
        hook.hold.set()
        rerun = watcher.check("--force")
    assert rerun.code == 0, rerun.stderr
    assert watcher.rows("milestones") == 2
    sent = [(headers["Idempotency-Key"], json.loads(body)["changes"][0]["new"]["milestone"])
            for _, headers, body in hook.requests]
    assert len(sent) == 3 and sent[0] == sent[1]  # the one in flight again, as the same message
    assert sorted({key for _, key in sent}) == [OVERDUE, LAPSED]


def test_rules_and_routes_apply_to_milestones(watcher: Watcher) -> None:
    configure(watcher, rules={"severity": {"compliance.results_overdue": "critical"},
                              "ignore": ["compliance.verification_lapsed"]},
              notify=[{"kind": "stdout"},
                      {"kind": "file", "path": "alerts.jsonl", "min_severity": "critical"}],
              trials=[{"id": TRIAL, "notify": ["file:alerts.jsonl"]}])
    run = watcher.check()
    assert run.code == 0, run.stderr
    assert reached(watcher) == [(OVERDUE, "critical")]
    assert run.stdout == ""  # the trial's alerts go to its own channel only
    assert watcher.rows("milestones") == 1  # an ignored milestone is not recorded


def test_a_dry_run_shows_the_milestones_a_check_would_alert(watcher: Watcher) -> None:
    configure(watcher)
    dry = watcher.check("--dry-run")
    assert dry.code == 0, dry.stderr
    assert dry.stdout.count("would alert: stdout, file:alerts.jsonl") == 2
    assert "compliance milestone, severity major" in dry.stdout
    assert "2 compliance milestones; nothing stored or sent" in dry.stderr
    assert watcher.rows("milestones") == 0 and watcher.rows("snapshots") == 0
    watcher.check()
    after = watcher.check("--dry-run", "--force")
    assert after.stdout == "" and "compliance milestone" not in after.stderr


def test_off_unless_configured(watcher: Watcher) -> None:
    run = watcher.check()
    assert run.code == 0 and run.stdout == "" and watcher.alerts() == []
    assert watcher.rows("milestones") == 0


def test_a_store_before_milestones_is_migrated_and_keeps_its_alerts(
        watcher: Watcher, store: StoreUnderTest) -> None:
    configure(watcher)
    trial = myeloma()
    with store.open() as db:
        save_change(db, trial, with_status(trial, "SUSPENDED"), ["file:alerts.jsonl"])
    store.before_milestones()
    assert store.query("select value from ctwatch_meta where key = 'schema_version'") == [
        {"value": "4"}]
    run = watcher.check("--force")
    assert run.code == 0, run.stderr
    assert watcher.alerts()[0]["changes"][0]["path"] == "status.overall"  # sent first
    assert sorted(key for key, _ in reached(watcher)) == [OVERDUE, LAPSED]
    assert store.query("select value from ctwatch_meta where key = 'schema_version'") == [
        {"value": str(SCHEMA_VERSION)}]


# -- judging reads an outline of each trial: the same milestones as the whole trial ------------


DAYS = (date(2019, 6, 1), date(2020, 1, 15), date(2022, 7, 1), date(2024, 10, 1),
        date(2024, 11, 27), date(2026, 1, 5), date(2026, 12, 1))


def test_an_outline_finds_what_the_whole_trial_finds(store: StoreUnderTest) -> None:
    trials = {}
    with store.open() as db:
        for path in [*realdata_files("api_v2"), MYELOMA]:
            raw = path.read_bytes()
            for trial in sources.parse(raw, path.name):
                db.save(snapshot(trial, None), raw)
                trials[trial.nct_id] = trial
        judged = {one.nct_id: one.trial for one in milestones.judged(db, list(trials))}
    assert judged.keys() == trials.keys() and len(trials) >= 15
    found = 0
    for nct_id, trial in trials.items():
        for day in DAYS:
            whole = milestones.milestone_findings(trial, day)
            assert milestones.milestone_findings(judged[nct_id], day) == whole, (nct_id, day)
            assert assess(judged[nct_id], day).probable_act.probable == \
                assess(trial, day).probable_act.probable
            found += len(whole)
    assert found >= 30  # the records do reach milestones on those days


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_a_milestone_reads_in_words_in_every_format(fmt: str) -> None:
    one = milestones.Judged(TRIAL, 7, 12, "2022-06-15", myeloma())
    [alert] = [r.change_set for r in milestones.reached(
        _plan(), [one], date(2026, 1, 5), {(TRIAL, LAPSED)})]
    assert render.subject([alert]) == f"[ctwatch] MAJOR {TRIAL}: Results overdue (due 2024-10-27)"
    body = {"text": render.message_text, "markdown": render.message_markdown,
            "html": render.message_html}[fmt]([alert])
    words = " ".join(body.replace("**", "").replace("\\", "").split())
    assert "Results overdue" in words and "due 2024-10-27, 435 days ago, none submitted" in words
    assert "42 CFR 11.44(a)" in words and "compliance milestone" in words
    assert "(none)" not in words and " added" not in words and "→ v12" not in words
    assert "?tab=history&a=" not in body  # one version: no comparison to link to


def _plan() -> Plan:
    return Plan(trials=(TRIAL,), channels=build([{"kind": "stdout"}]))


def test_compliance_alerts_is_true_or_false(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        yaml.safe_dump({"trials": [TRIAL], "compliance_alerts": "yes"}))
    run = ctwatch(tmp_path, "config", "check")
    assert run.code == 2
    assert "compliance_alerts: must be true or false (got 'yes')" in run.stderr
