"""What an alert says, whatever its format: a change set as a view for the templates.

Every format (plain text, Markdown, HTML, Atom) is rendered from the same view, so they never
disagree on what changed: the trial, the changes grouped by severity, each named by the
registry's label for its field with its values in the registry's wording
(:mod:`ctwatch.labels`: "Overall Status: Recruiting → Active, not recruiting"), an edited
criterion whole, old and new, with the changed words marked and its numeric bounds compared by
meaning, a long text as a word diff (by :mod:`ctwatch.wording`, like each change's summary
line), flags spelled out, registry versions and dates, and the links. The machine fields
(``path``, ``old``, ``new``) stay as they are in the JSON channels, which do not use the view.

Registry text enters the view through :func:`line` (``logs.visible``) only: a control
character (ESC, which a terminal obeys; CR; a bidi override, which reorders what a reader
sees) is shown as its escape, ``\x1b`` or ``\u202e``, in every format. The JSON channels keep
the exact text (JSON escapes it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ctwatch import bounds, labels
from ctwatch.labels import wording
from ctwatch.limits import SUMMARY_STEPS
from ctwatch.logs import visible
from ctwatch.model import Change, ChangeSet, SearchChangeSet, Severity
from ctwatch.notify.values import detail, element_text, shown
from ctwatch.wording import LONG_TEXT, Budget, Word, word_diff, word_summary

__all__ = ["AlertView", "ChangeView", "Group", "alert", "change_view", "finding_view", "line",
           "links", "ordered", "posts_results", "shown", "subject", "title", "top", "version_label",
           "visible"]

STUDY_URL = "https://clinicaltrials.gov/study/{nct_id}"
HISTORY_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=history"
COMPARE_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=history&a={a}&b={b}"
RESULTS_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=results"
CONTEXT_WORDS = 8  # unchanged words kept on each side of an edit in a word diff
WHOLE_TEXT = 400  # characters: a text this long or shorter is shown whole, old and new
TEST_FLAG = "test"  # a change of a sample alert (ctwatch notify --test), not of the registry
HEADLINE_WIDTH = 100  # characters of the change a subject line names, before "…"
DIGEST_NAMES = 5  # trials a digest's subject names

#: flags of a change (model.Change.flags), spelled out for people
FLAG_TEXT = {
    "outcome_changed_after_start": "Outcome changed after study start: a primary outcome was "
                                   "changed after the study had started.",
    TEST_FLAG: "A test alert (ctwatch notify --test): nothing changed in the registry; this "
               "shows how alerts read on this channel.",
}
#: a milestone's finding → what its date is, in its headline ("Results overdue (due …)")
FINDING_DATE = {"verification-lapsed": "last verified"}


@dataclass(frozen=True, slots=True)
class ChangeView:
    path: str  # the machine path, as in the JSON
    label: str  # the field in the registry's words: "Overall Status", "Inclusion criterion 5"
    kind: str  # added | removed | changed, or finding (a compliance milestone's)
    severity: Severity
    line: str  # the change in one line: "Overall Status: Recruiting → Active, not recruiting"
    headline: str  # the change in a few words, for a subject: "Overall Status → Terminated"
    old: str  # the value in the registry's wording; "" for none
    new: str
    words: tuple[Word, ...]  # a long text: its word diff, unchanged stretches cut, else ()
    was: tuple[Word, ...]  # a text shown whole: the old one, its removed words "del", else ()
    now: tuple[Word, ...]  # and the new one, its added words "ins"
    bounds: tuple[str, ...]  # an edited criterion's numeric bounds compared, in words
    notes: tuple[str, ...]  # flags spelled out
    link: str  # where to read more (the record's posted results), or ""


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
    headline: str  # its most severe change in a few words, with why the study stopped
    from_version: str  # "v12 of 2022-06-15", or the date alone when the number is unknown
    to_version: str
    created_at: str
    record_url: str
    compare_url: str  # the registry's comparison view (its history tab if versions unknown)
    compared: bool  # whether compare_url selects the two versions
    results_url: str  # the record's results, when this change set posted them; else ""
    flagged: tuple[str, ...]  # every note of every change, once
    milestone: str = ""  # a compliance milestone's alert: its key (from and to one version)
    test: bool = False  # a sample alert of ctwatch notify --test
    search: str = ""  # a watched search's alert (trials that entered and left): its name

    @property
    def changes(self) -> tuple[ChangeView, ...]:
        return tuple(change for group in self.groups for change in group.changes)

    @property
    def heading(self) -> str:
        """"CRITICAL NCT04083898: Overall Status → Terminated (Slow accrual) and 6 more
        changes": a subject line or a feed entry's title, without the "[ctwatch]"."""
        more = 0 if self.search else self.count - 1  # a search's headline counts its own
        tail = f" and {more} more change{'s' if more > 1 else ''}" if more > 0 else ""
        test = "TEST " if self.test else ""
        return f"{test}{self.top_severity.upper()} {self.nct_id}: {self.headline}{tail}"


