"""A trial's past: backfill from the registry's history, history, diff and reparse, on a
SQLite file and on a PostgreSQL database (each test runs on both)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import pytest

from ctwatch import sources
from ctwatch.replay import Registry, Version
from tests.conftest import MYELOMA_ID, Study, Watcher
from tests.helpers import MYELOMA, MYELOMA_HISTORY, REALDATA

TRIAL = MYELOMA_ID
LAST_UPDATE = ["2019-09-10", "2020-04-08", "2021-02-11", "2022-06-15"]

pytestmark = pytest.mark.both_stores


def posted(day: str) -> Callable[[Study], None]:
    def edit(study: Study) -> None:
        status = study["protocolSection"]["statusModule"]
        status["lastUpdatePostDateStruct"]["date"] = day
        status["statusVerifiedDate"] = day[:7]
    return edit


def markup_only(study: Study) -> None:
    """The same content in other HTML: entities spelled out, paragraphs wrapped."""
    eligibility = study["protocolSection"]["eligibilityModule"]
    eligibility["eligibilityCriteria"] = (eligibility["eligibilityCriteria"]
                                          .replace("&#x2F;", "/").replace("&gt;", "&#62;"))
    for arm in study["protocolSection"]["armsInterventionsModule"]["armGroups"]:
        arm["description"] = f"<p>{arm['description']}</p>"


def amended(study: Study) -> None:
    eligibility = study["protocolSection"]["eligibilityModule"]
    eligibility["eligibilityCriteria"] = eligibility["eligibilityCriteria"].replace(
        "within 14 days prior to enrollment", "within 28 days prior to enrollment")


def closed(study: Study) -> None:
    study["protocolSection"]["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    study["protocolSection"]["designModule"]["enrollmentInfo"] = {"count": 24, "type": "ACTUAL"}


STEPS: list[list[Callable[[Study], None]]] = [[], [markup_only], [markup_only, amended],
                                               [markup_only, amended, closed]]


def version(base: Study, step: int) -> Study:
    study = copy.deepcopy(base)
    for edit in [*STEPS[step], posted(LAST_UPDATE[step])]:
        edit(study)
    return study


@pytest.fixture
def registry() -> Registry:
    """NCT04083898 with four registry versions (HTML markup), the last one also current."""
    served = Registry()
    history = json.loads(MYELOMA_HISTORY.read_bytes())["study"]
    for step, day in enumerate(LAST_UPDATE):
        served.add_version(TRIAL, Version(day, version(history, step)))
    current = json.loads(MYELOMA.read_bytes())  # API v2 markdown of the same content
    for edit in [amended, closed, posted(LAST_UPDATE[-1])]:
        edit(current)
    served.publish(current)
    return served


def snapshots(watcher: Watcher) -> list[tuple[int | None, int | None]]:
    return [(row["registry_version"], row["parser_version"]) for row in watcher.store.query(
        "select registry_version, parser_version from snapshots order by id")]


def test_backfill_stores_every_version_and_markup_makes_no_change(watcher: Watcher) -> None:
    run = watcher.run("backfill", TRIAL)
    assert run.code == 0, run.stderr
    assert "4 registry versions, 4 new snapshots, 2 change sets" in run.stderr
    assert [v for v, _ in snapshots(watcher)] == [0, 1, 2, 3]
    assert watcher.alerts() == [] and run.stdout == ""

    history = json.loads(watcher.run("history", TRIAL, "--format", "json").stdout)
    assert [(h["registry_version"], h["source"], h["changes"]) for h in history] == [
        (0, "history", 0), (1, "history", 0), (2, "history", 1), (3, "history", 3)]

    latest = json.loads(watcher.run("diff", TRIAL, "--format", "json").stdout)
    assert (latest["from_version"], latest["to_version"]) == (2, 3)
    assert {c["path"] for c in latest["changes"]} == {
        "status.overall", "design.enrollment.count", "design.enrollment.type"}


def test_a_check_after_backfill_sees_no_change(watcher: Watcher) -> None:
    watcher.run("backfill", TRIAL)
    run = watcher.check()
    assert run.code == 0, run.stderr
    assert "0 with changes, 0 new snapshots" in run.stderr
    assert watcher.alerts() == []


def test_backfill_after_checks_is_refused(watcher: Watcher) -> None:
    watcher.check()
    run = watcher.run("backfill", TRIAL)
    assert run.code == 3  # refused, as an older record is (README "Exit codes")
    assert run.stderr.strip() == (f"ctwatch: error: {TRIAL} already has snapshots from checks "
                                  "or imported records; backfill imports a trial's history "
                                  "before its first check or import")


def test_backfill_again_adds_nothing(watcher: Watcher) -> None:
    watcher.run("backfill", TRIAL)
    run = watcher.run("backfill", TRIAL)
    assert "0 new snapshots, 0 change sets" in run.stderr
    assert len(snapshots(watcher)) == 4


def test_diff_between_named_snapshots(watcher: Watcher) -> None:
    watcher.run("backfill", TRIAL)
    run = watcher.run("diff", TRIAL, "--from", "v0", "--to", "2021-03-01")
    assert run.code == 0, run.stderr
    assert ("[MAJOR] Exclusion criterion 7: Receiving any other investigational agents ≤ 14 days "
            "→ ≤ 28 days (stricter)\n"
            "      was: Receiving any other investigational agents within «14» days prior to "
            "enrollment.\n") in run.stdout
    assert "registry v0 of 2019-09-10 → v2 of 2021-02-11" in run.stdout
    assert f"https://clinicaltrials.gov/study/{TRIAL}?tab=history&a=1&b=3" in run.stdout
    assert "status.overall" not in run.stdout
    bad = watcher.run("diff", TRIAL, "--from", "v9")
    assert bad.code == 2 and "no snapshot 'v9'" in bad.stderr


def test_history_of_an_unknown_trial_says_what_to_do(watcher: Watcher) -> None:
    run = watcher.run("history", TRIAL)
    assert run.code == 2
    assert "no snapshots" in run.stderr and "backfill" in run.stderr


def test_diff_of_two_saved_records(watcher: Watcher) -> None:
    newer = watcher.folder / "newer.json"
    study = json.loads(MYELOMA.read_bytes())
    closed(study)
    newer.write_text(json.dumps(study))
    run = watcher.run("diff", str(MYELOMA), str(newer))
    assert run.code == 0, run.stderr
    assert "Overall Status: Recruiting → Active, not recruiting" in run.stdout
    same = watcher.run("diff", str(MYELOMA), str(MYELOMA_HISTORY), "--format", "json")
    assert json.loads(same.stdout)["changes"] == []


def test_a_parser_upgrade_is_not_a_registry_change(watcher: Watcher) -> None:
    watcher.run("backfill", TRIAL)
    trial = "trial" if watcher.store.kind == "sqlite" else "trial::text"  # jsonb on PostgreSQL
    watcher.store.execute("update snapshots set parser_version = 0, "  # as an older parser left it
                          f"trial = replace({trial}, 'Refractory', 'REFRACTORY')"
                          + ("" if watcher.store.kind == "sqlite" else "::jsonb"))
    run = watcher.check()
    assert run.code == 0, run.stderr
    assert "0 with changes, 0 new snapshots" in run.stderr
    run = watcher.run("reparse")
    assert run.code == 0 and "re-parsed 3 snapshots" in run.stderr
    assert {parser for _, parser in snapshots(watcher)} == {sources.PARSER_VERSION}


def test_diff_of_two_different_trials_is_refused(watcher: Watcher) -> None:
    other = REALDATA / "api_v2" / "NCT00184067.json"
    run = watcher.run("diff", str(MYELOMA), str(other))
    assert run.code == 2
    assert "two trials, NCT04083898 and NCT00184067" in run.stderr


@pytest.mark.parametrize(("fmt", "expected"), [
    ("markdown", "- **Overall Status**: ~~Recruiting~~ → **Active, not recruiting**"),
    ("html", "<ins>Active, not recruiting</ins>"),
])
def test_diff_formats_for_people(watcher: Watcher, fmt: str, expected: str) -> None:
    watcher.run("backfill", TRIAL)
    run = watcher.run("diff", TRIAL, "--format", fmt)
    assert run.code == 0, run.stderr
    assert expected in run.stdout
    assert run.stdout.startswith("<!DOCTYPE html>") == (fmt == "html")
