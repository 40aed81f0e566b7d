"""Numeric thresholds in criterion text: ``Absolute neutrophil count ≥ 1500/mm3`` →
``Threshold("absolute neutrophil count", ">=", 1500, "/mm3")``.

Comparators may be symbols (``≥``, ``>=``, ``>/=``, ``=/>``) or words (``at least``, ``no greater
than``, ``within``, ``… or more``, ``18 and over``, ``… years of age or older``); ranges are
``18 - 65 years``, ``between 18.5 and 30 kg/m2``, ``3 months to 17 years`` and, where the measure
is a scale or an age (``ECOG 0-2``, ``age 21-75``, ``performance status of 0 or 1``), ranges
without a unit. Numbers may carry thousands separators and decimals.

The measure is the phrase the number bounds, as written, in lower case, as ctwatch.measures
reads it: from its clause, from the bound before, from the words after the number or from the
label of the heading criterion. An age is named ``age``; a duration never is.
"""

from __future__ import annotations

import math
import re

from ctwatch import measures, units
from ctwatch.limits import MAX_GROUPS
from ctwatch.model import Threshold
from ctwatch.phrases import DIGIT, TIME_WORD, alternatives, starting

_SYMBOLS = {
    "≥": ">=", "⩾": ">=", "≧": ">=", ">=": ">=", "=>": ">=", ">/=": ">=", "=/>": ">=",
    "> or =": ">=", "> or equal to": ">=",
    "≤": "<=", "⩽": "<=", "≦": "<=", "<=": "<=", "=<": "<=", "</=": "<=", "=/<": "<=",
    "< or =": "<=", "< or equal to": "<=",
    ">": ">", "<": "<", "=": "=",
}
_WORDS = {
    "greater than or equal to": ">=", "more than or equal to": ">=",
    "higher than or equal to": ">=", "greater or equal to": ">=", "more or equal to": ">=",
    "equal to or greater than": ">=", "equal to or more than": ">=",
    "equal to or higher than": ">=", "equal or greater than": ">=", "equal or more than": ">=",
    "at least": ">=", "no less than": ">=", "not less than": ">=", "no lower than": ">=",
    "not lower than": ">=", "no fewer than": ">=", "not fewer than": ">=",
    "no younger than": ">=", "not younger than": ">=",
    "minimum of": ">=", "a minimum of": ">=",
    "less than or equal to": "<=", "lower than or equal to": "<=", "less or equal to": "<=",
    "equal to or less than": "<=", "equal to or lower than": "<=", "equal or less than": "<=",
    "no more than": "<=", "not more than": "<=", "no greater than": "<=",
    "not greater than": "<=", "no higher than": "<=", "not higher than": "<=",
    "no larger than": "<=", "not larger than": "<=", "no older than": "<=",
    "not older than": "<=", "not exceeding": "<=", "not to exceed": "<=", "not exceed": "<=",
    "at most": "<=", "up to": "<=", "maximum of": "<=", "a maximum of": "<=", "within": "<=",
    "greater than": ">", "more than": ">", "higher than": ">", "older than": ">",
    "above": ">", "over": ">", "exceeding": ">",
    "less than": "<", "lower than": "<", "fewer than": "<", "younger than": "<", "below": "<",
    "under": "<", "equal to": "=",
}
_POSTFIX = {"or more": ">=", "or longer": ">=", "or greater": ">=", "or higher": ">=",
            "or above": ">=", "or older": ">=", "or over": ">=", "and over": ">=",
            "and older": ">=", "and above": ">=", "and beyond": ">=",
            "or less": "<=", "or fewer": "<=", "or lower": "<=", "or below": "<=",
            "or younger": "<=", "or under": "<=", "and younger": "<=", "and under": "<=",
            "and below": "<="}

_NUMBER = (rf"\d{{1,3}}(?:,\d{{3}}){{1,{MAX_GROUPS}}}(?:\.\d+)?(?!\d)"
           r"|\d+,\d{1,2}(?!\d)|\d+(?:\.\d+)?")
