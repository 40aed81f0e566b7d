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
    "NCT04083898/NCT04083898.json": "d3c0cdc744e71b95",
    "NCT04083898/classic_page.html": "f37ec937fece4ba8",
    "NCT04083898/classic_page.txt": "8138f49c8e99c25b",
    "NCT04083898/history_v12.json": "d3c0cdc744e71b95",
    "realdata/api_v2/NCT00184067.json": "2e5f40e41405892b",
    "realdata/api_v2/NCT00711542.json": "cb309e7405e22d51",
    "realdata/api_v2/NCT00763412.json": "0dff89bc2102dbdc",
    "realdata/api_v2/NCT00973089.json": "8109cf69ac1d3795",
    "realdata/api_v2/NCT02210780.json": "5118fec12967ce85",
    "realdata/api_v2/NCT02513394.json": "75b0a1a95a485420",
    "realdata/api_v2/NCT02552212.json": "dc350fecc04d7870",
    "realdata/api_v2/NCT03475563.json": "3ab3b2a3b1d94aa7",
    "realdata/api_v2/NCT03630471.json": "f65c4fa58de7c5b0",
    "realdata/api_v2/NCT03934567.json": "8266a2f310a25fa4",
    "realdata/api_v2/NCT04207047.json": "3aed921b21b3dab0",
    "realdata/api_v2/NCT04267848.json": "4bd5372a2dc93e64",
    "realdata/api_v2/NCT05147467.json": "e11b54c4810b0e57",
    "realdata/api_v2/NCT05594173.json": "40519a9da12a2a81",
    "realdata/api_v2/NCT06341426.json": "ef402af790c9709c",
    "realdata/api_v2_fields_subset/biomcp_get_nct02576665_20260811.json": "ea70829da77430ca",
    "realdata/api_v2_fields_subset/biomcp_search_phelan_limit5_20260811.json": "8d38892e8cf79ba6",
    "realdata/api_v2_fields_subset/biomcp_search_phelan_next_20260811.json": "5af5b106557af2fc",
    "realdata/api_v2_list/KyleVogelerSource_sampleResponse.json": "cb309e7405e22d51",
    "realdata/api_v2_list/cyanheads_studies_2025-06-17T11-15-33_page1.json": "e11b54c4810b0e57",
    "realdata/api_v2_list/cyanheads_studies_2025-06-17T11-16-37_page1.json": "92dcf1f434b34a3b",
    "realdata/api_v2_trimmed/NCT03418623.json": "3cc83aa03a0cd69f",
    "realdata/api_v2_trimmed/NCT06171568.json": "066675744558f17c",
    "realdata/history/NCT03690141_int_study_history_true.json": "79debfe8702c7505",
    "realdata/history/NCT04280705_history_v0.json": "1a0f885764a15240",
    "realdata/interventions/NCT02260193.xml": "697e73fc0def05bc",
    "realdata/interventions/NCT02299791.json": "98fc1aedd75dbc24",
    "realdata/legacy_xml/NCT00023673.xml": "3461337c2a93c8b5",
    "realdata/legacy_xml/NCT00277524.xml": "8fc97ca14196b697",
    "realdata/legacy_xml/NCT01076361.xml": "4a1c08b10f7a912a",
    "realdata/legacy_xml/NCT01220531.xml": "0c97a1643c4d8a9c",
    "realdata/legacy_xml/NCT02513394.xml": "32d10fe59553a103",
    "realdata/legacy_xml/NCT02591810.xml": "bd535a7c3312208f",
    "realdata/legacy_xml/NCT02654730.xml": "92233e82c54a7ef1",
    "realdata/legacy_xml/NCT03182660.xml": "dd39142b43fe1665",
    "realdata/legacy_xml/NCT03424005.xml": "e1a5b03614c2e283",
    "realdata/legacy_xml/NCT04452435.xml": "758528a5b09c42e8",
    "realdata/thresholds/NCT00001177.xml": "2cab96b5155deca2",
    "realdata/thresholds/NCT00055575.xml": "8200c46c1d4f5f6f",
    "realdata/thresholds/NCT00055614.xml": "a30d2069b9fff6c2",
    "realdata/thresholds/NCT00734539.xml": "576768c9ac73ec6f",
    "realdata/thresholds/NCT00739752.xml": "aca67efa1923f02e",
    "realdata/thresholds/NCT00739778.xml": "66a11608a4170046",
    "realdata/thresholds/NCT00739791.xml": "6ebee0b7c1e03c07",
    "realdata/thresholds/NCT00739830.xml": "fb8a544defc52820",
    "realdata/thresholds/NCT00739843.xml": "ce90b9bffe68821a",
    "realdata/thresholds/NCT00739882.xml": "3459cfbb9b537401",
    "realdata/thresholds/NCT00739908.xml": "471198949af00905",
    "realdata/thresholds/NCT01065844.xml": "275b4f1761ac3991",
    "realdata/thresholds/NCT01339988.xml": "04f82e64d7117a04",
    "realdata/thresholds/NCT01380080.xml": "92014f8c6350bca7",
    "realdata/thresholds/NCT01841593.xml": "6592b253b07a9ff1",
    "realdata/thresholds/NCT02438137.xml": "7be696b2ac8af542",
    "realdata/thresholds/NCT02586688.xml": "d15d0926589a68d7",
    "realdata/thresholds/NCT02679963.xml": "56cf6881276a90c6",
    "realdata/thresholds/NCT02699827.xml": "2adbd64248155804",
    "realdata/thresholds/NCT02708238.xml": "5e41a91558a2eb29",
    "realdata/thresholds/NCT02830269.xml": "5fb51a58dff8d286",
    "realdata/thresholds/NCT02970669.xml": "4fe39bf618449faf",
    "realdata/thresholds/NCT02988895.xml": "53b0bd92ec933800",
    "realdata/thresholds/NCT03101111.xml": "a69490f668059d14",
    "realdata/thresholds/NCT03147742.xml": "282a26369f69de1d",
    "realdata/thresholds/NCT03204344.xml": "5204ee9c10f8bf85",
    "realdata/thresholds/NCT03245528.xml": "b6440237069d9a35",
    "realdata/thresholds/NCT03459976.xml": "98717f4c84b69fa5",
    "realdata/thresholds/NCT03494712.xml": "029e670dcfff8848",
    "realdata/thresholds/NCT03521479.xml": "b4db12414c415281",
    "realdata/thresholds/NCT03599518.xml": "5213447eee2819c3",
    "realdata/thresholds/NCT03840122.xml": "e5e85c7eefd519a6",
    "realdata/thresholds/NCT04349592_covid_19_hcq.xml": "1733d5e16bbc1118",
    "realdata/thresholds/NCT04710303_covid_19_all_protocols.xml": "505315b28449d3b4",
    "realdata/thresholds/NCT05380336.xml": "ca29f654a143ecc5",
    "realdata/thresholds/NCT05380414.xml": "aad714928c9cbfb3",
    "realdata/thresholds/NCT05380479.xml": "24c69ae32d8cfff4",
    "realdata/thresholds/NCT05380726.xml": "2c72a0b287c90c32",
    "realdata/thresholds/NCT05380804.xml": "449a1fd6256e2e4b",
    "realdata/thresholds/NCT05380882.xml": "a5bc11e1a0f217b2",
    "realdata/thresholds/NCT05380986.xml": "fd0807e3c7bac35f",
    "realdata/thresholds/NCT05381025.xml": "dd81fdabdbc4a34e",
    "realdata/thresholds/NCT05381090.xml": "296cec06af388cb8",
    "realdata/thresholds/NCT05381142.xml": "8858c3af2dd71b4d",
    "realdata/thresholds/NCT05381194.xml": "9ea4c080504357d8",
    "realdata/thresholds/NCT05381467.xml": "9d06631263f3b354",
    "realdata/thresholds/NCT05381532.xml": "a77707c557420b9d",
    "realdata/thresholds/NCT05381896.xml": "bed05f87bd288873",
    "realdata/thresholds/NCT05389579.xml": "ac4163ea171cfce6",
    "realdata/thresholds/NCT05389774.xml": "d1789dfa37d4a495",
    "realdata/thresholds/NCT05389865.xml": "dff527162d5ec077",
    "realdata/thresholds/NCT05389930.xml": "17f3b849f646ec9c",
    "realdata/thresholds/NCT05481619.xml": "37ca725a0220cd76",
    "realdata/thresholds/NCT05481749.xml": "395ad367057dbf7d",
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
