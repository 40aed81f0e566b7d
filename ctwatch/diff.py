"""Two versions of a trial → the ordered list of what changed (DESIGN §7).

Lists are matched by identity, never by position, so a reorder is no change: arms by label,
interventions by type and name, outcomes by kind + measure, criteria by text (an edited
criterion by word similarity), locations by facility, city and country, people and
organisations by name. Elements alike pair in their order: a record may list "Drug: X" twice,
at two doses (issue 14), and paths number a label the list repeats (``interventions[X #2]``).
An arm or intervention that changed only its label or name, or an outcome only its measure
or kind, is one change of that field. Values derived from other values are not compared on
their own, so one edit in the registry is one change here: arm dosing (read from the arm's
description), an intervention's ``arms`` (the mirror of ``arms[].interventions``, except for a
name the record repeats: only the entries' own arms say which of them an arm gets, so those
links are compared there), criterion ids and thresholds (from position and text), and
``eligibility.text`` (unless the criteria are otherwise equal). Severities come from
:mod:`ctwatch.rules`; a long text's summary line comes from :mod:`ctwatch.wording`, the word
diff that alerts show too. Paths and values stay the machine's; each change also carries the
label people read (:mod:`ctwatch.labels`): a criterion is named by its id ("Inclusion criterion
5", "(was 4)" when it moved), since its path can only quote its text, and an edited criterion's
numeric bounds are compared by meaning (:mod:`ctwatch.bounds`: stricter, looser).

Why not deepdiff, which the first design named: a generic deep diff does not know which two
elements are the same arm, outcome or criterion, and that is most of the work here (the
identities and renames above, reworded criteria paired by word similarity), which deepdiff
would need written anyway, as callbacks. Its paths are positions (``root['outcomes'][2]``),
while the rules give severities per field by patterns over paths that name the element
(``outcomes[primary: *]``, ``status.overall``), and some depend on the values (a status that
becomes TERMINATED is critical). It would also report each value derived from another (a
criterion's thresholds and ids, dosing read from an arm's description) as a change of its own,
where one edit in the registry must be one change. And registry text is third-party input: each
step here that is not linear (pairing edited criteria, word matching) runs on a budget counted
in steps (:mod:`ctwatch.limits`) and, once it is spent, gives a coarser answer that still
reports every change, whereas deepdiff's documentation warns that ignoring the order of
unhashable items (ours are records) can be expensive. All this is a few hundred lines over the
standard library's difflib, with no dependency to follow.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date
from operator import attrgetter
from typing import Any

from ctwatch import bounds
from ctwatch.labels import criterion_label
from ctwatch.limits import COMPARISON_STEPS, PAIRING_STEPS, SUMMARY_STEPS
from ctwatch.model import (
    Arm,
    BoundChange,
    Change,
    Contact,
    Criterion,
    Intervention,
    Location,
    Official,
    Outcome,
    Party,
    Record,
    Trial,
)
from ctwatch.rules import IGNORED, Rules
from ctwatch.wording import LONG_TEXT, Budget, OverBudget, WordMatcher, word_summary

AFTER_START = "outcome_changed_after_start"
KEY_WIDTH = 80  # characters of a bracketed key in a path, before "…"
SIMILAR_CRITERION = 0.6  # difflib ratio of words above which an edited criterion is the same
CRITERIA_SECTIONS = ("inclusion", "exclusion", "unclassified")
WHOLE_LISTS = ("design.phases", "eligibility.std_ages")  # compared as one value, in any order

_SECTION_RANK = {f.name: n for n, f in enumerate(fields(Trial))}


@dataclass(frozen=True, slots=True)
class _Found:
    """A difference before the rules weigh it."""

    path: str
    kind: str  # added | removed | changed
    old: Any = None
    new: Any = None
    element: bool = False  # a whole list element, added or removed
    wordwise: bool = False  # summarize by words however short (the path quotes the old text)
    label: str = ""  # the registry's words, when the path alone cannot say (a criterion's id)
    bounds: tuple[BoundChange, ...] = ()  # an edited criterion's numeric bounds, compared


def diff(old: Trial, new: Trial, rules: Rules | None = None,
         today: date | None = None) -> list[Change]:
    """What changed from ``old`` to ``new``: most severe first, then by section of the trial,
    then in the order of the record. ``today`` decides whether the study has started."""
    rules = rules or Rules.default()
    started = has_started(new.status.start.date or old.status.start.date, today or date.today())
    pairing, summaries = Budget(PAIRING_STEPS), Budget(SUMMARY_STEPS)
    changes = [_weigh(found, rules, started, summaries) for found in _trial(old, new, pairing)]
    by_section = sorted((c for c in changes if c is not None), key=_section)
    return sorted(by_section, key=attrgetter("severity"), reverse=True)  # stable: keeps sections


def _weigh(found: _Found, rules: Rules, started: bool, budget: Budget) -> Change | None:
    category, severity = rules.classify(found.path, found.old, found.new)
    if severity == IGNORED:
        return None
    flags = (AFTER_START,) if category == "primary_outcome" and started else ()
    return Change(found.path, found.kind, found.old, found.new, category, severity,
                  summary(found, budget), flags, found.label, found.bounds)


def _section(change: Change) -> int:
    section = re.match(r"[^.\[]*", change.path).group()  # type: ignore[union-attr]
    return _SECTION_RANK.get(section, len(_SECTION_RANK))


def has_started(start: str | None, today: date) -> bool:
    """Whether a registry date ("2020", "2020-04" or "2020-04-03") is today or past."""
    match = re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", start or "")
    if not match:
        return False
    given = tuple(int(part) for part in match.groups() if part)
    return given <= (today.year, today.month, today.day)[: len(given)]


# -- the trial, section by section ------------------------------------------------------------


def _trial(old: Trial, new: Trial, budget: Budget) -> Iterator[_Found]:
    special: dict[str, Callable[[Trial, Trial], Iterator[_Found]]] = {
        "arms": _arms, "interventions": _interventions, "outcomes": _outcomes,
        "eligibility": lambda a, b: _eligibility(a, b, budget),
    }
    for name in _SECTION_RANK:
        if getattr(old, name) == getattr(new, name):
            continue
        if name in special:
            yield from special[name](old, new)
        else:
            yield from _value(name, getattr(old, name), getattr(new, name))


def _interventions(old: Trial, new: Trial) -> Iterator[_Found]:
    repeated = _repeated(old, new)
    renamed = _arm_renames(old, new) if repeated else {}
    yield from _records("interventions",
                        [_bare_intervention(i, repeated, renamed) for i in old.interventions],
                        [_bare_intervention(i, repeated) for i in new.interventions],
                        originals=(old.interventions, new.interventions))


def _repeated(old: Trial, new: Trial) -> set[str]:
    """Intervention names whose links are compared on the interventions' side: those listed
    more than once in either version, for an arm's link to such a name does not say which
    entry it means (issue 14); and then also those in one version only, so that renaming one
    of the entries is one change."""
    repeated: set[str] = set()
    names = []
    for trial in (old, new):
        seen: set[str] = set()
        for item in trial.interventions:
            (repeated if item.name in seen else seen).add(item.name)
        names.append(seen)
    if not repeated:
        return repeated
    return repeated | (names[0] ^ names[1])


def _bare_intervention(item: Intervention, repeated: set[str],
                       renamed: dict[str, str] | None = None) -> Intervention:
    """The intervention without its arms, compared in ``arms[].interventions``, unless its
    name is repeated; then its arms, seen through renamed arms and in any order."""
    if item.name not in repeated:
        return replace(item, arms=())
    labels = sorted({(renamed or {}).get(label, label) for label in item.arms})
    return replace(item, arms=tuple(labels))


def _arm_renames(old: Trial, new: Trial) -> dict[str, str]:
    """Old arm label → new, for the arms matched as the same arm (by label, or by the rest)."""
    before, after = ([replace(arm, interventions=(), dosing=()) for arm in trial.arms]
                     for trial in (old, new))
    pairs, _, _ = _match(before, after, (_IDENTITY[Arm][0], *_RENAMES[Arm]))
    return {before[i].label: after[j].label for i, j in pairs}


def _arms(old: Trial, new: Trial) -> Iterator[_Found]:
    """Arms, their links to interventions seen through renamed interventions and limited to
    interventions in both versions (an intervention added or removed is one change) whose
    name is listed once (see :func:`_repeated`)."""
    repeated = _repeated(old, new)
    before = [_bare_intervention(i, repeated) for i in old.interventions]
    after = [_bare_intervention(i, repeated) for i in new.interventions]
    pairs, _, _ = _match(before, after, (_IDENTITY[Intervention][0], *_RENAMES[Intervention]))
    renames = {before[i].name: after[j].name for i, j in pairs}
    common = {after[j].name for _, j in pairs} - repeated
    yield from _records("arms", [_bare_arm(a, renames, common) for a in old.arms],
                        [_bare_arm(a, {}, common) for a in new.arms],
                        originals=(old.arms, new.arms))


def _bare_arm(arm: Arm, renames: dict[str, str], common: set[str]) -> Arm:
    links = {renames.get(name, name) for name in arm.interventions} & common
    return replace(arm, interventions=tuple(sorted(links)), dosing=())


def _outcomes(old: Trial, new: Trial) -> Iterator[_Found]:
    yield from _records("outcomes", old.outcomes, new.outcomes)


def _eligibility(old: Trial, new: Trial, budget: Budget) -> Iterator[_Found]:
    a, b = old.eligibility, new.eligibility
    for f in fields(a):
        before, after = getattr(a, f.name), getattr(b, f.name)
        if f.name in CRITERIA_SECTIONS:
            yield from _criteria(f"eligibility.{f.name}", before, after, budget)
        elif f.name != "text":
            yield from _value(f"eligibility.{f.name}", before, after)
    same_trees = all(_trees(getattr(a, s)) == _trees(getattr(b, s)) for s in CRITERIA_SECTIONS)
    if same_trees and a.text != b.text:  # only headings or layout changed
        yield _leaf("eligibility.text", a.text, b.text)


# -- criteria ---------------------------------------------------------------------------------


def _trees(criteria: Sequence[Criterion]) -> list[tuple[Any, ...]]:
    """Criteria as content only: ids are positions and thresholds follow from the text."""
    return [(c.text, tuple(_trees(c.children))) for c in criteria]


def _criteria(path: str, old: Sequence[Criterion], new: Sequence[Criterion],
              budget: Budget) -> Iterator[_Found]:
    """Sibling criteria matched by text, then by word similarity; children below their
    parent, but every criterion's path is its section and its own text. People read a
    criterion by its id: the new one, and the old one too when it moved (label), and an edited
    one's numeric bounds compared by meaning (:mod:`ctwatch.bounds`)."""
    section = path.rpartition(".")[2]
    before, after = _trees(old), _trees(new)
    pairs = _pair_by(before, after, (lambda tree: tree[0],))
    _pair_similar(len(before), len(after), pairs, _similarity(before, after), budget)
    for i, j in _in_order(*_unpaired(len(before), len(after), pairs)):
        if i is None:
            yield _Found(f"{path}[{_key(new[j].text)}]", "added", None, new[j].to_dict(), True,
                         label=criterion_label(section, new[j].id))
        elif j is None:
            yield _Found(f"{path}[{_key(old[i].text)}]", "removed", old[i].to_dict(), None, True,
                         label=criterion_label(section, old[i].id))
        else:
            if old[i].text != new[j].text:
                yield _Found(f"{path}[{_key(old[i].text)}]", "changed", old[i].text, new[j].text,
                             wordwise=True, label=criterion_label(section, new[j].id, old[i].id),
                             bounds=bounds.compare(old[i].thresholds, new[j].thresholds,
                                                   exclusion=section == "exclusion"))
            yield from _criteria(path, old[i].children, new[j].children, budget)


