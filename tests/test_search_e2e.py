"""Watching a registry search (issue 17), end to end: ``ctwatch check`` in-process against a
real local registry (loopback HTTP) that answers query.cond, query.intr, filter.overallStatus,
filter.advanced, sort and fields as the API does, with a real store (SQLite, and PostgreSQL).

A search's first check is its baseline (no alert); after it, a trial registered that matches
is one alert naming it, a trial withdrawn is reported as having left and why, a followed
trial's amendment alerts as a listed trial's does, and a trial two searches follow is read
once. The whole registry (``query: {}``) is read as it changes, its baseline resumable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import feedparser
import pytest
import yaml

from ctwatch.replay import Registry, ReplayServer
from ctwatch.store import SCHEMA_VERSION
from tests.conftest import Watcher, clone_record, posted_anew
from tests.helpers import MYELOMA
from tests.stores import StoreUnderTest

pytestmark = pytest.mark.both_stores

Study = dict[str, Any]
ISA_1, ISA_2, DARA, BREAST, NEW_ISA, NEW_BREAST = (
    "NCT90000001", "NCT90000002", "NCT90000003", "NCT90000004", "NCT90000005", "NCT90000006")
ISATUXIMAB_MYELOMA = {"name": "isatuximab-myeloma",
                      "query": {"cond": "multiple myeloma", "intr": "isatuximab"},
                      "filter": {"overallStatus": ["RECRUITING", "NOT_YET_RECRUITING"]},
                      "follow": True}


def trial(nct_id: str, *, condition: str = "Multiple Myeloma", drug: str = "Isatuximab",
          status: str = "RECRUITING", posted: str = "2025-03-01", title: str = "") -> Study:
    """The project's myeloma record, as another trial of the registry: of ``condition`` and
    ``drug`` wherever it said multiple myeloma and isatuximab."""
    text = MYELOMA.read_text()
    for was, now in (("Multiple Myeloma", condition), ("Isatuximab", drug)):
        for spelt in (was, was.lower(), was.upper()):
            text = text.replace(spelt, now)
    study = clone_record(text.encode(), nct_id)
    section = study["protocolSection"]
    section["statusModule"]["overallStatus"] = status
    section["statusModule"]["lastUpdatePostDateStruct"]["date"] = posted
    section["statusModule"]["studyFirstPostDateStruct"]["date"] = posted
    section["identificationModule"]["briefTitle"] = title or f"{drug} in {condition} ({nct_id})"
    return study


@pytest.fixture
def registry() -> Registry:
    served = Registry(data_timestamp="2026-01-05T09:00:05")
    served.publish(trial(ISA_1, posted="2025-01-10"))
    served.publish(trial(ISA_2, posted="2025-02-10"))
    served.publish(trial(DARA, drug="Daratumumab", posted="2025-03-10"))
    served.publish(trial(BREAST, condition="Breast Cancer", drug="Trastuzumab",
                         posted="2025-04-10"))
    return served


def configure(watcher: Watcher, *searches: dict[str, Any], trials: list[str] | None = None,
              **api: Any) -> None:
    path = watcher.folder / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["trials"] = trials or []
    config["searches"] = list(searches)
    config["api"].update(api)
    path.write_text(yaml.safe_dump(config))


def release(watcher: Watcher, *studies: Study) -> None:
    """New registry versions (or new trials), in a new data release."""
    for study in studies:
        watcher.registry.publish(study)
    stamp = watcher.registry.data_timestamp
    watcher.registry.data_timestamp = stamp[:-1] + str(int(stamp[-1]) + 1)


def edited(watcher: Watcher, nct_id: str, change: Callable[[Study], None]) -> Study:
    study = json.loads(watcher.registry.record(nct_id) or b"{}")
    change(study)
    posted_anew(study)
    return study


def search_alerts(watcher: Watcher) -> list[dict[str, Any]]:
    return [alert for alert in watcher.alerts() if alert.get("search")]


def trial_alerts(watcher: Watcher) -> list[dict[str, Any]]:
    return [alert for alert in watcher.alerts() if not alert.get("search")]


def test_a_search_s_first_check_is_its_baseline_and_alerts_no_one(watcher: Watcher) -> None:
    configure(watcher, ISATUXIMAB_MYELOMA)

    run = watcher.check()

    assert run.code == 0, run.stderr
    assert watcher.alerts() == []
    listed = json.loads(watcher.run("searches", "--format", "json").stdout)
    assert [(s["name"], s["size"], s["baseline"], s["follow"]) for s in listed] == [
        ("isatuximab-myeloma", 2, "done", True)]
    # followed: its members are watched (read in full once), the others are not
    assert watcher.rows("snapshots") == 2
    status = watcher.run("status")
    assert "searches:\n  isatuximab-myeloma  2 trials  last checked " in status.stdout
    [state] = json.loads(watcher.run("status", "--format", "json").stdout)["searches"]
    assert (state["name"], state["size"]) == ("isatuximab-myeloma", 2)


def test_a_new_matching_trial_gives_one_alert_naming_it(watcher: Watcher,
                                                        replay: ReplayServer) -> None:
    configure(watcher, ISATUXIMAB_MYELOMA)
    watcher.check()
    release(watcher, trial(NEW_ISA, posted="2026-01-06", title="Isatuximab, the new study"),
            trial(NEW_BREAST, condition="Breast Cancer", drug="Trastuzumab",
                  posted="2026-01-06"))

    run = watcher.check()

    assert run.code == 0, run.stderr
    [alert] = watcher.alerts()
    assert alert["search"] == "isatuximab-myeloma"
    assert alert["top_severity"] == "major"
    [change] = alert["changes"]
    assert change["path"] == f"search.entered[{NEW_ISA}]"
    assert change["label"] == "New trial"
    assert change["new"] == {
        "nct_id": NEW_ISA, "title": "Isatuximab, the new study", "phases": ["PHASE1", "PHASE2"],
        "status": "RECRUITING", "sponsor": "Washington University School of Medicine",
        "first_posted": "2026-01-06", "url": f"https://clinicaltrials.gov/study/{NEW_ISA}"}
    # the stdout channel says it in the registry's words, with the links
    assert (f"New trial: {NEW_ISA} — Isatuximab, the new study (Phase 1/Phase 2, Recruiting, "
            "Washington University School of Medicine; first posted 2026-01-06)") in run.stdout
    assert f"https://clinicaltrials.gov/study/{NEW_ISA}" in run.stdout
    assert "search: https://clinicaltrials.gov/search?" in run.stdout
    # followed from now on: its first snapshot is stored, without an alert of its own
    assert watcher.rows("snapshots") == 3
    assert watcher.check().code == 0 and len(watcher.alerts()) == 1  # told once


def test_a_withdrawn_trial_is_reported_as_having_left_and_why(watcher: Watcher) -> None:
    configure(watcher, ISATUXIMAB_MYELOMA)
    watcher.check()

    def withdraw(study: Study) -> None:
        study["protocolSection"]["statusModule"]["overallStatus"] = "WITHDRAWN"

    release(watcher, edited(watcher, ISA_2, withdraw))
    run = watcher.check()

    assert run.code == 0, run.stderr
    [alert] = search_alerts(watcher)
    [change] = alert["changes"]
    assert change["path"] == f"search.left[{ISA_2}]"
    assert change["kind"] == "removed"
    assert change["old"]["why"] == "status now Withdrawn"
    assert f"Left the search: {ISA_2}" in run.stdout and "status now Withdrawn" in run.stdout
    # no longer followed: nothing else names it, so its own change is not read
    assert trial_alerts(watcher) == []
    listed = json.loads(watcher.run("searches", "--format", "json").stdout)
    assert listed[0]["size"] == 1


def test_a_followed_trial_s_amendment_alerts_like_a_listed_trial_s(watcher: Watcher) -> None:
    configure(watcher, ISATUXIMAB_MYELOMA)
    watcher.check()

    def enrol_more(study: Study) -> None:
        study["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 99

    release(watcher, edited(watcher, ISA_1, enrol_more))
    run = watcher.check()

    assert run.code == 0, run.stderr
    [alert] = watcher.alerts()
    assert alert["nct_id"] == ISA_1 and not alert.get("search")
    assert [c["path"] for c in alert["changes"]] == ["design.enrollment.count"]


def test_a_trial_in_two_searches_is_read_once_a_run(watcher: Watcher,
                                                    replay: ReplayServer) -> None:
    isatuximab = {"name": "isatuximab", "query": {"intr": "isatuximab"}, "follow": True}
    configure(watcher, ISATUXIMAB_MYELOMA, isatuximab, trials=[ISA_1])
    watcher.check()

    def enrol_more(study: Study) -> None:
        study["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 99

    release(watcher, edited(watcher, ISA_1, enrol_more))
    replay.reset_counts()
    run = watcher.check()

    assert run.code == 0, run.stderr
    # two listings (light) and one full read (of one trial: a GET of it) of the one trial
    # that moved: no probe, no second read of the trial both searches (and trials:) name
    assert (replay.counts["list"], replay.counts["study"]) == (2, 1)
    [alert] = watcher.alerts()
    assert alert["nct_id"] == ISA_1


def test_a_dry_run_shows_a_search_s_alert_and_stores_nothing(watcher: Watcher,
                                                             store: StoreUnderTest) -> None:
    configure(watcher, ISATUXIMAB_MYELOMA)
    watcher.check()
    release(watcher, trial(NEW_ISA, posted="2026-01-06"))

    dry = watcher.check("--dry-run")

    assert dry.code == 0, dry.stderr
    assert f"New trial: {NEW_ISA}" in dry.stdout and "would alert: stdout" in dry.stdout
    assert store.rows("search_changes") == 0 and store.rows("search_members") == 2
    assert watcher.check().code == 0
    assert [a["search"] for a in watcher.alerts()] == ["isatuximab-myeloma"]


def test_history_and_diff_take_a_search_s_name(watcher: Watcher) -> None:
    configure(watcher, ISATUXIMAB_MYELOMA)
    watcher.check()
    release(watcher, trial(NEW_ISA, posted="2026-01-06"))
    watcher.check()

    history = watcher.run("history", "isatuximab-myeloma", "--format", "json")
    diff = watcher.run("diff", "isatuximab-myeloma", "--format", "json")
    text = watcher.run("diff", "isatuximab-myeloma")

    assert history.code == 0, history.stderr
    [entry] = json.loads(history.stdout)
    assert entry["entered"] == [NEW_ISA] and entry["left"] == []
    assert json.loads(diff.stdout)["changes"][0]["path"] == f"search.entered[{NEW_ISA}]"
    assert f"New trial: {NEW_ISA}" in text.stdout
    unknown = watcher.run("history", "no-such-search")
    assert unknown.code == 2 and "no-such-search" in unknown.stderr
    named = watcher.run("diff", "isatuximab-myeloma", "--to", str(entry["change_set"]))
    assert named.stdout == text.stdout
    absent = watcher.run("diff", "isatuximab-myeloma", "--to", str(entry["change_set"] + 1))
    assert absent.code == 2 and "is not a change set of this search" in absent.stderr
    since = watcher.run("diff", "isatuximab-myeloma", "--from", "1")
    assert since.code == 2 and "--to ID only" in since.stderr


def test_the_feed_carries_a_search_s_change_sets_with_the_trials(watcher: Watcher) -> None:
    configure(watcher, ISATUXIMAB_MYELOMA)
    watcher.check()

    def enrol_more(study: Study) -> None:
        study["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 99

    release(watcher, trial(NEW_ISA, posted="2026-01-06"), edited(watcher, ISA_1, enrol_more))
    watcher.check()

    run = watcher.run("feed")

    assert run.code == 0, run.stderr
    entries = feedparser.parse(run.stdout_bytes).entries
    titles = sorted(entry.title.split(" — ")[0] for entry in entries)
    assert titles == [f"MAJOR {ISA_1}: Enrollment → 99",
                      f"MAJOR search isatuximab-myeloma: New trial {NEW_ISA}"]
    [searched] = [e for e in entries if "search" in e.title]
    assert searched.link.startswith("https://clinicaltrials.gov/search?")
    assert len({entry.id for entry in entries}) == 2


def test_a_changed_search_starts_a_new_baseline(watcher: Watcher) -> None:
    configure(watcher, ISATUXIMAB_MYELOMA)
    watcher.check()
    broader = {**ISATUXIMAB_MYELOMA, "query": {"cond": "multiple myeloma"}}
    configure(watcher, broader)

    run = watcher.check()  # the same registry data, but not the same search: checked

    assert run.code == 0, run.stderr
    assert watcher.alerts() == []  # DARA matches now, but a new definition is a new baseline
    listed = json.loads(watcher.run("searches", "--format", "json").stdout)
    assert listed[0]["size"] == 3


# -- the whole registry ---------------------------------------------------------------------

EVERYTHING = {"name": "everything", "query": {}, "follow": True}


def test_the_whole_registry_alerts_new_trials_and_follows_every_trial(
        watcher: Watcher, replay: ReplayServer) -> None:
    configure(watcher, EVERYTHING)
    assert watcher.check().code == 0
    assert watcher.alerts() == [] and watcher.rows("snapshots") == 4

    def enrol_more(study: Study) -> None:
        study["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 99

    release(watcher, trial(NEW_BREAST, condition="Breast Cancer", drug="Trastuzumab",
                           posted="2026-02-02"), edited(watcher, DARA, enrol_more))
    replay.reset_counts()
    run = watcher.check()

    assert run.code == 0, run.stderr
    # the day's work is one changed-since request: the records updated since the last date
    # stored (a day of overlap), whole
    assert replay.counts["list"] == 1
    [entered] = search_alerts(watcher)
    assert [c["path"] for c in entered["changes"]] == [f"search.entered[{NEW_BREAST}]"]
    [amended] = trial_alerts(watcher)
    assert amended["nct_id"] == DARA


def test_the_whole_registry_unfollowed_is_read_light(watcher: Watcher,
                                                     replay: ReplayServer) -> None:
    configure(watcher, {"name": "everything", "query": {}})
    assert watcher.check().code == 0
    release(watcher, trial(NEW_ISA, posted="2026-02-02"))
    replay.reset_counts()

    run = watcher.check()

    assert run.code == 0, run.stderr
    [alert] = watcher.alerts()
    assert [c["path"] for c in alert["changes"]] == [f"search.entered[{NEW_ISA}]"]
    assert watcher.rows("snapshots") == 0  # members only: no record read in full
    assert replay.counts["list"] == 1 and replay.counts["study"] == 0


def test_an_interrupted_whole_registry_baseline_goes_on_where_it_stopped(
        watcher: Watcher, replay: ReplayServer, faults: Any) -> None:
    configure(watcher, EVERYTHING, page_size=2, max_retries=0)
    faults.add("list", "none", times=1)  # the first page comes, the second fails
    faults.add("list", "status", status=503, times=1)

    first = watcher.check()

    assert first.code == 3 and "search everything" in first.stderr
    listed = json.loads(watcher.run("searches", "--format", "json").stdout)
    assert (listed[0]["size"], listed[0]["baseline"]) == (2, "in progress")

    second = watcher.check()

    assert second.code == 0, second.stderr
    listed = json.loads(watcher.run("searches", "--format", "json").stdout)
    assert (listed[0]["size"], listed[0]["baseline"]) == (4, "done")
    assert watcher.alerts() == [] and watcher.rows("snapshots") == 4


def test_a_store_before_searches_is_migrated(watcher: Watcher, store: StoreUnderTest) -> None:
    configure(watcher, trials=[ISA_1])
    watcher.check()
    store.before_searches()

    def enrol_more(study: Study) -> None:
        study["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 99

    release(watcher, edited(watcher, ISA_1, enrol_more))
    configure(watcher, ISATUXIMAB_MYELOMA, trials=[ISA_1])
    run = watcher.check()

    assert run.code == 0, run.stderr
    assert store.query("select value from ctwatch_meta where key = 'schema_version'") == [
        {"value": str(SCHEMA_VERSION)}]
    [alert] = watcher.alerts()  # the trial's change; the search's baseline says nothing
    assert alert["nct_id"] == ISA_1
    assert store.rows("search_members") == 2


def test_a_whole_registry_record_that_failed_is_read_again_until_it_is_stored(
        watcher: Watcher) -> None:
    configure(watcher, EVERYTHING)
    watcher.check()
    broken = trial(NEW_ISA, posted="2026-02-02")
    broken["protocolSection"]["statusModule"]["startDateStruct"] = {"date": "2020-13-45"}
    release(watcher, broken, edited(watcher, DARA, lambda study: None))  # DARA: 2026-02-02 on

    def later(study: Study) -> None:
        study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = \
            "2026-02-20"

    release(watcher, edited(watcher, ISA_1, later))
    failed = watcher.check()

    assert failed.code == 3 and NEW_ISA in failed.stderr
    [entered] = search_alerts(watcher)  # told as new, though its record could not be read
    assert [c["path"] for c in entered["changes"]] == [f"search.entered[{NEW_ISA}]"]
    # mended upstream without its date moving: the registry's stream, past it, never sends
    # it again, so the check asks for it by id
    mended = json.loads(watcher.registry.record(NEW_ISA) or b"{}")
    mended["protocolSection"]["statusModule"]["startDateStruct"] = {"date": "2020-10"}
    release(watcher, mended)

    run = watcher.check()

    assert run.code == 0, run.stderr
    assert watcher.store.rows("snapshots", f"nct_id = '{NEW_ISA}'") == 1
    assert len(search_alerts(watcher)) == 1
