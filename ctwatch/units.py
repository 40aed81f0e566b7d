"""A bound's value in one unit per measure: ``ANC ≥ 1500/mm3`` and ``ANC ≥ 1.5 × 10^9/L`` both
get ``value_si`` 1.5 and ``unit_si`` ``"10*9/L"`` (issue 18). Units are spelt as UCUM writes
them; the text as written stays in ``value`` and ``unit``.

====================================  =======================  ===================================
written                               ``unit_si``              value
====================================  =======================  ===================================
/mm3, /µL, /mcL, cells/…, per cu mm   ``10*9/L``               ÷ 1000
×10^9/L, x 109/L, G/L (a count)       ``10*9/L``               as written
×10^3/µL, K/µL, 10^3/mm3              ``10*9/L``               as written
g/dL (hemoglobin, albumin)            ``g/L``                  × 10
mmol/L (hemoglobin, Dutch usage)      ``g/L``                  × 16.11 (Hb monomer, 16.11 g/mmol)
mg/dL (creatinine)                    ``umol/L``               × 88.42
mg/dL (bilirubin)                     ``umol/L``               × 17.1
µmol/L (creatinine, bilirubin)        ``umol/L``               as written
x ULN, x LLN                          ``{ULN}``, ``{LLN}``     as written (a multiple)
U/L, IU/L                             ``U/L``                  as written
mL/min                                ``mL/min``               as written
mL/min/1.73 m2                        ``mL/min/{1.73_m2}``     as written (not mL/min: per BSA)
%                                     ``%``                    as written (HbA1c too: NGSP %)
mmol/mol (HbA1c)                      ``mmol/mol``             as written (IFCC; not turned to %)
years, months, weeks, days, hours     ``a``, ``mo``, ``wk``,   as written
                                      ``d``, ``h``
ms, msec, milliseconds                ``ms``                   as written
kg/m2                                 ``kg/m2``                as written
====================================  =======================  ===================================

A coded measure (ctwatch.measure_codes) takes only its own units, so a unit that cannot be its
unit is not converted: ``Hb < 8.5 mg/dl`` (a typo for g/dL) and ``ANC ≥ 1000ml`` keep
``value_si`` None, and a bound in a unit of another kind is not a bound of that measure at all
(``platelet count … within 7 days``, ``lymphocytes < 20%``): it loses its code. ECOG,
Karnofsky and INR are unitless: their ``value_si`` is the value, ``unit_si`` None (a
Karnofsky score written with "%" too). A measure no code names still gets the units that mean
the same whatever is measured (counts, durations, %, multiples of a limit, mL/min, ms, kg/m2,
U/L); a mass or molar concentration needs its substance. No unit written, or one not in the
table, gives ``value_si`` and ``unit_si`` None: the unit is not guessed from the number
("ANC ≥ 1500", "age 18–75"). Values are rounded to 12 significant digits (1500/mm3 → 1.5,
not 1.5000000000000002).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import replace
from functools import lru_cache

from ctwatch import measure_codes
from ctwatch.model import Threshold

#: unit key → (kind, factor, unit_si): the units that mean the same whatever is measured
#: (factor None: the kind is known, the conversion needs the substance)
Unit = tuple[str, float | None, str | None]
_COUNT_UL = ("count", 1 / 1000, "10*9/L")
_COUNT = ("count", 1.0, "10*9/L")
_MASS = ("mass", None, None)
_MOLAR = ("molar", None, None)
UNITS: dict[str, Unit] = {
    **dict.fromkeys(["/mm3", "/ul"], _COUNT_UL),
    **dict.fromkeys(["x109/l", "109/l", "x103/ul", "103/ul", "k/ul", "x103/mm3", "103/mm3",
                     "k/mm3", "/nl"], _COUNT),
    **dict.fromkeys(["year", "years", "yr", "yrs", "y"], ("time", 1.0, "a")),
    **dict.fromkeys(["month", "months", "mo", "mos"], ("time", 1.0, "mo")),
    **dict.fromkeys(["week", "weeks", "wk", "wks"], ("time", 1.0, "wk")),
    **dict.fromkeys(["day", "days", "d"], ("time", 1.0, "d")),
    **dict.fromkeys(["hour", "hours", "hr", "hrs", "h"], ("time", 1.0, "h")),
    **dict.fromkeys(["minute", "minutes", "min", "mins"], ("time", 1.0, "min")),
    **dict.fromkeys(["ms", "msec", "msecs", "millisecond", "milliseconds"], ("ms", 1.0, "ms")),
    "%": ("percent", 1.0, "%"),
    "xuln": ("limit", 1.0, "{ULN}"),
    "xlln": ("limit", 1.0, "{LLN}"),
    **dict.fromkeys(["u/l", "iu/l", "unit/l", "units/l"], ("enzyme", 1.0, "U/L")),
    **dict.fromkeys(["ml/min", "cc/min"], ("rate", 1.0, "mL/min")),
    "ml/min/1.73m2": ("rate", 1.0, "mL/min/{1.73_m2}"),
    "kg/m2": ("bmi", 1.0, "kg/m2"),
    **dict.fromkeys(["g/dl", "mg/dl", "g/l", "mg/l", "ug/l", "ng/ml", "ug/ml", "mg/ml",
                     "g/100ml", "ng/dl", "pg/ml"], _MASS),
    **dict.fromkeys(["umol/l", "mmol/l", "nmol/l", "pmol/l", "mmol/mol"], _MOLAR),
}

Conversion = tuple[float, str | None]
_COUNTS = (frozenset({"count"}), {"g/l": (1.0, "10*9/L")})  # G/L: giga per litre
_BILIRUBIN = (frozenset({"mass", "molar", "limit"}),
              {"mg/dl": (17.1, "umol/L"), "umol/l": (1.0, "umol/L")})
_ENZYME = (frozenset({"limit", "enzyme"}), {})
_RENAL = (frozenset({"rate"}), {})
#: code → (kinds of unit it takes, conversions of its own); a key None: no unit written
MEASURES: dict[str, tuple[frozenset[str], dict[str | None, Conversion]]] = {
    "anc": _COUNTS, "platelets": _COUNTS, "wbc": _COUNTS, "lymphocytes": _COUNTS,
    "cd4": _COUNTS,
    "hemoglobin": (frozenset({"mass", "molar"}),
                   {"g/dl": (10.0, "g/L"), "g/100ml": (10.0, "g/L"), "g/l": (1.0, "g/L"),
                    "mmol/l": (16.11, "g/L")}),
    "albumin": (frozenset({"mass", "limit"}), {"g/dl": (10.0, "g/L"), "g/l": (1.0, "g/L")}),
    "creatinine": (frozenset({"mass", "molar", "limit"}),
                   {"mg/dl": (88.42, "umol/L"), "umol/l": (1.0, "umol/L"),
                    "mmol/l": (1000.0, "umol/L")}),
    "bilirubin_total": _BILIRUBIN, "bilirubin_direct": _BILIRUBIN,
    "alt": _ENZYME, "ast": _ENZYME, "ast_alt": _ENZYME, "alkaline_phosphatase": _ENZYME,
    "creatinine_clearance": _RENAL, "egfr": _RENAL,
    "inr": (frozenset({"limit"}), {None: (1.0, None)}),
    "ecog": (frozenset(), {None: (1.0, None)}),
    "karnofsky": (frozenset({"percent"}), {None: (1.0, None), "%": (1.0, None)}),
    "age": (frozenset({"time"}), {}),
    "lvef": (frozenset({"percent"}), {}),
    "qtc": (frozenset({"ms"}), {}),
    "hba1c": (frozenset({"percent", "molar"}), {"mmol/mol": (1.0, "mmol/mol")}),
    "bmi": (frozenset({"bmi"}), {}),
}

_SPELLINGS = [  # (pattern, replacement), in order, over the case-folded unit without spaces
    (re.compile(r"^per/?"), "/"),
    (re.compile(r"cells?(?=/)"), ""),
    (re.compile(r"cu\.?mm|cmm|cubicmillimet(?:er|re)s?"), "mm3"),
    (re.compile(r"mc(?=[lg])|micro(?=lit|g)"), "u"),
    (re.compile(r"milli(?=lit)"), "m"),
    (re.compile(r"lit(?:er|re)s?"), "l"),
    (re.compile(r"(?<=\d)e(?=\d)"), ""),  # 10e9
    (re.compile(r"^gms?(?=/)|^gr(?=/dl)"), "g"),
    (re.compile(r"(?<=ml/)minute"), "min"),
    (re.compile(r"^percent$"), "%"),
]
_DROPPED = re.compile(r"[\s^*()\[\]]+")


def unit_key(unit: str | None) -> str | None:
    """A unit as the tables spell it: case, spaces, "^", "×", µ/mc and the words for "per
    cubic millimetre" set aside ("× 10^9/L" → "x109/l", "cells/mcL" → "/ul")."""
    if unit is None:
        return None
    return _key(unit) if len(unit) > measure_codes.CACHED_MEASURE else _cached_key(unit)