def links(change_set: ChangeSet) -> dict[str, str]:
    """The record, and the registry's own comparison view when both versions are known."""
    found = {"record": STUDY_URL.format(nct_id=change_set.nct_id)}
    if (change_set.from_version is not None and change_set.to_version is not None
            and change_set.from_snapshot != change_set.to_snapshot):  # a milestone: one version
        # The registry's comparison view counts versions from 1; its API counts from 0.
        found["compare"] = COMPARE_URL.format(nct_id=change_set.nct_id,
                                              a=change_set.from_version + 1,
                                              b=change_set.to_version + 1)
    return found


def alert(change_set: ChangeSet) -> AlertView:
    """The view of one change set."""
    if isinstance(change_set, SearchChangeSet):
        return search_alert(change_set)
    found = links(change_set)
    budget = Budget(SUMMARY_STEPS)  # one for all the texts of the alert, as for one diff
    views = [change_view(change, budget, change_set.nct_id) for change in change_set.changes]
    groups = tuple(Group(severity, tuple(v for v in views if v.severity == severity))
                   for severity in reversed(Severity))
    groups = tuple(group for group in groups if group.changes)
    return AlertView(
        id=change_set.id, nct_id=change_set.nct_id, title=title(change_set),
        top_severity=change_set.top_severity, count=len(views), groups=groups,
        headline=headline(change_set, groups[0].changes[0] if groups else None),
        from_version=version_label(change_set.from_version, change_set.from_date),
        to_version=version_label(change_set.to_version, change_set.to_date),
        created_at=change_set.created_at, record_url=found["record"],
        compare_url=found.get("compare") or HISTORY_URL.format(nct_id=change_set.nct_id),
        compared="compare" in found,
        results_url=next((view.link for view in views if view.link), ""),
        flagged=tuple(dict.fromkeys(note for view in views for note in view.notes)),
        milestone=change_set.milestone or "",
        test=any(TEST_FLAG in change.flags for change in change_set.changes))


def search_alert(change_set: SearchChangeSet) -> AlertView:
    """The view of a search's change set: each trial that entered or left, with its link."""
    views = [member_view(change) for change in change_set.changes]
    groups = tuple(Group(severity, tuple(v for v in views if v.severity == severity))
                   for severity in reversed(Severity))
    came = sum(view.kind == "added" for view in views)
    went = len(views) - came
    said = [f"{came} new trial{'s' if came != 1 else ''}" if came else "",
            f"{went} left" if went else ""]
    search, url = change_set.search, change_set.search_url
    return AlertView(
        id=change_set.id, nct_id=f"search {search}", title=", ".join(s for s in said if s),
        top_severity=change_set.top_severity, count=len(views),
        groups=tuple(group for group in groups if group.changes),
        headline=views[0].headline if len(views) == 1 else ", ".join(s for s in said if s),
        from_version="", to_version="", created_at=change_set.created_at, record_url=url,
        compare_url=url, compared=False, results_url="", flagged=(), search=search)