_UNIT_WORD = alternatives([
    "mmhg", "mm hg", "bpm", "beats per minute", "cm", "mm", "kg", "gm", "mcg", "µg", "μg", "ug",
    "ng", "pg", "mg", "g", "dl", "ml", "µl", "μl", "ul", "mcl", "l", "mmol", "µmol", "μmol",
    "umol", "nmol", "pmol", "meq", "miu", "µiu", "μiu", "uiu", "mu", "iu", "unit", "units", "u",
    "cell", "cells", "copies", "millisecond", "milliseconds", "msec", "msecs", "ms", "mv", "gy",
    "fold", "point", "points", "micron", "microns", "µm", "μm", "lb", "lbs", "pound", "pounds",
    "°c", "° c", "°f", "° f", "°", "milliliter per minute", "milliliters per minute",
    "year", "years", "yr", "yrs", "month", "months", "mo", "mos", "week", "weeks", "wk", "wks",
    "day", "days", "hour", "hours", "hr", "hrs", "minute", "minutes", "min", "mins", "second",
    "seconds"])
_UNIT = (
    r"(?P<uln>(?:(?:x|×|times)\s*(?:the\s+)?(?:institutional\s+)?"
    r"(?P<limit>uln|lln|upper\s+limits?\s+of\s+(?:the\s+)?(?:institutional\s+)?normal"
    r"(?:\s+(?:value|range))?(?:\s*\(uln\))?|upper\s+normal(?:\s+(?:value|limit|range))?"
    r"|(?<=institutional )norm(?:al)?)"
    r"|(?:institutional\s+)?(?:uln|lln))(?![a-z]))"
    r"|(?P<unit>%|(?:(?:x|×)\s*10\s*\^?\s*\d+\s*|k\s*)?/\s*[a-zµμ]+\^?\d*"
    r"|per\s+(?:cu\.?\s*)?(?:mm\^?3|mm|µl|μl|ul|microliter)"
    # The letters after "/" are possessive: "mg/hourshours/…" could otherwise be split between
    # them and "hours" in 2^n ways, all tried when no "or more" follows.
    rf"|(?:x\s+|-|consecutive\s+)?(?:{_UNIT_WORD})(?![a-z])"
    r"(?:\s*/\s*(?:\d+(?:\.\d+)?\s*)?[a-zµμ]++\^?\d*(?:\s*hours?)?)*"
    r"(?:\^?\d(?![\d.,]))?)"
)
# The same units, uncaptured, for the end of a range; at its start, only those that differ
# from the end's ("3 months to 17 years", "1cm to 4cm"): tried after every number, the whole
# set doubled the cost of ranges.
_ANY_UNIT = re.sub(r"\?P<\w+>", "?:", _UNIT)
_LOW_UNIT = rf"(?:{TIME_WORD}|cm|mm|kg|%)(?![a-z])"

# The patterns below are tried at every position of a criterion, and trying their dozens of
# alternatives there was most of the cost of reading criteria (issue 13): each first checks
# (phrases.starting), by one lookup in a set, that the character at hand can start a match at all.

# "≥ 1500/mm3", "at least 18 years", "within the last 14 days", "over the age of 21" (not the
# start of a range "18-65")
_PREFIXED = (
    rf"(?:(?P<sym>{alternatives(_SYMBOLS)})|\b(?P<word>{alternatives(_WORDS)})"
    r"(?:\s+(?:the\s+)?(?:(?P<ageof>age(?:\s+of)?)|last|past|previous|prior)?)?)"
    rf"\s*(?P<value>{_NUMBER})(?!\d|\.\d|\s*(?:-|–|~|to)\s*\d)(?:\s*(?:{_UNIT}))?"
)
# "2.0 mg/dl or less", "3,000 or more", "18 years of age or older", "18 and over",
# "80 or more years old"
_POSTFIXED = (
    rf"\b(?P<pvalue>{_NUMBER})(?!\d|\.\d)\s*(?:{_UNIT.replace('?P<', '?P<p')})?"
    r"(?:\s+(?P<pold>of\s+age|old))?"
    rf"\s+(?P<post>{alternatives(_POSTFIX)})\b"
    rf"(?:\s+(?P<after>{TIME_WORD})\b)?"
)
_PATTERN = re.compile(
    f"{starting([*_SYMBOLS, *_WORDS], digit=True)}(?:{_PREFIXED}|{_POSTFIXED})", re.IGNORECASE)