def _key(unit: str) -> str:
    text = unicodedata.normalize("NFKC", unit).casefold()  # "m²" → "m2", "µ" → "μ"
    text = _DROPPED.sub("", text.replace("μ", "u").replace("×", "x"))
    for pattern, replacement in _SPELLINGS:
        text = pattern.sub(replacement, text)
    return text


_cached_key = lru_cache(maxsize=1024)(_key)


def normalized(code: str | None, unit: str | None) -> Conversion | None:
    """(factor, unit_si) for a bound of measure ``code`` in ``unit``; None when the unit is
    not known or cannot be that measure's."""
    key = unit_key(unit)
    if code is None:
        found = UNITS.get(key) if key is not None else None
        return (found[1], found[2]) if found and found[1] is not None else None
    kinds, own = MEASURES[code]
    if key in own:
        return own[key]
    found = UNITS.get(key) if key is not None else None
    if found and found[0] in kinds and found[1] is not None:
        return found[1], found[2]
    return None


def takes(code: str, unit: str | None) -> bool:
    """Whether measure ``code`` can be in ``unit``: its own units, and any not known to be of
    another kind ("ml" for a count is a typo, not a volume)."""
    key = unit_key(unit)
    kinds, own = MEASURES[code]
    if key is None or key in own:
        return True
    found = UNITS.get(key)
    return found is None or found[0] in kinds


def coded(bound: Threshold) -> Threshold:
    """``bound`` with its measure code and its value in the measure's unit."""
    code, weak = measure_codes.code(bound.measure)
    if code is not None and not takes(code, bound.unit):
        code = None  # "platelet transfusion … within 7 days"
    if weak and normalized(code, bound.unit) is None:
        code = None  # "patients who got …"
    conversion = normalized(code, bound.unit)
    value_si = unit_si = None
    if conversion is not None:
        value_si, unit_si = _times(bound.value, conversion[0]), conversion[1]
        if value_si is None:
            unit_si = None
    if (bound.measure_code, bound.value_si, bound.unit_si) == (code, value_si, unit_si):
        return bound
    return replace(bound, measure_code=code, value_si=value_si, unit_si=unit_si)


def _times(value: float, factor: float) -> float | None:
    """``value × factor`` to 12 significant digits; None if not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        product = float(value) * factor
    except OverflowError:  # an int beyond any float
        return None
    if not math.isfinite(product):
        return None
    return product if factor == 1.0 else float(f"{product:.12g}")
