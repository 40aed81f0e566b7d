"""Criteria sections and list structure on real registry text (issue 14, part 1).

The texts are in fixtures/realdata/criteria (their SOURCES.md says where each comes from) and
fixtures/realdata/legacy_xml. Expected trees are written from what the text means: which section
a line is in, which line heads which, what a bound measures.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from ctwatch import criteria, sources
from ctwatch.markup import Block, blocks, html_blocks
from ctwatch.model import Criterion, Eligibility
from tests.helpers import REALDATA
from tests.test_text_linear import LINEAR, SLACK, cpu

CRITERIA = REALDATA / "criteria"


def parse_file(name: str) -> dict[str, tuple[Criterion, ...]]:
    path = CRITERIA / name
    parsed, _ = criteria.parse(path.read_text(), "markdown" if path.suffix == ".md" else "plain")
    return parsed


def record(path: Path) -> Eligibility:
    [trial] = sources.parse(path.read_bytes(), str(path))
    return trial.eligibility


def by_id(parsed: dict[str, tuple[Criterion, ...]] | Eligibility, ident: str) -> Criterion:
    """The criterion ``ident`` ("I2.1") of a parse."""
    section = {"I": "inclusion", "E": "exclusion", "U": "unclassified"}[ident[0]]
    nodes = parsed[section] if isinstance(parsed, dict) else getattr(parsed, section)
    found = None
    for depth, _ in enumerate(ident[1:].split("."), 1):
        wanted = ".".join(ident.split(".")[:depth])
        found = next(c for c in nodes if c.id == wanted)
        nodes = found.children
    assert found is not None
    return found


def texts(nodes: tuple[Criterion, ...]) -> list[str]:
    return [c.text for c in nodes]


# -- section headings ---------------------------------------------------------------------------

# (variant, file, criterion, its text, section of the criteria after the heading)
HEADINGS = [
    ("bare with colon: Inclusion:", "NCT00055497.txt", "I1",
     "Patient must have successfully completed the induction study NCT00055523"),
    ("bare with colon: Exclusion:", "NCT00055497.txt", "E1", "Diagnosis of ulcerative colitis"),
    ("non-inclusion is exclusion", "NCT02679963.txt", "E1",
     "Uncontrolled or symptomatic brain metastases. Controlled brain metastases are defined as "
     "stable for 1 month. A scan to confirm the absence of brain metastases is not required. "
     "Corticosteroids therapy will be allowed if administered at a stable dose for at least one "
     "month before entering the trial."),
    ("typo at the end of a word: Inclusions Criteria:", "NCT04342182.txt", "I4",
     "A history of COVID infection that was documented by PCR"),
    ("main", "NCT00032383.txt", "I1", "vestibulopathy and locomotor unsteadiness"),
    ("main exclusion", "NCT00032383.txt", "E1",
     "diseases/impairments that prevent rehab participation."),
    ("key, in API v2 markdown", "NCT04431453.md", "E2",
     "Alanine Aminotransferase (ALT) or aspartate aminotransferase (AST) > 5 X upper limit of "
     "normal (ULN)."),
    ("upper case, written as a bullet", "NCT00001177.txt", "I1.3", "age 18 to 50;"),
    ("upper case", "NCT00001177.txt", "E1",
     "Subjects should have no general medical illness that is primary (i.e., appears to be "
     "causing the mood disorder);"),
    ("in brackets", "NCT05482828.txt", "I2", "DHI (Dizziness Handicap Inventory) score ≥ 24"),
    ("without a colon", "NCT05381649.txt", "E1", "Comorbid psychosis or learning disability"),
]


@pytest.mark.parametrize(("name", "ident", "text"), [h[1:] for h in HEADINGS],
                         ids=[h[0] for h in HEADINGS])
def test_a_heading_variant_puts_what_follows_in_its_section(name: str, ident: str,
                                                           text: str) -> None:
    assert by_id(parse_file(name), ident).text == text


def test_non_inclusion_criteria_are_all_exclusions() -> None:
    parsed = parse_file("NCT02679963.txt")
    assert len(parsed["exclusion"]) == 17
    assert not parsed["inclusion"]  # "For inclusion in the study subjects should fulfill…:"
    assert by_id(parsed, "U1").text == (
        "For inclusion in the study subjects should fulfill the following criteria:")
    assert len(by_id(parsed, "U1").children) == 17
    assert texts(by_id(parsed, "E5").children) == [
        "Azole antifungals", "Macrolide antibiotics", "Protease inhibitors"]


def test_inclusion_and_exclusion_both_bare() -> None:
    parsed = parse_file("NCT00055497.txt")
    assert [len(parsed[s]) for s in ("inclusion", "exclusion", "unclassified")] == [3, 5, 0]


def test_a_typo_heading_after_an_exclusion_list_starts_inclusions_again() -> None:
    parsed = parse_file("NCT04342182.txt")
    assert texts(parsed["inclusion"])[2:4] == [
        "Age >18", "A history of COVID infection that was documented by PCR"]
    assert texts(parsed["exclusion"])[1:3] == [
        "Donors: Eligibility for plasma donation", "Age <18 years"]


def test_qualified_headings_are_kept_and_head_their_lists() -> None:
    donors = parse_file("NCT04340050.txt")
    assert texts(donors["inclusion"]) == ["Donor Inclusion Criteria:",
                                          "Recipient Inclusion Criteria:"]
    assert texts(donors["exclusion"]) == ["Donor Exclusion Criteria:",
                                          "Recipient Exclusion Criteria:"]
    assert texts(by_id(donors, "E1").children) == [
        "Does not provide consent", "Does not meet standard blood bank donation guidelines",
        "Unsuccessful blood donation"]
    assert len(by_id(donors, "I2.3").children) == 2  # "Severe defined as…", "Life-threatening…"
    grafts = parse_file("NCT05381623.txt")
    assert texts(grafts["exclusion"])[1:] == ["Systemic primary exclusion criteria:",
                                              "Local primary exclusion criteria:",
                                              "Secondary exclusion criteria:"]
    assert len(by_id(grafts, "E2").children) == 6
    assert by_id(grafts, "E4.1").text == (
        "Non compliant patients: poor oral hygiene (FMPS >20%) at 2 consecutive visits.")


def test_a_combined_heading_keeps_its_criteria_unclassified() -> None:
    """"Biological Mother Inclusion/Exclusion:" (real) says nothing of which is which."""
    digeorge = record(REALDATA / "legacy_xml" / "NCT01220531.xml")
    mother = by_id(digeorge, "U1")
    assert mother.text == "Biological Mother Inclusion/Exclusion:"
    assert texts(mother.children) == ["Must be biological mother of thymus recipient"]
    assert by_id(digeorge, "I1").text == "Transplant Inclusion:"
    assert by_id(digeorge, "E1").text == "Transplant Exclusion:"
    assert by_id(digeorge, "E1.1").text == "Heart surgery <4 wks pre-transplantation"


# Sentences that start like a heading, from real records: they stay criteria where they are.
NOT_HEADINGS = [
    ("NCT05389722.txt", "E4", "Other protocol-defined inclusion/exclusion criteria apply"),
    ("NCT04431453.md", "E7",
     "Note: Other protocol defined Inclusion/Exclusion criteria may apply"),
    ("NCT05381623.txt", "E1",
     "Patients fitting to all the above inclusion criteria will be excluded from the study if "
     "unable to attend to the study-related procedures (including the follow-up visits) or if one "
     "or more of the following systemic or local exclusion criteria will be found at any time "
     "through the study:"),
]


@pytest.mark.parametrize(("name", "ident", "text"), NOT_HEADINGS)
def test_a_sentence_about_criteria_is_not_a_heading(name: str, ident: str, text: str) -> None:
    assert by_id(parse_file(name), ident).text == text


# Heading lines no record searched had (fixtures/realdata/criteria/SOURCES.md): the lines are
# written for this test, one each, to show how they are read; they are not registry text.
WRITTEN_HEADINGS = [
    ("Inclusion", "inclusion"), ("Exclusion", "exclusion"), ("EXCLUSION:", "exclusion"),
    ("Exclusion Criteri", "exclusion"), ("Inclusion Critera:", "inclusion"),
    ("Non inclusion criteria", "exclusion"), ("NON-INCLUSION CRITERIA:", "exclusion"),
    ("INCLUSION AND EXCLUSION CRITERIA:", "unclassified"),
    ("Inclusion and exclusion criteria", "unclassified"),
    ("Inclusion/Exclusion Criteria", "unclassified"),
    ("Primary Inclusion/Exclusion Criteria", "unclassified"),
    ("Key inclusion criteria", "inclusion"), ("MAIN EXCLUSION CRITERIA:", "exclusion"),
]


@pytest.mark.parametrize(("line", "section"), WRITTEN_HEADINGS)
def test_heading_lines_not_found_in_records(line: str, section: str) -> None:
    parsed, _ = criteria.parse(f"{line}\n\n* first\n* second", "markdown")
    placed = {name: texts(nodes) for name, nodes in parsed.items() if nodes}
    if criteria.heading(Block(line)).qualified:  # type: ignore[union-attr]
        assert placed == {section: [line]}
        assert texts(parsed[section][0].children) == ["first", "second"]  # type: ignore[index]
    else:
        assert placed == {section: ["first", "second"]}
        assert criteria.is_heading(line)


@pytest.mark.parametrize("line", [
    "Exclusion of pregnancy by test", "Inclusion in another study", "Inclusion of Women and "
    "Minorities", "Do not meet inclusion criteria", "Exclusive involvement of the lateral branch.",
    "Additional drug-specific exclusion criteria might apply.", "Eligible for monotherapy",
    "Subjects with exclusion criteria required by local law"])
def test_a_sentence_is_not_a_heading(line: str) -> None:
    parsed, _ = criteria.parse(f"Exclusion Criteria:\n\n* first\n\n{line}\n\n* second", "markdown")
    assert texts(parsed["exclusion"]) == ["first", line, "second"]
    assert not criteria.is_heading(line)


# -- list structure -----------------------------------------------------------------------------


def test_a_bullet_glyph_is_an_item() -> None:
    volunteers = parse_file("NCT05380245.txt")
    assert by_id(volunteers, "I1").text.startswith("Male Pakistani volunteers in good health")
    assert by_id(volunteers, "I2").text == "The selection was based on:"
    assert texts(by_id(volunteers, "I2").children)[:3] == [
        "A complete detailed medical history,", "Clinical examination,",
        "Voriconazole hypersensitivity test,"]
    assert texts(parse_file("NCT05381649.txt")["exclusion"]) == [
        "Comorbid psychosis or learning disability"]


def test_bullet_glyphs_without_a_space_in_legacy_xml() -> None:
    digeorge = record(REALDATA / "legacy_xml" / "NCT01220531.xml")
    assert texts(by_id(digeorge, "I1").children)[3:5] == [
        "Group 1",
        "Typical cDGA whose T cells have a PHA response < 5,000 cpm and < 20 fold PHA response."]


def test_parenthesised_numbers_after_a_line_ending_in_a_colon() -> None:
    veins = parse_file("NCT00000162.txt")
    head = by_id(veins, "U1")
    assert head.text == "Patients with three types of diagnoses were accepted:"
    assert texts(head.children) == ["major BVO without neovascularization;",
                                    "major BVO with neovascularization;",
                                    "BVO with macular edema and reduced vision."]
    assert by_id(veins, "U2").text.startswith("All patients must have had onset")


def test_a_letter_item_in_plain_text_and_in_history_html() -> None:
    assert texts(by_id(parse_file("NCT05381623.txt"), "E4").children) == [
        "Non compliant patients: poor oral hygiene (FMPS >20%) at 2 consecutive visits."]
    history = REALDATA / "history" / "NCT03690141_int_study_history_true.json"
    item = next(c for c in record(history).exclusion if c.text.startswith("Enzalutamide"))
    assert texts(item.children) == [
        "Steroids given in conjunction with abiraterone must be washed out for at least 2 weeks "
        "prior to Cycle 1 Day 1 unless the investigator chooses to maintain at a dose of ≤10 "
        "mg/day prednisone or equivalent."]


def test_a_letter_after_a_markdown_bullet_numbers_the_item() -> None:
    cohorts = by_id(parse_file("NCT04431453.md"), "I1").children
    assert [c.id for c in cohorts] == [f"I1.{n}" for n in range(1, 7)]
    assert cohorts[0].text == ("Cohort 1: ≥ 12 years to < 18 years of age and weight at "
                               "screening ≥ 40 kg")
    assert all(not c.children for c in cohorts)


def test_a_lead_in_inside_an_item_heads_its_items() -> None:
    item = by_id(parse_file("NCT02679963.txt"), "U1.14")
    assert item.text.endswith("Postmenopausal is defined as:")
    assert len(item.children) == 5


# Bullet styles no record searched had, in lists written for this test.
@pytest.mark.parametrize("bullet", ["·", "○", "◦", "▪", "•", "+", "-", "*"])
@pytest.mark.parametrize("indent", ["", "   ", "        "])
def test_a_bullet_at_any_indentation(bullet: str, indent: str) -> None:
    text = f"Exclusion Criteria:\n\nLabs:\n{indent}{bullet} first\n{indent}{bullet} second"
    for markup in ("markdown", "plain"):
        parsed, _ = criteria.parse(text, markup)  # type: ignore[arg-type]
        assert [(c.id, c.text, texts(c.children)) for c in parsed["exclusion"]] == [
            ("E1", "Labs:", ["first", "second"])], markup


@pytest.mark.parametrize("marks", [("1.", "2."), ("1)", "2)"), ("(1)", "(2)"), ("a.", "b."),
                                   ("a)", "b)"), ("(a)", "(b)"), ("(A)", "(B)")])
def test_numbers_and_letters_after_a_line_ending_in_a_colon(marks: tuple[str, str]) -> None:
    text = f"Inclusion Criteria:\n\n- Adequate function:\n{marks[0]} ANC ≥ 1500\n{marks[1]} Plt"
    for markup in ("markdown", "plain"):
        parsed, _ = criteria.parse(text, markup)  # type: ignore[arg-type]
        [item] = parsed["inclusion"]
        assert (item.text, texts(item.children)) == ("Adequate function:", ["ANC ≥ 1500", "Plt"])


def test_bullets_nest_by_the_order_their_styles_appear() -> None:
    text = "Inclusion Criteria:\n\n• a\n  ○ b\n    ▪ c\n  ○ d\n• e"
    parsed, _ = criteria.parse(text, "plain")
    assert parsed["inclusion"] == (
        Criterion("I1", "a", (Criterion("I1.1", "b", (Criterion("I1.1.1", "c"),)),
                              Criterion("I1.2", "d"))),
        Criterion("I2", "e"))


def test_a_list_after_an_item_ending_in_a_colon_is_its_children() -> None:
    """"- " items less indented than the number's text, and a numbered list after a bullet."""
    for text in ("1. Labs:\n  - ANC\n  - Plt\n2. Consent",
                 "* Labs:\n1. ANC\n2. Plt\n* Consent"):
        for markup in ("markdown", "plain"):
            parsed, _ = criteria.parse(text, markup)  # type: ignore[arg-type]
            assert [(c.text, texts(c.children)) for c in parsed["unclassified"]] == [
                ("Labs:", ["ANC", "Plt"]), ("Consent", [])], (text, markup)


