"""NCT04083898, the trial this project started from: the parse an analyst gets."""

from __future__ import annotations

import json

import pytest

from ctwatch import sources
from ctwatch.model import Criterion, Threshold, Trial
from tests.helpers import MYELOMA, MYELOMA_EXPECTED, MYELOMA_HISTORY, load_json

INTERVENTIONS = ["Isatuximab", "Bendamustine", "Prednisone"]


@pytest.fixture(scope="module")
def trial() -> Trial:
    [parsed] = sources.parse(MYELOMA.read_bytes(), str(MYELOMA))
    return parsed


def test_matches_the_golden_file(trial: Trial) -> None:
    assert trial.to_dict() == load_json(MYELOMA_EXPECTED)


def test_four_arms_each_linked_to_the_three_interventions(trial: Trial) -> None:
    assert len(trial.arms) == 4
    assert {arm.type for arm in trial.arms} == {"EXPERIMENTAL"}
    for arm in trial.arms:
        assert list(arm.interventions) == INTERVENTIONS


def test_three_typed_interventions_each_listing_the_four_arms(trial: Trial) -> None:
    assert [(i.type, i.name) for i in trial.interventions] == [
        ("BIOLOGICAL", "Isatuximab"), ("DRUG", "Bendamustine"), ("DRUG", "Prednisone")]
    labels = [arm.label for arm in trial.arms]
    for intervention in trial.interventions:
        assert list(intervention.arms) == labels


def test_five_outcome_measures(trial: Trial) -> None:
    assert [(o.kind, o.measure.split(" (")[0]) for o in trial.outcomes] == [
        ("primary", "Maximum tolerated dose"),
        ("primary", "Overall response rate"),
        ("secondary", "Number of adverse events experienced by participants"),
        ("secondary", "Progression-free survival"),
        ("secondary", "Overall survival"),
    ]
    assert trial.outcomes[1].time_frame == "6 months"


def test_criteria_tree_shape(trial: Trial) -> None:
    inclusion, exclusion = trial.eligibility.inclusion, trial.eligibility.exclusion
    assert len(inclusion) == 8
    assert len(inclusion[0].children) == 5
    organ = next(c for c in inclusion if c.text.startswith("Normal bone marrow and organ function"))
    assert organ.id == "I6"
    assert [child.id for child in organ.children] == ["I6.1", "I6.2", "I6.3", "I6.4", "I6.5"]
    assert len(exclusion) == 10
    assert exclusion[9].id == "E10"
    assert trial.eligibility.unclassified == ()


def _all(criteria: tuple[Criterion, ...]) -> list[Criterion]:
    return [node for c in criteria for node in (c, *_all(c.children))]


@pytest.mark.parametrize("expected", [
    Threshold("absolute neutrophil count", ">=", 1500, "/mm3"),
    Threshold("platelets", ">=", 75000, "/mm^3"),
    Threshold("alt (sgpt) and ast (sgot)", "<", 3.5, "x ULN"),
    Threshold("creatinine clearance", ">", 30, "ml/min"),
    Threshold("performance status of ecog", "<=", 2, None),
    Threshold("age", ">=", 18, "years"),
    Threshold("cd4+ t-cell counts", "<", 350, "cells/mcL"),
])
def test_thresholds(trial: Trial, expected: Threshold) -> None:
    found = [t for c in _all(trial.eligibility.inclusion + trial.eligibility.exclusion)
             for t in c.thresholds]
    assert expected in found


def test_no_backslash_escape_left_anywhere(trial: Trial) -> None:
    assert "\\" not in json.dumps(trial.to_dict(), ensure_ascii=False).replace("\\n", "")


def test_markdown_and_history_html_give_the_same_trial(trial: Trial) -> None:
    [from_html] = sources.parse(MYELOMA_HISTORY.read_bytes(), str(MYELOMA_HISTORY))
    assert from_html.eligibility == trial.eligibility
    assert from_html.eligibility.text == trial.eligibility.text
    assert from_html == trial


def test_arm_dosing(trial: Trial) -> None:
    dosing = {(d.intervention, d.days, d.cycle): (d.dose, d.unit) for d in trial.arms[1].dosing}
    assert dosing[("Isatuximab", (1, 8, 15, 22), "1")] == (10, "mg/kg")
    assert dosing[("Bendamustine", (1, 2), None)] == (75, "mg/m^2")
    assert dosing[("Prednisone", (1, 2, 3, 4), "each")] == (60, "mg")
    phase2_bendamustine = [d for d in trial.arms[3].dosing if d.intervention == "Bendamustine"]
    assert [(d.dose, d.unit) for d in phase2_bendamustine] == [(None, None)]
