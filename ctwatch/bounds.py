"""The numeric bounds of an edited criterion compared by meaning (DESIGN §7).

``Absolute neutrophil count ≥ 1500/mm3`` → ``≥ 1000/mm3`` admits more people: *looser*.
Bounds of the old and new text are paired by measure and direction (a lower bound, ``≥``/``>``;
an upper one, ``≤``/``<``; an exact one, ``=``), then, for a measure reworded, by direction and
unit. A lower bound is stricter when higher, an upper bound when lower, and at the same value
``>`` is stricter than ``≥`` (``<`` than ``≤``); a bound added is stricter, one removed looser.
A different unit (beyond spelling: ``/mm3`` and ``/mm^3`` are one) or an exact value is
*changed*, not compared.

That reads an inclusion criterion: the bound says who may take part. An exclusion criterion's
bound says who may not, so there every verdict turns round: excluding patients with
``CD4 < 350 cells/mcL`` rather than ``< 200`` turns away more people, which is stricter.
Criteria outside a heading are read as inclusion criteria, which they mostly are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ctwatch.model import BoundChange, Threshold

STRICTER, LOOSER, CHANGED = "stricter", "looser", "changed"
SYMBOLS = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "=": "="}
_SIDE = {">=": "lower", ">": "lower", "<=": "upper", "<": "upper", "=": "exact"}
_TURNED = {STRICTER: LOOSER, LOOSER: STRICTER, CHANGED: CHANGED}
# spellings of one unit ("years", "yrs"): the unit is compared, not its spelling
_UNIT_WORDS = {"years": "year", "yrs": "year", "yr": "year", "months": "month", "mos": "month",
               "mo": "month", "weeks": "week", "wks": "week", "wk": "week", "days": "day",
               "hours": "hour", "hrs": "hour", "hr": "hour", "minutes": "minute",
               "mins": "minute", "min": "minute", "mcl": "ul", "mcg": "ug"}


def compare(old: Sequence[Threshold], new: Sequence[Threshold], *, exclusion: bool = False,
            ) -> tuple[BoundChange, ...]:
    """What the edit from bounds ``old`` to ``new`` does to eligibility, bound by bound; ()
    when the bounds mean the same."""
    before, after = list(old), list(new)
    pairs: list[tuple[Threshold | None, Threshold | None]] = []
    for alike in (_same_meaning, _same_place, _reworded):
        pairs += _pair(before, after, alike)
    pairs += [(bound, None) for bound in before] + [(None, bound) for bound in after]
    found = []
    for was, now in pairs:
        verdict = _verdict(was, now)
        if verdict is None:
            continue
        if exclusion:
            verdict = _TURNED[verdict]
        measure = next((b.measure for b in (now, was) if b is not None and b.measure), None)
        found.append(BoundChange(measure, verdict, was, now))
    return tuple(found)


def _pair(before: list[Threshold], after: list[Threshold],
          alike: Callable[[Threshold, Threshold], bool],
          ) -> list[tuple[Threshold | None, Threshold | None]]:
    """Bounds ``alike``, paired in their order and taken out of both lists."""
    pairs: list[tuple[Threshold | None, Threshold | None]] = []
    for was in list(before):
        match = next((now for now in after if alike(was, now)), None)
        if match is not None:
            before.remove(was)
            after.remove(match)
            pairs.append((was, match))
    return pairs


def _words(bound: Threshold) -> list[str]:
    return (bound.measure or "").casefold().split()


def _side(bound: Threshold) -> str:
    return _SIDE.get(bound.comparator, bound.comparator)


def _same_meaning(old: Threshold, new: Threshold) -> bool:
    """The same bound, written alike or spelt otherwise."""
    return (_words(old) == _words(new) and old.comparator == new.comparator
            and old.value == new.value and unit_key(old.unit) == unit_key(new.unit))


def _same_place(old: Threshold, new: Threshold) -> bool:
    """A bound of the same measure on the same side."""
    return _words(old) == _words(new) and _side(old) == _side(new)


def _reworded(old: Threshold, new: Threshold) -> bool:
    """A bound on the same side in the same unit whose measure was reworded: the two share a
    word of three letters or more ("Performance status of ECOG", "ECOG performance status"),
    or one of them names none."""
    if _side(old) != _side(new) or unit_key(old.unit) != unit_key(new.unit):
        return False
    words = [{w for w in _words(b) if len(w) >= 3} for b in (old, new)]
    return not (words[0] and words[1]) or bool(words[0] & words[1])


def unit_key(unit: str | None) -> str:
    """A unit as compared: case, spaces, ``^``, µ/mc and plural time words set aside."""
    text = (unit or "").casefold().replace("µ", "u").replace("μ", "u").replace("×", "x")
    text = re.sub(r"[\s^]+", "", text)
    return re.sub(r"[a-z]+", lambda word: _UNIT_WORDS.get(word.group(), word.group()), text)


def _verdict(old: Threshold | None, new: Threshold | None) -> str | None:
    """For an inclusion criterion: stricter, looser or changed; None for the same bound."""
    if old is None:
        return STRICTER
    if new is None:
        return LOOSER
    if _same_meaning(old, new):
        return None
    side = _side(old)
    if side != _side(new) or side not in ("lower", "upper"):
        return CHANGED
    if unit_key(old.unit) != unit_key(new.unit):
        return CHANGED
    if _reach(old, side) == _reach(new, side):
        return None
    return STRICTER if _reach(new, side) > _reach(old, side) else LOOSER


def _reach(bound: Threshold, side: str) -> tuple[float, int]:
    """How tight a bound is, tighter greater: a lower bound by its value, an upper one by the
    value's opposite, and at one value the strict comparator (>, <) a hair tighter."""
    strict = 1 if bound.comparator in (">", "<") else 0
    return (bound.value if side == "lower" else -bound.value), strict


