"""`ctwatch compliance` end to end (issue 16): a real check of a local registry into a real
SQLite store, then the command in each format; results that appear are a major change linked
to them, and the stored history shows how late the record was brought up to date."""

from __future__ import annotations

import csv
import io
import json

import pytest

from ctwatch import sources
from ctwatch.compliance import CSV_COLUMNS
from ctwatch.replay import Registry
from tests.conftest import Study, Watcher, study_raw
from tests.helpers import MYELOMA

TRIAL = "NCT04083898"
OTHERS = ("NCT03934567", "NCT04267848")  # not FDA-regulated (China); a probable ACT, not due


@pytest.fixture
def registry() -> Registry:
    served = Registry(data_timestamp="2026-01-05T09:00:05")
    served.publish(MYELOMA.read_bytes())
    for nct_id in OTHERS:
        served.publish(study_raw(nct_id))
    return served


@pytest.fixture
def checked(watcher: Watcher) -> Watcher:
    run = watcher.check()
    assert run.code == 0, run.stderr
    return watcher


def results_posted(study: Study) -> None:
    """NCT04083898 completed on its date and posted results: submitted 2025-01-15, 80 days
    after they were due (2024-10-27: 4 + 30 + 31 + 15)."""
    status = study["protocolSection"]["statusModule"]
    status["overallStatus"] = "COMPLETED"
    status["primaryCompletionDateStruct"] = {"date": "2023-10-28", "type": "ACTUAL"}
    status["resultsFirstSubmitDate"] = "2025-01-15"
    status["resultsFirstPostDateStruct"] = {"date": "2025-02-20", "type": "ACTUAL"}
    study["hasResults"] = True


def test_text_lists_every_trial_with_its_dates_and_findings(checked: Watcher) -> None:
    run = checked.run("compliance", "--as-of", "2026-01-05")
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:2] == ["as of 2026-01-05", ""]
    assert lines[2].split("  ")[0] == "NCT ID"
    rows = {line.split()[0]: line.split() for line in lines[3:6]}
    assert set(rows) == {TRIAL, *OTHERS}
    assert rows[TRIAL][:8] == [TRIAL, "probable", "(ACT)", "2023-10-28", "estimated",
                               "2024-10-27", "435", "overdue"]
    assert rows[TRIAL][8:] == ["2022-06", "results-overdue,", "verification-lapsed,",
                               "record-not-updated"]
    assert rows["NCT04267848"][5:8] == ["2026-12-15", "344", "left"]
    assert rows["NCT03934567"][1:2] == ["no"]
    text = run.stdout
    assert "  probable ACT (ACT): interventional study; studies a U.S. FDA-regulated drug" in text
    assert "  - results overdue: due 2024-10-27, 435 days ago, none submitted (42 CFR 11.44(a)" \
        in text
    assert "  not a probable ACT: the record says it studies no U.S. FDA-regulated drug" not in \
        text  # NCT03934567 has no findings: only its table row


def test_json_gives_dates_reasons_and_rules(checked: Watcher) -> None:
    run = checked.run("compliance", TRIAL, "--as-of", "2026-01-05", "--format", "json")
    assert run.code == 0, run.stderr
    [found] = json.loads(run.stdout)
    assert found["nct_id"] == TRIAL and found["probable_act"]["probable"] is True
    assert found["primary_completion"] == "2023-10-28"
    assert found["results"]["due"] == "2024-10-27"
    assert found["results"]["days_overdue"] == 435
    assert [f["code"] for f in found["findings"]] == [
        "results-overdue", "verification-lapsed", "record-not-updated"]
    assert all(f["reasons"] and f["rule"] for f in found["findings"])
    assert found["milestones"] == ["results-overdue:2024-10-27", "verification-lapsed:2022-06"]


def test_csv_is_one_flat_row_per_trial(checked: Watcher) -> None:
    run = checked.run("compliance", "--as-of", "2026-01-05", "--format", "csv")
    assert run.code == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_id = {row["nct_id"]: row for row in rows}
    assert set(by_id) == {TRIAL, *OTHERS}
    assert {key: by_id[TRIAL][key] for key in (
        "probable_act", "results_due_date", "results_state", "days_overdue", "verified",
        "findings")} == {"probable_act": "True", "results_due_date": "2024-10-27",
                         "results_state": "overdue", "days_overdue": "435",
                         "verified": "2022-06",
                         "findings": "results-overdue;verification-lapsed;record-not-updated"}
    assert (by_id["NCT03934567"]["probable_act"], by_id["NCT03934567"]["results_due_date"]) == (
        "False", "")


