"""Eligibility text → sections and a criterion tree, for the variants real records use."""

from __future__ import annotations

import re
import sys

import pytest

from ctwatch import criteria
from ctwatch.markup import Block
from ctwatch.model import Criterion


def tree(text: str, markup: str = "markdown") -> dict[str, list[tuple[str, str, int]]]:
    parsed, _ = criteria.parse(text, markup)  # type: ignore[arg-type]
    return {name: [(c.id, c.text, len(c.children)) for c in nodes]
            for name, nodes in parsed.items() if nodes}


CASES = [
    ("plain headings", "Inclusion Criteria:\n\n* a\n* b\n\nExclusion Criteria:\n\n* c",
     {"inclusion": [("I1", "a", 0), ("I2", "b", 0)], "exclusion": [("E1", "c", 0)]}),
    ("key headings", "Key Inclusion Criteria:\n\n1. a\n\nKey Exclusion Criteria:\n\n1. c",
     {"inclusion": [("I1", "a", 0)], "exclusion": [("E1", "c", 0)]}),
    ("upper case without colon", "INCLUSION CRITERIA\n\n* a\n\nEXCLUSION CRITERIA\n\n* c",
     {"inclusion": [("I1", "a", 0)], "exclusion": [("E1", "c", 0)]}),
    ("no heading", "* a\n* b", {"unclassified": [("U1", "a", 0), ("U2", "b", 0)]}),
    ("text on the heading line", "Inclusion Criteria: adults\n\nExclusion Criteria: pregnancy",
     {"inclusion": [("I1", "adults", 0)], "exclusion": [("E1", "pregnancy", 0)]}),
    ("generic heading before exclusion reads as inclusion",
     "Eligibility criteria:\n\n* a\n\nExclusion criteria:\n\n* c",
     {"inclusion": [("I1", "a", 0)], "exclusion": [("E1", "c", 0)]}),
    ("generic heading alone stays unclassified", "Eligibility Criteria:\n\n* a",
     {"unclassified": [("U1", "a", 0)]}),
    ("cohort sub-headings head their bullets",
     "Inclusion Criteria:\n\nFor adolescents:\n\n* a\n* b\n\nFor parents:\n\n* c",
     {"inclusion": [("I1", "For adolescents:", 2), ("I2", "For parents:", 1)]}),
    ("qualified heading kept as a criterion",
     "Inclusion Criteria for Cohort A:\n\n* a\n\nExclusion Criteria:\n\n* c",
     {"inclusion": [("I1", "Inclusion Criteria for Cohort A:", 1)],
      "exclusion": [("E1", "c", 0)]}),
    ("heading written as a bullet", "* Inclusion Criteria:\n\n  * a\n  * b",
     {"inclusion": [("I1", "a", 0), ("I2", "b", 0)]}),
    ("prose not ending in a colon stays a sibling",
     "Inclusion Criteria:\n\n* a\n\nTissue block required.\n\n* b",
     {"inclusion": [("I1", "a", 0), ("I2", "Tissue block required.", 0), ("I3", "b", 0)]}),
    ("history-API HTML", "<p>Inclusion Criteria:</p><ol><li><p>Labs:</p><ul><li>x</li></ul>"
     "</li></ol><p>Exclusion Criteria:</p><ol><li>y</li></ol>",
     {"inclusion": [("I1", "Labs:", 1)], "exclusion": [("E1", "y", 0)]}),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_sections(text: str, expected: dict[str, list[tuple[str, str, int]]]) -> None:
    markup = "html" if text.startswith("<") else "markdown"
    assert tree(text, markup) == expected


def test_nested_ids() -> None:
    parsed, _ = criteria.parse("Exclusion Criteria:\n\n1. a\n\n   1. b\n\n      * c\n2. d",
                               "markdown")
    [first, second] = parsed["exclusion"]
    assert first == Criterion("E1", "a", (Criterion("E1.1", "b", (Criterion("E1.1.1", "c"),)),))
    assert second.id == "E2"


def test_normalized_text_keeps_headings() -> None:
    _, text = criteria.parse("Inclusion Criteria:\n\n* a \\> 1\n\n  * b", "markdown")
    assert text == "Inclusion Criteria:\n- a > 1\n  - b"


def test_inserting_a_bullet_does_not_change_the_others_text() -> None:
    before, _ = criteria.parse("Inclusion Criteria:\n\n* a\n* b\n* c", "markdown")
    after, _ = criteria.parse("Inclusion Criteria:\n\n* a\n* new\n* b\n* c", "markdown")
    assert {c.text for c in before["inclusion"]} < {c.text for c in after["inclusion"]}


def test_the_letters_looked_for_before_the_heading_pattern_have_no_other_case() -> None:
    """criteria.heading looks for "clu" or "el" in a block's lower-cased text before it tries
    its pattern: no other character matches c, l, u or e under IGNORECASE."""
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    assert set(re.findall("[clue]", every, re.IGNORECASE)) == set("clueCLUE")


@pytest.mark.parametrize("line", ["INCLUSION CRITERIA:", "Incluſion criteria:",
                                  "ELıGıBıLıTY CRITERIA:", "EXCLUSıON CRITERIA"])
def test_headings_in_letters_that_the_pattern_folds_are_headings(line: str) -> None:
    assert criteria.heading(Block(line)) is not None
