"""Real criteria and the bounds a clinician reads in them (issue 14, part 2).

Every row is the text of one criterion of a real registry record saved under fixtures/ (the
record's file and NCT id are given; fixtures/realdata/SOURCES.md and
fixtures/realdata/thresholds/SOURCES.md say where each file comes from), with the heading that
labels it where its own text names no measure ("Age:" over "18 and over"). The expected bounds
are written from what the criterion means — what it bounds, how, by how much, in what unit —
not read off the extractor: a row may expect what the extractor does not give.

The table is scored over (measure, comparator, value, unit), per criterion:

- precision: the share of extracted bounds that match an expected one;
- recall: the share of expected bounds that an extracted one matches.

An extracted bound matches an expected one (each used once) when

- the comparators are equal and the values are equal numbers;
- the units are both absent, or equal once lower-cased with white space and "^" removed, "×"
  read as "x" and "μ" (Greek mu) as "µ" (micro sign): "/mm^3" = "/mm3", "x 10^9/L" = "x 109/L",
  "kg / m2" = "kg/m2"; "mg/dL" ≠ "g/dL", "mL/min" ≠ "mL/min/1.73 m2";
- the measures are both absent, or equal once lower-cased, with white space collapsed,
  punctuation stripped from both ends and parenthesised or bracketed single tokens dropped
  (abbreviations: "absolute neutrophil count (anc)" = "absolute neutrophil count",
  "ast(sgot)" = "ast"); an expected measure may list a few spellings of the SAME phrase (with
  or without "no", "since", a leading "treatment with"). A different or truncated phrase is a
  miss ("sgot) and alanine amino transferase" for "aspartate amino transferase (ast or sgot)
  and alanine amino transferase (alt or sgpt)", "patients needing" for "daily prednisone").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pytest

from ctwatch import thresholds
from tests.helpers import FIXTURES, assert_quoted

#: (measure or acceptable spellings of it, comparator, value, unit)
Bound = tuple[str | tuple[str, ...] | None, str, float, str | None]

# What a row shows: the error classes of the issue, and the ordinary bounds
NO_GREATER = "no greater than"  # negated comparators, once read inverted
RANGE = "range"  # ranges with and without a unit; numbers that are no range ("grades 9-12")
AGE_WORDS = "age in words"  # "N years of age or older", "18 and over", "over the age of 21"
DURATION = "duration"  # time windows, never an age
PUNCTUATION = "measure from punctuation"  # measures that were punctuation or function words
NO_MEASURE = "measure elsewhere"  # bounds that had no measure: after the number, carried over
CONTEXT = "heading"  # the measure is the heading's label
LAB = "lab"  # ordinary bounds of laboratory values and other measures
CLASSES = (NO_GREATER, RANGE, AGE_WORDS, DURATION, PUNCTUATION, NO_MEASURE, CONTEXT, LAB)


@dataclass(frozen=True)
class Row:
    source: str  # the record's file, under fixtures/
    nct_id: str
    text: str
    expected: tuple[Bound, ...]
    classes: tuple[str, ...]
    context: str | None = None


def row(source: str, text: str, *expected: Bound, shows: tuple[str, ...],
        context: str | None = None, nct_id: str | None = None) -> Row:
    nct = nct_id or re.search(r"NCT\d{8}", source)[0]  # type: ignore[index]
    return Row(source, nct, text, expected, shows, context)


LEGACY = "realdata/legacy_xml/"
API = "realdata/api_v2/"
HISTORY = "realdata/history/"
NEW = "realdata/thresholds/"
ECOG = "eastern cooperative oncology group (ecog) performance status"

ROWS = [
    # -- the RTOG record of legacy_xml, a PDQ record: headings over bounds ----------------------
    row(LEGACY + "NCT00023673.xml", "Creatinine no greater than 2.0 mg/dL",
        ("creatinine", "<=", 2.0, "mg/dL"), context="Renal:", shows=(NO_GREATER,)),
    row(LEGACY + "NCT00023673.xml", "Zubrod 0-1",
        ("zubrod", ">=", 0, None), ("zubrod", "<=", 1, None), context="Performance status:",
        shows=(RANGE,)),
    row(LEGACY + "NCT00023673.xml", "Granulocyte count at least 1,500/mm^3",
        ("granulocyte count", ">=", 1500, "/mm^3"), context="Hematopoietic:", shows=(LAB,)),
    row(LEGACY + "NCT00023673.xml",
        "Aspartate aminotransferase (AST) less than 2 times upper limit of normal",
        ("aspartate aminotransferase (ast)", "<", 2, "x ULN"), context="Hepatic:", shows=(LAB,)),
    row(LEGACY + "NCT00023673.xml", "No weight loss greater than 5% in the past 6 months",
        (("weight loss", "no weight loss"), ">", 5, "%"), context="Other:", shows=(LAB,)),
    row(LEGACY + "NCT00023673.xml", "At least 5 years since prior chemotherapy",
        (("since prior chemotherapy", "prior chemotherapy"), ">=", 5, "years"),
        context="Chemotherapy:", shows=(DURATION,)),
    row(LEGACY + "NCT00023673.xml", "At least 5 years since prior biologic response modifiers",
        (("since prior biologic response modifiers", "prior biologic response modifiers"), ">=",
         5, "years"), context="Biologic therapy:", shows=(DURATION,)),
    row(LEGACY + "NCT00023673.xml", "Completed 3D plan with total lung V20 </= 30% mean "
        "esophageal dose </= 34 Gy and esophageal V55 </= 30%",
        ("total lung v20", "<=", 30, "%"), ("mean esophageal dose", "<=", 34, "Gy"),
        ("esophageal v55", "<=", 30, "%"), context="Other:", shows=(LAB,)),
    row(LEGACY + "NCT00023673.xml", "No lung cancer within the past 2 years",
        (("lung cancer", "no lung cancer"), "<=", 2, "years"), shows=(DURATION,)),
    # -- PDQ records kept in comments of a public file (fixtures/realdata/thresholds/SOURCES.md)
    row(NEW + "NCT00003470_eligibility.txt", "Bilirubin no greater than 2.5 mg/dL",
        ("bilirubin", "<=", 2.5, "mg/dL"), context="Hepatic:", shows=(NO_GREATER,)),
    row(NEW + "NCT00003470_eligibility.txt",
        "SGOT and SGPT no greater than 5 times upper limit of normal",
        ("sgot and sgpt", "<=", 5, "x ULN"), context="Hepatic:", shows=(NO_GREATER,)),
    row(NEW + "NCT00003470_eligibility.txt", "Creatinine no greater than 2.5 mg/dL",
        ("creatinine", "<=", 2.5, "mg/dL"), context="Renal:", shows=(NO_GREATER,)),
    row(NEW + "NCT00003470_eligibility.txt", "18 and over", ("age", ">=", 18, None),
        context="Age:", shows=(AGE_WORDS, CONTEXT)),
    row(NEW + "NCT00003470_eligibility.txt", "Karnofsky 60-100%",
        ("karnofsky", ">=", 60, "%"), ("karnofsky", "<=", 100, "%"),
        context="Performance status:", shows=(RANGE,)),
    row(NEW + "NCT00003470_eligibility.txt", "At least 2 months",
        ("life expectancy", ">=", 2, "months"), context="Life expectancy:",
        shows=(CONTEXT, DURATION)),
    row(NEW + "NCT00003470_eligibility.txt",
        "At least 4 weeks since prior chemotherapy (6 weeks for nitrosoureas) and recovered",
        (("since prior chemotherapy", "prior chemotherapy"), ">=", 4, "weeks"),
        (("nitrosoureas", "since prior nitrosoureas"), ">=", 6, "weeks"),
        context="Chemotherapy:", shows=(DURATION,)),
    row(NEW + "NCT00003470_eligibility.txt", "WBC at least 2000/mm^3",
        ("wbc", ">=", 2000, "/mm^3"), context="Hematopoietic:", shows=(LAB,)),
    row(NEW + "NCT00003471_eligibility.txt", "More than 2 months",
        ("life expectancy", ">", 2, "months"), context="Life expectancy:",
        shows=(CONTEXT, DURATION)),
    row(NEW + "NCT00003471_eligibility.txt", "Tumor must be at least 5 mm",
        ("tumor", ">=", 5, "mm"), context="DISEASE CHARACTERISTICS:", shows=(LAB,)),
    row(NEW + "NCT00006474_eligibility.txt",
        "SGOT no greater than 2.5 times upper limit of normal",
        ("sgot", "<=", 2.5, "x ULN"), context="Hepatic:", shows=(NO_GREATER,)),
    row(NEW + "NCT00006474_eligibility.txt", "Creatinine no greater than 1.5 mg/dL OR",
        ("creatinine", "<=", 1.5, "mg/dL"), context="Renal:", shows=(NO_GREATER,)),
    row(NEW + "NCT00006474_eligibility.txt", "Creatinine clearance greater than 60 mL/min",
        ("creatinine clearance", ">", 60, "mL/min"), context="Renal:", shows=(LAB,)),
    row(NEW + "NCT00006474_eligibility.txt", "BUN no greater than 25 mg/dL",
        ("bun", "<=", 25, "mg/dL"), context="Renal:", shows=(NO_GREATER,)),
    row(NEW + "NCT00006474_eligibility.txt", "18 and over", ("age", ">=", 18, None),
        context="Age:", shows=(AGE_WORDS, CONTEXT)),
    row(NEW + "NCT00006474_eligibility.txt",
        "At least 6 weeks since prior biologic therapy and recovered",
        (("since prior biologic therapy", "prior biologic therapy"), ">=", 6, "weeks"),
        context="Biologic therapy:", shows=(DURATION,)),
    # -- legacy_xml, other records --------------------------------------------------------------
    row(LEGACY + "NCT00277524.xml", "Study participants must be 18 years of age or older.",
        ("age", ">=", 18, "years"), shows=(AGE_WORDS,)),
    row(LEGACY + "NCT03424005.xml",
        "Life expectancy =/> 3 months, as determined by the investigator",
        ("life expectancy", ">=", 3, "months"), shows=(PUNCTUATION,)),
    row(LEGACY + "NCT03424005.xml", "ECOG Performance Status of 0, 1, or 2",
        ("ecog performance status", ">=", 0, None), ("ecog performance status", "<=", 2, None),
        shows=(RANGE,)),
    row(LEGACY + "NCT03424005.xml",
        "Treatment with systemic immunosuppressive medication (including, but not limited to, "
        "corticosteroids, cyclophosphamide, azathioprine, methotrexate, thalidomide, and "
        "anti-tumor necrosis factor alpha agents) within 2 weeks prior to initiation of study "
        "treatment, or anticipation of need for systemic immunosuppressive medication during "
        "the course of the study",
        (("systemic immunosuppressive medication",
          "treatment with systemic immunosuppressive medication"), "<=", 2, "weeks"),
        shows=(PUNCTUATION, DURATION)),
    row(LEGACY + "NCT02591810.xml", "18 years or older,", ("age", ">=", 18, "years"),
        shows=(AGE_WORDS,)),
    row(LEGACY + "NCT02591810.xml", "Younger than 18 years old,", ("age", "<", 18, "years"),
        shows=(AGE_WORDS,)),
    row(LEGACY + "NCT02591810.xml", "Patients with an injury over 4 weeks old,",
        ("injury", ">", 4, "weeks"), shows=(DURATION,)),
    row(LEGACY + "NCT02654730.xml",
        "Fever: temperature >37.5°C (axillary) or history of fever in the last 24 hours",
        ("temperature", ">", 37.5, "°C"), shows=(LAB,)),
    row(LEGACY + "NCT02654730.xml", "Hb <11 g/dL", ("hb", "<", 11, "g/dL"), shows=(LAB,)),
    row(LEGACY + "NCT02654730.xml",
        "PQ taken within the last 4 weeks and blood transfusion within the last 90 days",
        (("pq taken", "pq"), "<=", 4, "weeks"), ("blood transfusion", "<=", 90, "days"),
        shows=(DURATION,)),
    row(LEGACY + "NCT04452435.xml", "Age > 18 and < 70 years",
        ("age", ">", 18, "years"), ("age", "<", 70, "years"), shows=(NO_MEASURE,)),
    row(LEGACY + "NCT04452435.xml", "CRP > 50 and < 150 mg/l",
        ("crp", ">", 50, "mg/l"), ("crp", "<", 150, "mg/l"), shows=(NO_MEASURE, LAB)),
    row(LEGACY + "NCT01220531.xml", "Heart surgery <4 wks pre-transplantation",
        ("heart surgery", "<", 4, "wks"), context="Transplant Exclusion:", shows=(DURATION,)),
    # -- api_v2 ---------------------------------------------------------------------------------
    row(API + "NCT00184067.json",
        "Serum creatinine of 2.0 mg/dl or less, total bilirubin of 2.0 mg/dl or less and "
        "SGOT/SGPT of 2.5 X institutional norm or less.",
        ("serum creatinine", "<=", 2.0, "mg/dl"), ("total bilirubin", "<=", 2.0, "mg/dl"),
        ("sgot/sgpt", "<=", 2.5, "x ULN"), shows=(LAB,)),
    row(API + "NCT00184067.json",
        "Total whte blood cell (WBC) of 3,000 or more with at least 1500 granulocytes, "
        "hemoglobin of 9.0 gm/dl or more, and platelet count of 100,000 per cu mm or more.",
        ("total whte blood cell (wbc)", ">=", 3000, None), ("granulocytes", ">=", 1500, None),
        ("hemoglobin", ">=", 9.0, "gm/dl"), ("platelet count", ">=", 100000, "per cu mm"),
        shows=(LAB, NO_MEASURE)),
    row(API + "NCT00184067.json", "ECOG performance status of 0 or 1.",
        ("ecog performance status", ">=", 0, None), ("ecog performance status", "<=", 1, None),
        shows=(RANGE,)),
    row(API + "NCT00184067.json", "Patients who have completed protocol 10M-01-1 or 10M-00-4 "
        "are eligible for this study provided that:", shows=(RANGE,)),
    row(API + "NCT00711542.json", "Age 18 - 80 years",
        ("age", ">=", 18, "years"), ("age", "<=", 80, "years"), shows=(RANGE,)),
    row(API + "NCT00711542.json", "Heart failure (LVEF ≤ 30 %).", ("lvef", "<=", 30, "%"),
        shows=(LAB,)),
    row(API + "NCT00711542.json",
        "Impaired kidney function (creatinin > 2,5 mg/dl) at the time of treatment",
        ("creatinin", ">", 2.5, "mg/dl"), shows=(LAB,)),
    row(API + "NCT00711542.json", "Successful acute PCI (residual stenosis < 30%, TIMI flow > 2).",
        ("residual stenosis", "<", 30, "%"), ("timi flow", ">", 2, None), shows=(LAB,)),
    row(API + "NCT00711542.json",
        "Significant liver disease (GOT > 2x upper normal value or spontaneous INR > 1,5.",
        ("got", ">", 2, "x ULN"), (("spontaneous inr", "inr"), ">", 1.5, None),
        shows=(LAB, PUNCTUATION)),
    row(API + "NCT00763412.json", "Male or females 12 -24 years old",
        ("age", ">=", 12, "years"), ("age", "<=", 24, "years"), shows=(RANGE,)),
    row(API + "NCT00973089.json", "Patient's age is 5-8 years old at the time of the treatment",
        ("age", ">=", 5, "years"), ("age", "<=", 8, "years"), shows=(RANGE,)),
    row(API + "NCT02210780.json", "Eczema Area and Severity Index (EASI) score ≥16 at the "
        "screening visit and the baseline visit",
        ("eczema area and severity index (easi) score", ">=", 16, None), shows=(LAB,)),
    row(API + "NCT02210780.json", "Investigator's Global Assessment (IGA) score ≥3 (on the 0-4 "
        "IGA scale) at the screening and baseline visits",
        ("investigator's global assessment (iga) score", ">=", 3, None), shows=(RANGE,)),
    row(API + "NCT02210780.json",
        "≥10% body surface area (BSA) of AD involvement at the screening and baseline visits",
        ("body surface area (bsa) of ad involvement", ">=", 10, "%"), shows=(NO_MEASURE,)),
    row(API + "NCT02210780.json", "Treatment with biologics within 4 months of baseline visit",
        (("biologics", "treatment with biologics"), "<=", 4, "months"), shows=(DURATION,)),
    row(API + "NCT02513394.json", "Absolute neutrophil count ≥ 1,500/µL",
        ("absolute neutrophil count", ">=", 1500, "/µL"), shows=(LAB,)),
    row(API + "NCT02513394.json", "Platelets ≥ 100,000/ mm3",
        ("platelets", ">=", 100000, "/mm3"), shows=(LAB,)),
    row(API + "NCT02513394.json", "Hemoglobin ≥ 10g/dL", ("hemoglobin", ">=", 10, "g/dL"),
        shows=(LAB,)),
    row(API + "NCT02513394.json", "Total serum bilirubin ≤ ULN; or total bilirubin ≤ 3.0 × ULN "
        "with direct bilirubin within normal range in patients with documented Gilbert's "
        "Syndrome.", ("total bilirubin", "<=", 3.0, "x ULN"), shows=(LAB,)),
    row(API + "NCT02513394.json", "Aspartate amino transferase (AST or SGOT) and alanine amino "
        "transferase (ALT or SGPT) ≤ 1.5 × institutional ULN.",
        ("aspartate amino transferase (ast or sgot) and alanine amino transferase (alt or sgpt)",
         "<=", 1.5, "x ULN"), shows=(LAB, PUNCTUATION)),
    row(API + "NCT02513394.json", "ECOG performance status 0-1.",
        ("ecog performance status", ">=", 0, None), ("ecog performance status", "<=", 1, None),
        shows=(RANGE,)),
    row(API + "NCT02552212.json", "At least 18 years old at the start of Screening Visit",
        ("age", ">=", 18, "years"), shows=(AGE_WORDS,)),
    row(API + "NCT02552212.json",
        "Bath Ankylosing Spondylitis Disease Activity Index (BASDAI) score >= 4",
        ("bath ankylosing spondylitis disease activity index (basdai) score", ">=", 4, None),
        context="Active disease at Screening as defined by", shows=(LAB,)),
    row(API + "NCT02552212.json", "Spinal pain >= 4 on a 0 to 10 Numerical Rating Scale (NRS)",
        ("spinal pain", ">=", 4, None), context="Active disease at Screening as defined by",
        shows=(RANGE,)),
    row(API + "NCT02552212.json",
        "Subjects must have had back pain for at least 12 months before Screening",
        ("back pain", ">=", 12, "months"), shows=(DURATION, PUNCTUATION)),
    row(API + "NCT03475563.json", "Age over 18 years.", ("age", ">", 18, "years"),
        shows=(AGE_WORDS,)),
    row(API + "NCT03630471.json",
        "Enrolled as a student in Grades 9-12 (corresponding to 13-20 years of age)",
        ("age", ">=", 13, "years"), ("age", "<=", 20, "years"),
        context="For adolescent participants:", shows=(RANGE,)),
    row(API + "NCT03934567.json", "Life expectancy ≥ 3 months",
        ("life expectancy", ">=", 3, "months"), shows=(LAB,)),
    row(API + "NCT03934567.json",
        "Eastern Cooperative Oncology Group (ECOG) performance status of 0 to 2",
        (ECOG, ">=", 0, None), (ECOG, "<=", 2, None), shows=(RANGE,)),
    row(API + "NCT03934567.json",
        "Histologically confirmed grade 1, 2, or 3a follicular lymphoma (FL)", shows=(RANGE,)),
    row(API + "NCT04207047.json", "Male or female, age 18 years and older.",
        ("age", ">=", 18, "years"), shows=(AGE_WORDS,)),
    row(API + "NCT04267848.json",
        "Eastern Cooperative Oncology Group (ECOG) performance status (PS): 0-1",
        (ECOG + " (ps)", ">=", 0, None), (ECOG + " (ps)", "<=", 1, None), shows=(RANGE,)),
    row(API + "NCT04267848.json", "Calculated (Calc.) creatinine clearance >= 45 mL/min",
        ("calculated (calc.) creatinine clearance", ">=", 45, "mL/min"), shows=(LAB,)),
    row(API + "NCT04267848.json", "Aspartate aminotransferase (AST) / alanine aminotransferase "
        "(ALT) =< 2.5 x upper limit of normal (ULN)",
        ("aspartate aminotransferase (ast) / alanine aminotransferase (alt)", "<=", 2.5, "x ULN"),
        shows=(LAB,)),
    row(API + "NCT04267848.json",
        "Complete recovery from surgery. Registration to A081801 must be 30-77 days following "
        "surgery", ("registration to a081801", ">=", 30, "days"),
        ("registration to a081801", "<=", 77, "days"), shows=(DURATION, RANGE)),
    row(API + "NCT04267848.json", "Has not been naturally postmenopausal for at least 12 "
        "consecutive months (i.e., has had menses at any time in the preceding 12 consecutive "
        "months)", (("naturally postmenopausal", "not been naturally postmenopausal"), ">=", 12,
                    "months"),
        context="A female of childbearing potential is a sexually mature female who:",
        shows=(DURATION, PUNCTUATION)),
    row(API + "NCT04267848.json", "Therefore, for women of childbearing potential only, a "
        "negative pregnancy test done =< 7 days prior to registration is required",
        (("negative pregnancy test done", "negative pregnancy test"), "<=", 7, "days"),
        shows=(DURATION,)),
    row(API + "NCT05147467.json", "Age ≥18 years old.", ("age", ">=", 18, "years"),
        shows=(AGE_WORDS,)),
    row(API + "NCT05147467.json", "Expected survival is at least 12 weeks.",
        ("expected survival", ">=", 12, "weeks"), shows=(DURATION,)),
    row(API + "NCT05147467.json",
        "Eastern Cooperative Oncology Group (ECOG) Performance Status (PS): 0 -2.",
        (ECOG + " (ps)", ">=", 0, None), (ECOG + " (ps)", "<=", 2, None), shows=(RANGE,)),
    row(API + "NCT05147467.json", "Within 2 years before entering the study, the subject had a "
        "history of active malignant tumors other than CLL / SLL, except that:",
        ("history of active malignant tumors", "<=", 2, "years"),
        shows=(DURATION, NO_MEASURE)),
    row(API + "NCT05147467.json", "Failure to recover adequately, at the discretion of the "
        "investigator, from prior surgical procedures. Patients who have had major surgery "
        "within 28 days from study entry, and patients who have had minor surgery within 14 "
        "days of study entry.", ("major surgery", "<=", 28, "days"),
        ("minor surgery", "<=", 14, "days"), shows=(DURATION, PUNCTUATION)),
    row(API + "NCT06341426.json", "Adults 18 to 65 years old.",
        ("age", ">=", 18, "years"), ("age", "<=", 65, "years"), shows=(RANGE,)),
    row(API + "NCT06341426.json", "Current MDE must be moderate to severe, as determined by a "
        "MADRS score greater than 21.", ("madrs score", ">", 21, None), shows=(LAB,)),
    row(API + "NCT06341426.json", "Individuals who are capable of becoming pregnant: use of "
        "highly effective contraception for at least 1 months prior to screening and agreement "
        "to use such a method during study participation in addition to monthly check-ins by "
        "study staff to determine the first day of their last menstrual period;",
        ("use of highly effective contraception", ">=", 1, "months"),
        shows=(DURATION, PUNCTUATION)),
    # -- api_v2_fields_subset, history, the myeloma record --------------------------------------
    row("realdata/api_v2_fields_subset/biomcp_get_nct02576665_20260811.json",
        "Patient is between 18 and 75 years of age, inclusive.",
        ("age", ">=", 18, "years"), ("age", "<=", 75, "years"), shows=(RANGE,),
        nct_id="NCT02576665"),
    row("realdata/api_v2_fields_subset/biomcp_get_nct02576665_20260811.json",
        "Patient has an estimated life expectancy of at least 6 months.",
        ("estimated life expectancy", ">=", 6, "months"), shows=(PUNCTUATION,),
        nct_id="NCT02576665"),
    row("realdata/api_v2_fields_subset/biomcp_get_nct02576665_20260811.json",
        "Bone marrow: hemoglobin ≥ 10 g/dL, platelet count ≥ 100,000/mm3, absolute neutrophil "
        "count ≥ 1,500/ mm3, absolute lymphocyte count ≥ 500/ mm3.",
        ("hemoglobin", ">=", 10, "g/dL"), ("platelet count", ">=", 100000, "/mm3"),
        ("absolute neutrophil count", ">=", 1500, "/mm3"),
        ("absolute lymphocyte count", ">=", 500, "/mm3"), shows=(LAB,), nct_id="NCT02576665"),
    row("realdata/api_v2_fields_subset/biomcp_get_nct02576665_20260811.json",
        "Liver: total bilirubin ≤ 1.5 x the upper limit of normal (ULN; unless known Gilbert's "
        "syndrome); alanine aminotransferase ≤ 2.5 x ULN (≤ 5.0 x ULN in patients with liver "
        "metastases).", ("total bilirubin", "<=", 1.5, "x ULN"),
        ("alanine aminotransferase", "<=", 2.5, "x ULN"),
        ("alanine aminotransferase", "<=", 5.0, "x ULN"), shows=(LAB, NO_MEASURE),
        nct_id="NCT02576665"),
    row("realdata/api_v2_fields_subset/biomcp_get_nct02576665_20260811.json",
        "Kidney: estimated glomerular filtration rate (Cockcroft-Gault) ≥ 50 mL/min.",
        ("estimated glomerular filtration rate (cockcroft-gault)", ">=", 50, "mL/min"),
        shows=(LAB,), nct_id="NCT02576665"),
    row("realdata/api_v2_fields_subset/biomcp_get_nct02576665_20260811.json",
        "Patient has an ECOG Performance Status score of 0 or 1 (solid tumors) or KPS score ≥ "
        "70 (rHGG).", ("ecog performance status score", ">=", 0, None),
        ("ecog performance status score", "<=", 1, None), ("kps score", ">=", 70, None),
        shows=(RANGE, PUNCTUATION), nct_id="NCT02576665"),
    row(HISTORY + "NCT03690141_int_study_history_true.json", "Men ≥18 years.",
        ("age", ">=", 18, "years"), shows=(AGE_WORDS,)),
    row(HISTORY + "NCT03690141_int_study_history_true.json",
        "Serum testosterone ≤1.73 nmol/L (50 ng/dL) at screening.",
        ("serum testosterone", "<=", 1.73, "nmol/L"), shows=(LAB,)),
    row(HISTORY + "NCT03690141_int_study_history_true.json",
        "Absolute neutrophil count (ANC) ≥1.0 x 109/L",
        ("absolute neutrophil count (anc)", ">=", 1.0, "x 109/L"),
        context="Adequate bone marrow function:", shows=(LAB,)),
    row(HISTORY + "NCT03690141_int_study_history_true.json",
        "Hemoglobin ≥80 g/L (8.0 g/dL or 4.9 mmol/L)", ("hemoglobin", ">=", 80, "g/L"),
        context="Adequate bone marrow function:", shows=(LAB,)),
    row(HISTORY + "NCT03690141_int_study_history_true.json",
        "Serum alanine aminotransferase (ALT) ≤3 x upper limit of normal (ULN), ≤ 5 x ULN in "
        "the presence of liver metastases",
        ("serum alanine aminotransferase (alt)", "<=", 3, "x ULN"),
        ("serum alanine aminotransferase (alt)", "<=", 5, "x ULN"),
        context="Adequate hepatic function:", shows=(LAB, NO_MEASURE)),
    row(HISTORY + "NCT03690141_int_study_history_true.json",
        "Adequate renal function: -Serum creatinine ≤1.5 mg/dL and/or creatinine clearance ≥30 "
        "mL/min using Cockcroft Gault equation (Appendix 13.4)",
        ("serum creatinine", "<=", 1.5, "mg/dL"), ("creatinine clearance", ">=", 30, "mL/min"),
        shows=(LAB, PUNCTUATION)),
    row(HISTORY + "NCT03690141_int_study_history_true.json", "Estimated life expectancy >12 "
        "weeks.", ("estimated life expectancy", ">", 12, "weeks"), shows=(LAB,)),
    row(HISTORY + "NCT03690141_int_study_history_true.json",
        "Major surgery within 4 weeks before the start of study therapy.",
        ("major surgery", "<=", 4, "weeks"), shows=(DURATION,)),
    row(HISTORY + "NCT04280705_history_v0.json",
        "Male or non-pregnant female adult >/=18 years of age at time of enrollment.",
        ("age", ">=", 18, "years"), shows=(AGE_WORDS,)),
    row(HISTORY + "NCT04280705_history_v0.json", "Clinical assessment (evidence of "
        "rales/crackles on exam) AND SpO2 </= 94% on room air, OR", ("spo2", "<=", 94, "%"),
        context="Illness of any duration, and at least one of the following:",
        shows=(PUNCTUATION,)),
    row(HISTORY + "NCT04280705_history_v0.json", "Alanine transaminase/aspartate transaminase "
        "(ALT/AST) > 5 times the upper limit of normal.",
        ("alanine transaminase/aspartate transaminase (alt/ast)", ">", 5, "x ULN"),
        shows=(LAB,)),
    row(HISTORY + "NCT04280705_history_v0.json", "Stage 4 severe chronic kidney disease or "
        "requiring dialysis (i.e. estimated glomerular filtration rate (eGFR) < 30)",
        ("estimated glomerular filtration rate (egfr)", "<", 30, None), shows=(LAB,)),
    row("NCT04083898/NCT04083898.json", "Serum monoclonal protein ≥ 0.5 g/dL",
        ("serum monoclonal protein", ">=", 0.5, "g/dL"), shows=(LAB,)),
    row("NCT04083898/NCT04083898.json",
        "At least 6 weeks from the last treatment with daratumumab to the first study treatment",
        (("from the last treatment with daratumumab", "last treatment with daratumumab"), ">=",
         6, "weeks"), shows=(DURATION, NO_MEASURE)),
    row("NCT04083898/NCT04083898.json", "Patients with HIV are eligible unless their CD4+ T-cell "
        "counts are < 350 cells/mcL or they have a history of AIDS-defining opportunistic "
        "infection within the 12 months prior to registration.",
        ("cd4+ t-cell counts", "<", 350, "cells/mcL"),
        ("history of aids-defining opportunistic infection", "<=", 12, "months"),
        shows=(LAB, DURATION)),
    # -- fixtures/realdata/thresholds: legacy records of the AACT test suite ----------------------
    row(NEW + "NCT00001177.xml", "age 18 to 50;",
        ("age", ">=", 18, None), ("age", "<=", 50, None),
        context="The subjects of this study will be women who meet the following criteria:",
        shows=(RANGE,)),
    row(NEW + "NCT00734539.xml",
        "> 48 hours of age and < 120 hours old at time of first drug administration",
        ("age", ">", 48, "hours"), ("age", "<", 120, "hours"), shows=(PUNCTUATION, AGE_WORDS)),
    row(NEW + "NCT00734539.xml", "< 750 g birth weight", ("birth weight", "<", 750, "g"),
        shows=(NO_MEASURE,)),
    row(NEW + "NCT00734539.xml", "liver failure (AST and ALT > 250 U/L)",
        ("ast and alt", ">", 250, "U/L"), shows=(LAB,)),
    row(NEW + "NCT01065844.xml", "ECOG performance status 0-2 (Karnofsky ≥ 50%, see Appendix A).",
        ("ecog performance status", ">=", 0, None), ("ecog performance status", "<=", 2, None),
        ("karnofsky", ">=", 50, "%"), shows=(RANGE,)),
    row(NEW + "NCT01065844.xml", "creatinine < 1.5 X institutional upper limit of normal OR "
        "creatinine clearance ≥ 60 mL/min/1.73 m2 for patients with creatinine levels above "
        "institutional normal.", ("creatinine", "<", 1.5, "x ULN"),
        ("creatinine clearance", ">=", 60, "mL/min/1.73 m2"),
        context="Patients must have normal organ and marrow function as defined below:",
        shows=(LAB,)),
    row(NEW + "NCT01065844.xml", "AST(SGOT) ≤ 2.5 X institutional upper limit of normal",
        ("ast (sgot)", "<=", 2.5, "x ULN"),
        context="Patients must have normal organ and marrow function as defined below:",
        shows=(LAB,)),
    row(NEW + "NCT01339988.xml", "Cardiac (Echo/EKG): shortening fraction ≥ 27%",
        ("shortening fraction", ">=", 27, "%"), shows=(LAB,)),
    row(NEW + "NCT01339988.xml", "Pulmonary function tests: DLCO ≥ 50%", ("dlco", ">=", 50, "%"),
        shows=(LAB,)),
    row(NEW + "NCT01339988.xml", "Renal: creatinine clearance/GFR ≥ 60 ml/minute/1.73m2",
        ("creatinine clearance/gfr", ">=", 60, "ml/minute/1.73m2"), shows=(LAB,)),
    row(NEW + "NCT01380080.xml", "Karnofsky performance score >/= 30 at time of study entry.",
        ("karnofsky performance score", ">=", 30, None), shows=(LAB,)),
    row(NEW + "NCT01380080.xml", "Males and females age >/= 13 years.",
        ("age", ">=", 13, "years"), shows=(AGE_WORDS,)),
    row(NEW + "NCT01380080.xml", "Use of prohibited medications (see list in A5274/REMEMBER "
        "MOPS, section 3.2.1) within 30 days prior to study entry.",
        (("use of prohibited medications", "prohibited medications"), "<=", 30, "days"),
        shows=(PUNCTUATION, DURATION)),
    row(NEW + "NCT01380080.xml",
        "Within 12 weeks prior to entry, exposure to a household member or co-worker with known "
        "MDR TB.", ("exposure to a household member or co-worker", "<=", 12, "weeks"),
        shows=(DURATION, NO_MEASURE)),
    row(NEW + "NCT01841593.xml", "Between 18 to 65 years, inclusive",
        ("age", ">=", 18, "years"), ("age", "<=", 65, "years"),
        context="Subjects must meet all of the following inclusion criteria within 28 days prior "
        "to the baseline visit:", shows=(PUNCTUATION, RANGE)),
    row(NEW + "NCT01841593.xml", "Body Mass Index (BMI) of 18 to 35 kg/m2, inclusive.",
        ("body mass index (bmi)", ">=", 18, "kg/m2"), ("body mass index (bmi)", "<=", 35, "kg/m2"),
        context="Subjects must meet all of the following inclusion criteria within 28 days prior "
        "to the baseline visit:", shows=(RANGE,)),
    row(NEW + "NCT02438137.xml", "Age of 18-65 years at screening;",
        ("age", ">=", 18, "years"), ("age", "<=", 65, "years"), shows=(RANGE,)),
    row(NEW + "NCT02438137.xml", "History of decreased immune cell counts per a blood test known "
        "as a CBC, specifically lymphocyte counts less than 1.2 K/μL at screening.",
        ("lymphocyte counts", "<", 1.2, "K/µL"), shows=(LAB,)),
    row(NEW + "NCT02586688.xml", "Duration of current episode of depression ≥4 weeks and ≤3 years",
        ("duration of current episode of depression", ">=", 4, "weeks"),
        ("duration of current episode of depression", "<=", 3, "years"),
        shows=(DURATION, NO_MEASURE)),
    row(NEW + "NCT02586688.xml", "HAMD24 Item 1 ≥ 2 and total score ≥ 20",
        ("hamd24 item 1", ">=", 2, None), ("total score", ">=", 20, None), shows=(LAB,)),
    row(NEW + "NCT02679963.xml", "Patients must be > 18 years of age.",
        ("age", ">", 18, "years"), shows=(AGE_WORDS,)),
    row(NEW + "NCT02679963.xml", "Creatinine clearance > 60mL/min as calculated by Cockroft-Gault "
        "formula for cisplatin administration; creatinine clearance >/= 51mL/min by "
        "Cockroft-Gault formula for carboplatin administration",
        ("creatinine clearance", ">", 60, "mL/min"), ("creatinine clearance", ">=", 51, "mL/min"),
        shows=(LAB,)),
    row(NEW + "NCT02679963.xml", "AST (SGOT)/ALT (SGPT) ≤ 2.5 x institutional upper limit of "
        "normal unless liver metastases are present in which case it must be ≤ 5x ULN",
        ("ast (sgot)/alt (sgpt)", "<=", 2.5, "x ULN"), ("ast (sgot)/alt (sgpt)", "<=", 5, "x ULN"),
        shows=(LAB, PUNCTUATION)),
    row(NEW + "NCT02679963.xml", "LH and FSH levels in the post-menopausal range for women under "
        "50,", ("age", "<", 50, None), shows=(AGE_WORDS,)),
    row(NEW + "NCT02699827.xml", "Age < 20 or > 35 years.",
        ("age", "<", 20, "years"), ("age", ">", 35, "years"), shows=(NO_MEASURE,)),
    row(NEW + "NCT02699827.xml", "Height < 150 or > 180 cm.",
        ("height", "<", 150, "cm"), ("height", ">", 180, "cm"), shows=(NO_MEASURE,)),
    row(NEW + "NCT02699827.xml", "Body mass index (BMI) > 35 kg/m2.",
        ("body mass index (bmi)", ">", 35, "kg/m2"), shows=(LAB,)),
    row(NEW + "NCT02708238.xml", "5-minute Apgar score ≥7; and 6) birth weight ≥2500 g",
        ("5-minute apgar score", ">=", 7, None), ("birth weight", ">=", 2500, "g"),
        shows=(PUNCTUATION,)),
    row(NEW + "NCT02830269.xml", "Adult, > or equal to 18-yr", ("age", ">=", 18, "yr"),
        shows=(PUNCTUATION, AGE_WORDS)),
    row(NEW + "NCT02970669.xml", "Men and women between 18 and 80 years of age",
        ("age", ">=", 18, "years"), ("age", "<=", 80, "years"), shows=(RANGE,)),
    row(NEW + "NCT02970669.xml", "Subjects with symptomatic hypotension or systolic blood "
        "pressure <100 mmHg at screening or <95 mmHg at randomization",
        ("systolic blood pressure", "<", 100, "mmHg"), ("systolic blood pressure", "<", 95, "mmHg"),
        shows=(LAB, NO_MEASURE)),
    row(NEW + "NCT02988895.xml", "Male or female aged 50 years or older",
        ("age", ">=", 50, "years"), shows=(AGE_WORDS,)),
    row(NEW + "NCT02988895.xml",
        "CNV lesion with greatest linear dimension >3750 microns as determined by angiography",
        ("greatest linear dimension", ">", 3750, "microns"), shows=(LAB,)),
    row(NEW + "NCT03101111.xml", "Aged ≥21 to ≤50 years on the day of enrollment.",
        ("age", ">=", 21, "years"), ("age", "<=", 50, "years"), shows=(PUNCTUATION,)),
    row(NEW + "NCT03147742.xml", "Male or female, 12 years of age or older.",
        ("age", ">=", 12, "years"), shows=(AGE_WORDS,)),
    row(NEW + "NCT03147742.xml", "Evidence of platelet engraftment (ie, platelets ≥ 20 × 10^9/L).",
        ("platelets", ">=", 20, "x 10^9/L"), shows=(LAB,)),
    row(NEW + "NCT03147742.xml", "Patients with end stage renal function (creatinine clearance "
        "(CrCl) < 15 mL/min or glomerular filtration rate < 15 mL/min), regardless of whether "
        "hemodialysis is required.", ("creatinine clearance (crcl)", "<", 15, "mL/min"),
        ("glomerular filtration rate", "<", 15, "mL/min"), shows=(LAB,)),
    row(NEW + "NCT03204344.xml", "Age of 18 years and beyond;", ("age", ">=", 18, "years"),
        shows=(AGE_WORDS,)),
    row(NEW + "NCT03245528.xml", "Patients with a MAP > 80 mmHg.", ("map", ">", 80, "mmHg"),
        shows=(LAB,)),
    row(NEW + "NCT03245528.xml", "Patients in liver failure with a MELD score ≥ 30.",
        ("meld score", ">=", 30, None), shows=(LAB,)),
    row(NEW + "NCT03245528.xml", "Patients with an expected lifespan of < 24 hours.",
        ("expected lifespan", "<", 24, "hours"), shows=(DURATION,)),
    row(NEW + "NCT03459976.xml", "Age (45 - 70 yr old).",
        ("age", ">=", 45, "yr"), ("age", "<=", 70, "yr"), shows=(RANGE,)),
    row(NEW + "NCT03494712.xml", "Young healthy Caucasian male subjects aged between 18 and 45 "
        "years (both inclusive)", ("age", ">=", 18, "years"), ("age", "<=", 45, "years"),
        shows=(RANGE,)),
    row(NEW + "NCT03521479.xml", "Age ≥ 18 and ≤ 65",
        ("age", ">=", 18, None), ("age", "<=", 65, None), shows=(NO_MEASURE,)),
    row(NEW + "NCT03599518.xml", "Has left ventricular ejection fraction (LVEF) < 45% by either "
        "echocardiogram (ECHO) or multigated acquisition (MUGA) scan",
        ("left ventricular ejection fraction (lvef)", "<", 45, "%"), shows=(LAB,)),
    row(NEW + "NCT03599518.xml", "Has any clinically important abnormalities in rhythm, "
        "conduction or morphology of resting ECG, eg, complete left bundle branch block, "
        "third-degree heart block, second-degree heart block, or PR interval > 250 milliseconds "
        "(ms)", ("pr interval", ">", 250, "milliseconds"), shows=(LAB,)),
    row(NEW + "NCT03599518.xml", "Has a mean corrected QT interval using Fridericia's correction "
        "(QTcF) prolongation >470 ms for females and >450 ms for males in three successive "
        "Screening measurements",
        ("mean corrected qt interval using fridericia's correction (qtcf) prolongation", ">",
         470, "ms"),
        ("mean corrected qt interval using fridericia's correction (qtcf) prolongation", ">",
         450, "ms"), shows=(LAB, PUNCTUATION)),
    row(NEW + "NCT03840122.xml", "Patient is over the age of 21", ("age", ">", 21, None),
        shows=(AGE_WORDS,)),
    row(NEW + "NCT03840122.xml", "Patient is under the age of 21", ("age", "<", 21, None),
        shows=(AGE_WORDS,)),
    row(NEW + "NCT04349592_covid_19_hcq.xml", "Age at least 18", ("age", ">=", 18, None),
        shows=(AGE_WORDS,)),
    row(NEW + "NCT04349592_covid_19_hcq.xml",
        "Baseline QTc >480 if QRS width normal; QTc >510 if QRS >120",
        ("baseline qtc", ">", 480, None), ("qtc", ">", 510, None), ("qrs", ">", 120, None),
        context="History of or known QT prolongation", shows=(LAB,)),
    row(NEW + "NCT04710303_covid_19_all_protocols.xml", "Adults, age 18 - 50 years, inclusive "
        "umbrella, at time of first study vaccination.",
        ("age", ">=", 18, "years"), ("age", "<=", 50, "years"), shows=(RANGE,)),
    row(NEW + "NCT04710303_covid_19_all_protocols.xml", "Body mass index (BMI) < 30.00 kg/m2",
        ("body mass index (bmi)", "<", 30.0, "kg/m2"), shows=(LAB,)),
    row(NEW + "NCT04710303_covid_19_all_protocols.xml",
        "Temperature < 38.0°C on day of first study vaccination.",
        ("temperature", "<", 38.0, "°C"), shows=(LAB,)),
    # -- fixtures/realdata/thresholds: records of a TREC 2022 sample ----------------------------
    row(NEW + "NCT00055575.xml", "Age 18-55", ("age", ">=", 18, None), ("age", "<=", 55, None),
        context="Patients with Major Depressive Disorder (MDD):", shows=(RANGE,)),
    row(NEW + "NCT00055575.xml", "Weight over 275 pounds", ("weight", ">", 275, "pounds"),
        context="Patients MDD & BD:", shows=(LAB,)),
    row(NEW + "NCT00055575.xml", "Age of onset greater than 45 years (to reduce the biological "
        "heterogeneity encompassed by the MDD and BD criteria, since subjects with a late "
        "age-at onset for depression have a far greater likelihood of having MRI correlates of "
        "cerebrovascular disease than age-matched, healthy controls or age-matched, early-onset "
        "depressives)", ("age of onset", ">", 45, "years"), context="Patients MDD & BD:",
        shows=(LAB,)),
    row(NEW + "NCT00055614.xml", "CA 125 no greater than 35 units/mL",
        ("ca 125", "<=", 35, "units/mL"), shows=(NO_GREATER,)),
    row(NEW + "NCT00055614.xml", "18 and over", ("age", ">=", 18, None), context="Age",
        shows=(AGE_WORDS, CONTEXT)),
    row(NEW + "NCT00055614.xml", "ECOG 0-2", ("ecog", ">=", 0, None), ("ecog", "<=", 2, None),
        context="Performance status", shows=(RANGE,)),
    row(NEW + "NCT00055614.xml", "Alkaline phosphatase less than 1.5 ULN",
        ("alkaline phosphatase", "<", 1.5, "x ULN"), context="Hepatic", shows=(LAB,)),
    row(NEW + "NCT00055614.xml", "ALT and AST less than 1.5 times upper limit of normal (ULN)",
        ("alt and ast", "<", 1.5, "x ULN"), context="Hepatic", shows=(LAB,)),
    row(NEW + "NCT00055614.xml", "At least 3 years since other prior chemotherapy (other than "
        "first-line chemotherapy for ovarian, fallopian tube, or primary peritoneal cancer)",
        (("since other prior chemotherapy", "other prior chemotherapy"), ">=", 3, "years"),
        context="Chemotherapy", shows=(DURATION,)),
    row(NEW + "NCT00055614.xml", "Must have received at least 5 courses of first-line "
        "chemotherapy", ("courses of first-line chemotherapy", ">=", 5, None),
        context="DISEASE CHARACTERISTICS:", shows=(PUNCTUATION, NO_MEASURE)),
    row(NEW + "NCT00739752.xml", "Age 18 and older males and females", ("age", ">=", 18, None),
        shows=(AGE_WORDS,)),
    row(NEW + "NCT00739752.xml", "Under age 18", ("age", "<", 18, None), shows=(AGE_WORDS,)),
    row(NEW + "NCT00739778.xml", "Male or non-pregnant, non-lactating females ages 18 to 75 "
        "inclusive.", ("age", ">=", 18, None), ("age", "<=", 75, None), shows=(RANGE,)),
    row(NEW + "NCT00739791.xml", "ECOG performance status 0-2",
        ("ecog performance status", ">=", 0, None), ("ecog performance status", "<=", 2, None),
        context="PATIENT CHARACTERISTICS:", shows=(RANGE,)),
    row(NEW + "NCT00739791.xml", "Prostate-specific antigen (PSA) ≤ 10.0 ng/mL (PSA < 15 ng/mL "
        "allowed for patients with benign prostatic hyperplasia or prostatitis)",
        ("prostate-specific antigen (psa)", "<=", 10.0, "ng/mL"), ("psa", "<", 15, "ng/mL"),
        context="DISEASE CHARACTERISTICS:", shows=(LAB,)),
    row(NEW + "NCT00739830.xml", "18 years of age or older", ("age", ">=", 18, "years"),
        shows=(AGE_WORDS,)),
    row(NEW + "NCT00739830.xml", "ECOG performance status less than or equal to 1",
        ("ecog performance status", "<=", 1, None), shows=(LAB,)),
    row(NEW + "NCT00739830.xml", "Serum cholesterol <350 mg/dL and triglycerides < 400 mg/dL",
        ("serum cholesterol", "<", 350, "mg/dL"), ("triglycerides", "<", 400, "mg/dL"),
        shows=(LAB,)),
    row(NEW + "NCT00739843.xml", "Prevalent and incident hemodialysis patients over the age of "
        "60, receiving hemodialysis treatments at the University of Chicago outpatient dialysis "
        "program.", ("age", ">", 60, None), shows=(AGE_WORDS,)),
    row(NEW + "NCT00739843.xml", "Patients 59 and younger, and patients with the following "
        "medical conditions: malignancies currently requiring chemotherapy or radiation therapy, "
        "severe heart failure (NYHA class IV), known HIV infection, or currently active hepatic "
        "encephalopathy.", ("age", "<=", 59, None), shows=(AGE_WORDS,)),
    row(NEW + "NCT00739882.xml", "At least 18 years old.", ("age", ">=", 18, "years"),
        shows=(AGE_WORDS,)),
    row(NEW + "NCT00739882.xml", "History of thrombocytopenia, haemolytic anaemia, clinically "
        "significant anaemia, a white blood cell count <4,000 cells/μL or >14,000 cells/μL, a "
        "haematocrit (HCT) <30% or a haemoglobin (Hgb) level <11 g/dL, a platelet count "
        "<150,000 cells/μL", ("white blood cell count", "<", 4000, "cells/µL"),
        ("white blood cell count", ">", 14000, "cells/µL"), ("haematocrit (hct)", "<", 30, "%"),
        ("haemoglobin (hgb)", "<", 11, "g/dL"), ("platelet count", "<", 150000, "cells/µL"),
        shows=(LAB, NO_MEASURE)),
    row(NEW + "NCT00739882.xml", "Hepatic enzyme levels ≥3 times the upper limit of normal or "
        "serum creatinine level ≥2 times the upper limit of normal",
        (("hepatic enzyme levels", "hepatic enzyme"), ">=", 3, "x ULN"),
        (("serum creatinine level", "serum creatinine"), ">=", 2, "x ULN"), shows=(LAB,)),
    row(NEW + "NCT00739908.xml",
        "A total score =>40 on the IDS-SR30 assessed via IVRS at Screening and Randomization",
        ("total score", ">=", 40, None), shows=(LAB,)),
    row(NEW + "NCT00739908.xml", "Subject's current MDD episode is >2 years",
        (("current mdd episode", "subject's current mdd episode"), ">", 2, "years"),
        shows=(DURATION,)),
    row(NEW + "NCT05380336.xml", "Patients whose nivolumab treatment was initiated between 2015 "
        "and 2020", shows=(RANGE,)),
    row(NEW + "NCT05380414.xml", "Male or female patient > 18 years", ("age", ">", 18, "years"),
        shows=(AGE_WORDS,)),
    row(NEW + "NCT05380414.xml", "PS score 0 or 1.",
        ("ps score", ">=", 0, None), ("ps score", "<=", 1, None), shows=(RANGE,)),
    row(NEW + "NCT05380479.xml", "Patients ECOG Performance Status 0-3.",
        (("ecog performance status", "patients ecog performance status"), ">=", 0, None),
        (("ecog performance status", "patients ecog performance status"), "<=", 3, None),
        shows=(RANGE,)),
    row(NEW + "NCT05380726.xml", "Men and women aged ≥ 18 years", ("age", ">=", 18, "years"),
        shows=(AGE_WORDS,)),
    row(NEW + "NCT05380726.xml", "Body mass index (BMI) below 17",
        ("body mass index (bmi)", "<", 17, None), shows=(LAB,)),
    row(NEW + "NCT05380804.xml", "Being between the ages of 18-65",
        ("age", ">=", 18, None), ("age", "<=", 65, None), shows=(RANGE, PUNCTUATION)),
    row(NEW + "NCT05380882.xml", "2 Male or female patient 18 to 75 years of age, an Eastern "
        "Cooperative Oncology Group (ECOG) performance status of 0 to 1, and life expectancy "
        "≥12 weeks;", ("age", ">=", 18, "years"), ("age", "<=", 75, "years"),
        (ECOG, ">=", 0, None), (ECOG, "<=", 1, None), ("life expectancy", ">=", 12, "weeks"),
        shows=(RANGE,)),
    row(NEW + "NCT05380986.xml", "ECOG score is 0~2;",
        ("ecog score", ">=", 0, None), ("ecog score", "<=", 2, None), shows=(RANGE,)),
    row(NEW + "NCT05380986.xml", "Age: ≥18 years old, male or female;", ("age", ">=", 18, "years"),
        shows=(AGE_WORDS, PUNCTUATION)),
    row(NEW + "NCT05381025.xml", "Age 18 or older", ("age", ">=", 18, None), shows=(AGE_WORDS,)),
    row(NEW + "NCT05381090.xml", "Duration of motor symptoms > 1 year",
        ("duration of motor symptoms", ">", 1, "year"), shows=(DURATION,)),
    row(NEW + "NCT05381090.xml", ">5 kg weight change over the preceding 3 months (determined by "
        "researcher from previous clinic visit and discussion with partner/carer)",
        ("weight change", ">", 5, "kg"), shows=(NO_MEASURE,)),
    row(NEW + "NCT05381090.xml", "BMI <15.0 kg/m2", ("bmi", "<", 15.0, "kg/m2"), shows=(LAB,)),
    row(NEW + "NCT05381090.xml",
        "Onset of motor Parkinsonism symptoms greater than 12 months prior to dementia diagnosis",
        ("onset of motor parkinsonism symptoms", ">", 12, "months"), shows=(DURATION,)),
    row(NEW + "NCT05381142.xml", "Participant must be 40 to 65 years of age inclusive, at the time "
        "of signing the informed consent.", ("age", ">=", 40, "years"),
        ("age", "<=", 65, "years"), shows=(RANGE,)),
    row(NEW + "NCT05381142.xml", "Body weight of at least 40 kg and body mass index (BMI) within "
        "the range 18.0 and 30.0 kg/m^2 (inclusive) at screening.",
        ("body weight", ">=", 40, "kg"), ("body mass index (bmi)", ">=", 18.0, "kg/m^2"),
        ("body mass index (bmi)", "<=", 30.0, "kg/m^2"), shows=(RANGE, LAB)),
    row(NEW + "NCT05381194.xml", "At least 19 years old at enrolment", ("age", ">=", 19, "years"),
        shows=(AGE_WORDS,)),
    row(NEW + "NCT05381194.xml", "Bodyweight over 35Kg", ("bodyweight", ">", 35, "Kg"),
        shows=(LAB,)),
    row(NEW + "NCT05381194.xml", "Less than 30 Karnofsky score at enrolment",
        ("karnofsky score", "<", 30, None), shows=(NO_MEASURE,)),
    row(NEW + "NCT05381194.xml", "BMI less than 17", ("bmi", "<", 17, None), shows=(LAB,)),
    row(NEW + "NCT05381194.xml", "Hypokalemia, Hemoglobin < 8.0 g/dL, Platelet < 75,000/mm3, ANC "
        "< 1000/mm3", ("hemoglobin", "<", 8.0, "g/dL"), ("platelet", "<", 75000, "/mm3"),
        ("anc", "<", 1000, "/mm3"), context="Abnormal value of a blood test at baseline:",
        shows=(LAB,)),
    row(NEW + "NCT05381194.xml",
        "AST or ALT > 3 X ULN, Total bilirubin >2.0 X ULN, Albumin < 3.2 mg/dL",
        ("ast or alt", ">", 3, "x ULN"), ("total bilirubin", ">", 2.0, "x ULN"),
        ("albumin", "<", 3.2, "mg/dL"), context="Abnormal value of a blood test at baseline:",
        shows=(LAB,)),
    row(NEW + "NCT05381467.xml", "≥3 mm apical bone to engage the immediately placed implants",
        ("apical bone", ">=", 3, "mm"), shows=(NO_MEASURE,)),
    row(NEW + "NCT05381532.xml", "18-35 years old",
        ("age", ">=", 18, "years"), ("age", "<=", 35, "years"), shows=(RANGE,)),
    row(NEW + "NCT05381532.xml", "Regular menstrual cycle between 26-35 days in duration",
        ("regular menstrual cycle", ">=", 26, "days"),
        ("regular menstrual cycle", "<=", 35, "days"), shows=(RANGE,)),
    row(NEW + "NCT05381532.xml", "Regular sleep patterns (7-9 hours/night)",
        ("regular sleep patterns", ">=", 7, "hours/night"),
        ("regular sleep patterns", "<=", 9, "hours/night"), shows=(RANGE, NO_MEASURE)),
    row(NEW + "NCT05381532.xml", "BMI between 18.5 and 29.5 kg/m2",
        ("bmi", ">=", 18.5, "kg/m2"), ("bmi", "<=", 29.5, "kg/m2"), shows=(RANGE,)),
    row(NEW + "NCT05381532.xml", "Weight >110 lb", ("weight", ">", 110, "lb"), shows=(LAB,)),
    row(NEW + "NCT05381532.xml", "Current pregnancy, < 6 months postpartum, and/or breastfeeding",
        ("postpartum", "<", 6, "months"), shows=(DURATION, NO_MEASURE)),
    row(NEW + "NCT05381896.xml", "Having adolescent idiopathic scoliosis with a Cobb angle of "
        "20-50° diagnosed by an orthopedic surgeon",
        ("cobb angle", ">=", 20, "°"), ("cobb angle", "<=", 50, "°"), shows=(RANGE,)),
    row(NEW + "NCT05389579.xml", "being between the ages of 60 to 79,",
        ("age", ">=", 60, None), ("age", "<=", 79, None), shows=(RANGE, PUNCTUATION)),
    row(NEW + "NCT05389579.xml", "having an SPO2 value above 90% when they were hospitalized,",
        (("spo2 value", "spo2"), ">", 90, "%"), shows=(PUNCTUATION,)),
    row(NEW + "NCT05389774.xml", "Are aged 35 years or above", ("age", ">=", 35, "years"),
        context="Patients are eligible for the study if all of the following apply:",
        shows=(AGE_WORDS,)),
    row(NEW + "NCT05389865.xml", "all adults (>18 years of age) that underwent surgical "
        "intervention on the proximal aorta in Scotland between 2008 and 2021.",
        ("age", ">", 18, "years"), shows=(RANGE,)),
    row(NEW + "NCT05389930.xml", "Age 21 to 50", ("age", ">=", 21, None), ("age", "<=", 50, None),
        shows=(RANGE,)),
    row(NEW + "NCT05481619.xml", "18 years of age or older, with moderate to severe ulcerative "
        "colitis, with an indication for vedolizumab treatment;", ("age", ">=", 18, "years"),
        shows=(AGE_WORDS,)),
    row(NEW + "NCT05481749.xml", "80 or more years old", ("age", ">=", 80, "years"),
        shows=(AGE_WORDS,)),
]

PRECISION = 0.98
RECALL = 0.90


# -- how bounds are compared (the module docstring) -------------------------------------------

_ABBREVIATION = re.compile(r"\s*(?:\([^\s()\[\]]+\)|\[[^\s()\[\]]+\])")
_EDGE_PUNCTUATION = " .,;:!?-–•*\"'"


def measure_key(measure: str) -> str:
    previous = None
    key = measure.lower()
    while key != previous:  # "(apnoea index (ahi))": the inner one first
        previous, key = key, _ABBREVIATION.sub("", key)
    return " ".join(key.split()).strip(_EDGE_PUNCTUATION)


def unit_key(unit: str) -> str:
    return "".join(unit.lower().split()).replace("^", "").replace("×", "x").replace("μ", "µ")


def matches(found: tuple[str | None, str, float, str | None], expected: Bound) -> bool:
    measure, comparator, value, unit = found
    spellings, want_comparator, want_value, want_unit = expected
    if comparator != want_comparator or not math.isclose(value, want_value):
        return False
    if (unit is None) != (want_unit is None) or (
            unit is not None and unit_key(unit) != unit_key(want_unit)):  # type: ignore[arg-type]
        return False
    if measure is None or spellings is None:
        return measure is None and spellings is None
    names = (spellings,) if isinstance(spellings, str) else spellings
    return measure_key(measure) in {measure_key(name) for name in names}


def score(rows: list[Row], extract=thresholds.extract) -> tuple[int, int, int, list[str]]:
    """(bounds extracted, bounds expected, bounds matched, the misses as lines)."""
    extracted = expected = matched = 0
    misses = []
    for entry in rows:
        found = [(t.measure, t.comparator, t.value, t.unit)
                 for t in extract(entry.text, entry.context)]
        left = list(entry.expected)
        unmatched = []
        for bound in found:
            hit = next((want for want in left if matches(bound, want)), None)
            if hit is None:
                unmatched.append(bound)
            else:
                left.remove(hit)
                matched += 1
        extracted += len(found)
        expected += len(entry.expected)
        if unmatched or left:
            misses.append(f"{entry.nct_id} {entry.text[:70]!r}\n"
                          f"    extracted, not expected: {unmatched}\n"
                          f"    expected, not extracted: {left}")
    return extracted, expected, matched, misses


# -- the tests --------------------------------------------------------------------------------


def test_the_table_is_large_and_shows_every_error_class() -> None:
    assert len(ROWS) >= 60
    assert len({entry.nct_id for entry in ROWS}) >= 40
    for name in CLASSES:
        assert sum(name in entry.classes for entry in ROWS) >= 2, name


@pytest.mark.parametrize("source", sorted({entry.source for entry in ROWS}))
def test_every_text_is_in_its_record(source: str) -> None:
    assert_quoted(FIXTURES / source, [(entry.nct_id, entry.text, entry.context)
                                      for entry in ROWS if entry.source == source])


def test_measures_and_units_are_compared_as_the_docstring_says() -> None:
    assert measure_key("Absolute neutrophil count (ANC)") == "absolute neutrophil count"
    assert measure_key("ast(sgot)") == measure_key("AST (SGOT)") == "ast"
    assert measure_key("psa (prostate specific antigen)") == "psa (prostate specific antigen)"
    assert measure_key("-Serum creatinine") == "serum creatinine"
    assert unit_key("/mm^3") == unit_key("/mm3")
    assert unit_key("x 10^9/L") == unit_key("× 109/L")
    assert unit_key("kg / m2") == unit_key("kg/m2")
    assert unit_key("mL/min") != unit_key("mL/min/1.73 m2")
    assert matches(("platelets", ">=", 100000, "/mm3"), ("platelets", ">=", 100000, "/mm^3"))
    assert not matches(("platelet", ">=", 100000, "/mm3"),
                       ("platelet count", ">=", 100000, "/mm3"))
    assert not matches(("creatinine", ">", 2.0, "mg/dL"), ("creatinine", "<=", 2.0, "mg/dL"))
    assert not matches((None, ">=", 18, "years"), ("age", ">=", 18, "years"))


def test_precision_and_recall_over_the_table() -> None:
    extracted, expected, matched, misses = score(ROWS)
    precision = matched / extracted
    recall = matched / expected
    report = (f"precision {precision:.1%} ({matched}/{extracted}), "
              f"recall {recall:.1%} ({matched}/{expected}); misses:\n" + "\n".join(misses))
    assert precision >= PRECISION and recall >= RECALL, report
