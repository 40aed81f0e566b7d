"""Legacy <clinical_study> XML: every real record parses into the trial API v2 gives for the
same content, its plain text reads as the same blocks as API v2 markdown, and hostile XML is
refused without expanding anything."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
from lxml import etree

from ctwatch import criteria, sources
from ctwatch.diff import diff
from ctwatch.errors import ParseError
from ctwatch.markup import blocks, to_text
from ctwatch.model import Trial, schema
from ctwatch.sources import terms
from tests.helpers import REALDATA, ctwatch

LEGACY = sorted((REALDATA / "legacy_xml").glob("*.xml"))
PALLAS_XML = REALDATA / "legacy_xml" / "NCT02513394.xml"
PALLAS_JSON = REALDATA / "api_v2" / "NCT02513394.json"
VALIDATOR = jsonschema.Draft202012Validator(schema())

# (name, legacy plain text as the old registry laid it out, API v2 markdown, expected text)
SAME_CONTENT = [
    ("heading and dash bullets, wrapped lines",
     "\n        Inclusion Criteria:\n\n          -  Age ≥18 years (or per national\n"
     "             guidelines).\n\n          -  ECOG 0-1.\n      ",
     "Inclusion Criteria:\n\n* Age ≥18 years (or per national guidelines).\n* ECOG 0-1.",
     "Inclusion Criteria:\n- Age ≥18 years (or per national guidelines).\n- ECOG 0-1."),
    ("numbered items",
     "Exclusion Criteria:\n\n  1. Younger than 18 years old,\n\n  2. Functional deficit,",
     "Exclusion Criteria:\n\n1. Younger than 18 years old,\n2. Functional deficit,",
     "Exclusion Criteria:\n- Younger than 18 years old,\n- Functional deficit,"),
    ("nested by indentation",
     "  -  Confirmed stage IIIB lung\n     cancer\n\n       -  Squamous cell carcinoma\n\n"
     "       -  Adenocarcinoma\n\n  -  Measurable disease",
     "* Confirmed stage IIIB lung cancer\n\n  * Squamous cell carcinoma\n  * Adenocarcinoma\n"
     "* Measurable disease",
     "- Confirmed stage IIIB lung cancer\n  - Squamous cell carcinoma\n  - Adenocarcinoma\n"
     "- Measurable disease"),
    ("prose between bullets, wrapped",
     "  -  Breast surgery done.\n\nFFPE tumor tissue block must be received\nprior to "
     "randomization.\n\n  -  ECOG 0-1.",
     "* Breast surgery done.\n\nFFPE tumor tissue block must be received prior to "
     "randomization.\n\n* ECOG 0-1.",
     "- Breast surgery done.\nFFPE tumor tissue block must be received prior to "
     "randomization.\n- ECOG 0-1."),
    ("a dash without a space is text",
     "-Patients must be initiating hormonal treatment. -\n\n  -  ANC ≥ 1,500/µL",
     "-Patients must be initiating hormonal treatment. -\n\n* ANC ≥ 1,500/µL",
     "-Patients must be initiating hormonal treatment. -\n- ANC ≥ 1,500/µL"),
    ("a bullet glyph is a bullet, with or without a space after it",
     "Group 2\n\n•Typical cDGA with a PHA response >5,000 cpm and <50,000 cpm and >20 fold "
     "PHA\nresponse",
     "Group 2\n\n•Typical cDGA with a PHA response \\>5,000 cpm and \\<50,000 cpm and \\>20 fold "
     "PHA response",
     "Group 2\n- Typical cDGA with a PHA response >5,000 cpm and <50,000 cpm and >20 fold PHA "
     "response"),
    ("markdown syntax in plain text is text",
     "  -  ANC >= 1500 and *not* <5 [ref] 1. x_y \\ z",
     "* ANC \\>= 1500 and \\*not\\* \\<5 \\[ref\\] 1. x_y \\\\ z",
     "- ANC >= 1500 and *not* <5 [ref] 1. x_y \\ z"),
    ("a second paragraph inside an item joins its text",
     "  -  Adequate organ function:\n\n     as defined below\n\n  -  Consent",
     "* Adequate organ function:\n\n  as defined below\n* Consent",
     "- Adequate organ function: as defined below\n- Consent"),
    ("description paragraphs, wrapped",
     "\n      This is a prospective, two arm\n      study.\n\n      The purpose of the PALLAS "
     "study\n      is to determine.\n    ",
     "This is a prospective, two arm study.\n\nThe purpose of the PALLAS study is to determine.",
     "This is a prospective, two arm study.\nThe purpose of the PALLAS study is to determine."),
]


@pytest.mark.parametrize(("plain", "markdown", "text"), [case[1:] for case in SAME_CONTENT],
                         ids=[case[0] for case in SAME_CONTENT])
def test_plain_text_and_markdown_give_the_same_blocks(plain: str, markdown: str,
                                                      text: str) -> None:
    assert blocks(plain, "plain") == blocks(markdown, "markdown")
    assert to_text(plain, "plain") == text


def parse_one(path: Path) -> Trial:
    [trial] = sources.parse(path.read_bytes(), str(path))
    return trial


def test_the_pallas_pair_has_equal_eligibility_arms_and_interventions() -> None:
    legacy, current = parse_one(PALLAS_XML), parse_one(PALLAS_JSON)
    assert legacy.eligibility == current.eligibility  # criteria tree, text, ages, sex…
    assert legacy.arms == current.arms
    assert legacy.interventions == current.interventions
    assert (legacy.brief_summary, legacy.conditions, legacy.keywords) == (
        current.brief_summary, current.conditions, current.keywords)


def test_the_pallas_diff_is_what_really_changed() -> None:
    changes = diff(parse_one(PALLAS_XML), parse_one(PALLAS_JSON))
    sections = {re.match(r"[a-z_]+", change.path).group() for change in changes}  # type: ignore[union-attr]
    assert not sections & {"arms", "interventions", "eligibility", "design", "conditions"}
    paths = {change.path for change in changes}
    assert {"status.has_results", "status.primary_completion.date",
            "status.primary_completion.type",
            "outcomes[secondary: Overall Survival (OS)]"} <= paths
    assert any(p.startswith("outcomes[secondary: To compare the safety") for p in paths)


def element_count(path: Path, *tags: str) -> int:
    root = etree.parse(str(path)).getroot()
    return sum(len(root.findall(tag)) for tag in tags)


@pytest.mark.parametrize("path", LEGACY, ids=lambda p: p.name)
def test_counts_equal_the_xml(path: Path) -> None:
    trial = parse_one(path)
    assert trial.nct_id == path.stem
    assert len(trial.arms) == element_count(path, "arm_group")
    assert len(trial.interventions) == element_count(path, "intervention")
    assert len(trial.outcomes) == element_count(path, "primary_outcome", "secondary_outcome",
                                                "other_outcome")
    assert len(trial.locations) == element_count(path, "location")
    names = {i.name for i in trial.interventions}
    assert all(set(arm.interventions) <= names for arm in trial.arms)


def textblock_words(path: Path) -> list[str]:
    """The words of the criteria text block, read without ctwatch.markup: list markers at
    the start of a line dropped (dashes, stars, bullet glyphs, "1." "1)" "(1)" "a." "a)" "(a)")."""
    found = etree.parse(str(path)).getroot().find("eligibility/criteria/textblock")
    text = found.text if found is not None else ""
    glyphs = r"[•·○◦▪●■□‣⁃]\s*"
    numbered = r"(?:[-*+]|\(?(?:\d+|[a-z])[.)]|\((?:\d+|[a-z])\))(?:\s+|$)"
    return re.sub(rf"^\s*(?:{glyphs}|{numbered})", " ", text or "", flags=re.M).split()


@pytest.mark.parametrize("path", LEGACY, ids=lambda p: p.name)
def test_criteria_keep_every_word(path: Path) -> None:
    trial = parse_one(path)
    expected, kept = Counter(textblock_words(path)), Counter(criteria.criteria_words(
        trial.eligibility))
    headings = Counter(word for line in (trial.eligibility.text or "").splitlines()
                       if criteria.is_heading(line) for word in line.split())
    assert expected - kept - headings == Counter()
    assert kept - expected == Counter()


@pytest.mark.parametrize("path", LEGACY, ids=lambda p: p.name)
def test_output_validates_and_round_trips(path: Path) -> None:
    trial = parse_one(path)
    assert [e.message for e in VALIDATOR.iter_errors(trial.to_dict())] == []
    assert Trial.from_dict(trial.to_dict()) == trial


def test_legacy_values_become_api_v2_spellings() -> None:
    first = parse_one(REALDATA / "legacy_xml" / "NCT00023673.xml")
    assert first.design.phases == ("PHASE1", "PHASE2")
    assert first.status.start.date == "2001-07"  # "July 2001": month precision kept
    assert first.status.completion.type == "ACTUAL"
    pallas = parse_one(PALLAS_XML)
    assert pallas.status.overall == "ACTIVE_NOT_RECRUITING"
    assert pallas.status.primary_completion.type == "ESTIMATED"  # "Anticipated"
    assert pallas.status.first_posted == "2015-07-31"
    assert (pallas.design.masking, pallas.design.intervention_model) == ("NONE", "PARALLEL")
    assert parse_one(REALDATA / "legacy_xml" / "NCT02591810.xml").design.phases == ("NA",)
    assert parse_one(REALDATA / "legacy_xml" / "NCT03424005.xml").status.start.date == (
        "2018-03-30")


@pytest.mark.parametrize(("kind", "term", "value"), [
    ("status", "Active, not recruiting", "ACTIVE_NOT_RECRUITING"),
    ("status", "Unknown status", "UNKNOWN"),
    ("date_type", "Anticipated", "ESTIMATED"),
    ("date_type", "Estimate", "ESTIMATED"),
    ("study_type", "Observational [Patient Registry]", "OBSERVATIONAL"),
    ("study_type", "N/A", None),
    ("allocation", "N/A", "NA"),
    ("masking", "Triple (Participant, Care Provider, Investigator)", "TRIPLE"),
    ("intervention_model", "Single Group Assignment", "SINGLE_GROUP"),
    ("primary_purpose", "Educational/Counseling/Training", "ECT"),
    ("agency_class", "U.S. Fed", "FED"),
    ("role", "Sub-Investigator", "SUB_INVESTIGATOR"),
    ("sex", "Both", "ALL"),
])
def test_display_terms(kind: str, term: str, value: str | None) -> None:
    assert terms.enum(kind, term) == value


@pytest.mark.parametrize(("given", "phases"), [
    (["Phase 1/Phase 2"], ("PHASE1", "PHASE2")), (["N/A"], ("NA",)),
    (["Early Phase 1"], ("EARLY_PHASE1",)), (["Phase 2", "Phase 3"], ("PHASE2", "PHASE3")),
])
def test_phases(given: list[str], phases: tuple[str, ...]) -> None:
    assert terms.phases(given) == phases


@pytest.mark.parametrize(("text", "iso"), [
    ("July 2001", "2001-07"), ("March 30, 2018", "2018-03-30"), ("2019", "2019"),
    ("Sept 2010", "2010-09"), ("2023-10", "2023-10"),
])
def test_dates_keep_their_precision(text: str, iso: str) -> None:
    assert terms.date(text) == iso


def test_an_unknown_term_is_an_error_naming_the_element() -> None:
    raw = PALLAS_XML.read_bytes().replace(b"Active, not recruiting", b"Paused for lunch")
    with pytest.raises(ParseError, match=r"NCT02513394: <overall_status>: unknown status "
                                         r"'Paused for lunch'"):
        sources.parse(raw)


# The layout of records downloaded before 2017, as public copies of that time show it.
BEFORE_2017 = b"""<clinical_study rank="1">
  <id_info><nct_id>NCT00000102</nct_id></id_info>
  <overall_status>Completed</overall_status>
  <phase>%s</phase>
  <study_type>%s</study_type>
  <study_design>%s</study_design>
  <enrollment type="Anticipated">300</enrollment>
  <eligibility><gender>Both</gender><minimum_age>18 Years</minimum_age>
    <maximum_age>N/A</maximum_age><healthy_volunteers>No</healthy_volunteers></eligibility>
  <verification_date>July 2015</verification_date>
  <lastchanged_date>July 28, 2015</lastchanged_date>
  <firstreceived_date>August 18, 2014</firstreceived_date>