def _similarity(old: list[tuple[Any, ...]], new: list[tuple[Any, ...]]
                ) -> Callable[[int, int, Budget], float]:
    """How surely ``old[i]`` and ``new[j]`` are one criterion edited: reworded text over the
    same sub-criteria, or similar wording."""
    words = [tree[0].split() for tree in old], [tree[0].split() for tree in new]
    shapes: dict[tuple[Any, ...], int] = {}  # each list of sub-criteria, numbered once
    kids = ([shapes.setdefault(tree[1], len(shapes)) if tree[1] else None for tree in old],
            [shapes.setdefault(tree[1], len(shapes)) if tree[1] else None for tree in new])

    def similar(i: int, j: int, budget: Budget) -> float:
        if kids[0][i] is not None and kids[0][i] == kids[1][j]:
            return 1.0
        ratio = WordMatcher(words[0][i], words[1][j], budget).ratio()
        return ratio if ratio >= SIMILAR_CRITERION else 0.0

    return similar


# -- lists of records -------------------------------------------------------------------------


def _location_key(location: Location) -> Hashable:
    return location.facility, location.city, location.country


def _location_label(location: Location) -> str:
    parts = [p for p in (location.facility, location.city) if p]
    return ", ".join(parts) or location.country or "(no name)"


#: record type → (identity key, label in paths)
_IDENTITY: dict[type, tuple[Callable[[Any], Hashable], Callable[[Any], str]]] = {
    Arm: (lambda arm: arm.label, lambda arm: arm.label),
    Intervention: (lambda item: (item.type, item.name), lambda item: item.name),
    Outcome: (lambda out: (out.kind, out.measure), lambda out: f"{out.kind}: {out.measure}"),
    Location: (_location_key, _location_label),
    Party: (lambda party: party.name, lambda party: party.name or "(no name)"),
    Contact: (lambda person: person.name, lambda person: person.name or "(no name)"),
    Official: (lambda person: person.name, lambda person: person.name or "(no name)"),
}