def member_view(change: Change) -> ChangeView:
    """A trial that entered or left a search: "New trial: NCT05… — title (Phase 2,
    Recruiting, Sponsor; first posted 2026-11-30)"."""
    label = line(change.label)
    trial = change.new if change.kind == "added" else change.old
    trial = trial if isinstance(trial, dict) else {}
    nct_id = line(str(trial.get("nct_id") or ""))
    facts = [wording("phase", trial.get("phases") or []), wording("status", trial.get("status")),
             str(trial.get("sponsor") or "")]
    posted = f"first posted {trial['first_posted']}" if trial.get("first_posted") else ""
    about = "; ".join(part for part in (", ".join(line(f) for f in facts if f), line(posted))
                      if part)
    why = line(str(trial.get("why") or ""))
    text = f"{nct_id} — {line(str(trial.get('title') or '')) or '(no title)'}"
    text += f" ({about})" if about else ""
    text += f": {why}" if why else ""
    return ChangeView(
        path=line(change.path), label=label, kind=change.kind, severity=change.severity,
        line=f"{label}: {text}", headline=f"{label} {nct_id}" + (f" ({why})" if why else ""),
        old=text if change.kind == "removed" else "", new=text if change.kind == "added" else "",
        words=(), was=(), now=(), bounds=(), notes=(),
        link=STUDY_URL.format(nct_id=nct_id) if nct_id else "")


def ordered(change_sets: Sequence[ChangeSet]) -> list[AlertView]:
    """The views of a digest's change sets, most severe first (else in the order given)."""
    views = [alert(change_set) for change_set in change_sets]
    return sorted(views, key=lambda view: view.top_severity, reverse=True)


def line(text: str) -> str:
    """Registry text on one line: white space collapsed, controls escaped."""
    return visible(" ".join(text.split()))


def title(change_set: ChangeSet) -> str:
    return line(change_set.title or "") or "(no title)"


def version_label(number: int | None, date: str | None) -> str:
    if number is None:
        return line(date or "") or "?"
    return f"v{number}" + (f" of {line(date)}" if date else "")


# -- one change -------------------------------------------------------------------------------


def change_view(change: Change, budget: Budget | None = None, nct_id: str = "") -> ChangeView:
    label = line(change.label or labels.label(change.path, change.old, change.new))
    if change.category == "compliance" and isinstance(change.new, dict):
        return finding_view(change, label)
    kind_of_value = labels.value_kind(change.path)
    old, new = shown(change.old, kind_of_value), shown(change.new, kind_of_value)
    texts = (change.kind == "changed" and isinstance(change.old, str)
             and isinstance(change.new, str))
    criterion = labels.criterion_section(change.path) is not None
    long = texts and max(len(old), len(new)) > LONG_TEXT
    whole = texts and (criterion or (long and max(len(old), len(new)) <= WHOLE_TEXT))
    was, now = _whole(old, new, budget) if whole else ((), ())
    said = tuple(line(bounds.describe(bound, change.old or "", change.new or ""))
                 for bound in change.bounds)
    posted = bool(nct_id) and posts_results(change)
    return ChangeView(
        path=line(change.path), label=label, kind=change.kind, severity=change.severity,
        line=_line(change, label, old, new, said, whole, long, budget),
        headline=_headline(change, label, old, new, said, whole or long),
        old=old, new=new,
        words=word_diff(old, new, CONTEXT_WORDS, budget) if long and not whole else (),
        was=was, now=now, bounds=said,
        notes=tuple(FLAG_TEXT.get(flag, flag.replace("_", " ")) for flag in change.flags),
        link=RESULTS_URL.format(nct_id=nct_id) if posted else "")


def finding_view(change: Change, label: str) -> ChangeView:
    """A compliance milestone's finding (kind "finding"): what it says and the rule it comes
    from, "Results overdue: due 2024-10-27, 435 days ago, none submitted (42 CFR 11.44(a); …)"."""
    finding = change.new if isinstance(change.new, dict) else {}
    text = line(change.summary or str(finding.get("summary") or ""))
    rule = line(str(finding.get("rule") or ""))
    said = f"{text} ({rule})" if rule else text
    day = line(str(finding.get("date") or ""))
    what = FINDING_DATE.get(str(finding.get("finding")), "due")
    return ChangeView(
        path=line(change.path), label=label, kind="finding", severity=change.severity,
        line=f"{label}: {said}", headline=f"{label} ({what} {day})" if day else label,
        old="", new=said, words=(), was=(), now=(), bounds=(),
        notes=tuple(FLAG_TEXT.get(flag, flag.replace("_", " ")) for flag in change.flags),
        link="")


