"""Numeric bounds of an edited criterion compared by meaning (issue 16): a table of threshold
pairs — stricter, looser, added, removed, unchanged, not comparable — each with what a reader
is told, then the same through the differ on the myeloma record's own criteria."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import pytest

from ctwatch import bounds, sources
from ctwatch.diff import diff
from ctwatch.model import Criterion, Threshold, Trial
from tests.helpers import MYELOMA


def T(measure: str | None, comparator: str, value: float, unit: str | None = None) -> Threshold:
    return Threshold(measure, comparator, value, unit)


ANC = "absolute neutrophil count"
ECOG = "performance status of ecog"
AGE = "age"


@dataclass(frozen=True)
class Pair:
    name: str
    old: tuple[Threshold, ...]
    new: tuple[Threshold, ...]
    said: tuple[str, ...]  # what the reader is told, one sentence per bound that changed
    exclusion: bool = False
    texts: tuple[str, ...] = ()  # the criterion's texts, which give the measure its capitals

    @property
    def verdicts(self) -> tuple[str, ...]:
        return tuple(s.rpartition("(")[2].rstrip(")").split(",")[0] for s in self.said)


PAIRS = [
    # stricter / looser by value: for ≥ and > a higher value is stricter, for ≤ and < a lower
    Pair("lower bound lowered", (T(ANC, ">=", 1500, "/mm3"),), (T(ANC, ">=", 1000, "/mm3"),),
         ("Absolute neutrophil count ≥ 1500/mm3 → ≥ 1000/mm3 (looser)",)),
    Pair("lower bound raised", (T(ANC, ">=", 1000, "/mm3"),), (T(ANC, ">=", 1500, "/mm3"),),
         ("Absolute neutrophil count ≥ 1000/mm3 → ≥ 1500/mm3 (stricter)",)),
    Pair("upper bound lowered", (T(ECOG, "<=", 2),), (T(ECOG, "<=", 1),),
         ("Performance status of ECOG ≤ 2 → ≤ 1 (stricter)",),
         texts=("Performance status of ECOG ≤ 2",)),
    Pair("upper bound raised", (T(ECOG, "<=", 1),), (T(ECOG, "<=", 2),),
         ("Performance status of ECOG ≤ 1 → ≤ 2 (looser)",),
         texts=("Performance status of ECOG ≤ 1",)),
    Pair("strict lower bound raised", (T("creatinine clearance", ">", 30, "ml/min"),),
         (T("creatinine clearance", ">", 60, "ml/min"),),
         ("Creatinine clearance > 30 ml/min → > 60 ml/min (stricter)",)),
    Pair("minimum age lowered", (T(AGE, ">=", 18, "years"),), (T(AGE, ">=", 12, "years"),),
         ("Age ≥ 18 years → ≥ 12 years (looser)",)),
    Pair("times the upper limit raised", (T("total bilirubin", "<=", 1.5, "x ULN"),),
         (T("total bilirubin", "<=", 3, "x ULN"),),
         ("Total bilirubin ≤ 1.5 x ULN → ≤ 3 x ULN (looser)",)),
    Pair("times the upper limit lowered", (T("alt", "<", 3.5, "x ULN"),),
         (T("alt", "<", 2.5, "x ULN"),), ("ALT < 3.5 x ULN → < 2.5 x ULN (stricter)",),
         texts=("ALT < 3.5 x ULN",)),
    # the same value, the comparator made strict or not
    Pair("≥ made >", (T(AGE, ">=", 18, "years"),), (T(AGE, ">", 18, "years"),),
         ("Age ≥ 18 years → > 18 years (stricter)",)),
    Pair("< made ≤", (T("hba1c", "<", 8, "%"),), (T("hba1c", "<=", 8, "%"),),
         ("HbA1c < 8% → ≤ 8% (looser)",), texts=("HbA1c < 8%",)),
    # unchanged: the same bound, or spelt otherwise
    Pair("unchanged", (T(ANC, ">=", 1500, "/mm3"),), (T(ANC, ">=", 1500, "/mm3"),), ()),
    Pair("unit spelt otherwise", (T("platelets", ">=", 75000, "/mm3"),),
         (T("platelets", ">=", 75000, "/mm^3"),), ()),
    Pair("unit in other case", (T("creatinine clearance", ">", 30, "ml/min"),),
         (T("creatinine clearance", ">", 30, "mL/min"),), ()),
    Pair("plural unit", (T("from last treatment", ">=", 6, "weeks"),),
         (T("from last treatment", ">=", 4, "week"),),
         ("From last treatment ≥ 6 weeks → ≥ 4 week (looser)",)),
    # not comparable: another unit, an exact value
    Pair("unit changed", (T("platelets", ">=", 75000, "/mm3"),),
         (T("platelets", ">=", 75, "x 10^9/L"),),
         ("Platelets ≥ 75,000/mm3 → ≥ 75 x 10^9/L (unit changed, not compared)",)),
    Pair("age in months", (T(AGE, ">=", 18, "years"),), (T(AGE, ">=", 216, "months"),),
         ("Age ≥ 18 years → ≥ 216 months (unit changed, not compared)",)),
    Pair("exact value", (T("number of prior lines", "=", 2),),
         (T("number of prior lines", "=", 3),), ("Number of prior lines = 2 → = 3 (changed)",)),
    # added and removed bounds
    Pair("bound added", (), (T("hemoglobin", ">=", 9, "g/dL"),),
         ("Hemoglobin: bound ≥ 9 g/dL added (stricter)",)),
    Pair("bound removed", (T("hemoglobin", ">=", 9, "g/dL"),), (),
         ("Hemoglobin: bound ≥ 9 g/dL removed (looser)",)),
    Pair("direction turned", (T(AGE, ">=", 18, "years"),), (T(AGE, "<=", 18, "years"),),
         ("Age: bound ≥ 18 years removed (looser)", "Age: bound ≤ 18 years added (stricter)")),
    Pair("another measure is not a rewording", (T("hemoglobin", ">=", 9, "g/dL"),),
         (T("albumin", ">=", 3, "g/dL"),),
         ("Hemoglobin: bound ≥ 9 g/dL removed (looser)",
          "Albumin: bound ≥ 3 g/dL added (stricter)")),
    # a measure reworded is the same bound; a bound without a measure
    Pair("measure reworded", (T(ECOG, "<=", 2),), (T("ecog performance status", "<=", 1),),
         ("ECOG performance status ≤ 2 → ≤ 1 (stricter)",),
         texts=("Performance status of ECOG ≤ 2", "ECOG performance status ≤ 1")),
    Pair("no measure", (T(None, ">=", 18),), (T(None, ">=", 21),), ("≥ 18 → ≥ 21 (stricter)",)),
    # ranges: each end on its own
    Pair("range narrowed at the top", (T(AGE, ">=", 18, "years"), T(AGE, "<=", 75, "years")),
         (T(AGE, ">=", 18, "years"), T(AGE, "<=", 65, "years")),
         ("Age ≤ 75 years → ≤ 65 years (stricter)",)),
    Pair("range widened at both ends", (T(AGE, ">=", 18, "years"), T(AGE, "<=", 65, "years")),
         (T(AGE, ">=", 16, "years"), T(AGE, "<=", 70, "years")),
         ("Age ≥ 18 years → ≥ 16 years (looser)", "Age ≤ 65 years → ≤ 70 years (looser)")),
    # an exclusion criterion's bound says who may not take part: every verdict turns round
    Pair("exclusion bound narrowed", (T("cd4+ t-cell counts", "<", 350, "cells/mcL"),),
         (T("cd4+ t-cell counts", "<", 200, "cells/mcL"),),
         ("CD4+ T-cell counts < 350 cells/mcL → < 200 cells/mcL (looser)",), exclusion=True,
         texts=("HIV unless CD4+ T-cell counts are < 350 cells/mcL",)),
    Pair("exclusion window widened", (T("investigational agents", "<=", 14, "days"),),
         (T("investigational agents", "<=", 28, "days"),),
         ("Investigational agents ≤ 14 days → ≤ 28 days (stricter)",), exclusion=True),
    Pair("exclusion bound added", (), (T("investigational agents", "<=", 14, "days"),),
         ("Investigational agents: bound ≤ 14 days added (looser)",), exclusion=True),
    Pair("exclusion bound removed", (T("investigational agents", "<=", 14, "days"),), (),
         ("Investigational agents: bound ≤ 14 days removed (stricter)",), exclusion=True),
]


def test_the_table_covers_every_verdict() -> None:
    assert len(PAIRS) >= 20
    seen = {verdict for pair in PAIRS for verdict in pair.verdicts} | (
        {"unchanged"} if any(not pair.said for pair in PAIRS) else set())
    kinds = {kind for pair in PAIRS for said in pair.said
             for kind in ("added", "removed", "→") if kind in said}
    assert seen >= {"stricter", "looser", "changed", "unit changed", "unchanged"}
    assert kinds == {"added", "removed", "→"}


@pytest.mark.parametrize("pair", PAIRS, ids=[pair.name for pair in PAIRS])
def test_a_pair_of_bounds_is_said_by_meaning(pair: Pair) -> None:
    found = bounds.compare(pair.old, pair.new, exclusion=pair.exclusion)
    assert tuple(bounds.describe(change, *pair.texts) for change in found) == pair.said
    assert tuple(change.verdict for change in found) == tuple(
        "changed" if v == "unit changed" else v for v in pair.verdicts)


@pytest.mark.parametrize("pair", [p for p in PAIRS if len(p.old) == len(p.new) == len(p.said) == 1
                                  and "changed" not in p.said[0]],
                         ids=lambda pair: pair.name)
def test_undoing_an_edit_says_the_opposite(pair: Pair) -> None:
    [there] = bounds.compare(pair.old, pair.new, exclusion=pair.exclusion)
    [back] = bounds.compare(pair.new, pair.old, exclusion=pair.exclusion)
    assert {there.verdict, back.verdict} == {"stricter", "looser"}


@pytest.mark.parametrize(("value", "shown"), [(2.0, "2"), (0.5, "0.5"), (75000, "75,000"),
                                              (1500, "1500"), (3.5, "3.5")])
def test_values_read_as_people_write_them(value: float, shown: str) -> None:
    assert bounds.number(value) == shown


# -- through the differ, on the record's own criteria ------------------------------------------


def myeloma() -> Trial:
    return sources.parse(MYELOMA.read_bytes())[0]


def edited(old: str, new: str) -> Trial:
    """The myeloma record with ``old`` replaced by ``new`` in its criteria, parsed again: the
    thresholds are the parser's."""
    raw = MYELOMA.read_bytes()
    assert old.encode() in raw, old
    return sources.parse(raw.replace(old.encode(), new.encode()))[0]


