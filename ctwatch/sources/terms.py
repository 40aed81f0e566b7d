"""The registry's display wording → API v2 spellings: enums, dates and age limits; and the
checks every source applies to the values it outputs.

Legacy XML and the classic study page write values as the registry displayed them ("Active,
not recruiting", "Phase 1/Phase 2", "None (Open Label)", "Anticipated", "March 30, 2018");
API v2 spells the same values ``ACTIVE_NOT_RECRUITING``, ``PHASE1``/``PHASE2``, ``NONE``,
``ESTIMATED`` and ``2018-03-30``. Those formats are retired, their vocabulary closed: a display
term outside it is a ParseError naming it, never a guess. API v2 is live and may add a value:
:func:`token` keeps any value shaped like one, as the registry spells it. Dates must exist
(:func:`iso_date`) and NCT ids be ASCII (:func:`nct_id`), so every trial a source produces
validates against the schema.
"""

from __future__ import annotations

import datetime
import re

from ctwatch.errors import InvalidNctId, ParseError
from ctwatch.model import parse_nct_id

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
# "None (Open Label)", "[Patient Registry]"; not nested, so each scan stops at the next bracket
_QUALIFIER = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
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
        raise ParseError(f"unknown {kind.replace('_', ' ')} {quoted(term.strip())}")
    return value


def nct_id(value: object) -> str:
    """A record's NCT id ("NCT" + 8 ASCII digits, any case), upper-cased; anything else is a
    ParseError quoting it short."""
    try:
        return parse_nct_id(value if isinstance(value, str) else "")
    except InvalidNctId:
        raise ParseError(f"{quoted(value)} is not an NCT id (expected NCT followed by 8 "
                         "digits)") from None


def quoted(value: object, limit: int = 60) -> str:
    """A value as an error message quotes it: its repr (control and bidi characters, lone
    surrogates escaped), cut to ``limit`` characters, so a 100 kB value gives one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: An API v2 enum value: ASCII upper-case words joined by "_" ("ACTIVE_NOT_RECRUITING").
TOKEN = re.compile(r"[A-Z0-9]+(?:_[A-Z0-9]+)*")
# The values ENUMS lists are tokens as they are: most values a record holds are settled by
# one lookup, not the checks below (issue 13).
_KNOWN = frozenset().union(*ENUMS.values())


def token(value: object) -> str | None:
    """An API v2 enum value as the registry spells it, upper-cased, known or not: a value the
    registry adds after :data:`ENUMS` is kept, so an analyst sees it and a diff reports it.
    None for none; anything that is not text shaped like :data:`TOKEN` is a ParseError."""
    if type(value) is str and value in _KNOWN:
        return value
    if value is None:
        return None
    if not isinstance(value, str):
        raise ParseError(f"expected an enum value (text), got {json_type(value)}")
    text = value.strip()
    if text and not (text.isascii() and TOKEN.fullmatch(text.upper())):
        raise ParseError(f"not an enum value (A-Z, 0-9 and _): {quoted(text)}")
    return text.upper() or None


def json_type(value: object) -> str:
    """What a JSON value is, for an error message: "a number", "a list"…"""
    names = {bool: "true/false", int: "a number", float: "a number", str: "text",
             list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


_PHASE_PAIR = re.compile(r"/(?=\s*(?:early\s+)?phase)", re.IGNORECASE)


def phases(terms: list[str]) -> tuple[str, ...]:
    """Phases from display terms, each possibly a pair ("Phase 1/Phase 2" → PHASE1, PHASE2)."""
    found = [enum("phase", part) for term in terms for part in _PHASE_PAIR.split(term)]
    return tuple(dict.fromkeys(value for value in found if value))


_MONTHS = {name: number for number, name in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"), 1)}
_TEXT_DATE = re.compile(r"(?:([a-z]+)\.?\s+(?:([0-9]{1,2}),?\s+)?)?([0-9]{4})", re.IGNORECASE)
# ASCII digits only: \d would take "２０２０" too.
_ISO_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")


def date(text: str | None) -> str | None:
    """A registry date in text ("July 2001", "March 30, 2018") as ISO with its precision kept
    ("2001-07", "2018-03-30"); None for none. A date that does not exist ("2020-13-45",
    "February 30, 2021") is a ParseError: every date ctwatch outputs is a real one."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if _ISO_DATE.fullmatch(text):
        return iso_date(text)
    match = _TEXT_DATE.fullmatch(text)
    month = _month(match.group(1)) if match and match.group(1) else None
    if not match or (match.group(1) and month is None):
        raise ParseError(f"unreadable date {quoted(text)}")
    year, day = match.group(3), match.group(2)
    if month is None:
        return iso_date(year)
    return iso_date(f"{year}-{month:02d}" + (f"-{int(day):02d}" if day else ""))


def iso_date(text: str) -> str:
    """An ISO date at any precision (yyyy, yyyy-mm, yyyy-mm-dd) checked to exist, as is."""
    match = _ISO_DATE.fullmatch(text)
    if not match:
        raise ParseError(f"not a date (yyyy, yyyy-mm or yyyy-mm-dd): {quoted(text)}")
    year, month, day = match.groups()
    try:
        datetime.date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        raise ParseError(f"no such date {quoted(text)}") from None
    return text


def _month(name: str) -> int | None:
    name = name.lower()
    found = [number for full, number in _MONTHS.items()
             if full == name or (len(name) >= 3 and full.startswith(name))]
    return found[0] if len(found) == 1 else None


# A number starts after no digit, and is taken whole: each run of digits is scanned once.
_AGE = re.compile(r"(?<![0-9.])([0-9]++(?:\.[0-9]++)?)\s*+(year|month|week|day|hour|minute)s?",
                  re.IGNORECASE)
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
        raise ParseError(f"unreadable age {quoted(text)}")
    return float(match.group(1)) * _YEARS_PER_UNIT[match.group(2).lower()]


_COUNT = re.compile(r"([0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,9})(?:\s.*)?", re.DOTALL)


def count(text: str | None, where: str) -> int | None:
    """A number of participants as the registry displays it ("37", "1,200 participants");
    None for none. Anything else ("²", ",") is a ParseError naming ``where``."""
    if text is None or not text.strip():
        return None
    match = _COUNT.fullmatch(text.strip())
    if not match:
        raise ParseError(f"{where}: not a number of participants: {quoted(text.strip())}")
    return int(match.group(1).replace(",", ""))


def yes_no(text: str | None) -> bool | None:
    """"Yes"/"No" (and "Accepts Healthy Volunteers") as a boolean; None for none."""
    if text is None or not text.strip():
        return None
    word = text.strip().lower()
    if word in ("yes", "accepts healthy volunteers"):
        return True
    if word == "no":
        return False
    raise ParseError(f"expected Yes or No, got {quoted(text.strip())}")
