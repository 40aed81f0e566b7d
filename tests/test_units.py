"""Measure codes and units (ctwatch.measure_codes, ctwatch.units, issue 18): the spellings of
one unit agree, the conversions are the clinical ones, a measure is read by its words and
never as a measure it only contains, and coding never fails on any text."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctwatch import measure_codes, thresholds, units
from ctwatch.model import Threshold, schema


def coded(measure: str | None, value: float, unit: str | None) -> Threshold:
    return units.coded(Threshold(measure, ">=", value, unit))


def normalized(measure: str | None, value: float, unit: str | None,
               ) -> tuple[str | None, float | None, str | None]:
    bound = coded(measure, value, unit)
    return bound.measure_code, bound.value_si, bound.unit_si


# -- units ------------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", [
    "/mm3", "/mm^3", "/ mm3", "/cu mm", "per cu mm", "per cu. mm", "cells/mm^3", "cells/mm3",
    "/µL", "/μL", "/uL", "/mcL", "cells/mcL", "cells/μL", "per microliter", "/cmm",
])
def test_every_spelling_of_per_cubic_millimetre_is_one_unit(unit: str) -> None:
    assert normalized("absolute neutrophil count", 1500, unit) == ("anc", 1.5, "10*9/L")


@pytest.mark.parametrize("unit", [
    "x 10^9/L", "× 10^9/L", "x 109/L", "x10^9/l", "10^9/L", "x 10*9/L", "x 10(9)/L", "x10e9/L",
    "G/L", "K/µL", "K/uL", "x 10^3/µL", "x 10^3/mm3", "x10^3/uL",
])
def test_counts_per_litre_are_the_same_unit(unit: str) -> None:
    assert normalized("platelet count", 75, unit) == ("platelets", 75.0, "10*9/L")


def test_the_same_count_written_three_ways_agrees() -> None:
    assert {normalized("anc", *written) for written in
            [(1500, "/mm3"), (1500, "/µL"), (1.5, "× 10^9/L"), (1.5, "x 10^3/µL")]} == {
        ("anc", 1.5, "10*9/L")}


@pytest.mark.parametrize(("measure", "value", "unit", "expected"), [
    ("hemoglobin", 9, "g/dL", ("hemoglobin", 90.0, "g/L")),
    ("haemoglobin", 10.5, "gm/dl", ("hemoglobin", 105.0, "g/L")),
    ("hgb", 80, "g/L", ("hemoglobin", 80.0, "g/L")),
    ("hb", 6.2, "mmol/L", ("hemoglobin", 99.882, "g/L")),  # Dutch usage: 16.11 g/mmol
    ("serum albumin", 3.0, "g/dL", ("albumin", 30.0, "g/L")),
    ("serum creatinine", 1.5, "mg/dL", ("creatinine", 132.63, "umol/L")),
    ("creatinine", 2, "mg/dl", ("creatinine", 176.84, "umol/L")),
    ("creatinine", 106, "µmol/L", ("creatinine", 106.0, "umol/L")),
    ("total bilirubin", 1.5, "mg/dL", ("bilirubin_total", 25.65, "umol/L")),
    ("direct bilirubin", 0.3, "mg/dL", ("bilirubin_direct", 5.13, "umol/L")),
    ("bilirubin", 34, "μmol/L", ("bilirubin_total", 34.0, "umol/L")),
])
def test_mass_concentrations_become_the_si_unit_of_their_substance(
        measure: str, value: float, unit: str, expected: tuple[str, float, str]) -> None:
    code, value_si, unit_si = normalized(measure, value, unit)
    assert (code, unit_si) == (expected[0], expected[2])
    assert value_si == pytest.approx(expected[1], rel=1e-12)


@pytest.mark.parametrize(("measure", "unit", "expected"), [
    ("ast", "x ULN", ("ast", 2.5, "{ULN}")),
    ("alt (sgpt)", "x ULN", ("alt", 2.5, "{ULN}")),
    ("total bilirubin", "x ULN", ("bilirubin_total", 2.5, "{ULN}")),
    ("serum creatinine", "x ULN", ("creatinine", 2.5, "{ULN}")),
    ("inr", "x ULN", ("inr", 2.5, "{ULN}")),
    ("alkaline phosphatase", "x LLN", ("alkaline_phosphatase", 2.5, "{LLN}")),
    ("ast and alt", "IU/L", ("ast_alt", 2.5, "U/L")),
])
def test_a_multiple_of_a_limit_of_normal_stays_a_multiple(
        measure: str, unit: str, expected: tuple[str, float, str]) -> None:
    assert normalized(measure, 2.5, unit) == expected


@pytest.mark.parametrize(("measure", "value", "unit", "expected"), [
    ("creatinine clearance", 60, "mL/min", ("creatinine_clearance", 60.0, "mL/min")),
    ("creatinine clearance", 60, "ml/minute", ("creatinine_clearance", 60.0, "mL/min")),
    ("egfr", 60, "mL/min/1.73 m2", ("egfr", 60.0, "mL/min/{1.73_m2}")),
    ("gfr", 60, "ml/minute/1.73m²", ("egfr", 60.0, "mL/min/{1.73_m2}")),
    ("age", 18, "years", ("age", 18.0, "a")),
    ("age", 6, "months", ("age", 6.0, "mo")),
    ("age", 28, "days", ("age", 28.0, "d")),
    ("qtcf", 470, "msec", ("qtc", 470.0, "ms")),
    ("lvef", 50, "%", ("lvef", 50.0, "%")),
    ("hba1c", 7.5, "%", ("hba1c", 7.5, "%")),  # NGSP %: not turned into IFCC mmol/mol
    ("hba1c", 58, "mmol/mol", ("hba1c", 58.0, "mmol/mol")),
    ("body mass index", 30, "kg/m^2", ("bmi", 30.0, "kg/m2")),
    ("ecog performance status", 2, None, ("ecog", 2.0, None)),
    ("karnofsky", 70, "%", ("karnofsky", 70.0, None)),
    ("inr", 1.5, None, ("inr", 1.5, None)),
])
def test_units_kept_as_they_are_are_spelt_as_ucum_spells_them(
        measure: str, value: float, unit: str | None, expected: tuple[str, float, str]) -> None:
    assert normalized(measure, value, unit) == expected


@pytest.mark.parametrize(("measure", "value", "unit"), [
    ("anc", 1500, None),  # not guessed from the number
    ("age", 18, None),
    ("hb", 8.5, "mg/dl"),  # a typo for g/dL: not 0.085 g/L
    ("albumin", 3.2, "mg/dL"),
    ("anc", 1000, "ml"),
    ("platelet count", 50000, "/ml"),
    ("total bilirubin", 2.0, "x mg/dL"),
    ("creatinine clearance", 60, None),
    ("bmi", 17, None),
])
def test_a_missing_or_impossible_unit_keeps_the_code_and_no_value(
        measure: str, value: float, unit: str | None) -> None:
    code, value_si, unit_si = normalized(measure, value, unit)
    assert code is not None and (value_si, unit_si) == (None, None)


@pytest.mark.parametrize(("measure", "value", "unit", "expected"), [
    ("platelet count", 7, "days", (None, 7.0, "d")),  # "… within 7 days": a duration
    ("lymphocytes", 20, "%", (None, 20.0, "%")),  # a share, not a count
    ("ecog", 4, "weeks", (None, 4.0, "wk")),
    ("granulocytes", 1500, "/mm3", (None, 1.5, "10*9/L")),  # counts need no substance
    ("fasting blood glucose", 126, "mg/dl", (None, None, None)),  # mass needs it
    ("weight", 275, "pounds", (None, None, None)),
    (None, 14, "days", (None, 14.0, "d")),
])
def test_a_unit_of_another_kind_is_not_the_measure_s(
        measure: str | None, value: float, unit: str, expected: tuple[None, float, str]) -> None:
    assert normalized(measure, value, unit) == expected


def test_got_gpt_and_ef_code_a_bound_only_in_their_own_units() -> None:
    assert normalized("got", 2, "x ULN") == ("ast", 2.0, "{ULN}")
    assert normalized("gpt", 40, "U/L") == ("alt", 40.0, "U/L")
    assert normalized("documenting an ef", 40, "%") == ("lvef", 40.0, "%")
    assert normalized("patients who got", 2, None) == (None, None, None)
    assert normalized("ef", 2, "weeks")[0] is None


def test_values_are_rounded_to_twelve_significant_digits() -> None:
    assert coded("anc", 1500, "/mm3").value_si == 1.5  # not 1.5000000000000002
    assert coded("creatinine", 1.1, "mg/dL").value_si == 97.262
    assert coded("anc", 1, "/mm3").value_si == 0.001


def test_no_finite_value_has_no_normalized_value() -> None:
    assert coded("anc", 10 ** 400, "/mm3").value_si is None
    assert coded("anc", math.inf, "/mm3").value_si is None
    assert normalized("hemoglobin", 1e308, "g/dL") == ("hemoglobin", None, None)


# -- measure codes ----------------------------------------------------------------------------


@pytest.mark.parametrize(("measure", "code"), [
    ("absolute neutrophil count (anc)", "anc"),
    ("anc", "anc"),
    ("Neutrophils", "anc"),
    ("platelets", "platelets"),
    ("unsupported platelet count", "platelets"),
    ("total whte blood cell (wbc)", "wbc"),  # a typo
    ("leukocytes", "wbc"),
    ("ast(sgot)", "ast"),
    ("aspartate aminotransferase (ast)", "ast"),
    ("serum alanine aminotransferase (alt)", "alt"),
    ("serum creatinine", "creatinine"),
    ("creatinin", "creatinine"),
    ("creatinine clearance", "creatinine_clearance"),
    ("calculated creatinine clearance", "creatinine_clearance"),
    ("calculated (calc.) creatinine clearance", "creatinine_clearance"),
    ("institutional normal range (uln) or creatinine clearance", "creatinine_clearance"),
    ("estimated glomerular filtration rate (egfr)", "egfr"),
    ("total bilirubin", "bilirubin_total"),
    ("serum bilirubin", "bilirubin_total"),
    ("direct bilirubin", "bilirubin_direct"),
    ("bilirubin (direct)", "bilirubin_direct"),
    ("ecog performance status", "ecog"),
    ("eastern cooperative oncology group (ecog) performance status (ps)", "ecog"),
    ("zubrod", "ecog"),
    ("who performance status", "ecog"),
    ("kps score", "karnofsky"),
    ("left ventricular ejection fraction", "lvef"),
    ("left ventricular ef", "lvef"),
    ("mean corrected qt interval using fridericia's correction (qtcf) prolongation", "qtc"),
    ("hemoglobin a1c", "hba1c"),
    ("glycated haemoglobin (hba1c)", "hba1c"),
    ("Hémoglobine", "hemoglobin"),
    ("body mass index (bmi)", "bmi"),
    ("cd4+ t-cell counts", "cd4"),
    ("cd4+ lymphocyte count", "cd4"),
    ("absolute lymphocyte count", "lymphocytes"),
    ("international normalised ratio", "inr"),
    ("alkaline phosphatase", "alkaline_phosphatase"),
    ("age", "age"),
    ("patient age at enrollment", "age"),
    # AST with ALT, however joined, is one bound on each
    ("alt (sgpt) and ast (sgot)", "ast_alt"),
    ("ast or alt", "ast_alt"),
    ("sgot/sgpt", "ast_alt"),
    ("hepatic transaminases", "ast_alt"),
    # two measures, a condition, a scale not named, a measure only contained
    ("alt or total bilirubin", None),
    ("creatinine clearance/gfr", None),
    ("hemoglobin and platelets", None),
    ("granulocytes", None),
    ("thrombocytopenia", None),
    ("performance status", None),
    ("ps score", None),
    ("qt interval", None),
    ("indirect bilirubin", None),
    ("platelet transfusion", None),
    ("urine protein/creatinine ratio", None),
    ("creatinine kinase", None),
    ("urine albumin", None),
    ("egfr mutation", None),
    ("neutrophil-to-lymphocyte ratio", None),
    ("age of onset", None),
    ("gestational age", None),
    ("due to gilbert's syndrome or hemolysis", None),
    ("hepatic enzyme", None),
    ("serum potassium", None),
    ("", None),
    (None, None),
])
def test_a_measure_is_read_by_its_words(measure: str | None, code: str | None) -> None:
    assert measure_codes.code(measure)[0] == code


def test_a_typo_is_read_only_when_one_word_is_that_close() -> None:
    assert measure_codes.spelled("whte") == "white"
    assert measure_codes.spelled("haemoglobin") == "haemoglobin"  # a phrase of its own
    assert measure_codes.spelled("creatine") == "creatine"  # two letters off creatinine
    assert measure_codes.spelled("abc") == "abc"  # too short to tell


def test_the_extractor_codes_every_bound_it_reads() -> None:
    assert thresholds.extract("Absolute neutrophil count ≥ 1500/mm3") == (
        Threshold("absolute neutrophil count", ">=", 1500, "/mm3", "anc", 1.5, "10*9/L"),)
    assert thresholds.extract("Women of childbearing potential must have a negative pregnancy "
                              "test within 14 days") == (
        Threshold("childbearing potential must have a negative pregnancy test", "<=", 14,
                  "days", None, 14.0, "d"),)


def test_every_code_is_documented_published_and_has_its_units() -> None:
    codes = measure_codes.CODES
    assert codes == set(units.MEASURES) == {*measure_codes.PHRASES, "age"}
    assert set(measure_codes.WEAK.values()) | set(measure_codes.VETOES) <= codes
    published = schema()["$defs"]["threshold"]["properties"]["measure_code"]["anyOf"][0]["enum"]
    assert set(published) == codes
    for code in codes:
        assert f"``{code}``" in (measure_codes.__doc__ or ""), code


# -- properties -------------------------------------------------------------------------------

_WORDS = sorted({word for phrases in measure_codes.PHRASES.values() for phrase in phrases
                 for word in phrase.split()} | {"or", "and", "/", "(", ")", "within", "ratio"})
_UNITS = ["/mm3", "/µL", "x 10^9/L", "g/dL", "mg/dL", "µmol/L", "x ULN", "mL/min",
          "mL/min/1.73 m2", "%", "years", "days", "ms", "kg/m2", "U/L", "G/L", "ml"]
measures = st.one_of(st.none(), st.text(max_size=60),
                     st.lists(st.sampled_from(_WORDS), max_size=8).map(" ".join))
unit_texts = st.one_of(st.none(), st.text(max_size=20), st.sampled_from(_UNITS))
values = st.one_of(st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
                   st.floats(allow_nan=True, allow_infinity=True))


@given(measure=measures, unit=unit_texts, value=values)
def test_coding_never_fails_and_gives_a_finite_value_or_none(
        measure: str | None, unit: str | None, value: float) -> None:
    bound = units.coded(Threshold(measure, ">=", value, unit))
    assert bound.measure_code is None or bound.measure_code in measure_codes.CODES
    assert bound.value_si is None or (type(bound.value_si) is float
                                      and math.isfinite(bound.value_si))
    if bound.value_si is None:
        assert bound.unit_si is None
    assert (bound.measure, bound.comparator, bound.value, bound.unit) == (
        measure, ">=", value, unit)


@given(measure=measures, unit=st.sampled_from(_UNITS), value=st.floats(0, 1e6))
def test_the_extractor_codes_what_it_reads_without_failing(
        measure: str | None, unit: str, value: float) -> None:
    for bound in thresholds.extract(f"{measure or ''} ≥ {value:g} {unit}"):
        assert bound.value_si is None or math.isfinite(bound.value_si)
        assert units.coded(bound) == bound  # coded once, in the extractor
