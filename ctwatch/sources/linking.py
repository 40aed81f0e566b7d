"""Arms and interventions linked both ways, whatever the source format.

Registries name the links on either side — an arm's intervention names ("Drug: Foo"), an
intervention's arm labels — and the two sides do not always agree (API v2 keeps both, legacy
XML only the intervention's side, the classic page only the arm's). Every source hands its
arms and interventions here with the references as written, and gets them back linked by
exact name and label, in the registry's order, with the arms' dosing read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace

from ctwatch import dosing
from ctwatch.model import Arm, Intervention


def link(arms: Sequence[Arm], interventions: Sequence[Intervention]
         ) -> tuple[tuple[Arm, ...], tuple[Intervention, ...]]:
    """Arms whose ``interventions`` and interventions whose ``arms`` hold references as the
    record writes them, returned with both sides resolved and completed from each other."""
    if not any(arm.interventions or arm.dosing for arm in arms) and not any(
            item.arms for item in interventions):
        return tuple(arms), tuple(interventions)  # no reference to resolve, no dose to read
    # Everything goes through dicts, so a record of n arms × n interventions all linked costs
    # n² (its links), not n³.
    labels, names = Names(arm.label for arm in arms), Names(item.name for item in interventions)
    of_arm: dict[str, set[str]] = defaultdict(set)  # arm label → intervention names
    of_item: dict[str, set[str]] = defaultdict(set)  # intervention name → arm labels
    links = [(arm.label, names.resolve(ref)) for arm in arms for ref in arm.interventions]
    links += [(labels.resolve(ref), item.name) for item in interventions for ref in item.arms]
    for label, name in links:
        of_arm[label].add(name)
        of_item[name].add(label)
    # A record is replaced only where linking changes it: replace() costs several times the
    # comparison, and the registry mostly lists both sides alike (issue 13).
    linked_arms = []
    for arm in arms:
        linked = names.ordered(of_arm.get(arm.label, set()))
        doses = dosing.parse(arm.description, linked)
        if arm.interventions != linked or arm.dosing or doses:
            arm = replace(arm, interventions=linked, dosing=doses)
        linked_arms.append(arm)
    linked_items = []
    for item in interventions:
        linked = labels.ordered(of_item.get(item.name, set()))
        linked_items.append(item if item.arms == linked else replace(item, arms=linked))
    return tuple(linked_arms), tuple(linked_items)


class Names:
    """The names (or labels) of one list, indexed: exactly, ignoring case, by position."""

    def __init__(self, names: Iterable[str]) -> None:
        self.positions: dict[str, list[int]] = defaultdict(list)
        self.folded: dict[str, str] = {}  # the last of the names folding alike wins
        for index, name in enumerate(names):
            self.positions[name].append(index)
            self.folded[name.casefold()] = name

    def resolve(self, reference: str) -> str:
        """The name a reference means: "Drug: Foo" → "Foo", ignoring case and spacing."""
        wanted = [reference]
        if ": " in reference:
            wanted.append(reference.split(": ", 1)[1])
        for want in wanted:
            if want in self.positions:
                return want
        for want in wanted:
            if want.casefold() in self.folded:
                return self.folded[want.casefold()]
        return wanted[-1]

    def ordered(self, found: set[str]) -> tuple[str, ...]:
        """Names in the order of the list, unknown ones last (a name listed twice, twice)."""
        known = sorted((index, name) for name in found for index in self.positions.get(name, ()))
        return tuple([name for _, name in known] + sorted(found - self.positions.keys()))