</clinical_study>"""


def test_records_from_before_2017() -> None:
    design = (b"Allocation: Randomized, Endpoint Classification: Safety/Efficacy Study, "
              b"Intervention Model: Parallel Assignment, Masking: Double Blind (Subject, "
              b"Caregiver, Investigator), Primary Purpose: Prevention")
    [trial] = sources.parse(BEFORE_2017 % (b"Phase 3", b"Interventional", design))
    assert trial.design.to_dict() == {
        "study_type": "INTERVENTIONAL", "phases": ["PHASE3"], "allocation": "RANDOMIZED",
        "intervention_model": "PARALLEL", "masking": "DOUBLE", "primary_purpose": "PREVENTION",
        "enrollment": {"count": 300, "type": "ESTIMATED"}}
    assert (trial.eligibility.sex, trial.status.last_update_posted) == ("ALL", "2015-07-28")
    assert trial.status.first_posted is None  # firstreceived_date is the submission date
    [cohort] = sources.parse(BEFORE_2017 % (b"N/A", b"Observational",
                                            b"Observational Model: Cohort"))
    assert cohort.design.phases == () and cohort.design.allocation is None


def test_std_ages_are_derived_as_the_registry_does() -> None:
    assert terms.std_ages("18 Years", None) == ("ADULT", "OLDER_ADULT")
    assert terms.std_ages(None, "17 Years") == ("CHILD",)
    assert terms.std_ages("6 Months", "70 Years") == ("CHILD", "ADULT", "OLDER_ADULT")


# -- hostile XML ---------------------------------------------------------------------------

SECRET = Path("/etc/passwd")
XXE = (b'<?xml version="1.0"?>\n<!DOCTYPE clinical_study [\n'
       b'  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n'
       b"<clinical_study><id_info><nct_id>NCT02513394</nct_id></id_info>"
       b"<brief_title>&xxe;</brief_title></clinical_study>")
LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE clinical_study [\n  <!ENTITY lol "lol">\n'
          + b"".join(b'  <!ENTITY lol%d "%s">\n' % (n, (b"&lol%d;" % (n - 1) if n > 1
                                                        else b"&lol;") * 10)
                     for n in range(1, 10))
          + b"]>\n<clinical_study><id_info><nct_id>NCT02513394</nct_id></id_info>"
          b"<brief_title>&lol9;</brief_title></clinical_study>")
EXTERNAL_DTD = (b'<?xml version="1.0"?>\n<!DOCTYPE clinical_study SYSTEM "file:///etc/passwd">\n'
                b"<clinical_study><id_info><nct_id>NCT02513394</nct_id></id_info>"
                b"</clinical_study>")
UNDECLARED = (b"<clinical_study><id_info><nct_id>NCT02513394</nct_id></id_info>"
              b"<brief_title>&xxe;</brief_title></clinical_study>")


@pytest.mark.parametrize("raw", [XXE, LAUGHS, EXTERNAL_DTD, UNDECLARED],
                         ids=["external entity", "billion laughs", "external DTD",
                              "undeclared entity"])
def test_hostile_xml_is_refused_fast_and_reads_nothing(raw: bytes) -> None:
    started = time.process_time()
    with pytest.raises(ParseError) as caught:
        sources.parse(raw, "evil.xml")
    assert time.process_time() - started < 5  # an expansion would take minutes and gigabytes
    message = str(caught.value)
    assert message.startswith("evil.xml: ") and "\n" not in message
    assert "DOCTYPE" in message or "invalid XML" in message
    if SECRET.exists():
        first_line = SECRET.read_text().splitlines()[0]
        assert first_line not in message


def test_hostile_xml_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "evil.xml"
    path.write_bytes(XXE)
    result = ctwatch(tmp_path, "parse", str(path))
    assert result.code == 3 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"ctwatch: error: {path}: legacy XML with a DOCTYPE is refused")
    if SECRET.exists():
        assert "root:" not in result.stderr


@pytest.mark.parametrize(("raw", "reason"), [
    (b'<?xml version="1.0"?><search_results count="1"/>', "root element <search_results>"),
    (b"<clinical_study><id_info><nct_id>NCT12</nct_id></id_info></clinical_study>",
     "not an NCT id"),
    (b"<clinical_study><id_info>", "invalid XML"),
])
def test_xml_that_is_not_a_record_is_a_clear_error(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=re.escape(reason)):
        sources.parse(raw, "x.xml")


# -- oversight, results and certification dates (issue 16) ------------------------------------

LEGACY_RESULTS = b"""<clinical_study>
  <id_info><nct_id>NCT00000103</nct_id></id_info>
  <overall_status>Completed</overall_status>
  <study_type>Interventional</study_type>
  <oversight_info>
    <has_dmc>Yes</has_dmc>
    <is_fda_regulated_drug>Yes</is_fda_regulated_drug>
    <is_fda_regulated_device>No</is_fda_regulated_device>
    <is_us_export>No</is_us_export>
  </oversight_info>
  <results_first_submitted>March 20, 2020</results_first_submitted>
  <results_first_submitted_qc>April 23, 2020</results_first_submitted_qc>
  <results_first_posted type="Actual">May 7, 2020</results_first_posted>
  <disposition_first_submitted>February 7, 2017</disposition_first_submitted>
  <disposition_first_submitted_qc>February 7, 2017</disposition_first_submitted_qc>
  <disposition_first_posted type="Estimate">February 8, 2017</disposition_first_posted>
  <clinical_results><participant_flow/></clinical_results>
