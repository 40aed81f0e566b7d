"""Interventions that share a name (issue 14): each entry keeps the arms it lists itself, in
every format, an arm lists a name once, and the differ tells the entries apart.

Two real records list one intervention name more than once (fixtures/realdata/interventions,
see its SOURCES.md): NCT02260193 (legacy XML) lists "Drug: AKB-6548" three times, one entry per
starting dose, each with its own arm group; NCT02299791 (API v2) lists "Other: ALL" twice, one
entry per arm, while both arms name just "Other: ALL", which alone does not say which entry.
Records and cases marked *constructed* are not from the registry: each pins a rule that the
real records do not exercise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctwatch import sources
from ctwatch.diff import diff
from ctwatch.model import Arm, Dose, Intervention, Trial
from ctwatch.sources import api_v2, linking
from tests.helpers import REALDATA

FOLDER = REALDATA / "interventions"
AKB_XML = FOLDER / "NCT02260193.xml"
AKB = "AKB-6548"
DOSE = [f"AKB-6548, starting dose {n}" for n in (1, 2, 3)]
EARLY, LATE = "Early Intervention", "Late implementation"
TODAY = date(2024, 6, 1)


def read(path: Any) -> Trial:
    [trial] = sources.parse(path.read_bytes(), str(path))
    return trial


# -- the real records, as they read ------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """An intervention as the record lists it: how its description starts, and its arms."""

    type: str
    name: str
    opening: str
    arms: tuple[str, ...]


# Typed from the records themselves (the <intervention> elements and "interventions" entries).
REAL: dict[str, tuple[dict[str, tuple[str, ...]], list[Entry]]] = {
    "NCT02260193.xml": (
        {DOSE[0]: (AKB,), DOSE[1]: (AKB,), DOSE[2]: (AKB,)},
        [Entry("DRUG", AKB, "Starting dose 1. Oral dose administered once daily", (DOSE[0],)),
         Entry("DRUG", AKB, "Starting dose 2. Oral dose administered once daily", (DOSE[1],)),
         Entry("DRUG", AKB, "Starting dose 3. Oral dose administered three times weekly",
               (DOSE[2],))]),
    "NCT02299791.json": (
        {EARLY: ("ALL",), LATE: ("ALL",)},
        [Entry("OTHER", "ALL", "This clinic-level intervention involves a toolkit", (EARLY,)),
         Entry("OTHER", "ALL", "These clinics got the same exact intervention, but one year "
               "later", (LATE,))]),
}


@pytest.mark.parametrize("name", REAL)
def test_each_same_named_intervention_keeps_exactly_its_own_arms(name: str) -> None:
    trial = read(FOLDER / name)
    arms, entries = REAL[name]
    assert {arm.label: arm.interventions for arm in trial.arms} == arms  # each name once
    assert len(trial.interventions) == len(entries)
    for item, entry in zip(trial.interventions, entries, strict=True):
        assert (item.type, item.name, item.arms) == (entry.type, entry.name, entry.arms)
        assert (item.description or "").startswith(entry.opening)


@pytest.mark.parametrize("name", REAL)
def test_no_dose_is_read_where_the_arm_text_states_none(name: str) -> None:
    # Dosing is read from an arm's own text: NCT02260193's arm groups have none, and
    # NCT02299791's give a date ("starting 6/1/11"), no amount. The entries' descriptions
    # ("Starting dose 1. Oral dose administered once daily …") are not read for it.
    assert all(arm.dosing == () for arm in read(FOLDER / name).arms)


def git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.mark.parametrize("name", REAL)
def test_the_real_records_are_the_files_their_sources_name(name: str) -> None:
    assert git_blob((FOLDER / name).read_bytes()) in (FOLDER / "SOURCES.md").read_text()


# Constructed: the shape of the issue, "Drug: X" at 280 mg for one arm and at 980 mg for
# another, in legacy XML, where only the interventions name the arms.
DOSES_XML = b"""<clinical_study>
  <id_info><nct_id>NCT00000000</nct_id></id_info>
  <arm_group><arm_group_label>Low</arm_group_label><arm_group_type>Experimental</arm_group_type>
    <description>Drug X 280 mg once daily on days 1-3</description></arm_group>
  <arm_group><arm_group_label>High</arm_group_label><arm_group_type>Experimental</arm_group_type>
    <description>Drug X 980 mg once daily on days 1-3</description></arm_group>
  <intervention><intervention_type>Drug</intervention_type>
    <intervention_name>Drug X</intervention_name>
    <description>280 mg tablets</description><arm_group_label>Low</arm_group_label></intervention>
  <intervention><intervention_type>Drug</intervention_type>
    <intervention_name>Drug X</intervention_name>
    <description>980 mg tablets</description><arm_group_label>High</arm_group_label></intervention>
