"""Registry text costs time in proportion to its size (issue 11, finding 5).

Each pathological input below took seconds to minutes of CPU before; each is now bounded by a
generous CPU time of this process (``time.process_time``, not wall time, so that other work
on the machine does not count), and where it is cheap, growing the input fourfold must cost
well under the sixteen times a quadratic reading would.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

import pytest

from ctwatch import criteria, markup
from ctwatch.diff import diff
from ctwatch.model import (
    Arm,
    Change,
    ChangeSet,
    Criterion,
    Eligibility,
    Intervention,
    Threshold,
    Trial,
)
from ctwatch.notify import present
from ctwatch.sources import classic_text, linking
from tests.helpers import FIXTURES

SEED = FIXTURES / "NCT04083898" / "classic_page.txt"
NCT = "NCT04083898"
T = TypeVar("T")
LINEAR = 8  # the most growing an input fourfold may multiply its cost by (quadratic: 16)
SLACK = 0.05  # seconds of noise allowed on top, for inputs read in milliseconds


def cpu(call: Callable[[], T]) -> tuple[float, T]:
    """The CPU seconds this process spends in ``call``, and what the call returns."""
    start = time.process_time()
    result = call()
    return time.process_time() - start, result


def assert_linear(make: Callable[[int], Callable[[], object]], size: int) -> None:
    """``make(size)`` is a call on an input of that size: four times the size, at most
    LINEAR times the CPU time."""
    small, large = make(size), make(4 * size)
    assert cpu(large)[0] <= LINEAR * cpu(small)[0] + SLACK


def repeat(words: str, size: int) -> str:
    """``words`` repeated to ``size`` characters, on word boundaries."""
    return (words * (size // len(words) + 1))[:size].rsplit(" ", 1)[0]


# -- one long criterion -----------------------------------------------------------------------

# Criterion texts without punctuation, each followed by a bound whose measure is read back
# over the whole text ("with-words" was fast already: its last connective is near the end).
CRITERIA: dict[str, Callable[[int], str]] = {
    "with-words": lambda size: repeat("patients with disease ", size) + " ≥ 1500/mm3",
    "no-connective": lambda size: repeat("patients disease ", size) + " ≥ 1500/mm3",
    "unless-first": lambda size: "unless " + repeat("patients disease ", size) + " ≥ 5",
    "if-and-unless": lambda size: (repeat("patients if disease unless ", size // 2) + " "
                                   + repeat("gifted patients ", size // 2) + " < 2"),
    "trailing-words": lambda size: repeat("is must be ", size) + " count ≥ 5",
    "thousands": lambda size: "1" + repeat(",000", size).replace(" ", "") + "0 or more",
}


def parse_criterion(text: str) -> Callable[[], object]:
    return lambda: criteria.parse(f"Inclusion Criteria:\n\n* {text}", "markdown")


@pytest.mark.parametrize("name", CRITERIA)
@pytest.mark.parametrize("size", [10_000, 20_000])
def test_a_long_criterion_is_parsed_in_bounded_time(name: str, size: int) -> None:
    assert cpu(parse_criterion(CRITERIA[name](size)))[0] <= 2.0


@pytest.mark.parametrize("name", CRITERIA)
def test_a_long_criterion_is_parsed_in_linear_time(name: str) -> None:
    assert_linear(lambda size: parse_criterion(CRITERIA[name](size)), 5_000)


def test_a_unit_of_repeated_hours_is_parsed_in_bounded_time() -> None:
    # "mg/hourshours": the letters and "hours" could be split in two ways, every time.
    text = "Dose 5 mg" + "/hourshours" * 24 + " daily"
    assert cpu(parse_criterion(text))[0] <= 1.0


def test_the_bound_of_a_long_criterion_is_still_read() -> None:
    text = CRITERIA["no-connective"](20_000)
    parsed, _ = criteria.parse(text, "plain")
    [criterion] = parsed["unclassified"]
    measure = " ".join(text.split()[-10:-2])  # the last eight words before "≥ 1500/mm3"
    assert criterion.thresholds == (Threshold(measure, ">=", 1500, "/mm3", None, 1.5, "10*9/L"),)


# -- markup -----------------------------------------------------------------------------------


def test_text_with_many_lone_angle_brackets_is_read_in_linear_time() -> None:
    assert_linear(lambda size: lambda: markup.inline("a < " * size, "html"), 20_000)
    assert markup.inline("a <i>b</i> < c < d", "html") == "a b < c < d"


def test_deeply_nested_plain_text_is_read_in_bounded_time() -> None:
    text = "".join("  " * level + "- x\n" for level in range(1_000))  # 1 MB
    seconds, (_, normalized) = cpu(lambda: criteria.parse(text, "plain"))
    assert seconds <= 2.0
    assert normalized is not None and normalized.split().count("x") == 1_000


# -- the text of a classic page ---------------------------------------------------------------


def classic_page(parent: str) -> bytes:
    """The seed page with a parent criterion of that text first among the inclusion ones."""
    lines = SEED.read_text(encoding="utf-8").splitlines()
    at = lines.index("Inclusion Criteria:") + 1
    lines[at:at] = ["-", parent, "- Serum monoclonal protein ≥ 0.5 g/dL"]
    return "\n".join(lines).encode()


@pytest.mark.parametrize("words", ["both ", "both patients with disease "],
                         ids=["both", "both-patients"])
def test_a_huge_block_of_words_in_a_classic_page_is_read_in_bounded_time(words: str) -> None:
    raw = classic_page(repeat(words, 100_000))
    assert cpu(lambda: classic_text.parse(raw))[0] <= 2.0
    assert_linear(lambda size: lambda: classic_text.parse(classic_page(repeat(words, size))),
                  25_000)


@pytest.mark.parametrize(("parent", "nested"), [
    ("Disease defined as both of the following:", 2),
    ("Either one. Three of the criteria", 3),  # "either" has no "criteria" in its sentence
    ("Either: the following", 1),  # no count: the items that state a bound
    ("Three subcriteria", 3),
])
def test_counting_words_read_sentence_by_sentence(parent: str, nested: int) -> None:
    lines = SEED.read_text(encoding="utf-8").splitlines()
    at = lines.index("Inclusion Criteria:") + 1
    lines[at:at] = ["-", parent, "- a ≥ 1", "- b", "- c", "- d"]
    [trial] = classic_text.parse("\n".join(lines).encode())
    assert len(trial.eligibility.inclusion[0].children) == nested


def classic_arms(count: int) -> bytes:
    """The seed page with ``count`` arms, each given all ``count`` interventions."""
    lines = SEED.read_text(encoding="utf-8").splitlines()
    summary = lines.index("Condition or disease | Intervention/treatment | Phase |") + 2
    lines[summary] = ("Multiple Myeloma | " + " ".join(f"Drug: Drug{k}" for k in range(count))
                      + " | Phase 1 |")
    start = lines.index("Arm | Intervention/treatment |") + 2
    end = next(i for i in range(start, len(lines)) if "[ Time Frame:" in lines[i])
    rows = []
    for arm in range(count):
        rows += [f"Experimental: Arm {arm}", f"Arm {arm} gets everything", "|"]
        for k in range(count):
            rows += [f"Drug: Drug{k}", f"Drug{k} 10 mg on Days 1 and 8"]
        rows.append("|")
    lines[start:end] = [*rows, "Outcome Measures", ""]
    return "\n".join(lines).encode()


def test_many_arms_and_interventions_in_a_classic_page_are_read_in_linear_time() -> None:
    small, _ = cpu(lambda: classic_text.parse(classic_arms(100)))
    seconds, [trial] = cpu(lambda: classic_text.parse(classic_arms(200)))  # four times the cells
    assert seconds <= 3.0 and seconds <= LINEAR * small + SLACK
    assert len(trial.arms) == len(trial.interventions) == 200
    assert all(len(arm.interventions) == 200 for arm in trial.arms)


def test_intervention_names_split_as_the_regex_did() -> None:
    names = ["Drug: Foo", "Drug: Foo Bar", "Drug: ", "Biological: X"]
    pattern = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    for text in ["Drug: Foo Bar baz Drug: Foo qux", "Drug: Foo  Bar Drug:  x", " Drug: Foo",
                 "Drug: FooBar Biological: X", "x Drug: Foo\tBiological: X y"]:
        expected = re.split(rf"(?:^|\s)({pattern})(?=\s|$)", text)
        assert classic_text._Names.of(names).split(text) == expected, text


# -- linking ----------------------------------------------------------------------------------


def all_linked(count: int) -> tuple[list[Arm], list[Intervention]]:
    """``count`` arms and interventions, every arm naming every intervention and back."""
    arms = [Arm(f"Arm {i}", None, f"Drug {i} 10 mg/kg on days 1, 8",
                tuple(f"Drug: Drug {k}" for k in range(count))) for i in range(count)]
    items = [Intervention("DRUG", f"Drug {k}", None, (), tuple(f"arm {i}" for i in range(count)))
             for k in range(count)]
    return arms, items


def test_400_arms_by_400_interventions_are_linked_in_bounded_time() -> None:
    arms, items = all_linked(400)
    seconds, (linked_arms, linked_items) = cpu(lambda: linking.link(arms, items))
    assert seconds <= 3.0
    assert linked_arms[7].interventions == tuple(f"Drug {k}" for k in range(400))
    assert linked_items[7].arms == tuple(f"Arm {i}" for i in range(400))
    assert linked_arms[7].dosing[0].dose == 10


def test_linking_costs_time_in_proportion_to_the_links() -> None:
    assert_linear(lambda links: lambda: linking.link(*all_linked(int(links ** 0.5))), 100 ** 2)


# -- the diff of reworded criteria ------------------------------------------------------------


def reworded(count: int) -> tuple[Trial, Trial]:
    """Two versions of a trial whose ``count`` criteria were each reworded slightly."""
    def version(word: str) -> Trial:
        items = tuple(Criterion(f"I{n}", f"Participants in group {n} must have condition {n} "
                                          f"{word} at screening") for n in range(count))
        return Trial(NCT, eligibility=Eligibility(inclusion=items))
    return version("confirmed"), version("documented")


def test_2000_reworded_criteria_are_compared_in_bounded_time() -> None:
    old, new = reworded(2_000)
    seconds, changes = cpu(lambda: diff(old, new))
    assert seconds <= 5.0
    assert {change.kind for change in changes} == {"changed"} and len(changes) == 2_000


def test_2000_reordered_criteria_are_no_change() -> None:
    old, _ = reworded(2_000)
    moved = replace(old, eligibility=replace(
        old.eligibility, inclusion=old.eligibility.inclusion[::-1]))
    seconds, changes = cpu(lambda: diff(old, moved))
    assert seconds <= 2.0 and changes == []


def repetitive(n: int) -> str:
    """600 words of three, repeated: difflib's matching is cubic on such text (1.5 s against
    its reverse)."""
    return " ".join(str(k * (n % 3 + 1) % 3) for k in range(600)) + f" c{n}"


def reverse(text: str) -> str:
    return " ".join(text.split()[::-1])


def test_long_repetitive_criteria_are_compared_in_bounded_time() -> None:
    old = Trial(NCT, eligibility=Eligibility(
        inclusion=tuple(Criterion("I", repetitive(n)) for n in range(50))))
    new = Trial(NCT, eligibility=Eligibility(
        inclusion=tuple(Criterion("I", reverse(repetitive(n))) for n in range(50))))
    assert cpu(lambda: diff(old, new))[0] <= 5.0


def test_an_alert_of_long_repetitive_texts_is_shown_in_bounded_time() -> None:
    # The word view of alerts is the summary's word diff, on one budget for the whole alert.
    changes = tuple(Change(f"eligibility.inclusion[c{n}]", "changed", repetitive(n),
                           reverse(repetitive(n)), "eligibility", "major") for n in range(50))
    change_set = ChangeSet(1, NCT, "T", 1, 2, 1, 2, None, None, "2024-01-01T00:00:00Z", changes)
    seconds, view = cpu(lambda: present.alert(change_set))
    assert seconds <= 5.0
    # every criterion still shown whole, old and new, its changed words marked
    assert all(change.was and change.now for change in view.changes)
    assert all({w.op for w in change.was} <= {"same", "del"} for change in view.changes)
