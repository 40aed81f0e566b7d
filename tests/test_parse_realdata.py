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
    "NCT04083898/NCT04083898.json": "55dfa301debf3e5c",
    "NCT04083898/classic_page.html": "b112315b6812a3a8",
    "NCT04083898/classic_page.txt": "9952e85fd2cfd18b",
    "NCT04083898/history_v12.json": "55dfa301debf3e5c",
    "realdata/api_v2/NCT00184067.json": "c88f78d92ebd78d4",
    "realdata/api_v2/NCT00711542.json": "f992b9cb6d41569f",
    "realdata/api_v2/NCT00763412.json": "661861ac52ce5867",
    "realdata/api_v2/NCT00973089.json": "766af5ae887e1b23",
    "realdata/api_v2/NCT02210780.json": "19b38e96f073bd0f",
    "realdata/api_v2/NCT02513394.json": "3b029ee5c2d6a6c7",
    "realdata/api_v2/NCT02552212.json": "230d50980627c26b",
    "realdata/api_v2/NCT03475563.json": "a5599f3311c54ec7",
    "realdata/api_v2/NCT03630471.json": "71fc9fb9cbaf0006",
    "realdata/api_v2/NCT03934567.json": "881e4edaeb467dca",
    "realdata/api_v2/NCT04207047.json": "fee7a3b0f37f62a5",
    "realdata/api_v2/NCT04267848.json": "6ee07a89ed0f08d5",
    "realdata/api_v2/NCT05147467.json": "e12993d5632136ec",
    "realdata/api_v2/NCT05594173.json": "c8482be132969561",
    "realdata/api_v2/NCT06341426.json": "9a0bda5dde135b03",
    "realdata/api_v2_fields_subset/biomcp_get_nct02576665_20260811.json": "79d91efcbf178b2e",
    "realdata/api_v2_fields_subset/biomcp_search_phelan_limit5_20260811.json": "b3ff5952cb0dceeb",
    "realdata/api_v2_fields_subset/biomcp_search_phelan_next_20260811.json": "93793cf8698a148f",
    "realdata/api_v2_list/KyleVogelerSource_sampleResponse.json": "f992b9cb6d41569f",
    "realdata/api_v2_list/cyanheads_studies_2025-06-17T11-15-33_page1.json": "e12993d5632136ec",
    "realdata/api_v2_list/cyanheads_studies_2025-06-17T11-16-37_page1.json": "85b5fb62a30e8eb2",
    "realdata/api_v2_trimmed/NCT03418623.json": "834e55f30bafbe7d",
    "realdata/api_v2_trimmed/NCT06171568.json": "56dd21870822ab09",
    "realdata/history/NCT03690141_int_study_history_true.json": "3d7fcfb3ea9523e2",
    "realdata/history/NCT04280705_history_v0.json": "6e831e29e33576ad",
    "realdata/interventions/NCT02260193.xml": "efad055ac601d81c",
    "realdata/interventions/NCT02299791.json": "b0a77fdbd65739b7",
    "realdata/legacy_xml/NCT00023673.xml": "4a2fcd7c37a9750c",
    "realdata/legacy_xml/NCT00277524.xml": "cc4cfc5ff1761bd6",
    "realdata/legacy_xml/NCT01076361.xml": "0a050b922d2ab662",
    "realdata/legacy_xml/NCT01220531.xml": "fc6263fb5a3004d9",
    "realdata/legacy_xml/NCT02513394.xml": "acdb990f4e809d6a",
    "realdata/legacy_xml/NCT02591810.xml": "712f751062dfeafd",
    "realdata/legacy_xml/NCT02654730.xml": "209bb23ed6603ed4",
    "realdata/legacy_xml/NCT03182660.xml": "21b2529a33f66e75",
    "realdata/legacy_xml/NCT03424005.xml": "da4e789ef587afaf",
    "realdata/legacy_xml/NCT04452435.xml": "1c8b654e200bb4c5",
    "realdata/thresholds/NCT00001177.xml": "3d069a49fb5eb11b",
    "realdata/thresholds/NCT00055575.xml": "94cb6dca69ed317a",
    "realdata/thresholds/NCT00055614.xml": "f6d5d2384e61f08c",
    "realdata/thresholds/NCT00734539.xml": "142c84d26788fbf6",
    "realdata/thresholds/NCT00739752.xml": "8065956b9d79dfce",
    "realdata/thresholds/NCT00739778.xml": "cae8e5d73e9ddc2e",
    "realdata/thresholds/NCT00739791.xml": "c13b69e27757dc2a",
    "realdata/thresholds/NCT00739830.xml": "0ee1ee7257878385",
    "realdata/thresholds/NCT00739843.xml": "a6fe6fa516ffa305",
    "realdata/thresholds/NCT00739882.xml": "2e4a318f6d5c500d",
    "realdata/thresholds/NCT00739908.xml": "d8cd54b340cf1d02",
    "realdata/thresholds/NCT01065844.xml": "7a8542035165b13a",
    "realdata/thresholds/NCT01339988.xml": "5ae2cde284236c16",
    "realdata/thresholds/NCT01380080.xml": "a1b0d25c0e9547c2",
    "realdata/thresholds/NCT01841593.xml": "c1871f1c7a0694d0",
    "realdata/thresholds/NCT02438137.xml": "2b2a030df4a6fc5c",
    "realdata/thresholds/NCT02586688.xml": "3f44f349297676bc",
    "realdata/thresholds/NCT02679963.xml": "aa31b1b34dace617",
    "realdata/thresholds/NCT02699827.xml": "494593822bf242ec",
    "realdata/thresholds/NCT02708238.xml": "b033a42d84653a0e",
    "realdata/thresholds/NCT02830269.xml": "0b872c27b1ba814a",
    "realdata/thresholds/NCT02970669.xml": "7c744efd987a6eee",
    "realdata/thresholds/NCT02988895.xml": "0f5d25461f7a1aab",
    "realdata/thresholds/NCT03101111.xml": "8c929e61c1f3b8fc",
    "realdata/thresholds/NCT03147742.xml": "cdc1e8dcfa5e9030",
    "realdata/thresholds/NCT03204344.xml": "003ab4f60e6cf776",
    "realdata/thresholds/NCT03245528.xml": "50ae57fb5a9943d4",
    "realdata/thresholds/NCT03459976.xml": "411a3824cb708cf2",
    "realdata/thresholds/NCT03494712.xml": "ba116d203d19f2b1",
    "realdata/thresholds/NCT03521479.xml": "30ba0b7b7918cbca",
    "realdata/thresholds/NCT03599518.xml": "c741ab0dc161c986",
    "realdata/thresholds/NCT03840122.xml": "2dcd997707fb769c",
    "realdata/thresholds/NCT04349592_covid_19_hcq.xml": "b43e1bb32b38b48c",
    "realdata/thresholds/NCT04710303_covid_19_all_protocols.xml": "b12eea1e6136e026",
    "realdata/thresholds/NCT05380336.xml": "55b306ef95f99b62",
    "realdata/thresholds/NCT05380414.xml": "f079f036f264d260",
    "realdata/thresholds/NCT05380479.xml": "4c44739757933bf4",
    "realdata/thresholds/NCT05380726.xml": "8e701fa35388084c",
    "realdata/thresholds/NCT05380804.xml": "0bb92a09f6968779",
    "realdata/thresholds/NCT05380882.xml": "560947b291597b86",
    "realdata/thresholds/NCT05380986.xml": "18653c2b04429bde",
    "realdata/thresholds/NCT05381025.xml": "8327b22313c3bfd6",
    "realdata/thresholds/NCT05381090.xml": "27319782dc871577",
    "realdata/thresholds/NCT05381142.xml": "cd86a6ab578429f5",
    "realdata/thresholds/NCT05381194.xml": "89624350710301df",
    "realdata/thresholds/NCT05381467.xml": "e8f6fa6302376447",
    "realdata/thresholds/NCT05381532.xml": "670b0ce62cb5172f",
    "realdata/thresholds/NCT05381896.xml": "144becaf429c451b",
    "realdata/thresholds/NCT05389579.xml": "50fc685543b4591f",
    "realdata/thresholds/NCT05389774.xml": "fb99f3bc74d8bbb2",
    "realdata/thresholds/NCT05389865.xml": "450a141bb0ce9333",
    "realdata/thresholds/NCT05389930.xml": "8e38d2b478c4e7aa",
    "realdata/thresholds/NCT05481619.xml": "1cc2b3f15a94ff66",
    "realdata/thresholds/NCT05481749.xml": "981d83caccc2180a",
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