#: record type → what stays when only its label, name or measure changed, in order of surety
_RENAMES: dict[type, tuple[Callable[[Any], Hashable], ...]] = {
    Arm: (lambda arm: replace(arm, label=""),),
    Intervention: (lambda item: item.name,  # its type changed
                   lambda item: replace(item, name="", arms=())),
    Outcome: (lambda out: out.measure,  # moved between primary, secondary and other
              lambda out: (out.kind, out.description, out.time_frame)),
}


def _records(path: str, old: Sequence[Any], new: Sequence[Any],
             originals: tuple[Sequence[Any], Sequence[Any]] | None = None) -> Iterator[_Found]:
    """Two lists of records matched by identity; ``originals`` are reported for elements
    added or removed when ``old``/``new`` are trimmed copies used for comparing."""
    first, second = originals or (old, new)
    kind = type((old or new)[0])
    key, label = _IDENTITY[kind]
    was, now = _labels(old, label), _labels(new, label)
    pairs, removed, added = _match(old, new, (key, *_RENAMES.get(kind, ())))
    for i, j in _in_order(pairs, removed, added):
        if i is None:
            yield _Found(f"{path}[{_key(now(j))}]", "added", None, _json(second[j]), True)
        elif j is None:
            yield _Found(f"{path}[{_key(was(i))}]", "removed", _json(first[i]), None, True)
        else:
            yield from _value(f"{path}[{_key(was(i))}]", old[i], new[j])


