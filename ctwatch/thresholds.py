"""Numeric thresholds in criterion text: ``Absolute neutrophil count ≥ 1500/mm3`` →
``Threshold("absolute neutrophil count", ">=", 1500, "/mm3")``.

Comparators may be symbols (``≥``, ``>=``, ``>/=``) or words (``at least``, ``no more than``,
``within``, ``… or more``); numbers may carry thousands separators and decimals; the measure is
the phrase the number bounds, read back from the comparator to the start of its clause.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from ctwatch.limits import MAX_GROUPS
from ctwatch.model import Threshold

_SYMBOLS = {
    "≥": ">=", "⩾": ">=", "≧": ">=", ">=": ">=", "=>": ">=", ">/=": ">=",
    "≤": "<=", "⩽": "<=", "≦": "<=", "<=": "<=", "=<": "<=", "</=": "<=",
    ">": ">", "<": "<", "=": "=",
}
_WORDS = {
    "greater than or equal to": ">=", "more than or equal to": ">=",
    "equal to or greater than": ">=", "equal to or more than": ">=", "at least": ">=",
    "no less than": ">=", "not less than": ">=",
    "minimum of": ">=", "a minimum of": ">=",
    "less than or equal to": "<=", "equal to or less than": "<=", "no more than": "<=",
    "not more than": "<=", "not exceeding": "<=", "at most": "<=", "up to": "<=",
    "maximum of": "<=", "a maximum of": "<=", "within": "<=",
    "greater than": ">", "more than": ">", "higher than": ">", "above": ">", "over": ">",
    "exceeding": ">", "less than": "<", "lower than": "<", "fewer than": "<", "below": "<",
    "under": "<", "equal to": "=",
}
_POSTFIX = {"or more": ">=", "or greater": ">=", "or higher": ">=", "or above": ">=",
            "or older": ">=", "or less": "<=", "or fewer": "<=", "or lower": "<=",
            "or below": "<=", "or younger": "<="}

_NUMBER = (rf"\d{{1,3}}(?:,\d{{3}}){{1,{MAX_GROUPS}}}(?:\.\d+)?(?!\d)"
           r"|\d+,\d{1,2}(?!\d)|\d+(?:\.\d+)?")
_UNIT_WORD = (
    r"years?|yrs?|months?|weeks?|wks?|days?|hours?|hrs?|minutes?|mins?|seconds?|"
    r"mmhg|mm\s?hg|bpm|cm|mm|kg|gm|mcg|µg|μg|ug|ng|pg|mg|g|dl|ml|µl|μl|ul|mcl|l|"
    r"mmol|µmol|μmol|umol|nmol|pmol|meq|iu|units?|u|cells?|copies|msec|ms|mv|gy|fold|points?"
)
_UNIT = (
    r"(?P<uln>(?:x|×|times)\s*(?:the\s+)?(?:institutional\s+)?"
    r"(?P<limit>uln|lln|upper\s+limits?\s+of\s+(?:the\s+)?(?:institutional\s+)?normal"
    r"(?:\s+(?:value|range))?(?:\s*\(uln\))?))"
    r"|(?P<unit>%|(?:x\s*10\s*\^?\s*\d+\s*)?/\s*[a-zµμ]+\^?\d*"
    # The letters after "/" are possessive: "mg/hourshours/…" could otherwise be split between
    # them and "hours" in 2^n ways, all tried when no "or more" follows.
    rf"|(?:x\s+)?(?:{_UNIT_WORD})(?![a-z])(?:\s*/\s*(?:\d+\s*)?[a-zµμ]++\^?\d*(?:\s*hours?)?)*"
    r"(?:\^?\d(?![\d.,]))?)"
)


# The patterns below are tried at every position of a criterion, and trying their dozens of
# alternatives there was most of the cost of reading criteria (issue 13): each first checks,
# by one lookup in a set, that the character at hand can start a match at all.
def _starting(words: Iterable[str], digit: bool = False) -> str:
    """A lookahead for the first character of one of ``words`` (or a digit)."""
    first = "".join(sorted({re.escape(word[0]) for word in words}))
    return "(?=[" + first + (r"\d" if digit else "") + "])"


def _alternatives(table: dict[str, str]) -> str:
    return "|".join(re.escape(key).replace(r"\ ", r"\s+") for key in sorted(table, key=len,
                                                                           reverse=True))


# "≥ 1500/mm3", "at least 18 years", "within the last 14 days" (not the start of a range "18-65")
_PREFIXED = (
    rf"(?:(?P<sym>{_alternatives(_SYMBOLS)})|\b(?P<word>{_alternatives(_WORDS)})"
    r"(?:\s+(?:the\s+)?(?:last|past|previous|prior)?)?)"
    rf"\s*(?P<value>{_NUMBER})(?!\d|\.\d|\s*(?:-|–|to)\s*\d)(?:\s*(?:{_UNIT}))?"
)
# "2.0 mg/dl or less", "3,000 or more"
_POSTFIXED = (
    rf"\b(?P<pvalue>{_NUMBER})(?!\d|\.\d)\s*(?:{_UNIT.replace('?P<', '?P<p')})?"
    rf"\s+(?P<post>{_alternatives(_POSTFIX)})\b"
)
_PATTERN = re.compile(
    f"{_starting([*_SYMBOLS, *_WORDS], digit=True)}(?:{_PREFIXED}|{_POSTFIXED})", re.IGNORECASE)
# "18 - 65 years", "between 18 and 65 years": a unit is required after a dash, so that
# "grades 9-12" or "protocol 10M-01-1" are not read as bounds.
_RANGE_UNIT = r"years?|yrs?|months?|weeks?|days?|hours?|%|kg/m\^?2|kg/m²"
_RANGE = re.compile(
    rf"{_starting(['between'], digit=True)}(?:"
    rf"\bbetween\s+(?P<blo>{_NUMBER})\s+and\s+(?P<bhi>{_NUMBER})(?:\s*(?P<bunit>{_RANGE_UNIT}))?"
    rf"|\b(?P<lo>{_NUMBER})\s*(?:-|–|to)\s*(?P<hi>{_NUMBER})\s*(?P<unit>{_RANGE_UNIT})(?![a-z]))",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")  # as the patterns' \d: any decimal digit, not only ASCII
_CLAUSE_BREAK = re.compile(r"[;:,.!?](?:\s|$)|\s[-–]\s")
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
_COUNT = re.compile(r"count", re.IGNORECASE)
_OF = re.compile(r"of", re.IGNORECASE)
_GAPS = re.compile(r"(\s+)")
_LEADING = re.compile(
    r"^(?:(?:a|an|the|their|his|her|its|and|or|any|all|they|have|has|with|of)(?:\s+|$))+",
    re.IGNORECASE,
)
_AGE_UNIT = re.compile(r"years?|yrs?", re.IGNORECASE)
_NOUN = re.compile(r"\s+([a-z][a-z-]+)", re.IGNORECASE)
_AGE_AFTER = re.compile(r"\s*(?:of\s+age|old|of\s+age\s+or\s+older)\b", re.IGNORECASE)
_PERSON = re.compile(
    r"(?:age[ds]?|men|women|males?|females?|patients?|subjects?|participants?|adults?|children|"
    r"persons?|people|individuals?|volunteers?|male\s+or\s+female|\s)*",
    re.IGNORECASE,
)


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
    found = []
    start = 0
    label = _label(context)
    for match in _matches(text):
        bounds = _range(match) if match.re is _RANGE else [_reading(match)]
        measure = _measure(text[start:match.start()])
        for comparator, value, unit in bounds:
            if not math.isfinite(value):  # 400 digits: not a bound, and not valid JSON
                continue
            named = measure or (None if unit else _noun_after(text, match.end())) or label
            if unit and _AGE_UNIT.fullmatch(unit) and _is_age(named, text, match.end()):
                named = "age"
            found.append(Threshold(named, comparator, value, unit))
        start = match.end()
    return tuple(found)


def _matches(text: str) -> list[re.Match[str]]:
    """Ranges, and single bounds outside them, in reading order."""
    ranges = list(_RANGE.finditer(text))
    singles = []
    index = 0  # the first range that ends after the single bound's start
    for match in _PATTERN.finditer(text):
        while index < len(ranges) and ranges[index].end() <= match.start():
            index += 1
        if index == len(ranges) or match.end() <= ranges[index].start():
            singles.append(match)
    return sorted(ranges + singles, key=lambda m: m.start())


def _range(match: re.Match[str]) -> list[tuple[str, int | float, str | None]]:
    low, high = match["blo"] or match["lo"], match["bhi"] or match["hi"]
    unit = match["bunit"] or match["unit"]
    return [(">=", _number(low), unit), ("<=", _number(high), unit)]


def _reading(match: re.Match[str]) -> tuple[str, int | float, str | None]:
    if match["post"]:
        comparator = _POSTFIX[_SPACES.sub(" ", match["post"].lower())]
        return comparator, _number(match["pvalue"]), _unit(match["puln"], match["punit"])
    if match["sym"]:
        comparator = _SYMBOLS[match["sym"]]
    else:
        comparator = _WORDS[_SPACES.sub(" ", match["word"].lower())]
    return comparator, _number(match["value"]), _unit(match["uln"], match["unit"])


_SPACES = re.compile(r"\s+")
_DECIMAL_COMMA = re.compile(r"\d+,\d{1,2}")


def _number(text: str) -> int | float:
    if _DECIMAL_COMMA.fullmatch(text):
        return float(text.replace(",", "."))
    number = float(text.replace(",", ""))
    return int(number) if number.is_integer() and "." not in text else number


def _unit(uln: str | None, unit: str | None) -> str | None:
    if uln:
        return "x LLN" if "lln" in uln.lower() else "x ULN"
    return _SPACES.sub(" ", unit).strip() if unit else None


def _label(context: str | None) -> str | None:
    """The label of a heading criterion ("Age:", "Performance status:"), if it is one."""
    if not context or not context.rstrip().endswith(":"):
        return None
    words = context.rstrip().rstrip(":").lower().split()
    return " ".join(words) if 0 < len(words) <= 6 else None


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


def _measure(before: str) -> str | None:
    clause = _CLAUSE_BREAK.split(_open_clause(before))[-1]
    clause = _without_trailing(clause.strip())
    clause = _after_connective(clause)
    clause = _LEADING.sub("", clause.strip()).strip()
    words = clause.lower().split()[-8:]
    return " ".join(words) or None


def _without_trailing(clause: str) -> str:
    """The clause without the words that end it naming nothing ("… value must be"); its first
    word stays, as nothing precedes it."""
    last = clause.rsplit(None, 1)[-1:]
    if not last or not (_TRAILING_WORD.fullmatch(last[0]) or _OF.fullmatch(last[0])):
        return clause  # most clauses end in what they name: not split into words
    parts = _GAPS.split(clause)  # words at even indexes
    end = len(parts)
    while end > 2:
        if end > 4 and _COUNT.fullmatch(parts[end - 3]) and _OF.fullmatch(parts[end - 1]):
            end -= 4
        elif _TRAILING_WORD.fullmatch(parts[end - 1]):
            end -= 2
        else:
            break
    return "".join(parts[:end])


def _after_connective(clause: str) -> str:
    """The one-line clause after its last connective word and the space after it."""
    found = list(_CONNECTIVE.finditer(clause))
    return clause[found[-1].end():] if found else clause


def _noun_after(text: str, end: int) -> str | None:
    """The counted thing when the number comes first: "at least 1500 granulocytes"."""
    word = _NOUN.match(text, end)
    return word[1].lower() if word and word[1].lower() not in _FILLER else None


_FILLER = frozenset({"and", "or", "of", "to", "in", "on", "at", "for", "with", "the", "a", "per"})


def _is_age(measure: str | None, text: str, end: int) -> bool:
    return (bool(_AGE_AFTER.match(text, end)) or measure is None
            or bool(_PERSON.fullmatch(measure)))