def test_items_of_one_list_stay_siblings() -> None:
    parsed, _ = criteria.parse("* Labs:\n* ANC ≥ 1500\n* Consent", "markdown")
    assert texts(parsed["unclassified"]) == ["Labs:", "ANC ≥ 1500", "Consent"]


# -- a label and its value ----------------------------------------------------------------------


def test_an_old_nci_record_nests_labels_under_their_heading() -> None:
    nci = parse_file("NCT00002475.txt")
    patient = by_id(nci, "U2")
    assert patient.text == "PATIENT CHARACTERISTICS:"
    assert texts(patient.children)[:5] == ["Age:", "Sex:", "Menopausal status:",
                                           "Performance status:", "Life expectancy:"]
    assert texts(by_id(nci, "U2.1").children) == ["18 and over"]
    assert texts(by_id(nci, "U2.4").children) == ["ECOG 0-2 OR", "Karnofsky 70-100%"]
    assert by_id(nci, "U3").text == "PRIOR CONCURRENT THERAPY:"
    assert texts(by_id(nci, "U3").children) == ["Biologic therapy:", "Chemotherapy:",
                                                "Endocrine therapy:", "Radiotherapy:",
                                                "Surgery:"]


def test_a_value_without_a_measure_is_measured_by_its_label() -> None:
    nci = parse_file("NCT00002475.txt")
    [bound] = by_id(nci, "U2.5.1").thresholds  # "Life expectancy:" / "At least 3 months"
    assert (bound.measure, bound.comparator, bound.value, bound.unit) == (
        "life expectancy", ">=", 3, "months")
    for bound in by_id(nci, "U2.1.1").thresholds:  # "Age:" / "18 and over", when it is read
        assert bound.measure == "age"


