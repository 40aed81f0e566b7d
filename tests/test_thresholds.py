"""Numeric thresholds in criterion text: comparator, number, unit and the measure bounded."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ctwatch import sources, thresholds
from ctwatch.model import Criterion, Threshold
from ctwatch.thresholds import extract
from tests.helpers import FIXTURES

T = Threshold
CASES = [
    ("Absolute neutrophil count ≥ 1500/mm3", [T("absolute neutrophil count", ">=", 1500, "/mm3")]),
    ("Platelets ≥ 75,000/mm^3 (transfusions not permitted within 7 days of screening)",
     [T("platelets", ">=", 75000, "/mm^3"), T("transfusions not permitted", "<=", 7, "days")]),
    ("ALT (SGPT) and AST (SGOT) < 3.5 x the upper limit of the institutional normal value (ULN).",
     [T("alt (sgpt) and ast (sgot)", "<", 3.5, "x ULN")]),
    ("Creatinine clearance > 30 ml/min using Cockcroft-Gault formula",
     [T("creatinine clearance", ">", 30, "ml/min")]),
    ("At least 18 years of age.", [T("age", ">=", 18, "years")]),
    ("Men ≥18 years.", [T("age", ">=", 18, "years")]),
    ("Male or non-pregnant female adult >/=18 years of age", [T("age", ">=", 18, "years")]),
    ("Age over 18 years.", [T("age", ">", 18, "years")]),
    ("ECOG ≤ 2", [T("ecog", "<=", 2, None)]),
    ("unless their CD4+ T-cell counts are < 350 cells/mcL",
     [T("cd4+ t-cell counts", "<", 350, "cells/mcL")]),
    ("Receiving any other investigational agents within 14 days prior to enrollment.",
     [T("receiving any other investigational agents", "<=", 14, "days")]),
    ("Serum creatinine of 2.0 mg/dl or less, total bilirubin no more than 1.5 x ULN",
     [T("serum creatinine", "<=", 2.0, "mg/dl"), T("total bilirubin", "<=", 1.5, "x ULN")]),
    ("Hemoglobin greater than or equal to 9 g/dL", [T("hemoglobin", ">=", 9, "g/dL")]),
    ("Heart failure (LVEF ≤ 30 %).", [T("lvef", "<=", 30, "%")]),
    ("ST-depression in at least 2 leads \u003e 0,1 mV",
     [T("st-depression", ">=", 2, None), T("leads", ">", 0.1, "mV")]),
    ("Absolute neutrophil count (ANC) ≥1.0 x 109/L",
     [T("absolute neutrophil count (anc)", ">=", 1.0, "x 109/L")]),
    ("with at least 1500 granulocytes", [T("granulocytes", ">=", 1500, None)]),
    ("Weight must be stable within 5% for 3 months", [T("weight must be stable", "<=", 5, "%")]),
    ("Histologically confirmed grade 1, 2, or 3a follicular lymphoma", []),
    ("Age 18 - 65 years", [T("age", ">=", 18, "years"), T("age", "<=", 65, "years")]),
    ("Adults 18 to 65 years old.", [T("age", ">=", 18, "years"), T("age", "<=", 65, "years")]),
    ("BMI between 18.5 and 30 kg/m2",
     [T("bmi", ">=", 18.5, "kg/m2"), T("bmi", "<=", 30, "kg/m2")]),
    ("Enrolled as a student in Grades 9-12", []),
    ("completed protocol 10M-01-1 or 10M-00-4", []),
    ("At least 1,000,000,000 copies/mL", [T(None, ">=", 1000000000, "copies/mL")]),
    ("Infusion of 2 mg/kg/hours or less", [T("infusion", "<=", 2, "mg/kg/hours")]),
    ("Dose 5 mg/hourshours or less", [T("dose", "<=", 5, "mg/hourshours")]),
    ("Hemoglobin level must be at least 9 g/dL", [T("hemoglobin", ">=", 9, "g/dL")]),
    ("Platelet count of at least 100,000/mm3", [T("platelet", ">=", 100000, "/mm3")]),
    ("Creatinine\n  clearance   > 30 ml/min", [T("creatinine clearance", ">", 30, "ml/min")]),
    ("Platelets ≥ ٣٠ days", [T("platelets", ">=", 30, "days")]),  # any decimal digit is one
    ("No number here, at least not one ≥ any other", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_extract(text: str, expected: list[Threshold]) -> None:
    assert list(extract(text)) == expected


def test_integers_stay_integers_and_decimals_stay_decimals() -> None:
    [whole, decimal] = extract("ANC ≥ 1,500 and bilirubin ≤ 2.0")
    assert isinstance(whole.value, int)
    assert isinstance(decimal.value, float)


# What the linear readings of a clause replace (issue 11): regexes that retried the rest of
# the clause from every word. They must read every clause as these did.
OLD_TRAILING = re.compile(
    r"(?:\s+(?:is|are|was|were|be|must|should|to|of|at|in|on|must\s+be|should\s+be|value|level|"
    r"levels|count\s+of))+\s*$", re.IGNORECASE)
OLD_CONNECTIVE = re.compile(
    r".*\b(?:unless|if|when|where|whereas|while|that|which|who|whose|defined\s+as|such\s+as|"
    r"including|with|without|than|from|for|by)\s+", re.IGNORECASE)
CLAUSES = [
    "", "is", "value is", "Hemoglobin level must be", "platelet count of", "x count of of",
    "count of", "x Count OF is", "levels level", "island is in", "ıs İS is", "the value of the",
    "patients unless their counts are", "with", "with x", "without with", "those who whose x",
    "defined as x", "as defined as y", "such as z", "gifted diseased", "If x IF y if",
    "withwith x", "x (if y) z", "unless " + "patients disease " * 50 + "count",
]


@pytest.mark.parametrize("clause", CLAUSES, ids=[c[:30] or "empty" for c in CLAUSES])
def test_clause_words_are_read_as_the_regexes_read_them(clause: str) -> None:
    assert thresholds._without_trailing(clause) == OLD_TRAILING.sub("", clause)
    assert thresholds._after_connective(clause) == OLD_CONNECTIVE.sub("", clause)


def split_without_trailing(clause: str) -> str:
    """The reading _without_trailing short-cuts (issue 13): every word split off first."""
    parts = re.split(r"(\s+)", clause)
    end = len(parts)
    while end > 2:
        if end > 4 and re.fullmatch("count", parts[end - 3], re.I) and re.fullmatch(
                "of", parts[end - 1], re.I):
            end -= 4
        elif thresholds._TRAILING_WORD.fullmatch(parts[end - 1]):
            end -= 2
        else:
            break
    return "".join(parts[:end])


@given(st.lists(st.sampled_from(["is", "IS", "İS", "ıs", "be", "must", "count", "Count", "of",
                                  "OF", "levels", "x", "with", "unless", "if", " ", "  ", "\n",
                                  "\u2003", "value", " count of", " must be"])).map("".join))
@example("platelet count of")
@example("x Count OF is ")
def test_any_clause_is_read_as_before(clause: str) -> None:
    assert thresholds._without_trailing(clause) == split_without_trailing(clause)
    one_line = " ".join(clause.split())  # as _measure hands them over
    assert thresholds._without_trailing(one_line) == OLD_TRAILING.sub("", one_line)
    assert thresholds._after_connective(one_line) == OLD_CONNECTIVE.sub("", one_line)


def test_a_number_too_long_for_a_float_is_no_bound() -> None:
    assert extract("Age >= " + "9" * 400 + " years") == ()
    assert [t.value for t in extract("Age >= " + "9" * 400 + " years and ANC >= 1500/mm3")] \
        == [1500]


# -- the faster readings read as the plain ones (issue 13) ------------------------------------

# Each pattern starts with a lookahead that only skips what cannot start a match; without it,
# each is the pattern that was there before, and must find the same matches.
PATTERNS = {"bound": thresholds._PATTERN, "range": thresholds._RANGE,
            "connective": thresholds._CONNECTIVE}
# Pieces of criteria, and characters that fold to ASCII letters under re.IGNORECASE
# ("İ", "ı", "ſ", "K" as the Kelvin sign), put together at random, mostly with spaces.
PIECES = ["≥", ">/=", "<", "≤", "=", "1", "18", "1,500", "0,1", "2.5", "٣", "years", "mg/dL",
          "x ULN", "/mm3", "%", "or more", "OR LESS", "at least", "AT MOST", "above",
          "no more than", "within the last", "between", "and", "to", "-", "(", ")", ".", ";",
          "Age", "İf", "ıf", "ſuch as", "\u212ag", "unless", "count of"]
CRITERION_TEXT = st.lists(
    st.tuples(st.sampled_from(PIECES) | st.sampled_from(PIECES) | st.characters(),
              st.sampled_from([" ", " ", "", "\n"])).map("".join),
    max_size=30).map("".join)


def unguarded(pattern: re.Pattern[str]) -> re.Pattern[str]:
    return re.compile(re.sub(r"\A\(\?=\[[^\]]*\]\)", "", pattern.pattern), pattern.flags)


def found(pattern: re.Pattern[str], text: str) -> list[tuple[tuple[int, int], dict]]:
    return [(match.span(), match.groupdict()) for match in pattern.finditer(text)]


def corpus_criteria() -> list[str]:
    """The text of every criterion of the real records."""
    texts = []
    stack: list[Criterion] = []
    for path in sorted((FIXTURES / "realdata").glob("api_v2*/*.json")):
        for trial in sources.parse(path.read_bytes(), str(path)):
            stack.extend(c for name in ("inclusion", "exclusion", "unclassified")
                         for c in getattr(trial.eligibility, name))
    while stack:
        criterion = stack.pop()
        texts.append(criterion.text)
        stack.extend(criterion.children)
    return texts


@pytest.mark.parametrize("name", PATTERNS)
def test_each_pattern_finds_in_real_criteria_what_it_found_without_its_first_check(
        name: str) -> None:
    pattern = PATTERNS[name]
    assert unguarded(pattern).pattern != pattern.pattern
    texts = corpus_criteria()
    assert len(texts) > 300
    for text in texts:
        text = " ".join(text.split())
        assert found(pattern, text) == found(unguarded(pattern), text)


@given(CRITERION_TEXT)
@example("BMI BETWEEN 18.5 and 30 kg/m2, ſerum ≥ 2 \u212ag, or İf AT MOST 5 mg")
def test_each_pattern_finds_in_any_text_what_it_found_without_its_first_check(
        text: str) -> None:
    for pattern in PATTERNS.values():
        assert found(pattern, text) == found(unguarded(pattern), text)


@pytest.mark.parametrize("text", [text for text, _ in CASES] + CLAUSES)
def test_each_pattern_finds_in_the_cases_what_it_found_without_its_first_check(
        text: str) -> None:
    for pattern in PATTERNS.values():
        assert found(pattern, text) == found(unguarded(pattern), text)


def old_open_clause(before: str) -> str:
    """The reading _open_clause replaces: character by character, from the end."""
    depth = 0
    for index in range(len(before) - 1, -1, -1):
        if before[index] == ")":
            depth += 1
        elif before[index] == "(":
            if depth == 0:
                return before[index + 1:]
            depth -= 1
    return before


@given(st.text(alphabet="() ab", max_size=40))
def test_the_open_clause_is_read_as_it_was(before: str) -> None:
    assert thresholds._open_clause(before) == old_open_clause(before)


def test_text_without_a_digit_is_not_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    class Refused:
        def finditer(self, text: str) -> object:
            raise AssertionError(f"searched {text!r}")

    monkeypatch.setattr(thresholds, "_PATTERN", Refused())
    monkeypatch.setattr(thresholds, "_RANGE", Refused())
    assert extract("at least one prior line of therapy, no more than two") == ()
