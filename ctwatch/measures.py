"""The measure of a numeric bound in criterion text (ctwatch.thresholds finds the bounds): the
phrase the number bounds, as written, in lower case.

The measure is read back from the comparator to the start of its clause; else carried over
from the bound before when only a conjunction or a qualifier separates them (``Age > 18 and < 70
years``, ``<80 umol/L in females and <106 umol/L in males``); else the phrase after the number
(``at least 1500 granulocytes``, ``at least 5 years since prior chemotherapy``); else the label
of the heading criterion (``Age:`` over ``18 and over``); else none. An age is named ``age``; a
duration never is.
"""

from __future__ import annotations

import re

from ctwatch.phrases import DIGIT, TIME_WORD, starting

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
    rf"{starting(_CONNECTIVES)}\b(?:"
    + "|".join(word.replace(" ", r"\s+") for word in _CONNECTIVES) + r")\s+",
    re.IGNORECASE,
)
# Words that end a clause without naming anything ("… must be"), read back word by word: the
# regex "(?:\s+(?:is|…))+\s*$" would retry the run of such words from each of them. Words are
# compared by regexes, to fold case as that one did ("İS" is "is" to it).
_TRAILING_WORDS = ("is", "are", "was", "were", "be", "must", "should", "to", "of", "at", "in",
                   "on", "value", "level", "levels")
_TRAILING_WORD = re.compile("|".join(_TRAILING_WORDS), re.IGNORECASE)
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
_TRAILING = frozenset(_TRAILING_WORDS)
_CONNECTIVE_WORDS = frozenset(word for connective in _CONNECTIVES for word in connective.split())
_STOP_WORDS = _LEAD_WORDS | _TAIL | _FUNCTION | _PRONOUNS | _TRAILING | _CONNECTIVE_WORDS
_LETTER = re.compile(r"[^\W\d_]")
# Between two bounds of one measure: "Age > 18 and < 70", "≤ 3 x ULN, ≤ 5 x ULN in …",
# "<80 umol/L in females and <106 umol/L in males", "<100 mmHg at screening or <95 mmHg".
CONTINUING = re.compile(
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
         + TIME_WORD + r")\b")
_NOUNS = re.compile(
    rf"\s+(?:of\s+)?((?!{_STOP})[^\W\d_][\w+/'-]*"
    rf"(?:\s+(?:of\s+)?(?:(?!{_STOP})[^\W\d_][\w+/'-]*|\([\w+/'-]{{1,15}}\))){{0,6}})",
    re.IGNORECASE,
)
# A number after these is an age even without a unit ("18 and over", "59 and younger").
_AGE_POSTFIX = frozenset({"or older", "and older", "or younger", "and younger", "and over",
                          "or over", "and beyond"})
_AGE_UNIT = re.compile(r"years?|yrs?|-yrs?|-years?", re.IGNORECASE)
_TIME_UNIT = re.compile(TIME_WORD, re.IGNORECASE)
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
# Headings that label a part of the criteria, not a measure ("Inclusion:", "Other:")
_GENERIC = re.compile(
    r"criteri|inclusion|exclusion|characteristics|following|\bother\b|\bnote\b|cohort|group|"
    r"\bpart\b|\barm\b|patients|subjects|participants|controls|\bfor\b|disease|stage|"
    r"function|adequate",
    re.IGNORECASE,
)


def named(text: str, before: str, end: int, word: str | None, unit: str | None,
          previous: str | None, first: bool, aged: bool) -> str | None:
    """The measure of a bound that ends at ``end`` of ``text``, from its own text: read back
    over its clause (``before``); "age" where the text says so (``aged``); after the number
    ("since prior chemotherapy", "1500 granulocytes"); the clause after a window that opens the
    criterion; the label before a colon or a parenthesis ("ECOG performance status (PS): 0-1",
    "Regular sleep patterns (7-9 hours")."""
    measure = _measure(before)
    if measure in _PRONOUNS:
        return previous  # "… unless liver metastases are present in which case it"
    if aged:
        return "age"  # "over the age of 21", "18 years of age or older"
    if measure is None and unit and _TIME_UNIT.fullmatch(unit):
        since = _SINCE.match(text, end)
        measure = " ".join(since[1].lower().split()[:8]) if since else None
    if measure is None:
        measure = noun_after(text, end)
    if measure is None and word == "within" and first and not before.strip():
        measure = _main_clause(text, end)
    if measure is None and before.rstrip().endswith((":", "(")):
        measure = _measure(before.rstrip()[:-1])
    return measure


def same_kind(unit: str | None, other: str | None) -> bool:
    """Whether two units may bound one measure: not a duration and a quantity ("Serum
    creatinine ≤ 1.5 mg/dL within the past 90 days")."""
    return unit is None or other is None or (
        bool(_TIME_UNIT.fullmatch(unit)) == bool(_TIME_UNIT.fullmatch(other)))


def label(context: str | None) -> str | None:
    """The label of a heading criterion ("Age:", "Performance status:", "Age"), if it is one:
    a few words without a number that do not name a part of the criteria ("Inclusion:"), an
    organ's function ("Adequate hepatic function:") or a disease ("WHO stage III disease:")."""
    if not context or len(context) > 80:  # a heading of a few words, not a sentence
        return None
    heading = " ".join(context.split())
    colon = heading.endswith(":")
    words = heading.rstrip(":").lower().split()
    if not 0 < len(words) <= (4 if colon else 3) or DIGIT.search(heading) \
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


def noun_after(text: str, end: int) -> str | None:
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


def last_named(measure: str, names: frozenset[str]) -> bool:
    """Whether a measure ends in one of ``names``, parenthesised abbreviations after it aside:
    "eastern cooperative oncology group (ecog) performance status (ps)" ends in "status", "men
    and women aged" in "aged", "gestational age" in none of them."""
    while measure.endswith(")") and (opening := measure.rfind("(")) > 0:
        measure = measure[:opening].rstrip()
    words = measure.rsplit(None, 3)[-3:]
    if not words or words[-1] == "gestational" or words[-2:-1] == ["gestational"]:
        return False
    return words[-1] in names or " ".join(words) in names


def is_age(measure: str | None, unit: str | None, text: str, end: int, word: str | None,
            post: str | None) -> bool:
    """Whether a bound is an age: its measure says so ("aged"), or it is counted in years (or
    is "18 and over") of a person or of nothing named, and is not a duration ("within 2
    years", "at least 5 years since prior chemotherapy")."""
    if measure is not None and last_named(measure, _AGES):
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