def test_the_legacy_fixture_reads_the_same() -> None:
    rtog = record(REALDATA / "legacy_xml" / "NCT00023673.xml")
    assert by_id(rtog, "U2").text == "PATIENT CHARACTERISTICS:"
    assert by_id(rtog, "U2.1").text == "Age:"
    assert texts(by_id(rtog, "U2.1").children) == ["Not specified"]
    assert texts(by_id(rtog, "U2.4").children) == ["Granulocyte count at least 1,500/mm^3",
                                                   "Platelet count at least 100,000/mm^3"]


def test_a_label_line_gives_a_paragraph_value_its_measure() -> None:
    """The classic (API v1) text of NCT00023673 keeps values as plain lines; this one is
    written for the test with a value the current extractor reads."""
    text = ("PATIENT CHARACTERISTICS:\n\nAge:\n\nOver 18 years\n\nHematopoietic:\n\n"
            "Absolute neutrophil count:\n\n- ≥ 1,500/mm3")
    parsed, _ = criteria.parse(text, "plain")
    age = by_id(parsed, "U1.1")
    assert (age.text, texts(age.children)) == ("Age:", ["Over 18 years"])
    assert [(t.measure, t.value) for t in age.children[0].thresholds] == [("age", 18)]
    anc = by_id(parsed, "U1.3.1")
    assert [(t.measure, t.value) for t in anc.thresholds] == [("absolute neutrophil count", 1500)]


