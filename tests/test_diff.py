"""The semantic differ, table-driven over edits of the real NCT04083898 record (DESIGN §7).

Each case names an edit of the parsed trial and the exact changes expected, as
(path, kind, severity) and, where it matters, more attributes of the change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctwatch import diff as differ
from ctwatch import sources, wording
from ctwatch.diff import AFTER_START, COMPARISON_STEPS, diff, has_started
from ctwatch.model import Change, Contact, Criterion, Intervention, Location, Outcome, Party, Trial
from ctwatch.rules import DEFAULTS, IGNORED, Rules
from ctwatch.wording import SUMMARY_CONTEXT, SUMMARY_EDITS, Word, word_diff, word_summary
from tests.helpers import MYELOMA, MYELOMA_HISTORY, realdata_files

TODAY = date(2024, 6, 1)  # after the start date of NCT04083898 (2020-04-03)

ARM1 = "Phase I Dose Level 1: Isatuximab + Bendamustine + Prednisone"
ARM2 = "Phase II: Isatuximab + Bendamustine + Prednisone"
ORR = "primary: Overall response rate (ORR) (Phase II only)"
PFS = "secondary: Progression-free survival (PFS) (Phase II only)"
SITE = "Washington University School of Medicine, Saint Louis"
ANC = "Absolute neutrophil count ≥ 1500/mm3"
E10 = ("Patients with HIV are eligible unless their CD4+ T-cell counts are < 350 cells/mcL or "
       "they have a history of AIDS-defining opportunistic infection within the 12 months prior "
       "to registration. Concurrent treatment with effective ART according to DHHS treatment "
       "guidelines is recommended.")
E7 = "Receiving any other investigational agents within 14 days prior to enrollment."


@pytest.fixture(scope="module")
def trial() -> Trial:
    return sources.parse(MYELOMA.read_bytes())[0]


# -- editing helpers --------------------------------------------------------------------------


def status(t: Trial, **values: Any) -> Trial:
    return replace(t, status=replace(t.status, **values))


def design(t: Trial, **values: Any) -> Trial:
    return replace(t, design=replace(t.design, **values))


def eligibility(t: Trial, **values: Any) -> Trial:
    return replace(t, eligibility=replace(t.eligibility, **values))


def enrollment(t: Trial, **values: Any) -> Trial:
    return design(t, enrollment=replace(t.design.enrollment, **values))


def date_point(t: Trial, name: str, **values: Any) -> Trial:
    return status(t, **{name: replace(getattr(t.status, name), **values)})


def edit_criterion(criteria: tuple[Criterion, ...], ident: str, **values: Any
                   ) -> tuple[Criterion, ...]:
    """The criteria with the one of id ``ident`` (at any depth) edited."""
    return tuple(replace(c, **values) if c.id == ident
                 else replace(c, children=edit_criterion(c.children, ident, **values))
                 for c in criteria)


def criterion(t: Trial, section: str, ident: str, **values: Any) -> Trial:
    return eligibility(t, **{section: edit_criterion(getattr(t.eligibility, section), ident,
                                                     **values)})


def insert(items: tuple[Any, ...], index: int, item: Any) -> tuple[Any, ...]:
    return (*items[:index], item, *items[index:])


def arm_named(t: Trial, which: str, **values: Any) -> Trial:
    return replace(t, arms=tuple(replace(a, **values) if a.label == which else a for a in t.arms))


def intervention_named(t: Trial, which: str, **values: Any) -> Trial:
    return replace(t, interventions=tuple(replace(i, **values) if i.name == which else i
                                          for i in t.interventions))


def outcome_measured(t: Trial, current: str, **values: Any) -> Trial:
    return replace(t, outcomes=tuple(replace(o, **values) if o.measure == current else o
                                     for o in t.outcomes))


def site(t: Trial, **values: Any) -> Trial:
    return replace(t, locations=(replace(t.locations[0], **values), *t.locations[1:]))


def reorder_everything(t: Trial) -> Trial:
    """Every list of the trial reversed; nothing said is different."""
    def criteria(items: tuple[Criterion, ...]) -> tuple[Criterion, ...]:
        return tuple(replace(c, children=criteria(c.children[::-1])) for c in items[::-1])

    return replace(
        t, arms=tuple(replace(a, interventions=a.interventions[::-1]) for a in t.arms[::-1]),
        interventions=tuple(replace(i, arms=i.arms[::-1]) for i in t.interventions[::-1]),
        outcomes=t.outcomes[::-1], conditions=t.conditions[::-1],
        design=replace(t.design, phases=t.design.phases[::-1]),
        eligibility=replace(t.eligibility, inclusion=criteria(t.eligibility.inclusion),
                            exclusion=criteria(t.eligibility.exclusion),
                            std_ages=t.eligibility.std_ages[::-1]),
        locations=tuple(replace(loc, contacts=loc.contacts[::-1]) for loc in t.locations[::-1]))


def rename_arm(t: Trial, old: str, new: str) -> Trial:
    """What the parser gives for a renamed arm group: the label changes in both links."""
    t = arm_named(t, old, label=new)
    return replace(t, interventions=tuple(
        replace(i, arms=tuple(new if label == old else label for label in i.arms))
        for i in t.interventions))


def rename_intervention(t: Trial, old: str, new: str) -> Trial:
    t = intervention_named(t, old, name=new)
    return replace(t, arms=tuple(
        replace(a, interventions=tuple(new if n == old else n for n in a.interventions))
        for a in t.arms))


def add_arm(t: Trial) -> Trial:
    arm = replace(t.arms[-1], label="Phase II Expansion: Isatuximab + Bendamustine + Prednisone")
    return replace(t, arms=(*t.arms, arm), interventions=tuple(
        replace(i, arms=(*i.arms, arm.label)) for i in t.interventions))


def remove_arm(t: Trial, label: str) -> Trial:
    return replace(t, arms=tuple(a for a in t.arms if a.label != label),
                   interventions=tuple(replace(i, arms=tuple(x for x in i.arms if x != label))
                                       for i in t.interventions))


def add_intervention(t: Trial) -> Trial:
    dex = Intervention("DRUG", "Dexamethasone", "Dexamethasone 40 mg weekly", (), (ARM2,))
    t = arm_named(t, ARM2, interventions=(*next(a for a in t.arms if a.label == ARM2)
                                           .interventions, "Dexamethasone"))
    return replace(t, interventions=(*t.interventions, dex))


def unlink(t: Trial, label: str, name: str) -> Trial:
    t = replace(t, arms=tuple(
        replace(a, interventions=tuple(n for n in a.interventions if n != name))
        if a.label == label else a for a in t.arms))
    return intervention_named(t, name, arms=tuple(
        x for x in next(i for i in t.interventions if i.name == name).arms if x != label))


def combined(t: Trial) -> Trial:
    """The issue's acceptance case: status, enrollment and one criterion, with arms and
    interventions reordered and the registry's bookkeeping refreshed."""
    t = status(t, overall="ACTIVE_NOT_RECRUITING", last_update_posted="2023-02-01",
               verified="2023-02")
    t = enrollment(t, count=45)
    t = criterion(t, "exclusion", "E7", text=E7.replace("14 days", "28 days"))
    return replace(t, arms=t.arms[::-1], interventions=t.interventions[::-1])