# "18 - 65 years", "3 months to 17 years", "between 18 and 65 years", "BMI in the range of
# 18 ~ 28 kg / m2", "ECOG 0-2", "performance status of 0, 1, or 2". Which of them are bounds
# depends on the measure (see _is_range_bound): "grades 9-12", "protocol 10M-01-1", "between
# 2015 and 2020" and "days 1-5" are not.
_RANGE = re.compile(
    rf"{starting(['between'], digit=True)}(?:"
    rf"\bbetween\s+(?P<blo>{_NUMBER})(?:\s*(?P<blounit>{_LOW_UNIT}))?"
    rf"\s*(?:-|–|~|to|and)\s*(?P<bhi>{_NUMBER})(?!\d|\.\d)(?:\s*(?P<bunit>{_ANY_UNIT}))?"
    r"|\b(?<![-–/.^,])(?:"
    # "in the range of 18 ~ 28", "within the range 18.0 and 30.0", "from 1cm to 4cm": the word
    # before the number is looked back at, so that letters need not start a match (issue 14)
    rf"(?:(?<=range )|(?<=range of )|(?<=from ))(?P<rlo>{_NUMBER})"
    rf"(?:\s*(?P<rlounit>{_LOW_UNIT}))?\s*(?:-|–|~|to|and)\s*(?P<rhi>{_NUMBER})(?!\d|\.\d)"
    rf"(?:\s*(?P<runit>{_ANY_UNIT}))?"
    rf"|(?P<lo>{_NUMBER})(?:\s*(?P<lounit>{_LOW_UNIT}))?\s*(?:-|–|~|to)\s*"
    rf"(?P<hi>{_NUMBER})(?!\d|\.\d)(?:\s*(?P<hunit>{_ANY_UNIT}))?(?![a-z])"
    r"|(?=\d(?:\s*,|\s+or\s))(?P<first>\d)(?P<middle>(?:\s*,\s*\d){0,8})(?:\s*,)?"
    r"\s+or\s+(?P<last>\d)(?![\w%]|[.,]\d|\s*[-–/])"
    r"))",
    re.IGNORECASE,
)
# The last words of a measure that makes a range without a unit a bound: a performance scale,
# a score, an age ("ECOG 0-2", "performance status (PS): 0-1", "age 21-75", "BMI 18.5-30").
_SCALES = frozenset({"age", "ages", "aged", "ecog", "zubrod", "karnofsky", "kps", "who", "ps",
                     "performance", "status", "bmi", "score", "asa", "body mass index"})
_YEAR = re.compile(r"(?:18|19|20)\d\d")
_ULN = re.compile(r"uln|lln|upper|normal", re.IGNORECASE)
_SLASH = re.compile(r"\s*/\s*")
_CONSECUTIVE = re.compile(r"^consecutive\s+", re.IGNORECASE)

Reading = tuple[str, int | float, str | None]


def extract(text: str, context: str | None = None) -> tuple[Threshold, ...]:
    """Every numeric bound in one criterion's own text, in order. ``context``: the text of
    the criterion that heads this one ("Age:" over "18 and over"), whose label is the
    measure of a bound whose own text names none."""
    # Every bound has a number, and most criteria none: they are not searched.
    if not DIGIT.search(text):
        return ()
    # Criterion text arrives with its white space collapsed (markup.clean); collapsing it
    # here too keeps every "\s*…\s+" of the patterns from backtracking over a long run.
    text = " ".join(text.split())
    found: list[Threshold] = []
    start = 0  # where the clause of the next bound may begin: the end of the last match read
    previous: str | None = None  # the measure of the last bound
    for match in _matches(text):
        if match.start() < start:
            continue  # inside a match read already
        before, start = text[start:match.start()], match.end()
        is_range = match.re is _RANGE
        bounds, word, post = _range(match) if is_range else _reading(match)
        if any(type(value) is float and not math.isfinite(value) for _, value, _ in bounds):
            continue  # 400 digits: not a bound, and not valid JSON
        unit = bounds[-1][2]
        continuing = (previous is not None and bool(measures.CONTINUING.fullmatch(before))
                      and measures.same_kind(found[-1].unit, unit))
        if continuing:
            # "within 3 weeks or at least 4 half-lives": a counted thing of its own
            measure = (measures.noun_after(text, match.end()) if unit is None else None) \
                or previous
        else:
            # "over the age of 21", "18 years of age or older"
            aged = match.re is _PATTERN and bool(match["ageof"] or match["pold"])
            measure = measures.named(text, before, match.end(), word, unit, previous,
                                     not found, aged) or measures.label(context)
        if is_range and not _is_range_bound(match, measure):
            continue
        if measures.is_age(measure, unit, text, match.end(), word, post):
            measure = "age"
        if continuing and found[-1].unit is None and unit and not is_range:
            found[-1] = Threshold(found[-1].measure, found[-1].comparator, found[-1].value, unit)
        found.extend(Threshold(measure, comparator, value, bound_unit)
                     for comparator, value, bound_unit in bounds)
        previous = measure
    return tuple(map(units.coded, found))