</clinical_study>"""

#: the same content as API v2 writes it
API_RESULTS = {"protocolSection": {
    "identificationModule": {"nctId": "NCT00000103"},
    "statusModule": {"overallStatus": "COMPLETED", "resultsFirstSubmitDate": "2020-03-20",
                     "resultsFirstSubmitQcDate": "2020-04-23",
                     "resultsFirstPostDateStruct": {"date": "2020-05-07", "type": "ACTUAL"},
                     "dispFirstSubmitDate": "2017-02-07", "dispFirstSubmitQcDate": "2017-02-07",
                     "dispFirstPostDateStruct": {"date": "2017-02-08", "type": "ESTIMATED"}},
    "designModule": {"studyType": "INTERVENTIONAL"},
    "oversightModule": {"oversightHasDmc": True, "isFdaRegulatedDrug": True,
                        "isFdaRegulatedDevice": False, "isUsExport": False}},
    "hasResults": True}


def test_oversight_and_results_dates_read_alike_from_both_formats() -> None:
    [legacy] = sources.parse(LEGACY_RESULTS)
    [current] = sources.parse(json.dumps(API_RESULTS).encode())
    assert legacy.oversight.to_dict() == {"is_fda_regulated_drug": True,
                                          "is_fda_regulated_device": False,
                                          "is_us_export": False}
    status = legacy.status.to_dict()
    assert {key: status[key] for key in (
        "has_results", "results_first_submitted", "results_first_posted",
        "disposition_first_submitted", "disposition_first_posted")} == {
        "has_results": True, "results_first_submitted": "2020-03-20",
        "results_first_posted": "2020-05-07", "disposition_first_submitted": "2017-02-07",
        "disposition_first_posted": "2017-02-08"}
    assert (legacy.oversight, legacy.status) == (current.oversight, current.status)
    assert diff(legacy, current) == []


def test_results_dates_under_their_names_before_2017() -> None:
    raw = (BEFORE_2017 % (b"Phase 3", b"Interventional", b"")).replace(
        b"</clinical_study>", b"<firstreceived_results_date>June 17, 2014"
        b"</firstreceived_results_date><firstreceived_results_disposition_date>March 25, 2013"
        b"</firstreceived_results_disposition_date></clinical_study>")
    [trial] = sources.parse(raw)
    assert (trial.status.results_first_submitted, trial.status.disposition_first_submitted) == (
        "2014-06-17", "2013-03-25")
    assert trial.oversight.to_dict() == dict.fromkeys(
        ("is_fda_regulated_drug", "is_fda_regulated_device", "is_us_export"))


@pytest.mark.parametrize(("name", "oversight", "results"), [
    ("NCT00023673.xml", (None, None, None), ("2014-02-12", "2014-03-27")),  # before the questions
    ("NCT03424005.xml", (True, False, None), (None, None)),
    ("NCT04452435.xml", (False, False, None), (None, None)),
])
def test_real_records_give_their_oversight_and_results_dates(
        name: str, oversight: tuple[bool | None, ...], results: tuple[str | None, ...]) -> None:
    [trial] = sources.parse((REALDATA / "legacy_xml" / name).read_bytes())
    o = trial.oversight
    assert (o.is_fda_regulated_drug, o.is_fda_regulated_device, o.is_us_export) == oversight
    assert (trial.status.results_first_submitted, trial.status.results_first_posted) == results


def test_an_oversight_answer_that_is_not_yes_or_no_names_its_element() -> None:
    raw = LEGACY_RESULTS.replace(b"<is_us_export>No", b"<is_us_export>Perhaps")
    with pytest.raises(ParseError, match=r"NCT00000103: <is_us_export>: expected Yes or No, "
                                         r"got 'Perhaps'"):
        sources.parse(raw)


def test_api_v2_oversight_and_dates_held_to_the_contract() -> None:
    study = json.loads(json.dumps(API_RESULTS))
    study["protocolSection"]["oversightModule"]["isFdaRegulatedDrug"] = "Yes"  # not a boolean
    [trial] = sources.parse(json.dumps(study).encode())
    assert trial.oversight.is_fda_regulated_drug is None  # read as not given
    study["protocolSection"]["statusModule"]["dispFirstSubmitDate"] = "2017-02-30"
    with pytest.raises(ParseError, match=r"NCT00000103: dispFirstSubmitDate: "):
        sources.parse(json.dumps(study).encode())