</clinical_study>"""


def test_each_arm_reads_its_dose_once_from_its_own_text() -> None:
    [trial] = sources.parse(DOSES_XML)
    low, high = trial.arms
    assert low.dosing == (Dose("Drug X", 280, "mg", (1, 2, 3)),)
    assert high.dosing == (Dose("Drug X", 980, "mg", (1, 2, 3)),)
    assert [(i.description, i.arms) for i in trial.interventions] == [
        ("280 mg tablets", ("Low",)), ("980 mg tablets", ("High",))]


# Constructed: NCT02260193's arms and interventions as API v2 writes them, transcribed from
# the legacy XML above (values as they stand there). API v2 gives both sides, and an arm names
# its interventions "Type: Name", so each arm here names "Drug: AKB-6548", which fits all three
# entries, as in the real NCT02299791.
AKB_DESCRIPTION = ("Starting dose {}. Oral dose administered {} for 16 weeks. Dose adjustment "
                   "based on hemoglobin {} as defined in the protocol.")
AKB_API_V2 = {"protocolSection": {
    "identificationModule": {"nctId": "NCT02260193"},
    "armsInterventionsModule": {
        "armGroups": [{"label": label, "type": "EXPERIMENTAL",
                       "interventionNames": [f"Drug: {AKB}"]} for label in DOSE],
        "interventions": [
            {"type": "DRUG", "name": AKB, "armGroupLabels": [DOSE[0]],
             "description": AKB_DESCRIPTION.format(1, "once daily", "level")},
            {"type": "DRUG", "name": AKB, "armGroupLabels": [DOSE[1]],
             "description": AKB_DESCRIPTION.format(2, "once daily", "level")},
            {"type": "DRUG", "name": AKB, "armGroupLabels": [DOSE[2]],
             "description": AKB_DESCRIPTION.format(3, "three times weekly", "levels")}]}}}


def test_the_same_record_in_api_v2_gives_the_same_arms_and_interventions() -> None:
    legacy, current = read(AKB_XML), api_v2.parse_study(AKB_API_V2)
    assert current.arms == legacy.arms
    assert current.interventions == legacy.interventions


# -- the differ -------------------------------------------------------------------------------


def entry(t: Trial, n: int, **values: Any) -> Trial:
    """The trial with its ``n``-th intervention (from 0) edited."""
    items = list(t.interventions)
    items[n] = replace(items[n], **values)
    return replace(t, interventions=tuple(items))


def swap_arms(t: Trial) -> Trial:
    """The first two same-named entries trade arms: the first dose now goes to the second
    arm. Every arm still names the same intervention, so only the entries show it."""
    first, second = t.interventions[:2]
    return entry(entry(t, 0, arms=second.arms), 1, arms=first.arms)


def rename_first(t: Trial) -> Trial:
    """The first entry renamed, and so the name its arm lists."""
    t = entry(t, 0, name=f"{AKB} low")
    return replace(t, arms=(replace(t.arms[0], interventions=(f"{AKB} low",)), *t.arms[1:]))


def rename_first_arm(t: Trial) -> Trial:
    t = entry(t, 0, arms=("Dose one",))
    return replace(t, arms=(replace(t.arms[0], label="Dose one"), *t.arms[1:]))


def reorder(t: Trial) -> Trial:
    return replace(t, arms=t.arms[::-1], interventions=t.interventions[::-1])


def drop_last(t: Trial) -> Trial:
    gone = t.interventions[-1]
    return replace(t, interventions=t.interventions[:-1], arms=tuple(
        replace(arm, interventions=()) if arm.label in gone.arms else arm for arm in t.arms))


@dataclass(frozen=True)
class Case:
    name: str
    record: str
    edit: Callable[[Trial], Trial]
    expected: list[tuple[str, str]]  # (path, kind)


CASES = [
    Case("unchanged", "NCT02260193.xml", lambda t: t, []),
    Case("unchanged, ambiguous arm names", "NCT02299791.json", lambda t: t, []),
    Case("reordered", "NCT02260193.xml", reorder, []),
    Case("reordered, ambiguous arm names", "NCT02299791.json", reorder, []),
    Case("second entry's description", "NCT02260193.xml",
         lambda t: entry(t, 1, description="Starting dose 2. Oral dose administered twice daily."),
         [(f"interventions[{AKB} #2].description", "changed")]),
    Case("second entry's description, ambiguous arm names", "NCT02299791.json",
         lambda t: entry(t, 1, description="Two years later."),
         [("interventions[ALL #2].description", "changed")]),
    Case("reordered and the second entry's description", "NCT02260193.xml",
         lambda t: reorder(entry(t, 1, description="Starting dose 2, edited.")),
         [(f"interventions[{AKB} #2].description", "changed")]),
    Case("two entries trade arms", "NCT02260193.xml", swap_arms, [
        (f"interventions[{AKB} #1].arms[{DOSE[1]}]", "added"),
        (f"interventions[{AKB} #1].arms[{DOSE[0]}]", "removed"),
        (f"interventions[{AKB} #2].arms[{DOSE[0]}]", "added"),
        (f"interventions[{AKB} #2].arms[{DOSE[1]}]", "removed")]),
    Case("the third entry removed", "NCT02260193.xml", drop_last,
         [(f"interventions[{AKB} #3]", "removed")]),
    Case("one entry renamed is one change", "NCT02260193.xml", rename_first,
         [(f"interventions[{AKB} #1].name", "changed")]),
    Case("an arm renamed is one change", "NCT02260193.xml", rename_first_arm,
         [(f"arms[{DOSE[0]}].label", "changed")]),
    Case("a type changed is one change", "NCT02299791.json",
         lambda t: entry(t, 1, type="BEHAVIORAL"), [("interventions[ALL #2].type", "changed")]),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_diff(case: Case) -> None:
    old = read(FOLDER / case.record)
    changes = diff(old, case.edit(old), today=TODAY)
    assert sorted((c.path, c.kind) for c in changes) == sorted(case.expected)


# -- linking rules, constructed ---------------------------------------------------------------


def drug(name: str, *arms: str, kind: str = "DRUG") -> Intervention:
    return Intervention(kind, name, arms=arms)


def arm(label: str, *names: str) -> Arm:
    return Arm(label, "EXPERIMENTAL", interventions=names)


@dataclass(frozen=True)
class Rule:
    name: str
    arms: list[Arm]
    interventions: list[Intervention]
    linked_arms: dict[str, tuple[str, ...]]
    linked_interventions: list[tuple[str, ...]]  # each entry's arms, in order


RULES = [
    Rule("an ambiguous name links only the entries that list the arm back",
         [arm("A", "Drug: X"), arm("B", "Drug: X")], [drug("X", "A"), drug("X", "B")],
         {"A": ("X",), "B": ("X",)}, [("A",), ("B",)]),
    Rule("never an entry that lists other arms only",
         [arm("A", "Drug: X"), arm("B")], [drug("X", "A"), drug("X", "B")],
         {"A": ("X",), "B": ("X",)}, [("A",), ("B",)]),
    Rule("none says which: the arm keeps the name, no entry gains the arm",
         [arm("A", "Drug: X"), arm("B")], [drug("X", "B"), drug("X")],
         {"A": ("X",), "B": ("X",)}, [("B",), ()]),
    Rule("both list the arm: it names them once",
         [arm("A")], [drug("X", "A"), drug("X", "A")], {"A": ("X",)}, [("A",), ("A",)]),
    Rule("the type tells same-named entries apart",
         [arm("A", "Drug: Placebo"), arm("B", "Device: Placebo")],
         [drug("Placebo"), drug("Placebo", kind="DEVICE")],
         {"A": ("Placebo",), "B": ("Placebo",)}, [("A",), ("B",)]),
    Rule("one entry of a name: the two sides are joined, as before",
         [arm("A"), arm("B", "Drug: X")], [drug("X", "A")],
         {"A": ("X",), "B": ("X",)}, [("A", "B")]),
    Rule("unknown references are kept, after the known ones",
         [arm("A", "Drug: Z", "Drug: X")], [drug("X", "A", "Q")],
         {"A": ("X", "Z")}, [("A", "Q")]),
]


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_linking_rule(rule: Rule) -> None:
    arms, interventions = linking.link(rule.arms, rule.interventions)
    assert {a.label: a.interventions for a in arms} == rule.linked_arms
    assert [i.arms for i in interventions] == rule.linked_interventions


# -- any record -------------------------------------------------------------------------------

LABELS = st.sampled_from(["A", "a", "B", "C: D", "D"])
NAMES = st.sampled_from(["X", "x", "Y", "Drug: X", "ALL"])
REFERENCES = st.builds(lambda prefix, name: prefix + name,
                       st.sampled_from(["", "Drug: ", "Device: ", "Other: "]),
                       NAMES | st.just("Z"))
ARMS = st.lists(st.builds(
    lambda label, refs, text: Arm(label, None, text, tuple(refs)), LABELS,
    st.lists(REFERENCES, max_size=3),
    st.sampled_from([None, "X 280 mg on days 1-3", "x 5 mg then Y 10 mg/kg"])), max_size=5)
INTERVENTIONS = st.lists(st.builds(
    lambda kind, name, refs: Intervention(kind, name, arms=tuple(refs)),
    st.sampled_from(["DRUG", "DEVICE", "OTHER", None]), NAMES,
    st.lists(LABELS | st.just("Q"), max_size=3)), max_size=5)


def refers(reference: str, name: str) -> bool:
    """Whether a reference as written can mean ``name`` (with or without a type, any case)."""
    bare = reference.split(": ", 1)[1] if ": " in reference else reference
    return name.casefold() in (reference.casefold(), bare.casefold())


@given(ARMS, INTERVENTIONS)
def test_every_link_is_backed_by_the_record_and_listed_once(
        arms: list[Arm], interventions: list[Intervention]) -> None:
    linked_arms, linked_items = linking.link(arms, interventions)
    assert [a.label for a in linked_arms] == [a.label for a in arms]
    assert [(i.type, i.name) for i in linked_items] == [(i.type, i.name) for i in interventions]
    for before, after in zip(arms, linked_arms, strict=True):
        assert len(set(after.interventions)) == len(after.interventions)
        assert {dose.intervention for dose in after.dosing} <= set(after.interventions)
        for name in after.interventions:
            assert any(refers(ref, name) for ref in before.interventions) or any(
                item.name == name and any(refers(ref, after.label) for ref in item.arms)
                for item in interventions)
    for before, after in zip(interventions, linked_items, strict=True):
        assert len(set(after.arms)) == len(after.arms)
        for label in after.arms:
            if any(refers(ref, label) for ref in before.arms):
                continue  # its own entry lists it
            # else an arm of that label names it, and no other entry has its type and name
            assert any(a.label == label and any(refers(r, before.name) for r in a.interventions)
                       for a in arms)
            assert sum((i.type, i.name) == (before.type, before.name) for i in interventions) == 1


@given(ARMS, INTERVENTIONS)
def test_a_reordered_record_is_no_change(arms: list[Arm], interventions: list[Intervention]
                                         ) -> None:
    linked_arms, linked_items = linking.link(arms, interventions)
    old = replace(read(AKB_XML), arms=linked_arms, interventions=linked_items)
    assert diff(old, replace(old, arms=linked_arms[::-1], interventions=linked_items[::-1]),
                today=TODAY) == []