def _matches(text: str) -> list[re.Match[str]]:
    """Ranges and single bounds in reading order, a range first where both start."""
    ranges = list(_RANGE.finditer(text))
    singles = list(_PATTERN.finditer(text))
    if not ranges:
        return singles
    return sorted(ranges + singles, key=lambda m: (m.start(), m.re is not _RANGE))


def _range(match: re.Match[str]) -> tuple[list[Reading], None, None]:
    if match["first"] is not None:
        low, high = int(match["first"]), int(match["last"])
        return [(">=", low, None), ("<=", high, None)], None, None
    low = match["blo"] or match["rlo"] or match["lo"]
    high = match["bhi"] or match["rhi"] or match["hi"]
    high_unit = _unit(None, match["bunit"] or match["runit"] or match["hunit"])
    low_unit = _unit(None, match["blounit"] or match["rlounit"] or match["lounit"]) or high_unit
    return ([(">=", _number(low), low_unit), ("<=", _number(high), high_unit or low_unit)],
            None, None)


def _is_range_bound(match: re.Match[str], measure: str | None) -> bool:
    """Whether a range is a bound: one with a unit, or one of a scale or an age
    ("ECOG 0-2", "age 21-75"); "between … and …" without a unit too, unless it spans years
    ("between 2015 and 2020"); "0, 1, or 2" only of a scale, and only as consecutive values."""
    scale = measure is not None and measures.last_named(measure, _SCALES)
    if match["first"] is not None:
        values = [int(match["first"]),
                  *(int(d) for d in DIGIT.findall(match["middle"])), int(match["last"])]
        return scale and values == list(range(values[0], values[0] + len(values)))
    if match["blo"] is not None or match["rlo"] is not None:  # "between", "range of", "from"
        if match["blounit"] or match["bunit"] or match["rlounit"] or match["runit"]:
            return True
        low, high = match["blo"] or match["rlo"], match["bhi"] or match["rhi"]
        return not (_YEAR.fullmatch(low) and _YEAR.fullmatch(high))
    return bool(match["lounit"] or match["hunit"]) or scale


def _reading(match: re.Match[str]) -> tuple[list[Reading], str | None, str | None]:
    if match["post"]:
        post, comparator = _lookup(_POSTFIX, match["post"])
        unit = _unit(match["puln"], match["punit"]) or match["after"]
        return [(comparator, _number(match["pvalue"]), unit)], None, post
    if match["sym"]:
        word, comparator = None, _lookup(_SYMBOLS, match["sym"])[1]
    else:
        word, comparator = _lookup(_WORDS, match["word"])
    return [(comparator, _number(match["value"]), _unit(match["uln"], match["unit"]))], word, None


def _lookup(table: dict[str, str], found: str) -> tuple[str, str]:
    """The entry of ``table`` that the pattern found: by its lower-case spelling, else by the
    pattern's own case folding, which also takes "ſ" for "s" and "İ" for "i" ("leſs than")."""
    if found in table:  # "≥", "at least": most are written as the table spells them
        return found, table[found]
    key = _SPACES.sub(" ", found.lower())
    if key in table:
        return key, table[key]
    key = next(name for name in table if _FOLDED[name].fullmatch(found))
    return key, table[key]


_SPACES = re.compile(r"\s+")
_FOLDED = {name: re.compile(re.escape(name).replace(r"\ ", r"\s+"), re.IGNORECASE)
           for name in (*_SYMBOLS, *_WORDS, *_POSTFIX)}
_DECIMAL_COMMA = re.compile(r"\d+,\d{1,2}")


def _number(text: str) -> int | float:
    if text.isdecimal() and len(text) < 16:  # as float() reads it: exact below 2^53
        return int(text)
    if _DECIMAL_COMMA.fullmatch(text):
        return float(text.replace(",", "."))
    number = float(text.replace(",", ""))
    return int(number) if number.is_integer() and "." not in text else number


def _unit(uln: str | None, unit: str | None) -> str | None:
    """A unit as written, its spacing normalized ("/ mm3" → "/mm3"); "x ULN" or "x LLN" for
    a multiple of a limit of normal however written."""
    if uln or (unit and _ULN.search(unit)):
        return "x LLN" if "lln" in (uln or unit or "").lower() else "x ULN"
    if not unit:
        return None
    if " " in unit or "\t" in unit:
        unit = _CONSECUTIVE.sub("", _SLASH.sub("/", _SPACES.sub(" ", unit).strip()))
    return unit.lstrip("-") or None