def insert_criterion(t: Trial) -> Trial:
    new = Criterion("E3", "Prior CAR-T cell therapy or other BCMA-directed therapy.")
    renumbered = tuple(replace(c, id=f"E{n}")
                       for n, c in enumerate(insert(t.eligibility.exclusion, 2, new), 1))
    return eligibility(t, exclusion=renumbered)


def new_outcome(kind: str, measure: str) -> Callable[[Trial], Trial]:
    def edit(t: Trial) -> Trial:
        return replace(t, outcomes=(*t.outcomes, Outcome(kind, measure, None, "12 months")))
    return edit


LONG_SUMMARY = ("A phase I/II trial of isatuximab, bendamustine and prednisone in patients "
                "with triple-class-refractory multiple myeloma. Participants are treated in "
                "28-day cycles until progression.")


# -- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    edit: Callable[[Trial], Trial]
    expected: list[tuple[Any, ...]]  # (path, kind, severity[, {attribute: value}])
    today: date = TODAY
    rules: Rules = field(default_factory=Rules.default)


CASES = [
    Case("identical", lambda t: t, []),
    Case("every list reordered", reorder_everything, []),
    Case("bookkeeping only", lambda t: replace(
        status(t, last_update_posted="2023-02-01", verified="2023-02"), schema_version=2), []),
    Case("acceptance: status, enrollment, one criterion, reordered, bookkeeping", combined, [
        ("status.overall", "changed", "major",
         {"old": "RECRUITING", "new": "ACTIVE_NOT_RECRUITING", "category": "status"}),
        ("design.enrollment.count", "changed", "major", {"old": 37, "new": 45}),
        (f"eligibility.exclusion[{E7}]", "changed", "major",
         {"summary": f"eligibility.exclusion[{E7}]: … «within 14 days» → «within 28 days» …"}),
    ]),
    Case("terminated is critical", lambda t: status(t, overall="TERMINATED"), [
        ("status.overall", "changed", "critical",
         {"summary": "status.overall: RECRUITING → TERMINATED"}),
    ]),
    Case("suspended with a reason", lambda t: status(t, overall="SUSPENDED",
                                                     why_stopped="Drug supply interrupted"), [
        ("status.overall", "changed", "critical"),
        ("status.why_stopped", "added", "major", {"new": "Drug supply interrupted"}),
    ]),
    Case("withdrawn is critical", lambda t: status(t, overall="WITHDRAWN"), [
        ("status.overall", "changed", "critical"),
    ]),
    Case("completed is major", lambda t: status(t, overall="COMPLETED"), [
        ("status.overall", "changed", "major"),
    ]),
    Case("results posted", lambda t: status(t, has_results=True), [
        ("status.has_results", "changed", "major",
         {"category": "results", "summary": "status.has_results: no → yes"}),
    ]),
    Case("results first posted, a certification submitted (issue 16)", lambda t: status(
        t, results_first_posted="2025-02-20", disposition_first_submitted="2024-09-01"), [
        ("status.results_first_posted", "added", "major", {"category": "results"}),
        ("status.disposition_first_submitted", "added", "major", {"category": "results"}),
    ]),
    Case("an FDA oversight answer", lambda t: replace(t, oversight=replace(
        t.oversight, is_us_export=False)), [
        ("oversight.is_us_export", "changed", "minor",
         {"category": "oversight", "old": True, "new": False}),
    ]),
    Case("primary outcome changed after start", lambda t: outcome_measured(
        t, "Overall response rate (ORR) (Phase II only)", time_frame="12 months"), [
        (f"outcomes[{ORR}].time_frame", "changed", "critical",
         {"old": "6 months", "new": "12 months", "flags": (AFTER_START,),
          "category": "primary_outcome"}),
    ]),
    Case("primary outcome changed before start", lambda t: outcome_measured(
        t, "Overall response rate (ORR) (Phase II only)", time_frame="12 months"), [
        (f"outcomes[{ORR}].time_frame", "changed", "critical", {"flags": ()}),
    ], today=date(2020, 4, 2)),
    Case("primary outcome added", new_outcome("primary", "Minimal residual disease negativity"), [
        ("outcomes[primary: Minimal residual disease negativity]", "added", "critical",
         {"flags": (AFTER_START,), "old": None}),
    ]),
    Case("primary outcome removed", lambda t: replace(t, outcomes=t.outcomes[:1] + t.outcomes[2:]),
         [(f"outcomes[{ORR}]", "removed", "critical", {"new": None})]),
    Case("primary outcome renamed", lambda t: outcome_measured(
        t, "Overall response rate (ORR) (Phase II only)", measure="Overall response rate (ORR)"), [
        (f"outcomes[{ORR}].measure", "changed", "critical",
         {"new": "Overall response rate (ORR)"}),
    ]),
    Case("secondary outcome promoted to primary", lambda t: outcome_measured(
        t, "Progression-free survival (PFS) (Phase II only)", kind="primary"), [
        (f"outcomes[{PFS}].kind", "changed", "critical",
         {"old": "secondary", "new": "primary", "flags": (AFTER_START,)}),
    ]),
    Case("secondary outcome time frame", lambda t: outcome_measured(
        t, "Progression-free survival (PFS) (Phase II only)", time_frame="Up to 3 years"), [
        (f"outcomes[{PFS}].time_frame", "changed", "major",
         {"category": "secondary_outcome", "flags": ()}),
    ]),
    Case("other outcome added", new_outcome("other", "Quality of life (EORTC QLQ-MY20)"), [
        ("outcomes[other: Quality of life (EORTC QLQ-MY20)]", "added", "minor"),
    ]),
    Case("enrollment becomes actual", lambda t: enrollment(t, count=31, type="ACTUAL"), [
        ("design.enrollment.count", "changed", "major"),
        ("design.enrollment.type", "changed", "major", {"category": "enrollment"}),
    ]),
    Case("primary completion date", lambda t: date_point(t, "primary_completion",
                                                          date="2024-10-28"), [
        ("status.primary_completion.date", "changed", "major",
         {"summary": "status.primary_completion.date: 2023-10-28 → 2024-10-28"}),
    ]),
    Case("completion date", lambda t: date_point(t, "completion", date="2029-10"), [
        ("status.completion.date", "changed", "minor", {"category": "dates"}),
    ]),
    Case("start date type", lambda t: date_point(t, "start", type="ESTIMATED"), [
        ("status.start.type", "changed", "minor"),
    ]),
    Case("phases", lambda t: design(t, phases=("PHASE2",)), [
        ("design.phases", "changed", "major",
         {"old": ["PHASE1", "PHASE2"], "new": ["PHASE2"], "category": "design"}),
    ]),
    Case("study type and masking", lambda t: design(t, study_type="OBSERVATIONAL",
                                                    masking="DOUBLE"), [
        ("design.study_type", "changed", "major"),
        ("design.masking", "changed", "major"),
    ]),
    Case("arm renamed is one change", lambda t: rename_arm(t, ARM2, ARM2.replace("II", "2")), [
        (f"arms[{ARM2}].label", "changed", "major", {"new": ARM2.replace("II", "2")}),
    ]),
    Case("arm description edited (dosing follows)", lambda t: arm_named(
        t, ARM1, description=t.arms[0].description.replace("(10 mg/kg)", "(20 mg/kg)")), [
        (f"arms[{ARM1}].description", "changed", "major",
         {"summary": f"arms[{ARM1}].description: «-Isatuximab (10 mg/kg)» → "
                     "«-Isatuximab (20 mg/kg)» …"}),
    ]),
    Case("arm added", add_arm, [
        ("arms[Phase II Expansion: Isatuximab + Bendamustine + Prednisone]", "added", "major"),
    ]),
    Case("arm removed", lambda t: remove_arm(t, ARM1), [
        (f"arms[{ARM1}]", "removed", "major", {"category": "arms"}),
    ]),
    Case("intervention added to an arm", add_intervention, [
        ("interventions[Dexamethasone]", "added", "major", {"category": "interventions"}),
    ]),
    Case("intervention renamed is one change", lambda t: rename_intervention(
        t, "Bendamustine", "Bendamustine hydrochloride"), [
        ("interventions[Bendamustine].name", "changed", "major"),
    ]),
    Case("intervention other name", lambda t: intervention_named(
        t, "Isatuximab", other_names=("SAR650984", "Sarclisa")), [
        ("interventions[Isatuximab].other_names[SAR650984]", "added", "major"),
        ("interventions[Isatuximab].other_names[Sarclisa]", "added", "major"),
    ]),
    Case("intervention dropped from one arm", lambda t: unlink(t, ARM2, "Prednisone"), [
        (f"arms[{ARM2}].interventions[Prednisone]", "removed", "major", {"old": "Prednisone"}),
    ]),
    Case("inserted criterion is one change", insert_criterion, [
        ("eligibility.exclusion[Prior CAR-T cell therapy or other BCMA-directed therapy.]",
         "added", "major", {"new": {"id": "E3", "text": "Prior CAR-T cell therapy or other "
                                    "BCMA-directed therapy.", "children": [], "thresholds": []}}),
    ]),
    Case("removed criterion", lambda t: eligibility(t, exclusion=t.eligibility.exclusion[1:]), [
        ("eligibility.exclusion[Prior exposure to isatuximab or bendamustine]", "removed", "major"),
    ]),
    Case("nested criterion threshold edited", lambda t: criterion(
        t, "inclusion", "I6.1", text="Absolute neutrophil count ≥ 1000/mm3"), [
        (f"eligibility.inclusion[{ANC}]", "changed", "major",
         {"old": ANC, "new": "Absolute neutrophil count ≥ 1000/mm3", "category": "eligibility",
          "summary": f"eligibility.inclusion[{ANC}]: … «≥ 1500/mm3» → «≥ 1000/mm3»"}),
    ]),
    Case("sub-criterion added under a parent", lambda t: criterion(
        t, "inclusion", "I6", children=(*t.eligibility.inclusion[5].children,
                                        Criterion("I6.6", "Hemoglobin ≥ 8 g/dL"))), [
        ("eligibility.inclusion[Hemoglobin ≥ 8 g/dL]", "added", "major"),
    ]),
    Case("parent criterion reworded, children kept", lambda t: criterion(
        t, "inclusion", "I6", text="Adequate bone marrow and organ function:"), [
        ("eligibility.inclusion[Normal bone marrow and organ function as defined as ALL of the "
         "following:]", "changed", "major"),
    ]),
    Case("ages (standard age groups follow)", lambda t: eligibility(
        t, minimum_age="12 Years", std_ages=("CHILD", "ADULT", "OLDER_ADULT")), [
        ("eligibility.minimum_age", "changed", "major"),
    ]),
    Case("sex and healthy volunteers", lambda t: eligibility(t, sex="FEMALE",
                                                              healthy_volunteers=True), [
        ("eligibility.sex", "changed", "major"),
        ("eligibility.healthy_volunteers", "changed", "major"),
    ]),
    Case("criteria headings only", lambda t: eligibility(t, text=t.eligibility.text.replace(
        "Inclusion Criteria:", "Key Inclusion Criteria:")), [
        ("eligibility.text", "changed", "major"),
    ]),
    Case("titles", lambda t: replace(t, brief_title=t.brief_title + " (IBP)", acronym="IBP"), [
        ("brief_title", "changed", "minor", {"category": "titles"}),
        ("acronym", "added", "minor"),
    ]),
    Case("description written", lambda t: replace(t, brief_summary=LONG_SUMMARY), [
        ("brief_summary", "added", "minor",
         {"category": "descriptions",
          "summary": "brief_summary: (none) → A phase I/II trial of isatuximab, bendamustine "
                     "and predniso…"}),
    ]),
    Case("conditions and keywords", lambda t: replace(
        t, conditions=("Multiple Myeloma", "Plasma Cell Neoplasm"), keywords=("isatuximab",)), [
        ("conditions[Plasma Cell Neoplasm]", "added", "minor", {"category": "conditions"}),
        ("keywords[isatuximab]", "added", "minor", {"category": "keywords"}),
    ]),
    Case("sponsor and collaborator", lambda t: replace(t, sponsor=replace(
        t.sponsor, lead=Party("Washington University in St. Louis", "OTHER"),
        collaborators=(Party("Sanofi", "INDUSTRY"),))), [
        ("sponsor.lead.name", "changed", "minor", {"category": "sponsor"}),
        ("sponsor.collaborators[Sanofi]", "added", "minor", {"category": "collaborators",
                                                             "new": {"name": "Sanofi",
                                                                     "class": "INDUSTRY"}}),
    ]),
    Case("official replaced", lambda t: replace(t, officials=(replace(
        t.officials[0], name="Mark Schroeder, M.D."),)), [
        ("officials[Mark Schroeder, M.D.]", "added", "minor", {"category": "officials"}),
        ("officials[Ravi Vij, M.D.]", "removed", "minor"),
    ]),
    Case("site status", lambda t: site(t, status="ACTIVE_NOT_RECRUITING"), [
        (f"locations[{SITE}].status", "changed", "info", {"category": "locations"}),
    ]),
    Case("site added", lambda t: replace(t, locations=(*t.locations, Location(
        "Siteman Cancer Center - South County", "RECRUITING", "Saint Louis", "Missouri", "63129",
        "United States")),), [
        ("locations[Siteman Cancer Center - South County, Saint Louis]", "added", "info"),
    ]),
    Case("site contact phone", lambda t: site(t, contacts=(
        replace(t.locations[0].contacts[0], phone="314-747-0000"), *t.locations[0].contacts[1:])), [
        (f"locations[{SITE}].contacts[Ravi Vij, M.D.].phone", "changed", "info",
         {"category": "contacts"}),
    ]),
    Case("central contact added", lambda t: replace(t, contacts=(
        *t.contacts, Contact("Study Coordinator", "CONTACT", "314-362-0000", None))), [
        ("contacts[Study Coordinator]", "added", "info", {"category": "contacts"}),
    ]),
    Case("identifier", lambda t: replace(t, org_study_id="201910194-A"), [
        ("org_study_id", "changed", "minor", {"category": "identifiers"}),
    ]),
    Case("most severe first", lambda t: outcome_measured(
        site(status(enrollment(t, count=40), overall="TERMINATED"), status="COMPLETED"),
        "Overall response rate (ORR) (Phase II only)", time_frame="3 months"), [
        ("status.overall", "changed", "critical"),
        (f"outcomes[{ORR}].time_frame", "changed", "critical"),
        ("design.enrollment.count", "changed", "major"),
        (f"locations[{SITE}].status", "changed", "info"),
    ]),
    Case("user rules: ignore and override", lambda t: site(date_point(
        t, "completion", date="2029-10"), status="COMPLETED"), [
        ("status.completion.date", "changed", "major", {"category": "dates"}),
    ], rules=Rules.from_config({"ignore": ["locations[*].status"],
                                "severity": {"status.completion": "major"}})),
]


