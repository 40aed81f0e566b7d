"""Change sets as messages and pages, from the Jinja2 templates in ``notify/templates``.

Registry text is third-party input. It reaches the templates through ``present``, which shows
control and bidi characters escaped (``present.visible``); HTML templates autoescape every
value; the Markdown templates backslash-escape every value (so a title can not open a link, an
image or raw HTML); nothing the registry says is ever used as template source, so ``{{ }}`` in
a title stays text.

    text(change_set)                   plain text (stdout, ``ctwatch diff``)
    message_text / message_markdown / message_html / subject(change_sets)
                                       one alert about one or more change sets (a digest:
                                       most severe first, after an overview table)
    html_fragment(change_set)          the HTML of one change set, for an Atom entry
    diff_html(change_set)              a standalone HTML page of one change set
    report_html(nct_id, snapshots, change_sets)
                                       a standalone HTML page of a trial's change history
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from ctwatch import __version__
from ctwatch.model import ChangeSet, Snapshot
from ctwatch.notify import present
from ctwatch.notify.present import links, subject

if TYPE_CHECKING:
    from jinja2 import Environment, Template

__all__ = ["diff_html", "html_fragment", "links", "markdown_escape", "message_html",
           "message_markdown", "message_text", "report_html", "subject", "text"]

#: Markdown punctuation that could start markup inside a line (CommonMark backslash escapes)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")
_SPACE = re.compile(r"\s+")


class MarkdownSafe(str):
    """Text the templates made themselves (a link target, a macro's output), not escaped
    again."""


def markdown_escape(value: Any) -> str:
    """A value as inert Markdown text on one line: every markup character escaped."""
    if isinstance(value, MarkdownSafe):
        return value
    if value is None:
        return ""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _SPACE.sub(" ", str(value)))


@cache
def _environment(kind: str) -> Environment:
    # Jinja2 (and the asyncio it imports) only when a message is made, not for every check
    from jinja2 import Environment, PackageLoader, StrictUndefined

    options: dict[str, Any] = {"autoescape": kind == "html"}
    if kind == "markdown":
        options["finalize"] = markdown_escape
    env = Environment(loader=PackageLoader("ctwatch.notify", "templates"),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=False, **options)
    env.filters["url"] = MarkdownSafe
    env.filters["made"] = MarkdownSafe  # a macro's Markdown, its values escaped already
    env.globals.update(version=__version__, severities=("critical", "major", "minor", "info"))
    return env


def _template(kind: str, name: str) -> Template:
    return _environment(kind).get_template(name)


def text(change_set: ChangeSet) -> str:
    """A plain-text summary: the trial, each change with its severity, the links."""
    return message_text([change_set])


def _digest(change_sets: Sequence[ChangeSet]) -> dict[str, Any]:
    """What every alert template is given: the change sets' views, most severe first, their
    top severity, and how many trials they concern (an overview table heads a digest)."""
    alerts = present.ordered(change_sets)
    return {"alerts": alerts, "top": present.top(change_sets),
            "trials": len({a.nct_id for a in alerts})}


def message_text(change_sets: Sequence[ChangeSet]) -> str:
    """The plain-text body of an alert about these change sets."""
    return _template("text", "alert.txt.j2").render(**_digest(change_sets)).rstrip("\n")


def message_markdown(change_sets: Sequence[ChangeSet]) -> str:
    """The Markdown body of an alert (chat channels that take Markdown)."""
    return _template("markdown", "alert.md.j2").render(**_digest(change_sets)).rstrip("\n")


def message_html(change_sets: Sequence[ChangeSet]) -> str:
    """The HTML body of an alert (e-mail, chat channels that take HTML): a whole document."""
    return _template("html", "alert.html.j2").render(**_digest(change_sets),
                                                     subject=subject(change_sets))


def html_fragment(change_set: ChangeSet) -> str:
    """The HTML of one change set without a page around it (an Atom entry's content)."""
    return _template("html", "fragment.html.j2").render(alert=present.alert(change_set))


@dataclass(frozen=True, slots=True)
class Version:
    """One entry of a page's timeline: a snapshot and the change set that led to it."""

    label: str
    registry_date: str | None
    fetched_at: str | None
    source: str | None
    alert: present.AlertView | None  # None for the first snapshot, or one with no changes


def diff_html(change_set: ChangeSet) -> str:
    """A standalone HTML page of one change set (``ctwatch diff --format html``)."""
    version = Version(present.version_label(change_set.to_version, change_set.to_date),
                      change_set.to_date, None, None, present.alert(change_set))
    return _page(change_set.nct_id, present.title(change_set), [version],
                 heading="Changes")


def report_html(nct_id: str, snapshots: Sequence[Snapshot],
                change_sets: Sequence[ChangeSet]) -> str:
    """A standalone HTML page of a trial's change history: every snapshot, newest first, with
    the changes that led to it."""
    by_target = {change_set.to_snapshot: change_set for change_set in change_sets}
    versions = [Version(present.version_label(s.registry_version, s.registry_date),
                        s.registry_date, s.fetched_at, s.source,
                        present.alert(by_target[s.id]) if s.id in by_target else None)
                for s in reversed(snapshots)]
    latest = snapshots[-1].trial.brief_title if snapshots else None
    name = present.line(latest or "") or "(no title)"
    return _page(nct_id, name, versions, heading="Change history")


def _page(nct_id: str, name: str, versions: Sequence[Version], heading: str) -> str:
    return _template("html", "page.html.j2").render(
        nct_id=nct_id, title=name, heading=heading, versions=versions,
        record_url=present.STUDY_URL.format(nct_id=nct_id),
        history_url=present.HISTORY_URL.format(nct_id=nct_id),
        changed=sum(1 for v in versions if v.alert))
