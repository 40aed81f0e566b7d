"""Change sets as text for people."""

from __future__ import annotations

from ctwatch.model import ChangeSet

STUDY_URL = "https://clinicaltrials.gov/study/{nct_id}"
COMPARE_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=history&a={a}&b={b}"


def links(change_set: ChangeSet) -> dict[str, str]:
    """The record, and the registry's own comparison view when both versions are known."""
    found = {"record": STUDY_URL.format(nct_id=change_set.nct_id)}
    if change_set.from_version is not None and change_set.to_version is not None:
        # The registry's comparison view counts versions from 1; its API counts from 0.
        found["compare"] = COMPARE_URL.format(nct_id=change_set.nct_id,
                                              a=change_set.from_version + 1,
                                              b=change_set.to_version + 1)
    return found


def text(change_set: ChangeSet) -> str:
    """A plain-text summary: the trial, each change with its severity, the links."""
    count = len(change_set.changes)
    lines = [
        f"{change_set.nct_id} — {change_set.title or '(no title)'}",
        f"  {count} change{'s' if count != 1 else ''}, top severity {change_set.top_severity}"
        f" (registry {_version(change_set.from_version, change_set.from_date)} → "
        f"{_version(change_set.to_version, change_set.to_date)})",
    ]
    for change in change_set.changes:
        flags = f" [{', '.join(change.flags)}]" if change.flags else ""
        lines.append(f"  [{change.severity.upper()}] {change.summary}{flags}")
    lines.extend(f"  {name}: {url}" for name, url in links(change_set).items())
    return "\n".join(lines)


def _version(number: int | None, date: str | None) -> str:
    if number is None:
        return date or "?"
    return f"v{number}" + (f" of {date}" if date else "")
