"""Change sets as an Atom feed (RFC 4287), for Outlook and feed readers.

One entry per change set, newest first, titled like an e-mail's subject ("CRITICAL NCT…:
Overall Status → Terminated (Slow accrual) and 6 more changes — <title>"), its summary the
changes in the registry's words; a watched search's change set is one too ("MAJOR search
isatuximab-myeloma: New trial NCT…"). Ids are UUIDs derived from the trial and the two snapshots, so
an entry keeps its id however often the feed is written.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from xml.etree.ElementTree import Element, SubElement, tostring

from ctwatch import __version__
from ctwatch.clock import stamp
from ctwatch.model import ChangeSet, SearchChangeSet
from ctwatch.notify import present
from ctwatch.notify.render import html_fragment

ATOM = "http://www.w3.org/2005/Atom"
FEED_TITLE = "ctwatch: changes to watched ClinicalTrials.gov records"
REGISTRY_URL = "https://clinicaltrials.gov/"
DEFAULT_ENTRIES = 50
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0
_NAMESPACE = uuid.UUID("6f1e7a52-6c0b-4a5e-9d1e-2b6c1f6f3a10")  # ctwatch's own, fixed forever


def atom(change_sets: Sequence[ChangeSet], *, source: str = "ctwatch",
         self_url: str | None = None, title: str = FEED_TITLE) -> bytes:
    """The Atom document of these change sets (newest first). ``source`` (the store) makes
    the feed's own id; ``self_url`` is where the feed is published, if known."""
    feed = Element("feed", {"xmlns": ATOM})
    SubElement(feed, "id").text = _urn("feed", source)
    SubElement(feed, "title").text = title
    SubElement(feed, "updated").text = max(
        (c.created_at for c in change_sets), default=None) or stamp()
    SubElement(SubElement(feed, "author"), "name").text = "ctwatch"
    SubElement(feed, "generator", {"version": __version__}).text = "ctwatch"
    SubElement(feed, "link", {"rel": "alternate", "type": "text/html", "href": REGISTRY_URL})
    if self_url:
        SubElement(feed, "link", {"rel": "self", "type": "application/atom+xml",
                                  "href": self_url})
    for change_set in change_sets:
        _entry(feed, change_set)
    return tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


def entry_id(change_set: ChangeSet) -> str:
    if isinstance(change_set, SearchChangeSet):  # of no snapshot: its search and its id
        return _urn("search-change", f"{change_set.search}:{change_set.id}")
    return _urn("change-set", f"{change_set.nct_id}:{change_set.from_snapshot}:"
                              f"{change_set.to_snapshot}")


def _entry(feed: Element, change_set: ChangeSet) -> None:
    view = present.alert(change_set)
    entry = SubElement(feed, "entry")
    SubElement(entry, "id").text = entry_id(change_set)
    SubElement(entry, "title").text = _xml(f"{view.heading} — {view.title}")
    SubElement(entry, "updated").text = change_set.created_at
    SubElement(entry, "published").text = change_set.created_at
    SubElement(entry, "link", {"rel": "alternate", "type": "text/html",
                               "href": view.compare_url})
    SubElement(entry, "link", {"rel": "related", "type": "text/html",
                               "href": view.record_url})
    SubElement(entry, "category", {"term": view.top_severity, "label": "severity"})
    SubElement(entry, "summary").text = _xml("; ".join(c.line for c in view.changes[:5]) + (
        f"; and {view.count - 5} more" if view.count > 5 else ""))
    SubElement(entry, "content", {"type": "html"}).text = _xml(html_fragment(change_set))


def _xml(text: str) -> str:
    return _NOT_XML.sub("", text)


def _urn(kind: str, name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{kind}:{name}')}"


