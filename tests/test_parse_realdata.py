"""Every real registry record others saved parses, keeps its structure and every word."""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ctwatch import criteria, sources
from ctwatch.errors import ParseError
from ctwatch.model import Trial, schema
from tests.helpers import FIXTURES, MYELOMA, MYELOMA_HISTORY, load_json, realdata_files

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


# The normalized JSON of every real record, in every format, pinned: reading faster must not
# change a byte of it (issue 13). A change to the parser that means to change its output updates
# these (``python -m tests.test_parse_realdata`` prints them) and bumps sources.PARSER_VERSION.
OUTPUT_DIGESTS = {
    "NCT04083898/NCT04083898.json": "30ea299ee7fd4356",
    "NCT04083898/classic_page.html": "39732c26f42d88e3",
    "NCT04083898/classic_page.txt": "9b33428235daad93",
    "NCT04083898/history_v12.json": "30ea299ee7fd4356",
    "realdata/api_v2/NCT00184067.json": "935dfaf815639601",
    "realdata/api_v2/NCT00711542.json": "9493de46834eb076",
    "realdata/api_v2/NCT00763412.json": "4a9f3a8fb980f553",
    "realdata/api_v2/NCT00973089.json": "8109cf69ac1d3795",
    "realdata/api_v2/NCT02210780.json": "cb8940a194482403",
    "realdata/api_v2/NCT02513394.json": "2df7c4a8188f1b4e",
    "realdata/api_v2/NCT02552212.json": "a7fa861e6b3ff3f6",
    "realdata/api_v2/NCT03475563.json": "3ab3b2a3b1d94aa7",
    "realdata/api_v2/NCT03630471.json": "26039a40ed0c178e",
    "realdata/api_v2/NCT03934567.json": "70b5859f582ea8be",
    "realdata/api_v2/NCT04207047.json": "0f932e8bbeac4a82",
    "realdata/api_v2/NCT04267848.json": "0b99db8c5218965f",
    "realdata/api_v2/NCT05147467.json": "8e9e8c36896eb4fd",
    "realdata/api_v2/NCT05594173.json": "26aabbf3b727f34a",
    "realdata/api_v2/NCT06341426.json": "cf4c15d0026732c2",
    "realdata/api_v2_fields_subset/biomcp_get_nct02576665_20260811.json": "ed0e446492dcd60c",
    "realdata/api_v2_fields_subset/biomcp_search_phelan_limit5_20260811.json": "8d38892e8cf79ba6",
    "realdata/api_v2_fields_subset/biomcp_search_phelan_next_20260811.json": "5af5b106557af2fc",
    "realdata/api_v2_list/KyleVogelerSource_sampleResponse.json": "9493de46834eb076",
    "realdata/api_v2_list/cyanheads_studies_2025-06-17T11-15-33_page1.json": "8e9e8c36896eb4fd",
    "realdata/api_v2_list/cyanheads_studies_2025-06-17T11-16-37_page1.json": "d6f31518949d28b9",
    "realdata/api_v2_trimmed/NCT03418623.json": "3cc83aa03a0cd69f",
    "realdata/api_v2_trimmed/NCT06171568.json": "066675744558f17c",
    "realdata/history/NCT03690141_int_study_history_true.json": "7f31b951210d10da",
    "realdata/history/NCT04280705_history_v0.json": "1aadf81c3b43cbcf",
    "realdata/interventions/NCT02260193.xml": "a58084c8209fc087",
    "realdata/interventions/NCT02299791.json": "410431816889d79e",
    "realdata/legacy_xml/NCT00023673.xml": "96f9486d9af19a38",
    "realdata/legacy_xml/NCT00277524.xml": "9d1493003403cac9",
    "realdata/legacy_xml/NCT01076361.xml": "4a1c08b10f7a912a",
    "realdata/legacy_xml/NCT01220531.xml": "1c7b2274be4be8ba",
    "realdata/legacy_xml/NCT02513394.xml": "6c7109820db79312",
    "realdata/legacy_xml/NCT02591810.xml": "e0cd17de7d7dc1a4",
    "realdata/legacy_xml/NCT02654730.xml": "334c86e5030b511d",
    "realdata/legacy_xml/NCT03182660.xml": "dd39142b43fe1665",
    "realdata/legacy_xml/NCT03424005.xml": "66746339d7725245",
    "realdata/legacy_xml/NCT04452435.xml": "19c52566f646785e",
}


def output_digest(path: Path) -> str:
    """The first 16 hex digits of the SHA-256 of the record's trials, as JSON lines."""
    trials = sources.parse(path.read_bytes(), str(path))
    lines = "\n".join(json.dumps(trial.to_dict(), ensure_ascii=False) for trial in trials)
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", OUTPUT_DIGESTS)
def test_the_output_of_every_real_record_is_unchanged(name: str) -> None:
    assert output_digest(FIXTURES / name) == OUTPUT_DIGESTS[name]


def test_every_real_record_has_its_output_pinned() -> None:
    readable = set()
    for path in [*(FIXTURES / "realdata").rglob("*.*"), *(FIXTURES / "NCT04083898").glob("*")]:
        if path.suffix in (".md", ".py") or path.name == "expected.json":
            continue
        try:
            sources.parse(path.read_bytes(), str(path))
        except ParseError:  # a classic page's results tab: not the study, refused
            continue
        readable.add(str(path.relative_to(FIXTURES)))
    assert readable == set(OUTPUT_DIGESTS)


if __name__ == "__main__":
    for name in OUTPUT_DIGESTS:
        print(f'    "{name}": "{output_digest(FIXTURES / name)}",')