# -- every word kept, every format the same -----------------------------------------------------

_WORDS = st.sampled_from(["patients", "ANC", "1500", "within", "days", "consent", "Labs", "ECOG",
                          "adults", "≥", "normal", "older", "grade", "(see", "below)"])
_MARKS = st.sampled_from(["", "- ", "* ", "+ ", "1. ", "2) ", "(3) ", "a. ", "b) ", "(c) ",
                          "• ", "·", "○ ", "◦ ", "▪ "])
_HEADING_LINES = ["Inclusion Criteria:", "EXCLUSION CRITERIA", "Non-inclusion criteria:",
                  "Key Exclusion Criteria:", "Inclusion:", "Inclusion and exclusion criteria:"]


@st.composite
def criteria_texts(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A criteria text of random headings, indented and marked lines, and its words less
    the headings'."""
    lines, kept = [], []
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.integers(0, 5)) == 0:
            lines.extend(["", draw(st.sampled_from(_HEADING_LINES)), ""])
            continue
        words = draw(st.lists(_WORDS, min_size=1, max_size=6))
        label = draw(st.booleans())
        lines.append(" " * draw(st.integers(0, 9)) + draw(_MARKS) + " ".join(words)
                     + (":" if label else ""))
        kept.extend([*words[:-1], words[-1] + (":" if label else "")])
        if draw(st.booleans()):
            lines.append("")
    return "\n".join(lines), kept


