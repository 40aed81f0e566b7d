"""Arms and interventions linked both ways, whatever the source format.

Registries name the links on either side — an arm's intervention names ("Drug: Foo"), an
intervention's arm labels — and the two sides do not always agree (API v2 keeps both, legacy
XML only the intervention's side, the classic page only the arm's). Every source hands its
arms and interventions here with the references as written, and gets them back linked by
exact name and label, in the registry's order, with the arms' dosing read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from ctwatch import dosing
from ctwatch.model import Arm, Intervention


def link(arms: Sequence[Arm], interventions: Sequence[Intervention]
         ) -> tuple[tuple[Arm, ...], tuple[Intervention, ...]]:
    """Arms whose ``interventions`` and interventions whose ``arms`` hold references as the
    record writes them, returned with both sides resolved and completed from each other."""
    labels = [arm.label for arm in arms]
    names = [item.name for item in interventions]
    links: set[tuple[str, str]] = set()
    for arm in arms:
        links.update((arm.label, resolve(ref, names)) for ref in arm.interventions)
    for item in interventions:
        links.update((resolve(ref, labels), item.name) for ref in item.arms)
    linked_arms = []
    for arm in arms:
        linked = ordered((name for lab, name in links if lab == arm.label), names)
        linked_arms.append(replace(arm, interventions=linked,
                                   dosing=dosing.parse(arm.description, linked)))
    linked_items = [replace(item, arms=ordered((lab for lab, nm in links if nm == item.name),
                                               labels))
                    for item in interventions]
    return tuple(linked_arms), tuple(linked_items)


def resolve(reference: str, candidates: list[str]) -> str:
    """The candidate a reference means: "Drug: Foo" → "Foo", ignoring case and spacing."""
    wanted = [reference]
    if ": " in reference:
        wanted.append(reference.split(": ", 1)[1])
    for want in wanted:
        if want in candidates:
            return want
    folded = {candidate.casefold(): candidate for candidate in candidates}
    for want in wanted:
        if want.casefold() in folded:
            return folded[want.casefold()]
    return wanted[-1]


def ordered(found: Iterable[str], order: list[str]) -> tuple[str, ...]:
    """Names in the registry's order of the list they belong to, unknown ones last."""
    found = set(found)
    known = [name for name in order if name in found]
    return tuple(known + sorted(found - set(known)))