def _expected(case: Case) -> list[tuple[Any, ...]]:
    return [(path, kind, severity) for path, kind, severity, *_ in case.expected]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_diff(case: Case, trial: Trial) -> None:
    changes = diff(trial, case.edit(trial), case.rules, case.today)
    assert [(c.path, c.kind, c.severity) for c in changes] == _expected(case)
    for change, (*_, details) in zip(changes, case.expected, strict=True):
        if isinstance(details, dict):
            assert {name: getattr(change, name) for name in details} == details


def test_the_table_covers_every_category(trial: Trial) -> None:
    assert len(CASES) >= 25
    seen = {c.category for case in CASES for c in diff(trial, case.edit(trial), today=TODAY)}
    # compliance: milestones reached (ctwatch.milestones, tests/test_milestones.py), and
    # search: trials entering and leaving a search (tests/test_search_e2e.py), not diffs
    assert seen >= {row.category for row in DEFAULTS if row.severity != IGNORED
                    and row.category not in ("compliance", "search")}


def test_changes_are_json_and_round_trip(trial: Trial) -> None:
    for case in CASES:
        for change in diff(trial, case.edit(trial), case.rules, case.today):
            assert Change.from_dict(change.to_dict()) == change
            assert list(change.to_dict()) == ["path", "kind", "old", "new", "category",
                                              "severity", "summary", "flags", "label", "bounds"]
            assert change.summary.startswith(change.path + ": ")