# -- in words ---------------------------------------------------------------------------------


def shown(bound: Threshold) -> str:
    """``≥ 1500/mm3``, ``≤ 2``, ``< 3.5 x ULN``, ``≥ 75,000/mm^3``."""
    unit = bound.unit or ""
    joined = "" if not unit else unit if unit[0] in "/%" else f" {unit}"
    return f"{SYMBOLS.get(bound.comparator, bound.comparator)} {number(bound.value)}{joined}"


def number(value: float) -> str:
    """A bound's value as people write it: 2 not 2.0, 75,000 not 75000."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)


def measure_as_written(measure: str | None, *texts: str) -> str:
    """A measure (kept lower-case by the parser) as one of ``texts`` writes it ("Performance
    status of ECOG"), first letter up; "" for none."""
    if not measure:
        return ""
    for text in texts:
        lowered = text.lower()
        at = lowered.find(measure)
        if at >= 0 and len(lowered) == len(text):
            measure = text[at:at + len(measure)]
            break
    return measure[:1].upper() + measure[1:]


def describe(change: BoundChange, *texts: str) -> str:
    """One bound change in words: "Absolute neutrophil count ≥ 1500/mm3 → ≥ 1000/mm3
    (looser)", "Platelets: bound ≥ 75,000/mm^3 added (stricter)". ``texts`` (the criterion's
    old and new text) give the measure its capitals."""
    name = measure_as_written(change.measure, *texts)
    verdict = change.verdict
    if change.old is not None and change.new is not None:
        if verdict == CHANGED and unit_key(change.old.unit) != unit_key(change.new.unit):
            verdict = "unit changed, not compared"
        head = f"{name} " if name else ""
        return f"{head}{shown(change.old)} → {shown(change.new)} ({verdict})"
    bound, what = (change.new, "added") if change.old is None else (change.old, "removed")
    head = f"{name}: bound" if name else "Bound"
    return f"{head} {shown(bound)} {what} ({verdict})"  # type: ignore[arg-type]
