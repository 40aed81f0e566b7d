"""The registry's display wording → API v2 spellings: enums, dates and age limits.

Legacy XML and the classic study page write values as the registry displayed them ("Active,
not recruiting", "Phase 1/Phase 2", "None (Open Label)", "Anticipated", "March 30, 2018");
API v2 spells the same values ``ACTIVE_NOT_RECRUITING``, ``PHASE1``/``PHASE2``, ``NONE``,
``ESTIMATED`` and ``2018-03-30``. A term outside the registry's vocabulary is a ParseError
naming it, never a guess, so every trial a source produces validates against the schema.
"""

from __future__ import annotations

import re

from ctwatch.errors import ParseError

#: API v2 values per kind of enum (reference/ctgov-api.md §5)
ENUMS: dict[str, frozenset[str]] = {kind: frozenset(values.split()) for kind, values in {
    "status": "ACTIVE_NOT_RECRUITING COMPLETED ENROLLING_BY_INVITATION NOT_YET_RECRUITING "
              "RECRUITING SUSPENDED TERMINATED WITHDRAWN AVAILABLE NO_LONGER_AVAILABLE "
              "TEMPORARILY_NOT_AVAILABLE APPROVED_FOR_MARKETING WITHHELD UNKNOWN",
    "study_type": "EXPANDED_ACCESS INTERVENTIONAL OBSERVATIONAL",
    "phase": "NA EARLY_PHASE1 PHASE1 PHASE2 PHASE3 PHASE4",
    "allocation": "RANDOMIZED NON_RANDOMIZED NA",
    "intervention_model": "SINGLE_GROUP PARALLEL CROSSOVER FACTORIAL SEQUENTIAL",
    "masking": "NONE SINGLE DOUBLE TRIPLE QUADRUPLE",
    "primary_purpose": "TREATMENT PREVENTION DIAGNOSTIC ECT SUPPORTIVE_CARE SCREENING "
                       "HEALTH_SERVICES_RESEARCH BASIC_SCIENCE DEVICE_FEASIBILITY OTHER",
    "arm_type": "EXPERIMENTAL ACTIVE_COMPARATOR PLACEBO_COMPARATOR SHAM_COMPARATOR "
                "NO_INTERVENTION OTHER",
    "intervention_type": "BEHAVIORAL BIOLOGICAL COMBINATION_PRODUCT DEVICE DIAGNOSTIC_TEST "
                         "DIETARY_SUPPLEMENT DRUG GENETIC PROCEDURE RADIATION OTHER",
    "sex": "FEMALE MALE ALL",
    "std_age": "CHILD ADULT OLDER_ADULT",
    "agency_class": "NIH FED OTHER_GOV INDIV INDUSTRY NETWORK AMBIG OTHER UNKNOWN",
    "role": "STUDY_CHAIR STUDY_DIRECTOR PRINCIPAL_INVESTIGATOR SUB_INVESTIGATOR CONTACT",
    "date_type": "ACTUAL ESTIMATED",
}.items()}

# Display terms whose upper-cased form is not the API v2 value ("N/A" is a value for phases
# and allocation, and means "not given" elsewhere).
_ALIASES: dict[str, dict[str, str | None]] = {
    "status": {"UNKNOWN_STATUS": "UNKNOWN"},
    "study_type": {"N_A": None},
    "phase": {"N_A": "NA", "NOT_APPLICABLE": "NA", "PHASE_0": "EARLY_PHASE1",
              "EARLY_PHASE_1": "EARLY_PHASE1", **{f"PHASE_{n}": f"PHASE{n}" for n in range(1, 5)}},
    "allocation": {"N_A": "NA"},
    "masking": {"OPEN_LABEL": "NONE", "SINGLE_BLIND": "SINGLE", "DOUBLE_BLIND": "DOUBLE",
                "TRIPLE_BLIND": "TRIPLE", "QUADRUPLE_BLIND": "QUADRUPLE"},
    "primary_purpose": {"EDUCATIONAL_COUNSELING_TRAINING": "ECT", "N_A": None},
    "intervention_type": {"PROCEDURE_SURGERY": "PROCEDURE", "BIOLOGICAL_VACCINE": "BIOLOGICAL",
                          "BEHAVIOURAL": "BEHAVIORAL"},
    "sex": {"BOTH": "ALL"},
    "std_age": {"SENIOR": "OLDER_ADULT"},  # the classic page before 2017
    "agency_class": {"U_S_FED": "FED"},
    "date_type": {"ANTICIPATED": "ESTIMATED", "ESTIMATE": "ESTIMATED"},
}
_QUALIFIER = re.compile(r"\([^)]*\)|\[[^\]]*\]")  # "None (Open Label)", "[Patient Registry]"
_NOT_WORD = re.compile(r"[^A-Z0-9]+")