def test_same_content_in_another_markup_is_no_change(trial: Trial) -> None:
    history = sources.parse(MYELOMA_HISTORY.read_bytes())[0]
    assert diff(trial, history, today=TODAY) == []


@pytest.mark.parametrize("path", realdata_files("api_v2", "api_v2_trimmed"),
                         ids=lambda path: path.stem)
def test_real_records_reordered_are_unchanged(path: Any) -> None:
    real = sources.parse(path.read_bytes())[0]
    assert diff(real, reorder_everything(real), today=TODAY) == []


def test_two_different_real_records_are_compared_without_error() -> None:
    first, second = (sources.parse(p.read_bytes())[0] for p in realdata_files("api_v2")[:2])
    changes = diff(first, second, today=TODAY)
    assert "nct_id" in {c.path for c in changes}
    severities = [c.severity for c in changes]  # ordered by rank (tests/test_model.py)
    assert len(set(severities)) > 1 and severities == sorted(severities, reverse=True)


def test_default_rules_are_used_when_none_are_given(trial: Trial) -> None:
    edited = status(trial, overall="TERMINATED")
    assert diff(trial, edited, None, TODAY) == diff(trial, edited, Rules.default(), TODAY)


@pytest.mark.parametrize(("start", "started"), [
    ("2024", True), ("2024-06", True), ("2024-06-01", True), ("2024-06-02", False),
    ("2024-07", False), ("2025", False), ("2019-12-31", True), (None, False), ("soon", False),
])
def test_has_started_at_the_registry_precision(start: str | None, started: bool) -> None:
    assert has_started(start, TODAY) is started


