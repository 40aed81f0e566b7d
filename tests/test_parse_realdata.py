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
def test_oversight_and_results_dates_are_the_raw_record_s(path: Path) -> None:
    # issue 16: what compliance reads, as the record gives it
    for study, trial in parsed(path):
        status = module(study, "statusModule")
        oversight = module(study, "oversightModule")
        assert (trial.status.results_first_submitted, trial.status.results_first_posted,
                trial.status.disposition_first_submitted, trial.status.disposition_first_posted
                ) == (status.get("resultsFirstSubmitDate"),
                      status.get("resultsFirstPostDateStruct", {}).get("date"),
                      status.get("dispFirstSubmitDate"),
                      status.get("dispFirstPostDateStruct", {}).get("date"))
        assert trial.oversight.to_dict() == {
            "is_fda_regulated_drug": oversight.get("isFdaRegulatedDrug"),
            "is_fda_regulated_device": oversight.get("isFdaRegulatedDevice"),
            "is_us_export": oversight.get("isUsExport")}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_arm_intervention_resolves(path: Path) -> None:
    for _, trial in parsed(path):
        names = {i.name for i in trial.interventions}
        labels = {a.label for a in trial.arms}
        for arm in trial.arms:
            assert set(arm.interventions) <= names
        for intervention in trial.interventions:
            assert set(intervention.arms) <= labels


#: a list marker at the start of a line or paragraph: dashes, stars, bullet glyphs, "1." "1)"
#: "(1)" "a." "a)" "(a)"
MARKER = re.compile(r"^\s*(?:[•·○◦▪●■□‣⁃]\s*|(?:[*+-]|\(?(?:\d+|[a-z])[.)]|\((?:\d+|[a-z])\))"
                    r"(?:\s+|$))", re.MULTILINE)


