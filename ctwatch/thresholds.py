"""Numeric thresholds in criterion text: ``Absolute neutrophil count ≥ 1500/mm3`` →
``Threshold("absolute neutrophil count", ">=", 1500, "/mm3")``.

Comparators may be symbols (``≥``, ``>=``, ``>/=``, ``=/>``) or words (``at least``, ``no greater
than``, ``within``, ``… or more``, ``18 and over``, ``… years of age or older``); ranges are
``18 - 65 years``, ``between 18.5 and 30 kg/m2``, ``3 months to 17 years`` and, where the measure
is a scale or an age (``ECOG 0-2``, ``age 21-75``, ``performance status of 0 or 1``), ranges
without a unit. Numbers may carry thousands separators and decimals.

The measure is the phrase the number bounds, as written, in lower case: read back from the
comparator to the start of its clause; else carried over from the bound before when only a
conjunction or a qualifier separates them (``Age > 18 and < 70 years``, ``<80 umol/L in females
and <106 umol/L in males``); else the phrase after the number (``at least 1500 granulocytes``,
``at least 5 years since prior chemotherapy``); else the label of the heading criterion
(``Age:`` over ``18 and over``); else none. An age is named ``age``; a duration never is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from ctwatch.limits import MAX_GROUPS
from ctwatch.model import Threshold

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
# A number after these is an age even without a unit ("18 and over", "59 and younger").
_AGE_POSTFIX = frozenset({"or older", "and older", "or younger", "and younger", "and over",
                          "or over", "and beyond"})

def _alternatives(table: Iterable[str]) -> str:
    """The phrases (or keys) of ``table`` as one regex, shared beginnings once ("n(?:o(?:t)?…"):
    an alternation of dozens of phrases, tried at every word or after every number, costs as
    many attempts (issue 14). Longer phrases are tried first ("not exceeding" before "not
    exceed"); a space is any white space."""
    tree: dict[str, dict] = {}
    for key in table:
        node = tree
        for char in key:
            node = node.setdefault(char, {})
        node[""] = {}
    return _branches(tree)


def _branches(node: dict[str, dict]) -> str:
    branches = [(r"\s+" if char == " " else re.escape(char)) + _branches(node[char])
                for char in sorted(char for char in node if char)]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


_NUMBER = (rf"\d{{1,3}}(?:,\d{{3}}){{1,{MAX_GROUPS}}}(?:\.\d+)?(?!\d)"
           r"|\d+,\d{1,2}(?!\d)|\d+(?:\.\d+)?")
_TIME_WORD = _alternatives([
    "year", "years", "yr", "yrs", "month", "months", "mo", "mos", "week", "weeks", "wk", "wks",
    "day", "days", "hour", "hours", "hr", "hrs", "minute", "minutes", "min", "mins", "second",
    "seconds"])
_UNIT_WORD = _alternatives([
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
_LOW_UNIT = rf"(?:{_TIME_WORD}|cm|mm|kg|%)(?![a-z])"


# The patterns below are tried at every position of a criterion, and trying their dozens of
# alternatives there was most of the cost of reading criteria (issue 13): each first checks,
# by one lookup in a set, that the character at hand can start a match at all.
def _starting(words: Iterable[str], digit: bool = False) -> str:
    """A lookahead for the first character of one of ``words`` (or a digit)."""
    first = "".join(sorted({re.escape(word[0]) for word in words}))
    return "(?=[" + first + (r"\d" if digit else "") + "])"


# "≥ 1500/mm3", "at least 18 years", "within the last 14 days", "over the age of 21" (not the
# start of a range "18-65")
_PREFIXED = (
    rf"(?:(?P<sym>{_alternatives(_SYMBOLS)})|\b(?P<word>{_alternatives(_WORDS)})"
    r"(?:\s+(?:the\s+)?(?:(?P<ageof>age(?:\s+of)?)|last|past|previous|prior)?)?)"
    rf"\s*(?P<value>{_NUMBER})(?!\d|\.\d|\s*(?:-|–|~|to)\s*\d)(?:\s*(?:{_UNIT}))?"
)
# "2.0 mg/dl or less", "3,000 or more", "18 years of age or older", "18 and over",
# "80 or more years old"
_POSTFIXED = (
    rf"\b(?P<pvalue>{_NUMBER})(?!\d|\.\d)\s*(?:{_UNIT.replace('?P<', '?P<p')})?"
    r"(?:\s+(?P<pold>of\s+age|old))?"
    rf"\s+(?P<post>{_alternatives(_POSTFIX)})\b"
    rf"(?:\s+(?P<after>{_TIME_WORD})\b)?"
)
_PATTERN = re.compile(
    f"{_starting([*_SYMBOLS, *_WORDS], digit=True)}(?:{_PREFIXED}|{_POSTFIXED})", re.IGNORECASE)
# "18 - 65 years", "3 months to 17 years", "between 18 and 65 years", "BMI in the range of
# 18 ~ 28 kg / m2", "ECOG 0-2", "performance status of 0, 1, or 2". Which of them are bounds
# depends on the measure (see _is_range_bound): "grades 9-12", "protocol 10M-01-1", "between
# 2015 and 2020" and "days 1-5" are not.
_RANGE = re.compile(
    rf"{_starting(['between'], digit=True)}(?:"
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
_DIGIT = re.compile(r"\d")  # as the patterns' \d: any decimal digit, not only ASCII
# The last words of a measure that makes a range without a unit a bound: a performance scale,
# a score, an age ("ECOG 0-2", "performance status (PS): 0-1", "age 21-75", "BMI 18.5-30").
_SCALES = frozenset({"age", "ages", "aged", "ecog", "zubrod", "karnofsky", "kps", "who", "ps",
                     "performance", "status", "bmi", "score", "asa", "body mass index"})
# Clause breaks and the parentheses that hide them ("(see list, section 3.2.1)"); "AND" in
# capitals joins two criteria ("… on exam) AND SpO2 </= 94%").
_BREAK = re.compile(r"[()]|[;:,.!?](?=\s|$)|\s[-–]\s|\s(?:AND|OR)\s")
_PLAIN_BREAK = re.compile(r"[;:,.!?](?=\s|$)|\s[-–]\s|\s(?:AND|OR)\s")
# The clause after its last connective word ("… unless their CD4+ T-cell counts are"); the
# connective is found by finditer, as ".*\b(?:…)\s+" backtracks over the rest of the clause
# from every position after the last one (quadratic). A linear-time engine (RE2) would run
# the old pattern as it is, but not the lookarounds and possessive parts of the others.
_CONNECTIVES = ("unless", "if", "when", "where", "whereas", "while", "that", "which", "who",
                "whose", "defined as", "such as", "including", "with", "without", "than", "from",
                "for", "by")
_CONNECTIVE = re.compile(
    rf"{_starting(_CONNECTIVES)}\b(?:"
    + "|".join(word.replace(" ", r"\s+") for word in _CONNECTIVES) + r")\s+",
    re.IGNORECASE,
)
# Words that end a clause without naming anything ("… must be"), read back word by word: the
# regex "(?:\s+(?:is|…))+\s*$" would retry the run of such words from each of them. Words are
# compared by regexes, to fold case as that one did ("İS" is "is" to it).
_TRAILING_WORD = re.compile(
    r"is|are|was|were|be|must|should|to|of|at|in|on|value|level|levels", re.IGNORECASE)
_GAPS = re.compile(r"(\s+)")
_LEADING = re.compile(
    r"^(?:(?:a|an|the|their|his|her|its|and/or|and|or|any|all|they|have|has|with|of|being|"
    r"between|specifically|especially|namely|ie|eg|in|on|at|to|for|by|from|into)"
    r"(?:\s+|$))+",
    re.IGNORECASE,
)
# "Patients must have had …", "Has received …": who must have had it is not what is bounded.
_SUBJECT = re.compile(
    r"^(?:(?:the\s+)?(?:patients?|subjects?|participants?|individuals?)(?:'s)?\s+)?"
    r"(?:(?:must|should|will|shall|may|can)\s+)?"
    r"(?:(?:have|has|had|having|is|are|be|been|being|undergone|received|experienced|taken)"
    r"(?:\s+|$))+",
    re.IGNORECASE,
)
# The first words of what _SUBJECT and _LEADING strip
_LEAD_WORDS = frozenset({
    "the", "patient", "patients", "subject", "subjects", "participant", "participants",
    "individual", "individuals", "patient's", "patients'", "subject's", "participant's",
    "individual's", "must", "should", "will", "shall", "may", "can", "have", "has", "had",
    "having", "is", "are", "be", "been", "being", "undergone", "received", "experienced",
    "taken", "a", "an", "their", "his", "her", "its", "and/or", "and", "or", "any", "all",
    "they", "with", "of", "between", "specifically", "especially", "namely", "ie", "eg", "in",
    "on", "at", "to", "for", "by", "from", "into"})
# What ends a measure without being part of it: "back pain for", "history of prior cancer within"
_TAIL = frozenset({"for", "than", "within", "during", "from", "by", "about", "approximately",
                   "a", "an", "the", "and", "or", "with", "in", "at", "on", "of", "to", "as",
                   "range"})
_FUNCTION = frozenset({
    "a", "an", "the", "and", "or", "of", "to", "for", "with", "without", "in", "on", "at", "by",
    "from", "than", "between", "is", "are", "be", "no", "not", "as", "if", "but", "per", "each",
    "both", "either", "it", "they", "this", "these", "which", "that", "case", "total",
})
_PRONOUNS = frozenset({"it", "they", "them", "this", "these"})
# Most measures are a few plain words that nothing of _read_measure touches ("Platelet count"):
# those are taken as they are.
_PLAIN_WORD = r"[A-Za-z](?:[\w'-]*[A-Za-z0-9])?"
_PLAIN = re.compile(rf"\s*({_PLAIN_WORD}(?: {_PLAIN_WORD}){{0,7}})\s*", re.ASCII)
_TRAILING = frozenset({"is", "are", "was", "were", "be", "must", "should", "to", "of", "at", "in",
                       "on", "value", "level", "levels"})
_CONNECTIVE_WORDS = frozenset(word for connective in _CONNECTIVES for word in connective.split())
_STOP_WORDS = (_LEAD_WORDS | _TAIL | _FUNCTION | _PRONOUNS | {"value", "level", "levels"}
               | {word for connective in _CONNECTIVES for word in connective.split()}
               | {"is", "are", "was", "were", "be", "must", "should", "to", "of", "at", "in",
                  "on"})
_LETTER = re.compile(r"[^\W\d_]")
# Between two bounds of one measure: "Age > 18 and < 70", "≤ 3 x ULN, ≤ 5 x ULN in …",
# "<80 umol/L in females and <106 umol/L in males", "<100 mmHg at screening or <95 mmHg".
_CONTINUING = re.compile(
    r"[\s,;(]*(?:(?:and/or|and|or|but|to)[\s(]*)?"
    r"|\s*(?:\([^()]{1,15}\)\s*){0,2}(?:(?:in|for|at|during|on)\s+[\w-]+(?:\s+[\w-]+)?\s*)?"
    r"(?:\([^()]{1,15}\)\s*)?,?\s*(?:and|or)\s*\(?\s*",
    re.IGNORECASE,
)
# The thing a duration runs from: "at least 5 years since prior chemotherapy"
_SINCE = re.compile(
    r"\s*((?:since|from)\s+[^,;:.()]{1,80}?)(?=\s+(?:to|until|and|or|unless|except|in|who|which|"
    r"whichever)\b|\s*[,;:.()]|\s*$)",
    re.IGNORECASE,
)
# The clause after a leading time window: "Within 2 years before entering the study, the
# subject had a history of active malignant tumors other than …"
_MAIN = re.compile(
    r"[^,;:.()]{0,80}?,\s*([^,;:.()]{1,160}?)(?=\s+(?:other\s+than|except|with|who|which|that|"
    r"unless|if|as|during|due)\b|\s*[,;:.()]|\s*$)",
    re.IGNORECASE,
)
# The counted thing when the number comes first: "at least 1500 granulocytes", "≥10% body
# surface area", "Less than 30 Karnofsky score"
_STOP = (r"(?:and|or|of|to|in|on|at|for|with|without|the|a|an|per|by|from|since|after|before|"
         r"prior\s+to|ago|than|as|if|unless|when|while|during|within|following|post|apart|that|"
         r"which|who|is|are|was|were|be|must|should|will|may|can|not|no|old|inclusive|"
         r"consecutive|each|every|total|previously|earlier|later|over|under|above|below|"
         + _TIME_WORD + r")\b")
_NOUNS = re.compile(
    rf"\s+(?:of\s+)?((?!{_STOP})[^\W\d_][\w+/'-]*"
    rf"(?:\s+(?:of\s+)?(?:(?!{_STOP})[^\W\d_][\w+/'-]*|\([\w+/'-]{{1,15}}\))){{0,6}})",
    re.IGNORECASE,
)
_AGE_UNIT = re.compile(r"years?|yrs?|-yrs?|-years?", re.IGNORECASE)
_TIME_UNIT = re.compile(_TIME_WORD, re.IGNORECASE)
_AGE_AFTER = re.compile(r"\s*(?:of\s+age|old)\b", re.IGNORECASE)
_DURATION_AFTER = re.compile(
    r"\s*(?:since|after|before|prior|ago|from|following|post|apart|previously|earlier|"
    r"of\s+(?:the\s+)?(?:last|first|start|previous|prior|initial|study|screening|onset|"
    r"diagnosis|baseline|randomi[sz]ation|enrol?lment|registration|treatment|therapy))\b",
    re.IGNORECASE,
)
_PERSON = re.compile(
    r"(?:age[ds]?|men|women|males?|females?|patients?|subjects?|participants?|adults?|children|"
    r"persons?|people|individuals?|volunteers?|those|healthy|young|non-pregnant|boys|girls|"
    r"adolescents?|infants?|and|or|,|\s)*",
    re.IGNORECASE,
)
_YEAR = re.compile(r"(?:18|19|20)\d\d")
_ULN = re.compile(r"uln|lln|upper|normal", re.IGNORECASE)
_SLASH = re.compile(r"\s*/\s*")
_CONSECUTIVE = re.compile(r"^consecutive\s+", re.IGNORECASE)
# Headings that label a part of the criteria, not a measure ("Inclusion:", "Other:")
_GENERIC = re.compile(
    r"criteri|inclusion|exclusion|characteristics|following|\bother\b|\bnote\b|cohort|group|"
    r"\bpart\b|\barm\b|patients|subjects|participants|controls|\bfor\b|disease|stage|"
    r"function|adequate",
    re.IGNORECASE,
)

Reading = tuple[str, int | float, str | None]


def extract(text: str, context: str | None = None) -> tuple[Threshold, ...]:
    """Every numeric bound in one criterion's own text, in order. ``context``: the text of
    the criterion that heads this one ("Age:" over "18 and over"), whose label is the
    measure of a bound whose own text names none."""
    # Every bound has a number, and most criteria none: they are not searched.
    if not _DIGIT.search(text):
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
        continuing = (previous is not None and bool(_CONTINUING.fullmatch(before))
                      and _same_kind(found[-1].unit, unit))
        if continuing:
            # "within 3 weeks or at least 4 half-lives": a counted thing of its own
            measure = (_noun_after(text, match.end()) if unit is None else None) or previous
        else:
            measure = _named(text, before, match, word, unit, previous, not found) \
                or _label(context)
        if is_range and not _is_range_bound(match, measure):
            continue
        if _is_age(measure, unit, text, match.end(), word, post):
            measure = "age"
        if continuing and found[-1].unit is None and unit and not is_range:
            found[-1] = Threshold(found[-1].measure, found[-1].comparator, found[-1].value, unit)
        found.extend(Threshold(measure, comparator, value, bound_unit)
                     for comparator, value, bound_unit in bounds)
        previous = measure
    return tuple(found)


def _named(text: str, before: str, match: re.Match[str], word: str | None, unit: str | None,
           previous: str | None, first: bool) -> str | None:
    """The measure of a bound, from its own text: read back over its clause; "age" where the
    text says so; after the number ("since prior chemotherapy", "1500 granulocytes"); the
    clause after a window that opens the criterion; the label before a colon or a
    parenthesis ("ECOG performance status (PS): 0-1", "Regular sleep patterns (7-9 hours")."""
    measure = _measure(before)
    if measure in _PRONOUNS:
        return previous  # "… unless liver metastases are present in which case it"
    if match.re is _PATTERN and (match["ageof"] or match["pold"]):
        return "age"  # "over the age of 21", "18 years of age or older"
    if measure is None and unit and _TIME_UNIT.fullmatch(unit):
        since = _SINCE.match(text, match.end())
        measure = " ".join(since[1].lower().split()[:8]) if since else None
    if measure is None:
        measure = _noun_after(text, match.end())
    if measure is None and word == "within" and first and not before.strip():
        measure = _main_clause(text, match.end())
    if measure is None and before.rstrip().endswith((":", "(")):
        measure = _measure(before.rstrip()[:-1])
    return measure


def _same_kind(unit: str | None, other: str | None) -> bool:
    """Whether two units may bound one measure: not a duration and a quantity ("Serum
    creatinine ≤ 1.5 mg/dL within the past 90 days")."""
    return unit is None or other is None or (
        bool(_TIME_UNIT.fullmatch(unit)) == bool(_TIME_UNIT.fullmatch(other)))


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
    scale = measure is not None and _last_named(measure, _SCALES)
    if match["first"] is not None:
        values = [int(match["first"]),
                  *(int(d) for d in _DIGIT.findall(match["middle"])), int(match["last"])]
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


def _label(context: str | None) -> str | None:
    """The label of a heading criterion ("Age:", "Performance status:", "Age"), if it is one:
    a few words without a number that do not name a part of the criteria ("Inclusion:"), an
    organ's function ("Adequate hepatic function:") or a disease ("WHO stage III disease:")."""
    if not context or len(context) > 80:  # a heading of a few words, not a sentence
        return None
    heading = " ".join(context.split())
    colon = heading.endswith(":")
    words = heading.rstrip(":").lower().split()
    if not 0 < len(words) <= (4 if colon else 3) or _DIGIT.search(heading) \
            or _GENERIC.search(heading):
        return None
    return " ".join(words)


def _open_clause(before: str) -> str:
    """The text after the last parenthesis still open: "Platelets ≥ 75 (no transfusion within".
    Read back from one "(" to the one before it, counting the ")" between, not character by
    character: most clauses have no parenthesis at all."""
    depth = 0
    end = len(before)
    while (opening := before.rfind("(", 0, end)) != -1:
        depth += before.count(")", opening, end)
        if depth == 0:
            return before[opening + 1:]
        depth -= 1
        end = opening
    return before


def _clause(text: str) -> str:
    """The text after the last clause break outside parentheses ("Use of prohibited medications
    (see list, section 3.2.1)"); a ")" that closes nothing before it breaks the clause too
    ("… and stimulants) for")."""
    if "(" not in text and ")" not in text:
        return _PLAIN_BREAK.split(text)[-1]  # most clauses: one split, no reading in Python
    depth = 0
    begin = 0
    leading = False  # whether the open parenthesis opens the clause: "(solid tumors) or KPS"
    for token in _BREAK.finditer(text):
        mark = token.group()
        if mark == "(":
            leading = leading if depth else not text[begin:token.start()].strip()
            depth += 1
        elif mark == ")" and depth:
            depth -= 1
            if not depth and leading:
                begin = token.end()
        elif not depth:
            begin = token.end()
    return text[begin:]


def _measure(before: str) -> str | None:
    """The measure named before a bound: the last words of its clause, at most eight outside
    parentheses; "it" where a pronoun stands for it."""
    if not _LETTER.search(before):  # ", ", " and (": nothing named
        return None
    clause = _clause(_open_clause(before))
    plain = _PLAIN.fullmatch(clause)
    if plain:  # "Absolute neutrophil count ", "total bilirubin of ": read as _read_clause would
        words = plain[1].lower().split()
        while len(words) > 1 and words[-1] in _TRAILING:
            words.pop()
        if _CONNECTIVE_WORDS.isdisjoint(words[:-1]):
            while words and words[-1] in _TAIL:
                words.pop()
            if words and _STOP_WORDS.isdisjoint(words):
                return " ".join(words)
    return _read_clause(clause)


def _read_measure(before: str) -> str | None:
    """The measure before a bound, every step of _measure taken."""
    return _read_clause(_clause(_open_clause(before)))


def _read_clause(clause: str) -> str | None:
    clause = _without_trailing(clause.strip())
    if "(" in clause:
        masked = _masked(clause)
        clause = clause[len(masked) - len(_after_connective(masked)):]
    else:
        clause = _after_connective(clause)
    words = _last_words(_tidy(clause).lower().split())
    if not words:
        return None
    if words[-1] in _PRONOUNS:
        return words[-1]
    if all(word in _FUNCTION for word in words) or not _LETTER.search(" ".join(words)):
        return None
    return " ".join(words)


def _masked(clause: str) -> str:
    """The clause with the words inside its parentheses blotted out, so that a connective
    there ("… therapy (including ABREVA)") does not cut the clause."""
    if "(" not in clause:
        return clause
    pieces = []
    depth = 0
    end = 0
    for mark in _PARENTHESIS.finditer(clause):
        if mark.group() == "(":
            if not depth:
                pieces.append(clause[end:mark.end()])
                end = mark.end()
            depth += 1
        elif depth:
            depth -= 1
            if not depth:
                pieces.append("_" * (mark.start() - end))
                end = mark.start()
    pieces.append(clause[end:] if not depth else "_" * (len(clause) - end))
    return "".join(pieces)


_PARENTHESIS = re.compile(r"[()]")


def _last_words(words: list[str], count: int = 8) -> list[str]:
    """The last ``count`` words outside parentheses, and those inside them among these
    ("aspartate amino transferase (ast or sgot) and alanine amino transferase (alt or sgpt)")."""
    if len(words) <= count:
        return words
    depth = 0
    outside = 0
    for index in range(len(words) - 1, -1, -1):
        word = words[index]
        depth += word.count(")") + word.count("]")
        inside = depth > 0
        depth = max(0, depth - word.count("(") - word.count("["))
        outside += not inside
        if outside == count:
            return _LEADING.sub("", " ".join(words[index:])).split()
    return words


def _tidy(clause: str) -> str:
    """The clause without what surrounds the measure: bullets and stray punctuation, the words
    that trail or lead it, a parenthetical aside at its end, who must have had it."""
    clause = _without_aside(_without_tail(_edges(clause)))
    if clause.split(None, 1)[:1] and clause.split(None, 1)[0].lower() in _LEAD_WORDS:
        clause = _LEADING.sub("", _SUBJECT.sub("", clause))  # most clauses start with a measure
    return _edges(_without_tail(clause))


def _without_tail(clause: str) -> str:
    last = clause.rsplit(None, 1)[-1:]
    if not last or last[0].lower() not in _TAIL:
        return clause  # most clauses end in what they name: not split into words
    words = clause.split()
    while words and words[-1].lower() in _TAIL:
        words.pop()
    return " ".join(words)


def _edges(clause: str) -> str:
    """The clause without the punctuation around it ("-Serum creatinine", "stimulants)")."""
    begin, end = 0, len(clause)
    while begin < end and not (clause[begin].isalnum() or clause[begin] == "("):
        begin += 1
    while end > begin and not (clause[end - 1].isalnum() or clause[end - 1] in ")%+']"):
        end -= 1
    return clause[begin:end]


def _without_aside(clause: str) -> str:
    """The clause without a closing parenthetical that is an aside, not an abbreviation:
    "(see list in A5274/REMEMBER MOPS, section 3.2.1)", "(including …)". Its "(" is found as
    _open_clause finds one, a parenthesis at a time."""
    if not clause.endswith(")"):
        return clause
    depth = 0
    end = len(clause)
    while (opening := clause.rfind("(", 0, end)) != -1:
        depth += clause.count(")", opening, end) - 1
        if depth == 0:
            aside = clause[opening + 1:-1]
            if len(aside.split()) > 3 or _ASIDE.search(aside):
                return clause[:opening].rstrip()
            return clause
        end = opening
    return clause


_ASIDE = re.compile(r"[,;]|\b(?:e\.g|i\.e|see|including|excluding|except|such|other)\b",
                    re.IGNORECASE)


def _without_trailing(clause: str) -> str:
    """The clause without the words that end it naming nothing ("… value must be"); its first
    word stays, as nothing precedes it."""
    last = clause.rsplit(None, 1)[-1:]
    if not last or not _TRAILING_WORD.fullmatch(last[0]):
        return clause  # most clauses end in what they name: not split into words
    parts = _GAPS.split(clause)  # words at even indexes
    end = len(parts)
    while end > 2 and _TRAILING_WORD.fullmatch(parts[end - 1]):
        end -= 2
    return "".join(parts[:end])


def _after_connective(clause: str) -> str:
    """The one-line clause after its last connective word and the space after it."""
    found = list(_CONNECTIVE.finditer(clause))
    return clause[found[-1].end():] if found else clause


def _noun_after(text: str, end: int) -> str | None:
    """The counted thing when the number comes first: "at least 1500 granulocytes"."""
    words = _NOUNS.match(text, end)
    return words[1].lower() if words else None


def _main_clause(text: str, end: int) -> str | None:
    """What a criterion that opens with its time window bounds: "Within 12 weeks prior to
    entry, exposure to a household member …"."""
    main = _MAIN.match(text, end)
    words = _tidy(main[1]).lower().split()[:8] if main else []
    return " ".join(words) if words and not all(word in _FUNCTION for word in words) else None


_AGES = frozenset({"age", "ages", "aged"})


def _last_named(measure: str, names: frozenset[str]) -> bool:
    """Whether a measure ends in one of ``names``, parenthesised abbreviations after it aside:
    "eastern cooperative oncology group (ecog) performance status (ps)" ends in "status", "men
    and women aged" in "aged", "gestational age" in none of them."""
    while measure.endswith(")") and (opening := measure.rfind("(")) > 0:
        measure = measure[:opening].rstrip()
    words = measure.rsplit(None, 3)[-3:]
    if not words or words[-1] == "gestational" or words[-2:-1] == ["gestational"]:
        return False
    return words[-1] in names or " ".join(words) in names


def _is_age(measure: str | None, unit: str | None, text: str, end: int, word: str | None,
            post: str | None) -> bool:
    """Whether a bound is an age: its measure says so ("aged"), or it is counted in years (or
    is "18 and over") of a person or of nothing named, and is not a duration ("within 2
    years", "at least 5 years since prior chemotherapy")."""
    if measure is not None and _last_named(measure, _AGES):
        return True
    if unit is None:
        # "18 and over", "59 and younger", "younger than 18", "women under 50"
        if not (post in _AGE_POSTFIX or word in ("older than", "younger than")
                or (measure is not None and word in ("over", "under", "above"))):
            return False
    elif not _AGE_UNIT.fullmatch(unit):
        return False
    elif _AGE_AFTER.match(text, end):
        return True
    elif word == "within" or _DURATION_AFTER.match(text, end):
        return False
    return measure is None or bool(_PERSON.fullmatch(measure))
