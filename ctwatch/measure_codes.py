"""The canonical code of a common measure, read from the measure of a bound as the extractor
wrote it (``"absolute neutrophil count (anc)"`` → ``anc``): a small dictionary of phrases, not
a model (issue 18).

=========================  ==========================================================
code                       phrases (any case; plurals, accents, one-letter typos read)
=========================  ==========================================================
``anc``                    absolute neutrophil count, neutrophils, ANC
``platelets``              platelets, platelet count, PLT, thrombocytes
``hemoglobin``             hemoglobin, haemoglobin, Hb, Hgb
``wbc``                    white blood cells, white cell count, WBC, leukocytes
``lymphocytes``            (absolute) lymphocyte count, ALC
``cd4``                    CD4 count, CD4+ T cells
``creatinine_clearance``   creatinine clearance, CrCl
``egfr``                   (estimated) glomerular filtration rate, GFR, eGFR
``creatinine``             (serum) creatinine, SCr
``bilirubin_total``        (total, serum) bilirubin
``bilirubin_direct``       direct or conjugated bilirubin
``alt``                    ALT, SGPT, alanine aminotransferase or transaminase
``ast``                    AST, SGOT, aspartate aminotransferase or transaminase
``ast_alt``                AST and ALT together ("AST/ALT", "ALT and AST", "AST or ALT",
                           "transaminases"): a bound on each of them
``alkaline_phosphatase``   alkaline phosphatase, ALP
``albumin``                (serum) albumin
``inr``                    INR, international normalized ratio
``ecog``                   ECOG, Eastern Cooperative Oncology Group, Zubrod, WHO
                           performance status (one 0–5 scale)
``karnofsky``              Karnofsky, KPS
``age``                    the participant's age (the extractor names it ``age``)
``lvef``                   (left ventricular) ejection fraction, LVEF
``qtc``                    QTc, QTcF, QTcB, corrected QT interval
``hba1c``                  HbA1c, A1c, hemoglobin A1c, glycated hemoglobin
``bmi``                    BMI, body mass index
=========================  ==========================================================

How a measure is read: its words (letters and digits, lower-case, accents and a plural "s"
dropped; a word of four letters or more one typo away from exactly one dictionary word of
five or more is read as that word: "whte" → "white", "creatinin", "haemoglobin"), matched
left to right, the longest phrase first, each word once: "creatinine clearance" is never
also "creatinine", "direct bilirubin" never "bilirubin", "hemoglobin a1c" never "hemoglobin".
Parenthesised abbreviations are words like the others ("aspartate aminotransferase (ast)").

Judgment calls:

- A measure that names two different codes is none of them ("alt or total bilirubin",
  "creatinine clearance/gfr"), except AST with ALT, which is ``ast_alt``, and a code that
  takes in another: ``cd4`` over ``lymphocytes`` and ``wbc`` ("CD4+ lymphocyte count"),
  ``hba1c`` over ``hemoglobin``, ``creatinine_clearance`` and ``egfr`` over ``creatinine``.
- A word that makes the phrase about something else vetoes its code: "platelet transfusion",
  "protein/creatinine ratio", "creatinine kinase", "urine creatinine", "EGFR mutation",
  "indirect bilirubin" (and "direct" anywhere keeps a bound off ``bilirubin_total``).
- "GOT", "GPT" (German for AST, ALT) and a bare "EF" are common words too: they code a bound
  only when its unit is one of the measure's (ctwatch.units).
- Granulocytes are not neutrophils (an older count that takes in eosinophils and basophils),
  "thrombocytopenia" or "anemia" names a condition, not a count, "performance status" alone
  names no scale, a bare "CR" may be a complete response: none is coded.
- ``age`` is coded only when the measure says nothing but the age (and who or when: "age at
  enrollment"); "age of onset", "gestational age" are not the participant's age.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: code → phrases that name it
PHRASES: dict[str, tuple[str, ...]] = {
    "anc": ("anc", "neutrophil", "absolute neutrophil count", "neutrophil count"),
    "platelets": ("platelet", "plt", "thrombocyte", "platelet count"),
    "hemoglobin": ("hemoglobin", "haemoglobin", "hb", "hgb"),
    "wbc": ("wbc", "white blood cell", "white blood count", "white cell", "white count",
            "leukocyte", "leucocyte"),
    "lymphocytes": ("lymphocyte", "alc", "absolute lymphocyte count"),
    "cd4": ("cd4", "cd4 count", "cd4 cell", "cd4 t cell", "cd4 lymphocyte"),
    "creatinine_clearance": ("creatinine clearance", "crcl", "clcr"),
    "egfr": ("egfr", "gfr", "glomerular filtration rate", "estimated glomerular filtration rate",
             "glomerular filtration"),
    "creatinine": ("creatinine", "serum creatinine", "scr"),
    "bilirubin_total": ("bilirubin", "total bilirubin", "total serum bilirubin",
                        "serum total bilirubin", "tbili", "tbil"),
    "bilirubin_direct": ("direct bilirubin", "conjugated bilirubin", "bilirubin direct",
                         "dbili", "dbil"),
    "alt": ("alt", "sgpt", "alat", "alanine aminotransferase", "alanine transaminase",
            "alanine amino transferase", "alanine transferase"),
    "ast": ("ast", "sgot", "asat", "aspartate aminotransferase", "aspartate transaminase",
            "aspartate amino transferase", "aspartate transferase"),
    "ast_alt": ("transaminase", "aminotransferase", "liver transaminase", "hepatic transaminase"),
    "alkaline_phosphatase": ("alkaline phosphatase", "alp", "alk phos", "alkp"),
    "albumin": ("albumin", "serum albumin"),
    "inr": ("inr", "international normalized ratio", "international normalised ratio"),
    "ecog": ("ecog", "eastern cooperative oncology group", "zubrod", "who performance status",
             "who performance", "who ps"),
    "karnofsky": ("karnofsky", "kps"),
    "lvef": ("lvef", "ejection fraction", "left ventricular ef", "lv ef",
             "left ventricular ejection fraction"),
    "qtc": ("qtc", "qtcf", "qtcb", "corrected qt", "qt corrected", "qtc interval",
            "qt interval corrected", "corrected qt interval"),
    "hba1c": ("hba1c", "a1c", "hgba1c", "hemoglobin a1c", "hb a1c", "glycated hemoglobin",
              "glycosylated hemoglobin", "glycohemoglobin"),
    "bmi": ("bmi", "body mass index"),
}
#: every code: those of the phrases, and the participant's age (read otherwise: see code())
CODES: frozenset[str] = frozenset([*PHRASES, "age"])
#: abbreviations that are also common words: they code a bound only in one of its units
WEAK: dict[str, str] = {"got": "ast", "gpt": "alt", "ef": "lvef"}
#: code → words that make a phrase naming it about something else
VETOES: dict[str, frozenset[str]] = {code: frozenset(_text.split()) for code, _text in {
    "anc": "ratio transfusion",
    "platelets": "transfusion transfused aggregation inhibitor function antiplatelet",
    "hemoglobin": "transfusion transfused urine urinary",
    "wbc": "urine urinary differential",
    "lymphocytes": "ratio",
    "creatinine": "ratio kinase phosphokinase urine urinary",
    "egfr": "mutation mutant exon tki inhibitor receptor amplification amplified expression "
            "positive negative wild wildtype variant alteration sensitizing activating",
    "bilirubin_total": "direct conjugated indirect unconjugated",
    "bilirubin_direct": "indirect unconjugated",
    "albumin": "ratio urine urinary",
    "alt": "ratio", "ast": "ratio", "ast_alt": "ratio",
}.items()}
#: code → codes it takes in when a measure names both
TAKES_IN: dict[str, frozenset[str]] = {
    "cd4": frozenset({"lymphocytes", "wbc"}),
    "hba1c": frozenset({"hemoglobin"}),
    "creatinine_clearance": frozenset({"creatinine"}),
    "egfr": frozenset({"creatinine"}),
    "ast_alt": frozenset({"ast", "alt"}),
}
#: the words a measure may hold besides "age" to be the participant's age
AGE_WORDS = frozenset({
    "age", "aged", "patient", "participant", "subject", "volunteer", "child", "the", "at", "of",
    "time", "current", "chronological", "enrollment", "enrolment", "screening", "consent",
    "entry", "registration", "randomization", "randomisation", "inclusion", "study", "visit",
    "in", "year"})


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word[-1] == "s" and word[-2] != "s" else word


_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """The words of a measure as the dictionary reads them: lower-case letters and digits,
    accents and a plural "s" dropped."""
    folded = unicodedata.normalize("NFKD", text.casefold()).encode("ascii", "ignore").decode()
    return [_stem(word) for word in _WORD.findall(folded)]


def _index() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """First word → (phrase words, code), the longest phrase first."""
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for code, phrases in PHRASES.items():
        for phrase in phrases:
            split = tuple(words(phrase))
            index.setdefault(split[0], []).append((split, code))
    for entries in index.values():
        entries.sort(key=lambda entry: -len(entry[0]))
    return index


_PHRASES = _index()
_VETOES = {code: frozenset(map(_stem, vetoes)) for code, vetoes in VETOES.items()}
_KNOWN = frozenset(word for entries in _PHRASES.values() for phrase, _ in entries
                   for word in phrase) | frozenset(WEAK)
# Words a typo may be read as: long ones only, where one letter off is still unmistakable
_SPELLED = tuple(sorted(word for word in _KNOWN if len(word) >= 5))


def _one_off(typed: str, word: str) -> bool:
    """Whether ``typed`` is ``word`` with one letter dropped, added, changed, or two
    neighbours swapped."""
    if abs(len(typed) - len(word)) > 1:
        return False
    if len(typed) == len(word):
        diff = [i for i, (a, b) in enumerate(zip(typed, word, strict=True)) if a != b]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and typed[diff[0]] == word[diff[1]]
                                  and typed[diff[1]] == word[diff[0]])
    short, long = sorted((typed, word), key=len)
    at = next((i for i, (a, b) in enumerate(zip(short, long, strict=False)) if a != b),
              len(short))
    return short[at:] == long[at + 1:]


def spelled(word: str) -> str:
    """A word as the dictionary knows it: itself, or the one dictionary word it is a typo of."""
    if word in _KNOWN or not 4 <= len(word) <= 20:
        return word
    return _respelled(word)


@lru_cache(maxsize=4096)
def _respelled(word: str) -> str:
    near = [known for known in _SPELLED if _one_off(word, known)]
    return near[0] if len(near) == 1 else word


#: measures longer than this are read afresh each time, not kept for the next bound
CACHED_MEASURE = 200


def code(measure: str | None) -> tuple[str | None, bool]:
    """The code of a measure and whether it rests only on a word that is also a common word
    ("got", "ef": see :data:`WEAK`); (None, False) for a measure that is none of them or
    names several."""
    if not measure:
        return None, False
    return _code(measure) if len(measure) > CACHED_MEASURE else _cached_code(measure)


def _code(measure: str) -> tuple[str | None, bool]:
    found = [spelled(word) for word in words(measure)]
    if found and set(found) <= AGE_WORDS and ("age" in found or "aged" in found):
        return "age", False
    codes, weak = _named(found)
    codes = {c for c in codes if not _VETOES.get(c, frozenset()).intersection(found)}
    if {"ast", "alt"} <= codes:
        codes.add("ast_alt")
    for taker, taken in TAKES_IN.items():
        if taker in codes:
            codes -= taken
    if len(codes) == 1:
        return codes.pop(), False
    if not codes and len(weak) == 1:
        return weak.pop(), True
    return None, False


_cached_code = lru_cache(maxsize=4096)(_code)


def _named(found: list[str]) -> tuple[set[str], set[str]]:
    """The codes the phrases in ``found`` name, leftmost longest first, and those its weak
    abbreviations name."""
    codes: set[str] = set()
    weak: set[str] = set()
    at = 0
    while at < len(found):
        for phrase, named in _PHRASES.get(found[at], ()):
            if tuple(found[at:at + len(phrase)]) == phrase:
                codes.add(named)
                at += len(phrase)
                break
        else:
            if found[at] in WEAK:
                weak.add(WEAK[found[at]])
            at += 1
    return codes, weak
