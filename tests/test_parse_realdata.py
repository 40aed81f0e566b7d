"""Every real registry record others saved parses, keeps its structure and every word."""

from __future__ import annotations

import html
import re
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ctwatch import criteria, sources
from ctwatch.model import Trial, schema
from tests.helpers import MYELOMA, MYELOMA_HISTORY, load_json, realdata_files

FOLDERS = ("api_v2", "api_v2_list", "history", "api_v2_fields_subset", "api_v2_trimmed")
FILES = [*realdata_files(*FOLDERS), MYELOMA, MYELOMA_HISTORY]
VALIDATOR = jsonschema.Draft202012Validator(schema())


def raw_studies(path: Path) -> list[dict[str, Any]]:
    document = load_json(path)
    assert isinstance(document, dict)
    if "studies" in document:
        return document["studies"]
    return [document.get("study", document)]


def parsed(path: Path) -> list[tuple[dict[str, Any], Trial]]:
    trials = sources.parse(path.read_bytes(), str(path))
    studies = raw_studies(path)
    assert len(trials) == len(studies)
    return list(zip(studies, trials, strict=True))


def module(study: dict[str, Any], name: str) -> dict[str, Any]:
    return study["protocolSection"].get(name) or {}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_counts_equal_the_raw_record(path: Path) -> None:
    for study, trial in parsed(path):
        arms = module(study, "armsInterventionsModule")
        outcomes = module(study, "outcomesModule")
        assert trial.nct_id == module(study, "identificationModule")["nctId"]
        assert len(trial.arms) == len(arms.get("armGroups", []))
        assert len(trial.interventions) == len(arms.get("interventions", []))
        assert len(trial.outcomes) == sum(
            len(outcomes.get(f"{kind}Outcomes", [])) for kind in ("primary", "secondary", "other"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_arm_intervention_resolves(path: Path) -> None:
    for _, trial in parsed(path):
        names = {i.name for i in trial.interventions}
        labels = {a.label for a in trial.arms}
        for arm in trial.arms:
            assert set(arm.interventions) <= names
        for intervention in trial.interventions:
            assert set(intervention.arms) <= labels


def source_words(text: str, is_html: bool) -> list[str]:
    """The words of a criteria field, read independently of ctwatch.markup: HTML tags and
    entities, or markdown list markers and escapes, removed."""
    if is_html:
        return html.unescape(re.sub(r"<[^>]+>", " ", text)).split()
    text = re.sub(r"^\s*(?:[*+-]|\d+[.)])(?:\s+|$)", " ", text, flags=re.MULTILINE)
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).split()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_criteria_tree_keeps_every_word(path: Path) -> None:
    for study, trial in parsed(path):
        raw = module(study, "eligibilityModule").get("eligibilityCriteria") or ""
        expected = Counter(source_words(raw, is_html="study" in load_json(path)))
        kept = Counter(criteria.criteria_words(trial.eligibility))
        missing = expected - kept
        headings = Counter(word for line in (trial.eligibility.text or "").splitlines()
                           if criteria.is_heading(line) for word in line.split())
        assert missing - headings == Counter(), f"{trial.nct_id} lost words"
        assert kept - expected == Counter(), f"{trial.nct_id} invented words"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_output_validates_against_the_schema(path: Path) -> None:
    for _, trial in parsed(path):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in
                  VALIDATOR.iter_errors(trial.to_dict())]
        assert errors == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_to_dict_round_trips(path: Path) -> None:
    for _, trial in parsed(path):
        assert Trial.from_dict(trial.to_dict()) == trial


def test_corpus_is_what_the_issue_names() -> None:
    folders = {path.parent.name for path in FILES}
    assert {"api_v2", "api_v2_list", "history", "api_v2_fields_subset"} <= folders
    assert len(FILES) >= 25