def test_results_posted_alert_with_a_link_then_count_as_submitted_late(checked: Watcher) -> None:
    checked.publish(results_posted)
    run = checked.check()
    assert run.code == 0, run.stderr
    [alert] = checked.alerts()
    changes = {change["path"]: change for change in alert["changes"]}
    assert changes["status.has_results"]["severity"] == "major"
    assert changes["status.results_first_posted"]["severity"] == "major"
    assert changes["status.results_first_posted"]["new"] == "2025-02-20"
    assert f"https://clinicaltrials.gov/study/{TRIAL}?tab=results" in run.stdout
    assert "(results posted)" in run.stdout

    found = json.loads(checked.run("compliance", TRIAL, "--as-of", "2026-03-01", "--format",
                                   "json").stdout)[0]
    assert (found["results"]["state"], found["results"]["days_overdue"],
            found["results"]["submitted"]) == ("submitted-late", 80, "2025-01-15")
    # Estimated and Recruiting in the version of 2022-06-15, in force until the version
    # posted 2026-02-02: 731 + 3 + 30 + 31 + 31 + 2 = 828 days after 2023-10-28.
    late = {f["code"]: f for f in found["findings"]}
    assert set(late) == {"results-submitted-late", "record-updated-late"}
    assert late["record-updated-late"]["days"] == 828
    assert found["milestones"] == []


def test_registry_text_is_shown_escaped(checked: Watcher) -> None:
    def title(study: Study) -> None:
        study["protocolSection"]["identificationModule"]["briefTitle"] = "Myeloma \x1b[2J trial"
    checked.publish(title)
    assert checked.check().code == 0
    run = checked.run("compliance", TRIAL, "--as-of", "2026-01-05")
    assert f"{TRIAL}  Myeloma \\x1b[2J trial" in run.stdout and "\x1b" not in run.stdout
    as_json = checked.run("compliance", TRIAL, "--as-of", "2026-01-05", "--format", "json")
    assert json.loads(as_json.stdout)[0]["title"] == "Myeloma \x1b[2J trial"


def schema_1(trial: dict) -> dict:
    """A trial as ctwatch stored it before schema 2: no oversight, no results dates."""
    old = {key: value for key, value in trial.items() if key != "oversight"}
    old["status"] = {key: value for key, value in trial["status"].items()
                     if not key.startswith(("results_first", "disposition_first"))}
    return {**old, "schema_version": 1}


def test_snapshots_of_schema_1_are_reparsed_never_shown_as_changes(checked: Watcher) -> None:
    [row] = checked.store.query("select id, trial from snapshots where nct_id = :nct",
                                nct=TRIAL)
    stored = json.loads(row["trial"])
    checked.store.execute("update snapshots set trial = :trial, parser_version = :parser "
                          "where id = :id", trial=json.dumps(schema_1(stored)),
                          parser=sources.PARSER_VERSION - 1, id=row["id"])
    # a new version of the record in which only the registry's bookkeeping moved
    checked.publish(lambda study: None)
    run = checked.check()
    assert run.code == 0, run.stderr
    assert checked.alerts() == [] and checked.rows("change_sets") == 0
    # the compliance report reads the oversight answers the old snapshot did not hold
    found = json.loads(checked.run("compliance", TRIAL, "--as-of", "2026-01-05", "--format",
                                   "json").stdout)[0]
    assert found["probable_act"]["probable"] is True


def test_no_snapshot_or_a_bad_day_is_a_usage_error(checked: Watcher) -> None:
    missing = checked.run("compliance", "NCT00000001")
    assert missing.code == 2 and missing.stdout == ""
    assert "NCT00000001: no snapshots in the store" in missing.stderr
    bad = checked.run("compliance", "--as-of", "2026-02-30")
    assert bad.code == 2 and bad.stderr.strip().endswith(
        "--as-of: '2026-02-30' is not a date (YYYY-MM-DD)")
    assert checked.run("compliance", "NCT0408389").code == 2
