"""FDAAA 801 / 42 CFR 11 (ctwatch.compliance, issue 16): a table of real records and
constructed cases, each with the dates and days the rules give, worked out by hand below from
the record and the rules (ctwatch/compliance.py's docstring), never read off the output."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ctwatch import compliance, sources
from ctwatch.cli.compliance import day
from ctwatch.compliance import CSV_COLUMNS, Version, assess
from ctwatch.errors import UsageError
from ctwatch.model import (
    DatePoint,
    Design,
    Intervention,
    Location,
    Oversight,
    Snapshot,
    Status,
    Trial,
)
from tests.helpers import MYELOMA, REALDATA

AS_OF = date(2026, 1, 5)  # the day the fixtures' local registry says its data is of


def real(name: str) -> Trial:
    path = MYELOMA if name == "NCT04083898" else next(REALDATA.glob(f"*/{name}"))
    [trial] = sources.parse(Path(path).read_bytes(), str(path))
    return trial


#: a probable ACT of a drug (phase 2, U.S. site, started 2018), completed, its primary
#: completion 2023-03-01: results due 365 days later, 2024-02-29 (2024 is a leap year)
BASE = Trial(
    nct_id="NCT09000001", brief_title="Constructed",
    status=Status(overall="COMPLETED", verified="2023-06", start=DatePoint("2018-01-10", "ACTUAL"),
                  primary_completion=DatePoint("2023-03-01", "ACTUAL"),
                  completion=DatePoint("2023-06-01", "ACTUAL")),
    design=Design(study_type="INTERVENTIONAL", phases=("PHASE2",), primary_purpose="TREATMENT"),
    oversight=Oversight(is_fda_regulated_drug=True, is_fda_regulated_device=False),
    interventions=(Intervention("DRUG", "X"),),
    locations=(Location("Site", city="Boston", state="Massachusetts", country="United States"),),
)


def with_status(trial: Trial = BASE, **changes: Any) -> Trial:
    return replace(trial, status=replace(trial.status, **changes))


@dataclass(frozen=True)
class Case:
    name: str
    trial: Trial
    as_of: date
    probable: bool
    kind: str | None = None
    due: str | None = None
    state: str | None = None
    overdue: int | None = None  # days after the due date (late, for submitted results)
    left: int | None = None
    findings: tuple[str, ...] = ()
    milestones: tuple[str, ...] = field(default=())


CASES = [
    # -- real records ---------------------------------------------------------------------------
    # FDA-regulated drug, US site and export, phase 1/2, started 2020-04-03: an ACT. Primary
    # completion 2023-10-28, still Estimated: due 2023-10-28 + 365 = 2024-10-27 (the leap day
    # 2024-02-29 lies between); 2024-10-27 → 2025-10-27 is 365 days, → 2026-01-05 4+30+31+5 =
    # 70 more: 435. Verified 2022-06 (to 2022-06-30): due again 2023-06-30, 920 days before
    # 2026-01-05 (731 to 2025-06-30, 184 to 2025-12-31, 5). Recruiting, 800 days after
    # 2023-10-28 (731 to 2025-10-28, 3+30+31+5).
    Case("NCT04083898", real("NCT04083898"), AS_OF, True, "ACT", "2024-10-27", "overdue", 435,
         findings=("results-overdue", "verification-lapsed", "record-not-updated"),
         milestones=("results-overdue:2024-10-27", "verification-lapsed:2022-06")),
    # FDA-regulated device, US site, actual primary completion 2018-10-31: due 2019-10-31;
    # six years to 2025-10-31 (2192 days, two leap days) and 66 days: 2258. Verified 2019-12:
    # due again 2020-12-31, 1826 + 5 = 1831 days. Status Unknown: not a recruiting status.
    Case("NCT04207047.json", real("NCT04207047.json"), AS_OF, True, "ACT", "2019-10-31",
         "overdue", 2258, findings=("results-overdue", "verification-lapsed"),
         milestones=("results-overdue:2019-10-31", "verification-lapsed:2019-12")),
    # Started 2015-09, primary completion 2018-05 (2018-05-31), no FDA answers (registered
    # before them), a biological, US sites: a pACT. Certification 2019-03-01, before the
    # standard deadline 2019-05-31: due 2021-05-31; results submitted 2019-04-27, in time.
    Case("NCT02552212.json (certified delay)", real("NCT02552212.json"), AS_OF, True, "pACT",
         "2021-05-31", "submitted"),
    # PALLAS: pACT, primary completion 2020-11 (2020-11-30): due 2021-11-30; results submitted
    # 2022-02-01: 31 + 31 + 1 = 63 days late. Verified 2023-04: due again 2024-04-30, 365 +
    # 245 + 5 = 615 days before 2026-01-05.
    Case("NCT02513394.json (submitted late)", real("NCT02513394.json"), AS_OF, True, "pACT",
         "2021-11-30", "submitted-late", 63,
         findings=("results-submitted-late", "verification-lapsed"),
         milestones=("verification-lapsed:2023-04",)),
    # FDA-regulated drug, US sites, estimated primary completion 2025-12-15: due 2026-12-15,
    # 26 + 303 + 15 = 344 days after 2026-01-05; the date passed only 21 days ago.
    Case("NCT04267848.json (not due)", real("NCT04267848.json"), AS_OF, True, "ACT",
         "2026-12-15", "not-due", left=344),
    # The same on 2026-11-20: due in 25 days; 340 days after the estimated date, still
    # Estimated and Recruiting; verified 2025-08, due again by 2026-08-31.
    Case("NCT04267848.json (due in 30 days)", real("NCT04267848.json"), date(2026, 11, 20), True,
         "ACT", "2026-12-15", "due-soon", left=25,
         findings=("results-due-soon", "verification-lapsed", "record-not-updated"),
         milestones=("results-due-30d:2026-12-15", "verification-lapsed:2025-08")),
    # Legacy XML (2019): drug "Yes", phase 1/2, US sites, estimated primary completion
    # 2021-08-17: due 2022-08-17, 1237 days before 2026-01-05 (365*3 + 1 leap day to
    # 2025-08-17, then 14+30+31+30+31+5 = 141).
    Case("NCT03424005.xml (legacy XML)", real("NCT03424005.xml"), AS_OF, True, "ACT",
         "2022-08-17", "overdue", 1237,
         findings=("results-overdue", "verification-lapsed", "record-not-updated"),
         milestones=("results-overdue:2022-08-17", "verification-lapsed:2019-04")),
    # Completed before the Final Rule took effect (primary completion 2015-09-15).
    Case("NCT02210780.json (before the rule)", real("NCT02210780.json"), AS_OF, False),
    # The record answers No to both FDA questions; sites in China only.
    Case("NCT03934567.json (not FDA-regulated)", real("NCT03934567.json"), AS_OF, False),
    # -- constructed ----------------------------------------------------------------------------
    Case("not due yet: 31 days left", BASE, date(2024, 1, 29), True, "ACT", "2024-02-29",
         "not-due", left=31),
    Case("due in 30 days", BASE, date(2024, 2, 1), True, "ACT", "2024-02-29", "due-soon",
         left=28, findings=("results-due-soon",), milestones=("results-due-30d:2024-02-29",)),
    Case("due today", BASE, date(2024, 2, 29), True, "ACT", "2024-02-29", "due-soon", left=0,
         findings=("results-due-soon",), milestones=("results-due-30d:2024-02-29",)),
    Case("overdue within the 30-day grace", BASE, date(2024, 3, 30), True, "ACT", "2024-02-29",
         "in-grace", 30, findings=("results-in-grace",)),
    Case("overdue", BASE, date(2024, 3, 31), True, "ACT", "2024-02-29", "overdue", 31,
         findings=("results-overdue",), milestones=("results-overdue:2024-02-29",)),
    # certified by the deadline: 2023-03-01 + 3 years = 2026-03-01; from 2024-06-01, 365 to
    # 2025-06-01 and 30+31+31+30+31+30+31+31+28 = 273 more
    Case("certified delay", with_status(disposition_first_submitted="2024-01-15"),
         date(2024, 6, 1), True, "ACT", "2026-03-01", "not-due", left=638),
    # certified after the deadline: nothing moves; 2024-02-29 → 2024-06-01 is 31+30+31+1 = 93
    Case("certified too late", with_status(disposition_first_submitted="2024-03-15"),
         date(2024, 6, 1), True, "ACT", "2024-02-29", "overdue", 93,
         findings=("certification-late", "results-overdue"),
         milestones=("results-overdue:2024-02-29",)),
    Case("results submitted in time", with_status(
        has_results=True, results_first_submitted="2024-02-20", results_first_posted="2024-03-25"),
        date(2024, 6, 1), True, "ACT", "2024-02-29", "submitted"),
    # submitted 2024-04-10: 31 + 10 = 41 days after 2024-02-29, however long QC took
    Case("results submitted late", with_status(
        has_results=True, results_first_submitted="2024-04-10", results_first_posted="2024-05-20"),
        date(2024, 6, 1), True, "ACT", "2024-02-29", "submitted-late", 41,
        findings=("results-submitted-late",)),
    # a month-only date counts to its last day: 2023-10-31 + 365 = 2024-10-30
    Case("primary completion month only", with_status(
        primary_completion=DatePoint("2023-10", "ACTUAL")), date(2024, 10, 1), True, "ACT",
        "2024-10-30", "due-soon", left=29, findings=("results-due-soon",),
        milestones=("results-due-30d:2024-10-30",)),
    # no primary completion date: the completion date 2023-06-01 counts, due 2024-05-31
    Case("completion date instead", with_status(primary_completion=DatePoint()),
         date(2024, 5, 1), True, "ACT", "2024-05-31", "due-soon", left=30,
         findings=("results-due-soon",), milestones=("results-due-30d:2024-05-31",)),
    # open, verified 2023-01 (to 2023-01-31): due again 2024-01-31, lapsed the day after
    Case("verified within the year", with_status(overall="ACTIVE_NOT_RECRUITING",
                                                 verified="2023-01"),
         date(2024, 1, 31), True, "ACT", "2024-02-29", "due-soon", left=29,
         findings=("results-due-soon",), milestones=("results-due-30d:2024-02-29",)),
    Case("not verified for more than a year", with_status(overall="ACTIVE_NOT_RECRUITING",
                                                          verified="2023-01"),
         date(2024, 2, 1), True, "ACT", "2024-02-29", "due-soon", left=28,
         findings=("results-due-soon", "verification-lapsed"),
         milestones=("results-due-30d:2024-02-29", "verification-lapsed:2023-01")),
    # primary completion 2023-03-01 still Estimated, still Recruiting: up to date until
    # 2023-03-31, stale on 2023-04-15, 30 + 15 = 45 days after the date
    Case("stale status, within 30 days", with_status(
        overall="RECRUITING", verified="2023-02",
        primary_completion=DatePoint("2023-03-01", "ESTIMATED")), date(2023, 3, 31), True,
        "ACT", "2024-02-29", "not-due", left=335),
    Case("stale status", with_status(
        overall="RECRUITING", verified="2023-02",
        primary_completion=DatePoint("2023-03-01", "ESTIMATED")), date(2023, 4, 15), True,
        "ACT", "2024-02-29", "not-due", left=320, findings=("record-not-updated",)),
    # not applicable: no deadline, the record's upkeep still judged
    Case("phase 1 drug", replace(BASE, design=replace(BASE.design, phases=("PHASE1",))),
         date(2024, 6, 1), False),
    Case("observational, stale", with_status(
        replace(BASE, design=replace(BASE.design, study_type="OBSERVATIONAL")),
        overall="RECRUITING", verified="2024-01"), date(2024, 6, 1), False,
        findings=("record-not-updated",)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_the_table(case: Case) -> None:
    found = assess(case.trial, case.as_of)
    assert (found.probable_act.probable, found.probable_act.kind) == (case.probable, case.kind)
    results = found.results
    if not case.probable:
        assert results is None
    else:
        assert results is not None
        assert (str(results.due), results.state, results.days_overdue, results.days_left) == (
            case.due, case.state, case.overdue, case.left)
    assert tuple(f.code for f in found.findings) == case.findings
    assert found.milestones == case.milestones
    for finding in found.findings:
        assert finding.reasons and finding.rule == compliance.RULES[_rule(finding.code)]


def _rule(code: str) -> str:
    return {"certification-late": "certification", "verification-lapsed": "verification",
            "record-not-updated": "updates", "record-updated-late": "updates"}.get(
        code, "results")


def test_nct04083898_is_a_probable_act_and_says_why() -> None:
    verdict = assess(real("NCT04083898"), AS_OF).probable_act
    assert verdict.reasons == (
        "interventional study",
        "studies a U.S. FDA-regulated drug product",
        "Phase 1/Phase 2: not phase 1 alone",
        "not a device feasibility study",
        "not withdrawn",
        "a U.S. site (Saint Louis, Missouri, United States); a product manufactured in and "
        "exported from the U.S.",
        "started 2020-04-03, on or after the Final Rule's effective date (2017-01-18)")
    assert verdict.unmet == ()
    assert "11.22(b)" in verdict.rule and "TrialsTracker" in verdict.rule


def test_its_findings_give_their_dates_and_reasons() -> None:
    found = {f.code: f for f in assess(real("NCT04083898"), AS_OF).findings}
    overdue = found["results-overdue"]
    assert overdue.summary == "results overdue: due 2024-10-27, 435 days ago, none submitted"
    assert overdue.reasons[0].startswith(
        "counted from the estimated primary completion date 2023-10-28: it has passed")
    assert overdue.reasons[1] == "the 30-day grace ended 2024-11-26"
    assert found["verification-lapsed"].days == 920
    assert found["record-not-updated"].reasons == (
        "the primary completion date 2023-10-28 is still Estimated",
        "the overall status is still Recruiting")


@pytest.mark.parametrize(("trial", "unmet"), [
    (replace(BASE, design=replace(BASE.design, phases=("EARLY_PHASE1",))),
     "Early Phase 1: a phase 1 drug trial is not applicable"),
    (replace(BASE, design=replace(BASE.design, primary_purpose="DEVICE_FEASIBILITY")),
     "a device feasibility study is not applicable"),
    (with_status(overall="WITHDRAWN"), "withdrawn before enrolling anyone"),
    (replace(BASE, locations=(Location("Site", city="Lyon", country="France"),)),
     "no site in the U.S. or its territories and no U.S. export (an IND or IDE would also make "
     "it applicable; the record does not publish it)"),
    (replace(BASE, oversight=Oversight(False, False)),
     "the record says it studies no U.S. FDA-regulated drug or device product"),
    (replace(BASE, oversight=Oversight()),  # started 2018: the record should say
     "the record does not say that it studies a U.S. FDA-regulated product"),
    (with_status(start=DatePoint("2015-02", "ACTUAL"),
                 primary_completion=DatePoint("2016-12-31", "ACTUAL")),
     "completed (2016-12-31) before the Final Rule's effective date (2017-01-18)"),
])
def test_each_unmet_criterion_says_so(trial: Trial, unmet: str) -> None:
    verdict = compliance.applicability(trial)
    assert not verdict.probable and verdict.unmet == (unmet,)


@pytest.mark.parametrize(("trial", "kind"), [
    # a device trial's phase is not judged; an export stands for a U.S. site
    (replace(BASE, oversight=Oversight(False, True), design=replace(BASE.design,
                                                                    phases=("PHASE1",))), "ACT"),
    (replace(BASE, locations=(), oversight=replace(BASE.oversight, is_us_export=True)), "ACT"),
    (replace(BASE, locations=(Location("Site", city="Hagåtña", country="Guam"),)), "ACT"),
    # started 2016, completing 2017-01-18: a pACT, its FDA answers not yet asked of it
    (with_status(replace(BASE, oversight=Oversight()), start=DatePoint("2016-05", "ACTUAL"),
                 primary_completion=DatePoint("2017-01-18", "ACTUAL")), "pACT"),
])
def test_what_still_makes_a_probable_act(trial: Trial, kind: str) -> None:
    verdict = compliance.applicability(trial)
    assert (verdict.probable, verdict.kind, verdict.unmet) == (True, kind, ())


def test_a_stored_version_shows_a_late_update() -> None:
    # Actual primary completion 2023-03-01: the record, Estimated and Recruiting in the
    # versions of 2023-02-01 and 2023-05-10, was put right in the version of 2023-06-01, 31 +
    # 30 + 31 = 92 days later; a version is in force until the next one.
    now = with_status(overall="ACTIVE_NOT_RECRUITING", verified="2023-06")
    then = with_status(overall="RECRUITING", primary_completion=DatePoint("2023-03-01",
                                                                          "ESTIMATED"))
    history = [Version(date(2023, 2, 1), then), Version(date(2023, 5, 10), then),
               Version(date(2023, 6, 1), now)]
    [late] = compliance.updates(now, date(2023, 7, 1), history)
    assert (late.code, late.days, late.milestone) == ("record-updated-late", 92, None)
    assert late.summary == ("the record was brought up to date only in the version of "
                            "2023-06-01, 92 days after the actual primary completion date "
                            "2023-03-01")
    assert late.reasons == ("in the version of 2023-05-10, the primary completion date "
                            "2023-03-01 was Estimated; the overall status was Recruiting",)
    assert len(compliance.updates(now, date(2023, 7, 1), history[::2])) == 1  # 2023-02-01 on
    # put right 19 days after the date: in time
    assert compliance.updates(now, date(2023, 7, 1), [
        Version(date(2023, 2, 1), then), Version(date(2023, 3, 20), now)]) == []


def test_milestones_stay_for_one_deadline_and_move_with_it() -> None:
    first = assess(BASE, date(2024, 4, 15)).milestones
    assert first == assess(BASE, date(2024, 9, 1)).milestones == ("results-overdue:2024-02-29",)
    moved = with_status(primary_completion=DatePoint("2023-04-01", "ACTUAL"))
    assert assess(moved, date(2024, 9, 1)).milestones == ("results-overdue:2024-03-31",)


def test_the_json_and_csv_shapes() -> None:
    found = assess(real("NCT04083898"), AS_OF)
    data = found.to_dict()
    assert list(data) == ["nct_id", "title", "as_of", "overall_status", "primary_completion",
                          "primary_completion_type", "verified", "probable_act", "results",
                          "findings", "milestones"]
    assert data["results"]["due"] == "2024-10-27" and data["as_of"] == "2026-01-05"
    assert data["findings"][0]["milestone"] == "results-overdue:2024-10-27"
    assert tuple(found.row()) == CSV_COLUMNS
    assert tuple(assess(BASE, AS_OF).row()) == CSV_COLUMNS


def test_versions_are_dated_as_the_registry_posted_them() -> None:
    def snapshot(registry_date: str | None, posted: str | None) -> Snapshot:
        trial = with_status(last_update_posted=posted)
        return Snapshot(1, trial.nct_id, "2026-01-05T09:00:00Z", "api_v2", None, None,
                        registry_date, 2, "h", trial)
    assert [v.day for v in compliance.versions([
        snapshot("2023-05-10", "2023-05-09"), snapshot(None, "2023-06-01"),
        snapshot(None, None)])] == [date(2023, 5, 10), date(2023, 6, 1), date(2026, 1, 5)]


@pytest.mark.parametrize("text", ["2024-02-30", "2024-2-1", "yesterday", "2024-W01-1",
                                  "２０２４-01-01"])
def test_as_of_must_be_a_day(text: str) -> None:
    with pytest.raises(UsageError, match=r"^--as-of: .* is not a date \(YYYY-MM-DD\)$"):
        day(text)
    assert day("2024-02-29") == date(2024, 2, 29)