@given(criteria_texts(), st.sampled_from(["markdown", "plain"]))
def test_every_word_but_the_headings_is_kept(case: tuple[str, list[str]], markup: str) -> None:
    text, kept = case
    parsed, _ = criteria.parse(text, markup)  # type: ignore[arg-type]
    assert Counter(criteria.criteria_words(Eligibility(**parsed))) == Counter(kept)


_PIECES = ["• ", "○ ", "· ", "(1) ", "2) ", "a) ", "(b) ", "c. ", "1. ", "- ", "  ", "    ",
           "\n", "\n\n", "text:", "Labs", "\\>", "*", "ANC ≥ 1500."]


@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
def test_marked_lines_are_read_the_same_from_markdown_and_its_html(text: str) -> None:
    html = MarkdownIt("commonmark", {"html": False}).render(text)
    assert blocks(text, "markdown") == html_blocks(html)


def test_marked_lines_are_read_in_linear_time() -> None:
    def make(size: int) -> object:
        text = ("Inclusion:\n" + "•  x\n ○ (a)  y.\nZ   " * size + "\n" + " " * size + "(1)"
                + "a.\n" * size)
        return lambda: (blocks(text, "plain"), blocks(text, "markdown"),
                        criteria.heading(Block(" ".join(["Inclusion"] * size))))

    small, large = make(2000), make(8000)
    assert cpu(large)[0] <= LINEAR * cpu(small)[0] + SLACK


def test_words_of_marked_lines_are_only_their_markers_less() -> None:
    text = "Inclusion Criteria:\n\n•Typical cDGA\n(1) x\n○ a. y"  # one marker a line
    parsed, _ = criteria.parse(text, "plain")
    words = criteria.criteria_words(Eligibility(**parsed))
    assert words == ["Typical", "cDGA", "x", "a.", "y"]
    assert re.sub(r"^(?:•|\(1\)|○)", " ", text, flags=re.M).split()[2:] == words