@pytest.mark.parametrize(("old", "new", "label", "said"), [
    ("Absolute neutrophil count ≥ 1500/mm3", "Absolute neutrophil count ≥ 1000/mm3",
     "Inclusion criterion 6.1", "Absolute neutrophil count ≥ 1500/mm3 → ≥ 1000/mm3 (looser)"),
    ("Performance status of ECOG ≤ 2", "Performance status of ECOG ≤ 1",
     "Inclusion criterion 5", "Performance status of ECOG ≤ 2 → ≤ 1 (stricter)"),
    ("agents within 14 days prior", "agents within 28 days prior",
     "Exclusion criterion 7", "≤ 14 days → ≤ 28 days (stricter)"),
])
def test_the_differ_names_the_criterion_and_weighs_its_bound(old: str, new: str, label: str,
                                                              said: str) -> None:
    [change] = diff(myeloma(), edited(old, new), today=date(2026, 1, 1))
    assert change.label == label
    [bound] = change.bounds
    assert bounds.describe(bound, change.old, change.new).endswith(said)
    # the machine fields stay as they were: the path names the criterion by its old text
    assert change.path.startswith("eligibility.") and old in change.path
    assert change.new == change.old.replace(old, new)


def test_a_criterion_that_moved_is_named_by_its_new_number_and_its_old_one() -> None:
    trial = myeloma()
    inclusion = trial.eligibility.inclusion
    first = Criterion("I0", "Signed informed consent before any study procedure.")
    ecog = next(c for c in inclusion if c.id == "I5")
    renumbered = tuple(replace(c, id=f"I{n}") for n, c in enumerate(
        (first, *(replace(c, text=c.text.replace("≤ 2", "≤ 1"), thresholds=(
            T(ECOG, "<=", 1),)) if c is ecog else c for c in inclusion)), 1))
    new = replace(trial, eligibility=replace(trial.eligibility, inclusion=renumbered))
    labels = {change.label for change in diff(trial, new, today=date(2026, 1, 1))}
    assert labels == {"Inclusion criterion 1", "Inclusion criterion 6 (was 5)"}