def enum(kind: str, term: str | None) -> str | None:
    """The API v2 value of a display term ("Active, not recruiting" → ACTIVE_NOT_RECRUITING);
    None for no term or "N/A" where that means not given."""
    if term is None or not term.strip():
        return None
    key = _NOT_WORD.sub("_", _QUALIFIER.sub(" ", term).upper()).strip("_")
    if kind == "intervention_model":
        key = key.removesuffix("_ASSIGNMENT")
    value = _ALIASES.get(kind, {}).get(key, key)
    if value is not None and value not in ENUMS[kind]:
        raise ParseError(f"unknown {kind.replace('_', ' ')} {term.strip()!r}")
    return value


_PHASE_PAIR = re.compile(r"/(?=\s*(?:early\s+)?phase)", re.IGNORECASE)


def phases(terms: list[str]) -> tuple[str, ...]:
    """Phases from display terms, each possibly a pair ("Phase 1/Phase 2" → PHASE1, PHASE2)."""
    found = [enum("phase", part) for term in terms for part in _PHASE_PAIR.split(term)]
    return tuple(dict.fromkeys(value for value in found if value))


_MONTHS = {name: number for number, name in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"), 1)}
_TEXT_DATE = re.compile(r"(?:([a-z]+)\.?\s+(?:(\d{1,2}),?\s+)?)?(\d{4})", re.IGNORECASE)
_ISO_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?")


def date(text: str | None) -> str | None:
    """A registry date in text ("July 2001", "March 30, 2018") as ISO with its precision kept
    ("2001-07", "2018-03-30"); None for none."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if _ISO_DATE.fullmatch(text):
        return text
    match = _TEXT_DATE.fullmatch(text)
    month = _month(match.group(1)) if match and match.group(1) else None
    if not match or (match.group(1) and month is None):
        raise ParseError(f"unreadable date {text!r}")
    year, day = match.group(3), match.group(2)
    if month is None:
        return year
    return f"{year}-{month:02d}" + (f"-{int(day):02d}" if day else "")


def _month(name: str) -> int | None:
    name = name.lower()
    found = [number for full, number in _MONTHS.items()
             if full == name or (len(name) >= 3 and full.startswith(name))]
    return found[0] if len(found) == 1 else None


_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*(year|month|week|day|hour|minute)s?", re.IGNORECASE)
_YEARS_PER_UNIT = {"year": 1, "month": 1 / 12, "week": 7 / 365.25, "day": 1 / 365.25,
                   "hour": 1 / 8766, "minute": 1 / 525960}


def age(text: str | None) -> str | None:
    """An age limit as API v2 writes it ("18 Years"); None for none or "N/A"."""
    if text is None or not _AGE.search(text):
        return None
    return re.sub(r"\s+", " ", text.strip())


def std_ages(minimum: str | None, maximum: str | None) -> tuple[str, ...]:
    """The registry's age groups an age range overlaps: child (under 18), adult (18–64),
    older adult (65 and over). API v2 derives ``stdAges`` so; legacy XML does not carry it."""
    low = _years(minimum) if minimum else 0.0
    high = _years(maximum) if maximum else float("inf")
    groups = [("CHILD", low < 18), ("ADULT", low < 65 and high >= 18), ("OLDER_ADULT", high >= 65)]
    return tuple(name for name, overlaps in groups if overlaps)


def _years(text: str) -> float:
    match = _AGE.search(text)
    if not match:
        raise ParseError(f"unreadable age {text!r}")
    return float(match.group(1)) * _YEARS_PER_UNIT[match.group(2).lower()]


def yes_no(text: str | None) -> bool | None:
    """"Yes"/"No" (and "Accepts Healthy Volunteers") as a boolean; None for none."""
    if text is None or not text.strip():
        return None
    word = text.strip().lower()
    if word in ("yes", "accepts healthy volunteers"):
        return True
    if word == "no":
        return False
    raise ParseError(f"expected Yes or No, got {text.strip()!r}")
