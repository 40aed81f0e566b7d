"""Arm dosing, best effort: "Isatuximab (10 mg/kg) on Days 1, 8, 15, and 22 during Cycle 1" →
``Dose("Isatuximab", 10, "mg/kg", (1, 8, 15, 22), "1")``.

Arm descriptions are free prose; what cannot be read confidently is left out rather than
guessed, so an arm whose description says nothing recognisable has no dosing items. Numbers are
ASCII and short (a dose of at most 6 digits, a day of at most 4), and a day range is spelled
out only up to :data:`MAX_DAY_SPAN` days, so no text makes an infinite dose or a huge list.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ctwatch.limits import MAX_DAY_SPAN
from ctwatch.model import Dose

# Each pattern first checks, by one lookup in a set, that the character at hand can start a
# match: tried at every position of a description, their alternatives cost more (issue 13).
_AMOUNT = re.compile(
    r"(?=[0-9])(?<![0-9.])(?P<dose>[0-9]{1,6}(?:\.[0-9]{1,6})?)(?![0-9])"
    r"\s*(?P<unit>(?:mg|mcg|µg|μg|g|iu|units?|ml|gy)"
    r"(?:\s*/\s*(?:kg|m\^?2|m²|day|d|dose))?)(?![a-z])",
    re.IGNORECASE,
)
_DAYS = re.compile(
    r"(?=d)\bdays?\s+(?P<days>[0-9]{1,4}(?![0-9])(?:\s*(?:,|&|\band\b|\bthrough\b|\bto\b|-|–)\s*"
    r"(?:and\s+)?[0-9]{1,4}(?![0-9]))*)"
    r"(?:\s+(?:during|of|in)\s+(?P<cycle>(?:each|every|all|subsequent)\s+cycles?|"
    r"cycles?\s+[0-9]{1,4}(?![0-9])))?",
    re.IGNORECASE,
)


def parse(description: str | None, interventions: tuple[str, ...]) -> tuple[Dose, ...]:
    """Dosing items for the named interventions found in an arm description."""
    if not description or not interventions:
        return ()
    items: list[Dose] = []
    for name, segment in _segments(description, interventions):
        items.extend(_doses(name, segment))
    return tuple(items)


def _segments(text: str, names: tuple[str, ...]) -> list[tuple[str, str]]:
    """The text from each mention of an intervention up to the next mention of any."""
    mentions = sorted(
        (match.start(), name)
        for name in names
        for match in _mention(name).finditer(text)
    )
    if not mentions:
        return []
    ends = [start for start, _ in mentions[1:]] + [len(text)]
    return [(name, text[start:end]) for (start, name), end in zip(mentions, ends, strict=True)]


@lru_cache(maxsize=4096)  # re's own cache holds 512: a record of 600 names would miss it
def _mention(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(name)}(?!\w)", re.IGNORECASE)


def _doses(name: str, segment: str) -> list[Dose]:
    amount = _AMOUNT.search(segment)
    dose = float(amount["dose"]) if amount else None
    if dose is not None and dose.is_integer():
        dose = int(dose)
    unit = _SPACES.sub("", amount["unit"]) if amount else None
    schedules = [(_days(m["days"]), _cycle(m["cycle"])) for m in _DAYS.finditer(segment)]
    if not schedules:
        return [Dose(name, dose, unit)] if amount else []
    return [Dose(name, dose, unit, days, cycle) for days, cycle in schedules]


_SPACES = re.compile(r"\s+")
_DAY_LIST = re.compile(r"\s*(?:,|&|\band\b)\s*")
_DAY_RANGE = re.compile(r"\s*(?:\bthrough\b|\bto\b|-|–)\s*")
_NUMBER = re.compile(r"[0-9]+")


def _days(text: str) -> tuple[int, ...]:
    days: list[int] = []
    for part in _DAY_LIST.split(text):
        bounds = _DAY_RANGE.split(part.strip())
        numbers = [int(bound) for bound in bounds if bound.isdigit()]
        if len(numbers) == 2 and 0 < numbers[1] - numbers[0] <= MAX_DAY_SPAN:
            days.extend(range(numbers[0], numbers[1] + 1))
        else:
            days.extend(numbers)
    return tuple(days)


def _cycle(text: str | None) -> str | None:
    if not text:
        return None
    number = _NUMBER.search(text)
    return number[0] if number else text.split()[0].lower()
