"""Arms and interventions linked both ways, whatever the source format.

Registries name the links on either side — an arm's intervention names ("Drug: Foo"), an
intervention's arm labels — and the two sides do not always agree (API v2 keeps both, legacy
XML only the intervention's side, the classic page only the arm's). Every source hands its
arms and interventions here with the references as written, and gets them back linked, in the
registry's order, with the arms' dosing read.

An intervention is the entry at its place in the list, not its name: a record may list one
type and name twice ("Drug: X" at 280 mg for one arm and at 980 mg for another, issue 14), and
each such entry keeps the arms its own entry lists. An arm's "Drug: X" names every entry of
that type and name; when that is more than one, the arm is linked only to those that list it
back, never to one that lists other arms only, since the record does not say which it means
(the arm keeps the name). Links come back as names and labels (DESIGN §3), each listed once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace

from ctwatch import dosing
from ctwatch.model import Arm, Intervention

#: position → the (place, name or label) pairs it is linked to; the place orders the output
Links = dict[int, set[tuple[int, str]]]


def link(arms: Sequence[Arm], interventions: Sequence[Intervention]
         ) -> tuple[tuple[Arm, ...], tuple[Intervention, ...]]:
    """Arms whose ``interventions`` and interventions whose ``arms`` hold references as the
    record writes them, returned with both sides resolved and completed from each other."""
    if not any(arm.interventions or arm.dosing for arm in arms) and not any(
            item.arms for item in interventions):
        return tuple(arms), tuple(interventions)  # no reference to resolve, no dose to read
    of_arm, of_item = _links(arms, interventions)
    # A record is replaced only where linking changes it: replace() costs several times the
    # comparison, and the registry mostly lists both sides alike (issue 13).
    linked_arms = []
    for i, arm in enumerate(arms):
        linked = _ordered(of_arm.get(i, set()))
        doses = dosing.parse(arm.description, linked)
        if arm.interventions != linked or arm.dosing or doses:
            arm = replace(arm, interventions=linked, dosing=doses)
        linked_arms.append(arm)
    linked_items = []
    for j, item in enumerate(interventions):
        labels = _ordered(of_item.get(j, set()))
        linked_items.append(item if item.arms == labels else replace(item, arms=labels))
    return tuple(linked_arms), tuple(linked_items)


def _links(arms: Sequence[Arm], interventions: Sequence[Intervention]) -> tuple[Links, Links]:
    """What each arm and each intervention is linked to. Everything goes through dicts of
    positions, so a record of n arms × n interventions all linked costs n² (its links)."""
    labels, names = Index(arm.label for arm in arms), Index(item.name for item in interventions)
    types = [item.type for item in interventions]
    of_arm: Links = defaultdict(set)
    of_item: Links = defaultdict(set)
    for j, item in enumerate(interventions):
        for ref in item.arms:
            found = labels.find(ref)
            for i in found:
                of_item[j].add((i, arms[i].label))
                of_arm[i].add((j, item.name))
            if not found:  # no such arm: the label as written, after the arms
                of_item[j].add((len(arms), ref))
    lists = {j: {i for i, _ in found} for j, found in of_item.items()}  # each entry's own
    for i, arm in enumerate(arms):
        for ref in arm.interventions:
            named = names.find(ref, types)
            found = named if len(named) < 2 else [j for j in named if i in lists.get(j, ())]
            for j in found:
                of_arm[i].add((j, interventions[j].name))
                of_item[j].add((i, arm.label))
            if not found:  # no such intervention, or none of that name says it is this arm's
                of_arm[i].add((named[0], interventions[named[0]].name) if named
                              else (len(interventions), _bare(ref)))
    return of_arm, of_item


def _ordered(found: set[tuple[int, str]]) -> tuple[str, ...]:
    """Names in the order of their places, each once."""
    return tuple(dict.fromkeys(name for _, name in sorted(found)))


def _bare(reference: str) -> str:
    """The name in a reference: "Drug: Foo" → "Foo"."""
    return reference.split(": ", 1)[1] if ": " in reference else reference


def _kind(prefix: str) -> str:
    """An arm's type prefix as the API v2 enum: "Dietary Supplement" → "DIETARY_SUPPLEMENT"."""
    return "_".join(prefix.split()).upper()


class Index:
    """The names (or labels) of one list by position: exactly, and ignoring case."""

    def __init__(self, names: Iterable[str]) -> None:
        self.exact: dict[str, list[int]] = defaultdict(list)
        self.folded: dict[str, list[int]] = defaultdict(list)
        for place, name in enumerate(names):
            self.exact[name].append(place)
            self.folded[name.casefold()].append(place)

    def find(self, reference: str, types: Sequence[str | None] = ()) -> list[int]:
        """The places a reference means, [] for none: "Drug: Foo" → those named "Foo", of
        type DRUG where ``types`` (by place) tell same-named ones apart; case is ignored only
        when nothing matches exactly."""
        prefixed = ": " in reference
        for table, key in ((self.exact, str), (self.folded, str.casefold)):
            if key(reference) in table:
                return table[key(reference)]
            if prefixed and key(_bare(reference)) in table:
                places = table[key(_bare(reference))]
                kind = _kind(reference.split(": ", 1)[0])
                return [p for p in places if p < len(types) and types[p] == kind] or places
        return []
