"""What an alert says, whatever its format: a change set as a view for the templates.

Every format (plain text, Markdown, HTML, Atom) is rendered from the same view, so they never
disagree on what changed: the trial, the changes grouped by severity with old → new (a word
diff for long texts, by :mod:`ctwatch.wording` like each change's summary line), flags spelled
out, registry versions and dates, and the links.

Registry text enters the view through :func:`line` (``logs.visible``) only: a control
character (ESC, which a terminal obeys; CR; a bidi override, which reorders what a reader
sees) is shown as its escape, ``\x1b`` or ``\u202e``, in every format. The JSON channels do
not use the view and keep the exact text (JSON escapes it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ctwatch.limits import SUMMARY_STEPS
from ctwatch.logs import visible
from ctwatch.model import Change, ChangeSet, Severity
from ctwatch.wording import LONG_TEXT, Budget, Word, word_diff

STUDY_URL = "https://clinicaltrials.gov/study/{nct_id}"
HISTORY_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=history"
COMPARE_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=history&a={a}&b={b}"
CONTEXT_WORDS = 8  # unchanged words kept on each side of an edit in a word diff
TITLE_WIDTH = 80  # characters of a trial title in a subject line

#: flags of a change (model.Change.flags), spelled out for people
FLAG_TEXT = {
    "outcome_changed_after_start": "Outcome changed after study start: a primary outcome was "
                                   "changed after the study had started.",
}


@dataclass(frozen=True, slots=True)
class ChangeView:
    path: str
    kind: str  # added | removed | changed
    severity: Severity
    summary: str  # one line, as the differ wrote it
    old: str  # the value shown; "" for none
    new: str
    words: tuple[Word, ...]  # a word diff when a long text changed, else ()
    notes: tuple[str, ...]  # flags spelled out


@dataclass(frozen=True, slots=True)
class Group:
    severity: Severity
    changes: tuple[ChangeView, ...]


@dataclass(frozen=True, slots=True)
class AlertView:
    """One change set of one trial, ready for a template."""

    id: int
    nct_id: str
    title: str
    top_severity: Severity
    count: int
    groups: tuple[Group, ...]
    from_version: str  # "v12 of 2022-06-15", or the date alone when the number is unknown
    to_version: str
    created_at: str
    record_url: str
    compare_url: str  # the registry's comparison view (its history tab if versions unknown)
    compared: bool  # whether compare_url selects the two versions
    flagged: tuple[str, ...]  # every note of every change, once

    @property
    def changes(self) -> tuple[ChangeView, ...]:
        return tuple(change for group in self.groups for change in group.changes)


def links(change_set: ChangeSet) -> dict[str, str]:
    """The record, and the registry's own comparison view when both versions are known."""
    found = {"record": STUDY_URL.format(nct_id=change_set.nct_id)}
    if change_set.from_version is not None and change_set.to_version is not None:
        # The registry's comparison view counts versions from 1; its API counts from 0.
        found["compare"] = COMPARE_URL.format(nct_id=change_set.nct_id,
                                              a=change_set.from_version + 1,
                                              b=change_set.to_version + 1)
    return found


def alert(change_set: ChangeSet) -> AlertView:
    """The view of one change set."""
    found = links(change_set)
    budget = Budget(SUMMARY_STEPS)  # one for all the texts of the alert, as for one diff
    views = [change_view(change, budget) for change in change_set.changes]
    groups = tuple(Group(severity, tuple(v for v in views if v.severity == severity))
                   for severity in reversed(Severity))
    return AlertView(
        id=change_set.id, nct_id=change_set.nct_id, title=title(change_set),
        top_severity=change_set.top_severity, count=len(views),
        groups=tuple(group for group in groups if group.changes),
        from_version=version_label(change_set.from_version, change_set.from_date),
        to_version=version_label(change_set.to_version, change_set.to_date),
        created_at=change_set.created_at, record_url=found["record"],
        compare_url=found.get("compare") or HISTORY_URL.format(nct_id=change_set.nct_id),
        compared="compare" in found,
        flagged=tuple(dict.fromkeys(note for view in views for note in view.notes)))


def line(text: str) -> str:
    """Registry text on one line: white space collapsed, controls escaped."""
    return visible(" ".join(text.split()))


def title(change_set: ChangeSet) -> str:
    return line(change_set.title or "") or "(no title)"


def version_label(number: int | None, date: str | None) -> str:
    if number is None:
        return line(date or "") or "?"
    return f"v{number}" + (f" of {line(date)}" if date else "")


def change_view(change: Change, budget: Budget | None = None) -> ChangeView:
    old, new = shown(change.old), shown(change.new)
    long = (change.kind == "changed" and isinstance(change.old, str)
            and isinstance(change.new, str) and max(len(old), len(new)) > LONG_TEXT)
    return ChangeView(
        path=line(change.path), kind=change.kind, severity=change.severity,
        summary=line(change.summary), old=old, new=new,
        words=word_diff(old, new, CONTEXT_WORDS, budget) if long else (),
        notes=tuple(FLAG_TEXT.get(flag, flag.replace("_", " ")) for flag in change.flags))


def top(change_sets: Iterable[ChangeSet]) -> Severity:
    """The top severity of several change sets."""
    return max((change_set.top_severity for change_set in change_sets), default=Severity.INFO)


def subject(change_sets: Sequence[ChangeSet]) -> str:
    """A subject line naming the trial(s) and the top severity."""
    severity = top(change_sets).upper()
    if len(change_sets) == 1:
        [change_set] = change_sets
        name = title(change_set)
        if len(name) > TITLE_WIDTH:
            name = name[: TITLE_WIDTH - 1].rstrip() + "…"
        return f"[ctwatch] {severity}: {change_set.nct_id} changed — {name}"
    trials = list(dict.fromkeys(change_set.nct_id for change_set in change_sets))
    named = ", ".join(trials[:5]) + (f" and {len(trials) - 5} more" if len(trials) > 5 else "")
    plural = "s" if len(trials) > 1 else ""
    return f"[ctwatch] {severity}: {len(change_sets)} changes in {len(trials)} trial{plural}: " \
           f"{named}"


# -- values -----------------------------------------------------------------------------------


def shown(value: Any) -> str:
    """A JSON value of a change as one line for people; "" for none."""
    if value is None or value == [] or value == {}:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(text for text in (shown(item) for item in value) if text)
    if isinstance(value, dict):
        return _element(value)
    return line(str(value))


def _element(value: dict[str, Any]) -> str:
    """A whole list element (an added or removed criterion, arm, outcome…) in a few words."""
    if value.get("text"):  # a criterion
        return shown(value["text"])
    if value.get("label"):  # an arm
        return shown(value["label"])
    if value.get("measure"):  # an outcome
        frame = shown(value.get("time_frame"))
        return shown(value["measure"]) + (f" (time frame: {frame})" if frame else "")
    if value.get("facility") or value.get("city"):  # a location
        return ", ".join(shown(value.get(k)) for k in ("facility", "city", "country")
                         if value.get(k))
    if value.get("name"):  # an intervention, a person, an organisation
        kind = shown(value.get("type"))
        return shown(value["name"]) + (f" ({kind})" if kind else "")
    return "; ".join(f"{key}: {shown(item)}" for key, item in value.items()
                     if shown(item) and not isinstance(item, dict | list))
