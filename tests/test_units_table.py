"""Real bounds and the code and normalized value an analyst reads in them (issue 18).

Every row is the text of one criterion of a real registry record saved under fixtures/ (the
record's file and NCT id are given; fixtures/realdata/SOURCES.md and
fixtures/realdata/thresholds/SOURCES.md say where each file comes from), run through the real
extractor (``ctwatch.thresholds.extract``). A row picks one bound of the text by its value (the
``nth`` of those with that value) and says its ``measure_code``, ``value_si`` and ``unit_si``
as worked out by hand from the text, by the tables of ctwatch.measure_codes and ctwatch.units:
1500/mm3 = 1.5 × 10^9/L; g/dL × 10 = g/L; creatinine mg/dL × 88.42 = µmol/L; bilirubin mg/dL ×
17.1 = µmol/L; a multiple of the upper limit of normal stays a multiple.

Rows marked UNCODED name no common measure, or two, or a condition rather than a measurement;
rows marked NO_UNIT have a unit that is missing or cannot be the measure's (``Hb < 8.5 mg/dl``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from ctwatch import thresholds
from ctwatch.model import Threshold
from tests.helpers import FIXTURES, assert_quoted

UNCODED = "uncoded"  # measure_code None
NO_UNIT = "no unit"  # value_si and unit_si None
COUNT = "10*9/L"
ULN = "{ULN}"
BSA = "mL/min/{1.73_m2}"


@dataclass(frozen=True)
class Row:
    source: str  # the record's file, under fixtures/
    text: str
    value: float  # the bound's value as written
    code: str | None
    value_si: float | None
    unit_si: str | None
    nth: int = 0  # of the text's bounds with that value
    context: str | None = None  # the heading criterion's text

    @property
    def nct_id(self) -> str:
        return re.search(r"NCT\d{8}", self.source, re.IGNORECASE)[0].upper()  # type: ignore[index]

    @property
    def shows(self) -> set[str]:
        return ({UNCODED} if self.code is None else set()) | (
            {NO_UNIT} if self.value_si is None else set())


MYELOMA = "NCT04083898/NCT04083898.json"
API = "realdata/api_v2/"
HISTORY = "realdata/history/"
LEGACY = "realdata/legacy_xml/"
NEW = "realdata/thresholds/"
CBC_00184067 = ("Total whte blood cell (WBC) of 3,000 or more with at least 1500 granulocytes, "
                "hemoglobin of 9.0 gm/dl or more, and platelet count of 100,000 per cu mm or more.")
LABS_00184067 = ("Serum creatinine of 2.0 mg/dl or less, total bilirubin of 2.0 mg/dl or less and "
                 "SGOT/SGPT of 2.5 X institutional norm or less.")
CBC_00739882 = ("History of thrombocytopenia, haemolytic anaemia, clinically significant "
                "anaemia, a white blood cell count <4,000 cells/μL or >14,000 cells/μL, a "
                "haematocrit (HCT) <30% or a haemoglobin (Hgb) level <11 g/dL, a platelet count "
                "<150,000 cells/μL")
LIVER_00711542 = "Significant liver disease (GOT > 2x upper normal value or spontaneous INR > 1,5."
LABS_05381194 = "AST or ALT > 3 X ULN, Total bilirubin >2.0 X ULN, Albumin < 3.2 mg/dL"
CBC_05381194 = "Hypokalemia, Hemoglobin < 8.0 g/dL, Platelet < 75,000/mm3, ANC < 1000/mm3"
CBC_01339988 = "CBC: ANC ≥ 1000ml and unsupported platelet count of ≥ 50,000/ml"
BONE_02576665 = ("Bone marrow: hemoglobin ≥ 10 g/dL, platelet count ≥ 100,000/mm3, absolute "
                 "neutrophil count ≥ 1,500/ mm3, absolute lymphocyte count ≥ 500/ mm3.")
COVID_04710303 = (
    "Alanine aminotransferase (ALT) <1.1 times the upper limit of normal 11. Serum Creatinine <80 "
    "umol/L in females and <106 umol/L in males 12. Haemoglobin >12.0g/dL in females and "
    ">13.5g/dL in males 13. Platelets >150 x 109/L in all participants")
QTC_04349592 = "Baseline QTc >480 if QRS width normal; QTc >510 if QRS >120"
RENAL_03690141 = ("Adequate renal function: -Serum creatinine ≤1.5 mg/dL and/or creatinine "
                  "clearance ≥30 mL/min using Cockcroft Gault equation (Appendix 13.4)")

ROWS = [
    # counts: /mm3 = /µL = cells/mcL = per cu mm → ÷ 1000; × 10^9/L, K/µL as written
    Row(MYELOMA, "Absolute neutrophil count ≥ 1500/mm3", 1500, "anc", 1.5, COUNT),
    Row(MYELOMA, "Platelets ≥ 75,000/mm^3 (transfusions not permitted within 7 days of screening)",
        75000, "platelets", 75, COUNT),
    Row(MYELOMA, "Patients with HIV are eligible unless their CD4+ T-cell counts are < 350 "
        "cells/mcL or they have a history of AIDS-defining opportunistic infection within the "
        "12 months prior to registration.", 350, "cd4", 0.35, COUNT),
    Row(API + "NCT02513394.json", "Absolute neutrophil count ≥ 1,500/µL", 1500, "anc", 1.5, COUNT),
    Row(API + "NCT04267848.json", "Absolute neutrophil count (ANC) >= 1,500/mm^3", 1500, "anc",
        1.5, COUNT),
    Row(API + "NCT00184067.json", CBC_00184067, 100000, "platelets", 100, COUNT),
    Row(NEW + "NCT02679963.xml", "Absolute neutrophil count (ANC) ≥ 1.5 x 109/L", 1.5, "anc", 1.5,
        COUNT),
    Row(HISTORY + "NCT03690141_int_study_history_true.json", "Platelet count ≥75 x 109/L", 75,
        "platelets", 75, COUNT),
    Row(NEW + "NCT03147742.xml", "Evidence of platelet engraftment (ie, platelets ≥ 20 × 10^9/L).",
        20, "platelets", 20, COUNT),
    Row(NEW + "NCT03245528.xml", "Patients with an ANC < 500 cells/mm^3.", 500, "anc", 0.5, COUNT),
    Row(NEW + "NCT00739882.xml", CBC_00739882, 14000, "wbc", 14, COUNT),
    Row(NEW + "NCT01065844.xml", "leukocytes ≥ 3,000/mm3", 3000, "wbc", 3, COUNT),
    Row("realdata/api_v2_fields_subset/biomcp_get_nct02576665_20260811.json", BONE_02576665, 500,
        "lymphocytes", 0.5, COUNT),
    Row(NEW + "NCT02438137.xml", "History of decreased immune cell counts per a blood test known "
        "as a CBC, specifically lymphocyte counts less than 1.2 K/μL at screening.", 1.2,
        "lymphocytes", 1.2, COUNT),
    Row(NEW + "NCT01380080.xml", "CD4+ cell count <50 cells/mm^3 obtained within 45 days prior to "
        "study entry at any laboratory that has a CLIA certification or its equivalent.", 50,
        "cd4", 0.05, COUNT),
    Row(NEW + "NCT05381194.xml", CBC_05381194, 1000, "anc", 1, COUNT),
    Row(NEW + "NCT04710303_covid_19_all_protocols.xml", COVID_04710303, 150, "platelets", 150,
        COUNT),
    # hemoglobin: g/dL (gm/dl) × 10 = g/L
    Row(API + "NCT00184067.json", CBC_00184067, 9.0, "hemoglobin", 90, "g/L"),
    Row(API + "NCT04267848.json", "Hemoglobin >= 8 gm/dl", 8, "hemoglobin", 80, "g/L"),
    Row(NEW + "NCT02679963.xml", "Haemoglobin ≥ 10.0 g/dL", 10.0, "hemoglobin", 100, "g/L"),
    Row(NEW + "NCT00739882.xml", CBC_00739882, 11, "hemoglobin", 110, "g/L"),
    Row(HISTORY + "NCT03690141_int_study_history_true.json",
        "Hemoglobin ≥80 g/L (8.0 g/dL or 4.9 mmol/L)", 80, "hemoglobin", 80, "g/L"),
    Row(NEW + "NCT04710303_covid_19_all_protocols.xml", COVID_04710303, 13.5, "hemoglobin", 135,
        "g/L"),
    # creatinine mg/dL × 88.42, bilirubin mg/dL × 17.1 = µmol/L; µmol/L as written
    Row(API + "NCT00184067.json", LABS_00184067, 2.0, "creatinine", 176.84, "umol/L"),
    Row(API + "NCT00184067.json", LABS_00184067, 2.0, "bilirubin_total", 34.2, "umol/L", nth=1),
    Row(API + "NCT00711542.json", "Impaired kidney function (creatinin > 2,5 mg/dl) at the time "
        "of treatment", 2.5, "creatinine", 221.05, "umol/L"),
    Row(HISTORY + "NCT03690141_int_study_history_true.json", RENAL_03690141, 1.5, "creatinine",
        132.63, "umol/L"),
    Row(NEW + "NCT04710303_covid_19_all_protocols.xml", COVID_04710303, 80, "creatinine", 80,
        "umol/L"),
    Row(LEGACY + "NCT00023673.xml", "Bilirubin less than 1.5 mg/dL", 1.5, "bilirubin_total", 25.65,
        "umol/L"),
    Row(NEW + "NCT00734539.xml", "renal failure (creatinine > 2 mg/dL)", 2, "creatinine", 176.84,
        "umol/L"),
    # multiples of the upper limit of normal; AST with ALT is ast_alt
    Row(MYELOMA, "ALT (SGPT) and AST (SGOT) < 3.5 x the upper limit of the institutional normal "
        "value (ULN).", 3.5, "ast_alt", 3.5, ULN),
    Row(API + "NCT00184067.json", LABS_00184067, 2.5, "ast_alt", 2.5, ULN),
    Row(API + "NCT02513394.json", "Aspartate amino transferase (AST or SGOT) and alanine amino "
        "transferase (ALT or SGPT) ≤ 1.5 × institutional ULN.", 1.5, "ast_alt", 1.5, ULN),
    Row(NEW + "NCT05381194.xml", LABS_05381194, 3, "ast_alt", 3, ULN),
    Row(NEW + "NCT05381194.xml", LABS_05381194, 2.0, "bilirubin_total", 2.0, ULN),
    Row(API + "NCT00711542.json", LIVER_00711542, 2, "ast", 2, ULN),
    Row(NEW + "NCT01065844.xml", "ALT(SGPT) ≤ 2.5 X institutional upper limit of normal", 2.5,
        "alt", 2.5, ULN),
    Row(HISTORY + "NCT03690141_int_study_history_true.json", "Serum aspartate aminotransferase "
        "(AST) ≤3 x ULN, ≤5 x ULN in presence of liver metastases", 5, "ast", 5, ULN),
    Row(NEW + "NCT00055614.xml", "Alkaline phosphatase less than 1.5 ULN", 1.5,
        "alkaline_phosphatase", 1.5, ULN),
    Row(NEW + "NCT00739882.xml", "Hepatic enzyme levels ≥3 times the upper limit of normal or "
        "serum creatinine level ≥2 times the upper limit of normal", 2, "creatinine", 2, ULN),
    Row(NEW + "NCT00734539.xml", "liver failure (AST and ALT > 250 U/L)", 250, "ast_alt", 250,
        "U/L"),
    # kidney function: mL/min, and per 1.73 m2 kept apart
    Row(MYELOMA, "Creatinine clearance > 30 ml/min using Cockcroft-Gault formula", 30,
        "creatinine_clearance", 30, "mL/min"),
    Row(API + "NCT02513394.json", "Serum creatinine below the upper limit of the institutional "
        "normal range (ULN) or creatinine clearance ≥ 60 mL/min/1.73 m2 for patients with serum "
        "creatinine levels above institutional ULN.", 60, "creatinine_clearance", 60, BSA),
    Row(API + "NCT04267848.json", "Calculated (Calc.) creatinine clearance >= 45 mL/min", 45,
        "creatinine_clearance", 45, "mL/min"),
    Row(NEW + "NCT03494712.xml", "History of renal dysfunction or GFR < 90 mL/min/1.73 m2 (MDRD "
        "equation) at selection", 90, "egfr", 90, BSA),
    Row(API + "NCT06341426.json", "Presence of a relative or absolute contraindication to "
        "psilocybin (within the past 12 months),, including a drug allergy, recent stroke history, "
        "uncontrolled hypertension, low or labile blood pressure, recent myocardial infarction "
        "(within the past 12 months),, cardiac arrhythmic, severe coronary artery disease, or "
        "moderate to severe renal (Glomerular Filtration Rate (GFR) less than 45ml/min/1.73 m2) or "
        "hepatic impairment (Child-Pugh B: 7 to 9 points and Child-Pugh C: 10 to 15 points).",
        45, "egfr", 45, BSA),
    Row(HISTORY + "NCT03690141_int_study_history_true.json", RENAL_03690141, 30,
        "creatinine_clearance", 30, "mL/min"),
    # scores: unitless, the value as it is
    Row(MYELOMA, "Performance status of ECOG ≤ 2 Note: Participants with lower performance status "
        "based solely on bone pain secondary to multiple myeloma will be eligible.", 2, "ecog", 2,
        None),
    Row(API + "NCT04267848.json", "Eastern Cooperative Oncology Group (ECOG) performance status "
        "(PS): 0-1", 1, "ecog", 1, None),
    Row(LEGACY + "NCT00023673.xml", "Zubrod 0-1", 1, "ecog", 1, None),
    Row(NEW + "NCT01065844.xml", "ECOG performance status 0-2 (Karnofsky ≥ 50%, see Appendix A).",
        50, "karnofsky", 50, None),
    Row("realdata/api_v2_fields_subset/biomcp_get_nct02576665_20260811.json", "Patient has an ECOG "
        "Performance Status score of 0 or 1 (solid tumors) or KPS score ≥ 70 (rHGG).", 70,
        "karnofsky", 70, None),
    Row(API + "NCT00711542.json", LIVER_00711542, 1.5, "inr", 1.5, None),
    # heart, body, age
    Row(API + "NCT00711542.json", "Heart failure (LVEF ≤ 30 %).", 30, "lvef", 30, "%"),
    Row(NEW + "NCT03599518.xml", "Has left ventricular ejection fraction (LVEF) < 45% by either "
        "echocardiogram (ECHO) or multigated acquisition (MUGA) scan", 45, "lvef", 45, "%"),
    Row(NEW + "NCT03599518.xml", "Has a mean corrected QT interval using Fridericia's correction "
        "(QTcF) prolongation >470 ms for females and >450 ms for males in three successive "
        "Screening measurements", 470, "qtc", 470, "ms"),
    Row(HISTORY + "NCT03690141_int_study_history_true.json", "Significant screening "
        "electrocardiogram (ECG) abnormalities, including unstable cardiac arrhythmia requiring "
        "medication, left bundle-branch block, 2nd-degree atrioventricular (AV) block type II, "
        "3rd-degree AV block, Grade ≥2 bradycardia, or QTcF ≥470 msec.", 470, "qtc", 470, "ms"),
    Row("realdata/interventions/NCT02260193.xml", "BMI >44.0 kg/m2", 44.0, "bmi", 44, "kg/m2"),
    Row(NEW + "NCT05381142.xml", "Body weight of at least 40 kg and body mass index (BMI) within "
        "the range 18.0 and 30.0 kg/m^2 (inclusive) at screening.", 18.0, "bmi", 18, "kg/m2"),
    Row(NEW + "NCT01065844.xml", "Age ≥ 18 years", 18, "age", 18, "a"),
    Row(NEW + "NCT02708238.xml", "age ≥2 weeks to 4 months;", 2, "age", 2, "wk"),
    Row(NEW + "NCT00734539.xml", "> 48 hours of age and < 120 hours old at time of first drug "
        "administration", 48, "age", 48, "h"),
    # coded, but the unit is missing or cannot be the measure's (a typo): no value_si
    Row(MYELOMA, "Total bilirubin ≤ 2.0 x mg/dL.", 2.0, "bilirubin_total", None, None),
    Row(API + "NCT00184067.json", CBC_00184067, 3000, "wbc", None, None),
    Row(API + "NCT00711542.json", "Hematopoetic disease (anaemia with Hb< 8.5 mg/dl; "
        "thrombocytopenia < 100.000/µl; splenomegaly", 8.5, "hemoglobin", None, None),
    Row(NEW + "NCT01339988.xml", CBC_01339988, 1000, "anc", None, None),
    Row(NEW + "NCT01339988.xml", CBC_01339988, 50000, "platelets", None, None),
    Row(NEW + "NCT05381194.xml", LABS_05381194, 3.2, "albumin", None, None),
    Row(HISTORY + "NCT04280705_history_v0.json", "Stage 4 severe chronic kidney disease or "
        "requiring dialysis (i.e. estimated glomerular filtration rate (eGFR) < 30)", 30, "egfr",
        None, None),
    Row(NEW + "NCT04349592_covid_19_hcq.xml", QTC_04349592, 480, "qtc", None, None),
    Row(NEW + "NCT05381194.xml", "BMI less than 17", 17, "bmi", None, None),
    Row(NEW + "NCT00001177.xml", "age 18 to 50;", 50, "age", None, None),
    # uncoded: no common measure, two of them, a condition, a duration
    Row(API + "NCT00184067.json", CBC_00184067, 1500, None, None, None),  # granulocytes
    Row("realdata/interventions/NCT02260193.xml", "ALT or total bilirubin >1.25x ULN", 1.25, None,
        1.25, ULN),
    Row(NEW + "NCT01339988.xml", "Renal: creatinine clearance/GFR ≥ 60 ml/minute/1.73m2", 60, None,
        60, BSA),
    Row(NEW + "NCT00739882.xml", "Hepatic enzyme levels ≥3 times the upper limit of normal or "
        "serum creatinine level ≥2 times the upper limit of normal", 3, None, 3, ULN),
    Row(NEW + "NCT00739882.xml", CBC_00739882, 30, None, 30, "%"),  # haematocrit
    Row(NEW + "NCT04349592_covid_19_hcq.xml", "2 points each: serum potassium <3.6, QTc>449, acute "
        "myocardial infarction", 3.6, None, None, None),
    Row(NEW + "NCT04349592_covid_19_hcq.xml", QTC_04349592, 120, None, None, None),  # QRS
    # the extractor reads this bound's measure as "due to gilbert's syndrome or hemolysis": it
    # is a bilirubin bound, but the phrase names none
    Row(HISTORY + "NCT03690141_int_study_history_true.json", "Serum bilirubin ≤1.5 x ULN (unless "
        "due to Gilbert's syndrome or hemolysis ≤3 x ULN)", 3, None, 3, ULN),
    Row(NEW + "NCT00055575.xml", "Age of onset greater than 45 years (to reduce the biological "
        "heterogeneity encompassed by the MDD and BD criteria, since subjects with a late "
        "age-at onset for depression have a far greater likelihood of having MRI correlates of "
        "cerebrovascular disease than age-matched, healthy controls or age-matched, early-onset "
        "depressives)", 45, None, 45, "a"),
    Row(MYELOMA, "Platelets ≥ 75,000/mm^3 (transfusions not permitted within 7 days of screening)",
        7, None, 7, "d"),
    Row(API + "NCT03934567.json", "Life expectancy ≥ 3 months", 3, None, 3, "mo"),
    Row(NEW + "NCT05381142.xml", "Body weight of at least 40 kg and body mass index (BMI) within "
        "the range 18.0 and 30.0 kg/m^2 (inclusive) at screening.", 40, None, None, None),
    Row(NEW + "NCT00055575.xml", "Weight over 275 pounds", 275, None, None, None),
]


def bound(row: Row) -> Threshold:
    found = [b for b in thresholds.extract(row.text, row.context) if b.value == row.value]
    assert len(found) > row.nth, (row.text, thresholds.extract(row.text, row.context))
    return found[row.nth]


@pytest.mark.parametrize("row", ROWS, ids=lambda row: f"{row.nct_id}-{row.value}-{row.code}")
def test_a_real_bound_has_its_code_and_normalized_value(row: Row) -> None:
    found = bound(row)
    assert (found.measure_code, found.unit_si) == (row.code, row.unit_si), found
    if row.value_si is None:
        assert found.value_si is None, found
    else:
        assert found.value_si == pytest.approx(row.value_si, rel=1e-12), found
        assert isinstance(found.value_si, float)


def test_the_table_is_large_and_has_bounds_that_stay_uncoded() -> None:
    assert len(ROWS) >= 40
    assert len({row.nct_id for row in ROWS}) >= 25
    assert sum(bool(row.shows) for row in ROWS) >= 8
    assert sum(UNCODED in row.shows for row in ROWS) >= 8
    assert sum(NO_UNIT in row.shows and row.code is not None for row in ROWS) >= 8
    codes = {row.code for row in ROWS}
    for code in ("anc", "platelets", "hemoglobin", "wbc", "creatinine_clearance", "egfr",
                 "creatinine", "bilirubin_total", "alt", "ast", "ecog", "karnofsky", "age",
                 "lvef", "qtc", "bmi"):
        assert code in codes, code


@pytest.mark.parametrize("source", sorted({row.source for row in ROWS}))
def test_every_text_is_in_its_record(source: str) -> None:
    assert_quoted(FIXTURES / source, [(row.nct_id, row.text, None)
                                      for row in ROWS if row.source == source])