@pytest.mark.parametrize(("old", "new", "expected"), [
    (E7, E7.replace("14", "28"), "… «within 14 days» → «within 28 days» …"),
    ("Prior exposure to isatuximab or bendamustine, within the last twelve months of screening",
     "Prior exposure to isatuximab, bendamustine or daratumumab, within the last twelve months "
     "of screening",
     "… «to isatuximab or bendamustine, within» → «to isatuximab, bendamustine or daratumumab, "
     "within» …"),
    ("Diagnosed with another concurrent malignancy requiring treatment within the last 3 years.",
     "Diagnosed with another concurrent malignancy requiring treatment within the last 3 years. "
     "Basal cell carcinoma is allowed.",
     "… «years.» → «years. Basal cell carcinoma is allowed.»"),
    (E10, E10.replace("350", "200").replace("12 months", "6 months")
     .replace("to DHHS", "to current DHHS").replace("is recommended", "is required"),
     "… «< 350 cells/mcL» → «< 200 cells/mcL» … «the 12 months» → «the 6 months» … «to DHHS» → "
     "«to current DHHS» … (+1 more edit)"),
    ("a  b", "a b", "white space only"),
])
def test_word_summary(old: str, new: str, expected: str) -> None:
    assert word_summary(old, new) == expected


def test_diff_is_pure(trial: Trial) -> None:
    before = dataclasses.asdict(trial)
    edited = combined(trial)
    assert diff(trial, edited, today=TODAY) == diff(trial, edited, today=TODAY)
    assert dataclasses.asdict(trial) == before