def source_words(text: str, is_html: bool) -> list[str]:
    """The words of a criteria field, read independently of ctwatch.markup: HTML tags and
    entities, or markdown escapes, removed; list markers that open a line or paragraph too."""
    if is_html:
        return MARKER.sub(" ", html.unescape(re.sub(r"<[^>]+>", "\n", text))).split()
    text = MARKER.sub(" ", text)
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
    "NCT04083898/NCT04083898.json": "e108a877a69c3fc5",
    "NCT04083898/classic_page.html": "c3c94e40e378c260",
    "NCT04083898/classic_page.txt": "e792a9ebeb009496",
    "NCT04083898/history_v12.json": "e108a877a69c3fc5",
    "realdata/api_v2/NCT00184067.json": "7690e9eecbbb0d4d",
    "realdata/api_v2/NCT00711542.json": "b791a8e6c2886913",
    "realdata/api_v2/NCT00763412.json": "52de1b0933a7d5f7",
    "realdata/api_v2/NCT00973089.json": "f79fbbb5aff7fdf6",
    "realdata/api_v2/NCT02210780.json": "aac89b9802e033ac",
    "realdata/api_v2/NCT02513394.json": "d0fbd8cc264f7e62",
    "realdata/api_v2/NCT02552212.json": "0560b0915b6fa72a",
    "realdata/api_v2/NCT03475563.json": "6fbdb7028b02a6ed",
    "realdata/api_v2/NCT03630471.json": "24a7c369d69da196",
    "realdata/api_v2/NCT03934567.json": "ec79bf545148b4be",
    "realdata/api_v2/NCT04207047.json": "b0ae045f2367964c",
    "realdata/api_v2/NCT04267848.json": "7dca29111c1e10e6",
    "realdata/api_v2/NCT05147467.json": "7470c6e4700ac21f",
    "realdata/api_v2/NCT05594173.json": "751e839791318276",
    "realdata/api_v2/NCT06341426.json": "9dbdb6ff44f31e36",
    "realdata/api_v2_fields_subset/biomcp_get_nct02576665_20260811.json": "ffdf9fda5acaf5de",
    "realdata/api_v2_fields_subset/biomcp_search_phelan_limit5_20260811.json": "8e94177b988a7cbe",
    "realdata/api_v2_fields_subset/biomcp_search_phelan_next_20260811.json": "29739d8339cc22e4",
    "realdata/api_v2_list/KyleVogelerSource_sampleResponse.json": "b791a8e6c2886913",
    "realdata/api_v2_list/cyanheads_studies_2025-06-17T11-15-33_page1.json": "7470c6e4700ac21f",
    "realdata/api_v2_list/cyanheads_studies_2025-06-17T11-16-37_page1.json": "23bb621ad2c88f1a",
    "realdata/api_v2_trimmed/NCT03418623.json": "21c2b2e1a6da9a26",
    "realdata/api_v2_trimmed/NCT06171568.json": "23ddae351cd40ff5",
    "realdata/history/NCT03690141_int_study_history_true.json": "19d33cc52087b5de",
    "realdata/history/NCT04280705_history_v0.json": "a1e380056e1e3ce2",
    "realdata/interventions/NCT02260193.xml": "1c6998b55567b24e",
    "realdata/interventions/NCT02299791.json": "3d09c153bed691fa",
    "realdata/legacy_xml/NCT00023673.xml": "052c835a5049af58",
    "realdata/legacy_xml/NCT00277524.xml": "1cd4435194c7a33b",
    "realdata/legacy_xml/NCT01076361.xml": "cbf4975515ef42dc",
    "realdata/legacy_xml/NCT01220531.xml": "24b36f9028c2cc45",
    "realdata/legacy_xml/NCT02513394.xml": "b71384aa7c52ce09",
    "realdata/legacy_xml/NCT02591810.xml": "8509172d2bcf0501",
    "realdata/legacy_xml/NCT02654730.xml": "ef7464776fe7d65c",
    "realdata/legacy_xml/NCT03182660.xml": "a204be5860cfd516",
    "realdata/legacy_xml/NCT03424005.xml": "0079eb23cc5d9b29",
    "realdata/legacy_xml/NCT04452435.xml": "1558f23edcac9db4",
    "realdata/thresholds/NCT00001177.xml": "9c16adb14308cde6",
    "realdata/thresholds/NCT00055575.xml": "53cec1a5ed30a083",
    "realdata/thresholds/NCT00055614.xml": "35bff1139aaa46b5",
    "realdata/thresholds/NCT00734539.xml": "10e802fd55882d97",
    "realdata/thresholds/NCT00739752.xml": "9eebe6b0e7f10d25",
    "realdata/thresholds/NCT00739778.xml": "6f967377cfcfb63e",
    "realdata/thresholds/NCT00739791.xml": "608d36064118d6fb",
    "realdata/thresholds/NCT00739830.xml": "8587b13f43b41c83",
    "realdata/thresholds/NCT00739843.xml": "b6d244731c71d0ed",
    "realdata/thresholds/NCT00739882.xml": "65564d159701718e",
    "realdata/thresholds/NCT00739908.xml": "efb0ddc5dee0a072",
    "realdata/thresholds/NCT01065844.xml": "3cdf471c9e29cdc1",
    "realdata/thresholds/NCT01339988.xml": "9ab74e7f5a0ea6e1",
    "realdata/thresholds/NCT01380080.xml": "19baa0f34d19ab3c",
    "realdata/thresholds/NCT01841593.xml": "9bde0d7376eb694c",
    "realdata/thresholds/NCT02438137.xml": "b12ae6e28688ad7b",
    "realdata/thresholds/NCT02586688.xml": "08399fce3cb836b0",
    "realdata/thresholds/NCT02679963.xml": "2f3ef74f1e9c8635",
    "realdata/thresholds/NCT02699827.xml": "4ddcb3fee8bcdd78",
    "realdata/thresholds/NCT02708238.xml": "20af37baa0643921",
    "realdata/thresholds/NCT02830269.xml": "f22a7b13fe6b0f93",
    "realdata/thresholds/NCT02970669.xml": "6fc0ab602df05c1c",
    "realdata/thresholds/NCT02988895.xml": "948417f853528737",
    "realdata/thresholds/NCT03101111.xml": "a92414831d89d60f",
    "realdata/thresholds/NCT03147742.xml": "82f23382933b0e91",
    "realdata/thresholds/NCT03204344.xml": "2d8df3ee490aad0a",
    "realdata/thresholds/NCT03245528.xml": "b4d9c71224d97d7b",
    "realdata/thresholds/NCT03459976.xml": "b53623872e8c72b0",
    "realdata/thresholds/NCT03494712.xml": "94a81cc2ff9b9f9c",
    "realdata/thresholds/NCT03521479.xml": "44c6ff521e376435",
    "realdata/thresholds/NCT03599518.xml": "98d165adc6eaf6d8",
    "realdata/thresholds/NCT03840122.xml": "fe52fbf3987488f3",
    "realdata/thresholds/NCT04349592_covid_19_hcq.xml": "5f7d67a05e4a0688",
    "realdata/thresholds/NCT04710303_covid_19_all_protocols.xml": "eba642899f0fa3fe",
    "realdata/thresholds/NCT05380336.xml": "84a94a1e60d8e98b",
    "realdata/thresholds/NCT05380414.xml": "3f9ce9b7fbf14591",
    "realdata/thresholds/NCT05380479.xml": "bda9ef35d407f21a",
    "realdata/thresholds/NCT05380726.xml": "bf2c7743c6f40b2f",
    "realdata/thresholds/NCT05380804.xml": "e6f397b0be8e983d",
    "realdata/thresholds/NCT05380882.xml": "5983753c80509493",
    "realdata/thresholds/NCT05380986.xml": "d2770d19f2f1e2fc",
    "realdata/thresholds/NCT05381025.xml": "e37411f2e74e08dc",
    "realdata/thresholds/NCT05381090.xml": "747a0ce33cf51e89",
    "realdata/thresholds/NCT05381142.xml": "88afc97f4a928758",
    "realdata/thresholds/NCT05381194.xml": "1e736ae20f43d1c3",
    "realdata/thresholds/NCT05381467.xml": "862fe65533c33ba6",
    "realdata/thresholds/NCT05381532.xml": "f7e5fbf601006694",
    "realdata/thresholds/NCT05381896.xml": "b3d44edbf4e2b136",
    "realdata/thresholds/NCT05389579.xml": "359b2e6b5f31993c",
    "realdata/thresholds/NCT05389774.xml": "bb6aed61b506ac9d",
    "realdata/thresholds/NCT05389865.xml": "797b40f33e53532c",
    "realdata/thresholds/NCT05389930.xml": "ec2c4d022ae9f45a",
    "realdata/thresholds/NCT05481619.xml": "6e8f3dc8002fd71c",
    "realdata/thresholds/NCT05481749.xml": "5e9a35ed64d6b246",
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