def posts_results(change: Change) -> bool:
    """Whether the change is the record's results appearing: "Has Results" becoming Yes, or a
    "Results First Posted" date given (issue 16)."""
    if change.path == "status.has_results":
        return change.new is True
    return change.path == "status.results_first_posted" and not change.old and bool(change.new)


def _whole(old: str, new: str, budget: Budget | None) -> tuple[tuple[Word, ...], ...]:
    """Both texts whole, the words removed from the old one and added to the new one marked."""
    words = word_diff(old, new, max(len(old), len(new)), budget)
    was = tuple(word for word in words if word.op in ("same", "del"))
    now = tuple(word for word in words if word.op in ("same", "ins"))
    return (was, now) if words else ((), ())


def _line(change: Change, label: str, old: str, new: str, said: tuple[str, ...], whole: bool,
          long: bool, budget: Budget | None) -> str:
    if change.kind in ("added", "removed") and _element(change):
        more = detail(change.new if change.kind == "added" else change.old)
        if labels.criterion_section(change.path) is not None:
            return f"{label} {change.kind}: {more}" if more else f"{label} {change.kind}"
        return f"{label} {change.kind}" + (f" ({line(more)})" if more else "")
    if said:
        return f"{label}: {'; '.join(said)}"
    if whole:
        return f"{label} changed"
    if long:
        prefix = f"{change.path}: "
        summary = change.summary or ""
        words = summary[len(prefix):] if summary.startswith(prefix) else word_summary(
            old, new, budget)
        return f"{label}: {line(words)}"
    if posts_results(change):
        return f"{label}: {old or '(none)'} → {new} (results posted)"
    return f"{label}: {old or '(none)'} → {new or '(none)'}"


def _headline(change: Change, label: str, old: str, new: str, said: tuple[str, ...],
              text: bool) -> str:
    """The change in a few words: "Overall Status → Terminated", "Arm: A added"."""
    if change.kind in ("added", "removed") and _element(change):
        found = f"{label} {change.kind}"
    elif posts_results(change):
        found = "Results posted"
    elif said:
        found = f"{label}: {said[0]}"
    elif text:
        found = f"{label} changed"
    elif not new:
        found = f"{label} removed"
    else:
        found = f"{label} → {new}"
    return found if len(found) <= HEADLINE_WIDTH else found[: HEADLINE_WIDTH - 1].rstrip() + "…"


def _element(change: Change) -> bool:
    """Whether the change adds or removes a whole element of a list."""
    return labels.tokens(change.path)[-1].startswith("[")


# -- subjects ---------------------------------------------------------------------------------


def headline(change_set: ChangeSet, first: ChangeView | None) -> str:
    """The most severe change in a few words; a study that stopped says why, when the same
    change set gives the reason: "Overall Status → Terminated (Slow accrual)"."""
    if first is None:
        return "no change"
    why = next((change.new for change in change_set.changes
                if change.path == "status.why_stopped" and isinstance(change.new, str)), None)
    if first.path == "status.overall" and why:
        return f"{first.headline} ({element_text(why, width=60)})"
    return first.headline


def top(change_sets: Iterable[ChangeSet]) -> Severity:
    """The top severity of several change sets."""
    return max((change_set.top_severity for change_set in change_sets), default=Severity.INFO)


def subject(change_sets: Sequence[ChangeSet]) -> str:
    """A subject line saying what changed: ``[ctwatch] CRITICAL NCT04083898: Overall Status →
    Terminated (Slow accrual) and 6 more changes``; a digest's names its most severe change
    set and how many more there are, in which trials."""
    if not change_sets:
        return "[ctwatch] no changes"
    views = ordered(change_sets)
    first = views[0]
    if len(views) == 1:
        return f"[ctwatch] {first.heading}"
    others = list(dict.fromkeys(view.nct_id for view in views[1:]))
    named = ", ".join(others[:DIGEST_NAMES]) + (
        f" and {len(others) - DIGEST_NAMES} more" if len(others) > DIGEST_NAMES else "")
    more = len(views) - 1
    return (f"[ctwatch] {first.top_severity.upper()} {first.nct_id}: {first.headline} — and "
            f"{more} more change set{'s' if more > 1 else ''} ({named})")