def _labels(records: Sequence[Any], label: Callable[[Any], str]) -> Callable[[int], str]:
    """The label in paths of ``records[n]``. Arms and interventions whose label the list
    repeats are told apart by their order: "AKB-6548 #1", "AKB-6548 #2"."""
    if not records or type(records[0]) not in (Arm, Intervention):
        return lambda n: label(records[n])
    labels = [label(record) for record in records]
    counts, seen = Counter(labels), Counter[str]()
    numbered = []
    for text in labels:
        seen[text] += 1
        numbered.append(f"{text} #{seen[text]}" if counts[text] > 1 else text)
    return numbered.__getitem__


def _match(old: Sequence[Any], new: Sequence[Any], keys: Sequence[Callable[[Any], Hashable]],
           ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pairs (old index, new index) of the same element: equal ones first, then equal by each
    of ``keys`` in turn. Also the old and new indexes left unpaired."""
    return _unpaired(len(old), len(new), _pair_by(old, new, keys))


def _pair_by(old: Sequence[Any], new: Sequence[Any], keys: Sequence[Callable[[Any], Hashable]],
             ) -> dict[int, int]:
    """{new index: old index} of elements equal, then equal by each key in turn; elements
    alike pair in their order."""
    pairs: dict[int, int] = {}
    for key in (lambda element: element, *keys):
        taken = set(pairs.values())
        free: dict[Hashable, deque[int]] = defaultdict(deque)
        for i in range(len(old)):
            if i not in taken:
                free[key(old[i])].append(i)
        for j, element in enumerate(new):
            if j not in pairs and free.get(key(element)):
                pairs[j] = free[key(element)].popleft()
    return pairs


def _unpaired(old: int, new: int, pairs: dict[int, int]
              ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """The pairs in old order, and the old and new indexes (of ``old`` and ``new`` elements)
    left unpaired."""
    removed = sorted(set(range(old)) - set(pairs.values()))
    added = [j for j in range(new) if j not in pairs]
    return sorted((i, j) for j, i in pairs.items()), removed, added


def _pair_similar(old: int, new: int, pairs: dict[int, int],
                  similar: Callable[[int, int, Budget], float], budget: Budget) -> None:
    """Pair the most similar of the unpaired elements, best score first. They are compared
    nearest first (by rank among the unpaired) while the budget lasts, so that in a list too
    long to compare every pair an element edited in place still finds its edit."""
    taken = set(pairs.values())
    left = [i for i in range(old) if i not in taken]
    right = [j for j in range(new) if j not in pairs]
    scored = []
    try:
        for p, q in _nearest_first(len(left), len(right)):
            budget.spend(COMPARISON_STEPS)
            score = similar(left[p], right[q], budget)
            if score > 0:
                scored.append((-score, left[p], right[q]))
    except OverBudget:
        pass  # the ones not paired are reported removed and added
    for _, i, j in sorted(scored):
        if j not in pairs and i not in taken:
            pairs[j] = i
            taken.add(i)


def _nearest_first(left: int, right: int) -> Iterator[tuple[int, int]]:
    """Every (p, q) with p < left and q < right, by increasing distance |p - q|."""
    for distance in range(max(left, right)):
        yield from ((p, p + distance) for p in range(min(left, right - distance)))
        if distance:
            yield from ((p, p - distance) for p in range(distance, min(left, right + distance)))


def _in_order(pairs: list[tuple[int, int]], removed: list[int],
              added: list[int]) -> list[tuple[int | None, int | None]]:
    """Matched and added elements in the new order, then the removed ones in the old order."""
    present: list[tuple[int | None, int | None]] = [*pairs, *((None, j) for j in added)]
    present.sort(key=lambda pair: pair[1])  # type: ignore[arg-type, return-value]
    return present + [(i, None) for i in removed]


# -- values -----------------------------------------------------------------------------------


def _value(path: str, old: Any, new: Any) -> Iterator[_Found]:
    """Differences between two values of the same field, record or list."""
    if old == new:
        return
    if isinstance(old, Record) and type(old) is type(new):
        for f in fields(old):  # type: ignore[arg-type]
            name = f.name.rstrip("_")
            yield from _value(f"{path}.{name}", getattr(old, f.name), getattr(new, f.name))
    elif isinstance(old, tuple) and isinstance(new, tuple) and path not in WHOLE_LISTS:
        sample = (old or new)[0]
        if isinstance(sample, Record):
            yield from _records(path, old, new)
        else:
            yield from _strings(path, old, new)
    elif path in WHOLE_LISTS and sorted(old) == sorted(new):
        return
    else:
        yield _leaf(path, old, new)


def _strings(path: str, old: Sequence[str], new: Sequence[str]) -> Iterator[_Found]:
    """Lists of names (conditions, keywords, other names, links) compared as sets."""
    before, after = set(old), set(new)
    for value in new:
        if value not in before:
            yield _Found(f"{path}[{_key(value)}]", "added", None, value, True)
    for value in old:
        if value not in after:
            yield _Found(f"{path}[{_key(value)}]", "removed", value, None, True)


def _leaf(path: str, old: Any, new: Any) -> _Found:
    kind = "added" if old is None else "removed" if new is None else "changed"
    return _Found(path, kind, _json(old), _json(new))


def _json(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_json(item) for item in value]
    return value


def _key(text: str) -> str:
    """A label fit for a path: one line, at most KEY_WIDTH characters, brackets balanced."""
    text = " ".join(text.split())
    if len(text) > KEY_WIDTH:
        text = text[: KEY_WIDTH - 1].rstrip() + "…"
    depth = 0
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            break
    if depth:
        text = text.replace("[", "(").replace("]", ")")
    return text


# -- summaries --------------------------------------------------------------------------------


def summary(found: _Found, budget: Budget | None = None) -> str:
    """One human line: ``status.overall: RECRUITING → TERMINATED``."""
    if found.element:
        return f"{found.path}: {found.kind}"
    old, new = found.old, found.new
    long = isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > LONG_TEXT
    if long or found.wordwise:
        return f"{found.path}: {word_summary(old, new, budget)}"
    return f"{found.path}: {_show(old)} → {_show(new)}"


def _show(value: Any) -> str:
    if value is None or value == []:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_show(item) for item in value)
    text = " ".join(str(value).split())
    return text if len(text) <= LONG_TEXT else text[: LONG_TEXT - 1].rstrip() + "…"