# -- bounded matching (issue 11) --------------------------------------------------------------


def test_past_the_pairing_budget_a_reworded_criterion_is_removed_and_added(
        trial: Trial, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(differ, "PAIRING_STEPS", 0)
    edited = criterion(trial, "exclusion", "E7", text=E7.replace("14 days", "28 days"))
    assert [(c.path, c.kind) for c in diff(trial, edited, today=TODAY)] == [
        (f"eligibility.exclusion[{E7.replace('14 days', '28 days')}]", "added"),
        (f"eligibility.exclusion[{E7}]", "removed"),
    ]


def test_a_list_too_long_to_compare_every_pair_pairs_the_edits_made_in_place(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Enough budget to compare each criterion with its neighbours, not with all 60.
    monkeypatch.setattr(differ, "PAIRING_STEPS", 60 * 6 * COMPARISON_STEPS)

    def version(word: str) -> Trial:
        items = tuple(Criterion(f"I{n}", f"Criterion {n}: the {word} value of marker M{n}")
                      for n in range(60))
        return Trial("NCT04083898", eligibility=dataclasses.replace(
            Trial("NCT04083898").eligibility, inclusion=items))

    changes = diff(version("measured"), version("confirmed"), today=TODAY)
    assert [c.kind for c in changes] == ["changed"] * 60


def test_past_the_summary_budget_first_to_last_edit_is_one_edit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wording, "SUMMARY_STEPS", 0)
    assert word_summary("a b c d e f", "a X c d Y f") == "«a b c d e f» → «a X c d Y f»"
    assert word_summary("a b c d e f g", "a b X d e f g") == "… «b c d» → «b X d» …"
    assert word_summary("a  b", "a b") == "white space only"
    assert word_diff("a b c d e f", "a X c d Y f", 1) == (
        Word("same", "a"), Word("del", "b c d e"), Word("ins", "X c d Y"), Word("same", "f"))


# -- one word diff (ctwatch.wording): the summary line, and the view of alerts ------------------

W = " ".join(f"w{n}" for n in range(12))  # w0 … w11


@pytest.mark.parametrize(("old", "new", "expected"), [
    pytest.param(W, W.replace("w6", "X"), "… w4 w5 -w6 +X w7 w8 …", id="edit-inside"),
    pytest.param(W, W.replace("w0", "X"), "-w0 +X w1 w2 …", id="edit-first"),
    pytest.param(W, W + " Y", "… w10 w11 +Y", id="added-at-the-end"),
    pytest.param(W, W.replace("w3", "X").replace("w8", "Y"),
                 "… w1 w2 -w3 +X w4 w5 w6 w7 -w8 +Y w9 w10 …", id="4-apart-one-group"),
    pytest.param(W, W.replace("w2", "X").replace("w8", "Y"),
                 "w0 w1 -w2 +X w3 w4 … w6 w7 -w8 +Y w9 w10 …", id="5-apart-two-groups"),
    pytest.param(W, W.replace(" ", "  "), "", id="white-space-only"),
])
def test_word_diff_keeps_context_around_edits_and_cuts_the_rest(old: str, new: str,
                                                                 expected: str) -> None:
    # Two words of context: edits at most four unchanged words apart show them all; five
    # apart, one word is cut, as in the summary line (and in unified diffs).
    marks = {"same": "", "del": "-", "ins": "+", "gap": ""}
    shown = " ".join(marks[w.op] + w.text for w in word_diff(old, new, context=2))
    assert shown == expected


def summary_from_view(words: tuple[Word, ...]) -> str:
    """The summary line that the word view (at the summary's context) shows."""
    groups: list[tuple[list[str], list[str]]] = []
    for index, word in enumerate(words):
        if word.op == "gap":
            continue
        if index == 0 or words[index - 1].op == "gap":
            groups.append(([], []))
        for side, ops in zip(groups[-1], (("same", "del"), ("same", "ins")), strict=True):
            side.extend([word.text] if word.op in ops else [])
    if not groups:
        return "white space only"
    text = " … ".join(f"«{' '.join(old)}» → «{' '.join(new)}»"
                      for old, new in groups[:SUMMARY_EDITS])
    text = ("… " if words[0].op == "gap" else "") + text
    more = len(groups) - SUMMARY_EDITS
    if more > 0:
        return f"{text} … (+{more} more edit{'s' if more > 1 else ''})"
    return text + (" …" if words[-1].op == "gap" else "")


@given(old=st.lists(st.sampled_from("abcd"), max_size=30),
       new=st.lists(st.sampled_from("abcdX"), max_size=30))
def test_the_summary_line_shows_what_the_word_view_shows(old: list[str], new: list[str]) -> None:
    a, b = " ".join(old), " ".join(new)
    assert word_summary(a, b) == summary_from_view(word_diff(a, b, SUMMARY_CONTEXT))
