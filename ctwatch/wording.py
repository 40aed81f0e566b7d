"""Two texts compared word by word, on a budget: the one word diff of ctwatch.

It gives both the summary line of a change (``… «within 14 days» → «within 28 days» …``,
written by :mod:`ctwatch.diff` and stored with the change) and the word-by-word view of
alerts, ``ctwatch diff`` and the report (:mod:`ctwatch.notify.present`), so they always agree
on which words changed. It lives in a module of its own because those two must not import each
other (DESIGN §2). Edits are grouped as in a unified diff (``difflib``'s grouped opcodes): each
with ``context`` unchanged words either side, and edits at most twice that apart are one group.

difflib's word matching is cubic on text that repeats a few words (600 words of "a b c a b c …"
against their reverse take 1.5 s), so it runs on a :class:`Budget` of counted steps
(:mod:`ctwatch.limits`); once spent, all from the first word that differs to the last one is
one edit. diff-match-patch bounds its diff by a wall-clock timeout instead; counted steps keep
the result the same however busy the machine is, without a dependency.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from ctwatch.limits import SUMMARY_STEPS

LONG_TEXT = 60  # characters: a longer text that changed is shown word by word
SUMMARY_CONTEXT = 1  # unchanged words shown around each edit in a summary line
SUMMARY_EDITS = 3  # edits shown in a summary line

Opcode = tuple[str, int, int, int, int]  # difflib's (tag, i1, i2, j1, j2)


@dataclass(frozen=True, slots=True)
class Word:
    """A piece of a word diff: ``same``, ``del`` (old only), ``ins`` (new only) or ``gap``
    (unchanged words left out)."""

    op: str
    text: str


GAP = Word("gap", "…")


def word_diff(old: str, new: str, context: int, budget: Budget | None = None
              ) -> tuple[Word, ...]:
    """Old and new text word by word, unchanged stretches cut to ``context`` words around
    each edit; () when only white space changed."""
    a, b = old.split(), new.split()
    words: list[Word] = []
    end = 0  # where in ``a`` the words shown so far end
    for group in hunks(a, b, context, budget):
        if group[0][1] > end:
            words.append(GAP)
        for tag, i1, i2, j1, j2 in group:
            words += _pieces(tag, a[i1:i2], b[j1:j2])
        end = group[-1][2]
    if words and end < len(a):
        words.append(GAP)
    return tuple(words)


def _pieces(tag: str, old: list[str], new: list[str]) -> list[Word]:
    if tag == "equal":
        return [Word("same", " ".join(old))] if old else []
    return [Word(op, " ".join(part)) for op, part in (("del", old), ("ins", new)) if part]


def word_summary(old: str, new: str, budget: Budget | None = None) -> str:
    """The words that changed, with a word of context, on one line: ``… «within 14 days» →
    «within 28 days» …``; at most SUMMARY_EDITS edits are shown."""
    a, b = old.split(), new.split()
    spans = [_span(group) for group in hunks(a, b, SUMMARY_CONTEXT, budget)]
    if not spans:
        return "white space only"
    text = " … ".join(f"«{' '.join(a[i1:i2])}» → «{' '.join(b[j1:j2])}»"
                      for i1, i2, j1, j2 in spans[:SUMMARY_EDITS])
    if spans[0][0] > 0:
        text = "… " + text
    more = len(spans) - SUMMARY_EDITS
    if more > 0:
        return f"{text} … (+{more} more edit{'s' if more > 1 else ''})"
    return text + " …" if spans[-1][1] < len(a) else text


def hunks(a: list[str], b: list[str], context: int, budget: Budget | None = None
          ) -> list[list[Opcode]]:
    """The edits from words ``a`` to words ``b`` in groups, as difflib's
    ``get_grouped_opcodes`` makes them for unified diffs: ``context`` unchanged words either
    side of each edit, and edits at most twice that apart in one group; [] when no word
    changed."""
    codes = edits(a, b, budget or Budget(SUMMARY_STEPS))
    if all(code[0] == "equal" for code in codes):
        return []
    groups: list[list[Opcode]] = [[]]
    for tag, i1, i2, j1, j2 in _ends_cut(codes, context):
        if tag == "equal" and i2 - i1 > 2 * context:  # cut: the next edit starts a new group
            groups[-1].append((tag, i1, i1 + context, j1, j1 + context))
            groups.append([])
            i1, j1 = i2 - context, j2 - context
        groups[-1].append((tag, i1, i2, j1, j2))
    return groups


def _ends_cut(codes: list[Opcode], context: int) -> list[Opcode]:
    """The opcodes with the unchanged words before the first edit and after the last one cut
    to ``context``."""
    codes = list(codes)
    tag, i1, i2, j1, j2 = codes[0]
    if tag == "equal":
        codes[0] = (tag, max(i1, i2 - context), i2, max(j1, j2 - context), j2)
    tag, i1, i2, j1, j2 = codes[-1]
    if tag == "equal":
        codes[-1] = (tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context))
    return codes


def edits(a: list[str], b: list[str], budget: Budget) -> list[Opcode]:
    """difflib's opcodes from ``a`` to ``b``; past the budget, all from the first word that
    differs to the last one is one edit."""
    try:
        return WordMatcher(a, b, budget).get_opcodes()
    except OverBudget:
        pass
    shortest = min(len(a), len(b))
    head = next((n for n in range(shortest) if a[n] != b[n]), shortest)
    tail = next((n for n in range(shortest - head) if a[-1 - n] != b[-1 - n]), shortest - head)
    codes = [("equal", 0, head, 0, head), ("replace", head, len(a) - tail, head, len(b) - tail),
             ("equal", len(a) - tail, len(a), len(b) - tail, len(b))]
    return [code for code in codes if code[1] < code[2] or code[3] < code[4]]


def _span(group: list[Opcode]) -> tuple[int, int, int, int]:
    """Where a group of edits with its context starts and ends: in ``a``, then in ``b``."""
    return group[0][1], group[-1][2], group[0][3], group[-1][4]


# -- bounded matching -------------------------------------------------------------------------


class OverBudget(Exception):
    """A budget of matching steps is spent (callers catch it: it never leaves ctwatch)."""


@dataclass(slots=True)
class Budget:
    """Steps of word matching left; one budget is shared by all the texts of one diff or one
    alert, so that many texts cannot multiply the bound."""

    steps: int

    def spend(self, steps: int) -> None:
        self.steps -= steps
        if self.steps < 0:
            raise OverBudget


class WordMatcher(SequenceMatcher):
    """difflib's matcher of two word lists, on a budget: a step for each word of either list
    (indexing them), and before each longest-match search, a step for each word of ``a`` it
    looks up and each occurrence in ``b`` it goes through (``b2j``: difflib's index of ``b``).
    Past the budget, building it or asking for a result raises OverBudget."""

    def __init__(self, a: list[str], b: list[str], budget: Budget) -> None:
        budget.spend(len(a) + len(b))
        super().__init__(None, a, b, autojunk=False)
        self.budget = budget
        looked_up = (1 + len(self.b2j.get(word, ())) for word in a)
        self.cost = list(itertools.accumulate(looked_up, initial=0))  # cost of a[:n]: cost[n]

    def find_longest_match(self, alo: int = 0, ahi: int | None = None, blo: int = 0,
                           bhi: int | None = None) -> Any:
        ahi = len(self.a) if ahi is None else ahi
        self.budget.spend(self.cost[ahi] - self.cost[alo])
        return super().find_longest_match(alo, ahi, blo, bhi)

