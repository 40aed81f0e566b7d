"""Watched searches (issue 17): what config.yaml's ``searches:`` asks for, and what a search's
change — trials that entered it, trials that left it — says.

A search is a registry query (:mod:`ctwatch.queries`) with a stable name. Each check lists its
members (a light projection, a few hundred bytes a trial) and compares them with the members
stored: the first check of a search, or of a search whose definition changed, is its baseline
and alerts no one; after it, the trials that entered and those that left make one
:class:`SearchChangeSet`, alerted like a trial's change set (same outbox, channels, severity
rules: ``search.entered`` and ``search.left``, both major by default). A ``follow: true``
search also watches every member for changes, as if it were listed under ``trials:``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ctwatch import queries
from ctwatch.config import unknown_keys
from ctwatch.errors import ConfigError, UsageError
from ctwatch.fetch import Listed
from ctwatch.labels import wording
from ctwatch.logs import quoted
from ctwatch.model import Change, SearchChangeSet, Severity

SEARCH_KEYS = ("name", "query", "filter", "url", "follow", "notify")
#: a search's name: it names the search in alerts, the store and the command line, where an
#: NCT id must never be mistaken for it
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
ENTERED, LEFT = "search.entered", "search.left"
STUDY_URL = "https://clinicaltrials.gov/study/{nct_id}"
@dataclass(frozen=True)
class SearchEntry:
    """One watched search of ``searches:``."""

    name: str
    query: queries.SearchQuery
    follow: bool = False
    notify: tuple[Any, ...] = ()

    @property
    def whole_registry(self) -> bool:
        return self.query.whole_registry


def search_entries(section: Any) -> Iterator[SearchEntry | ConfigError]:
    """One SearchEntry or problem per item of the ``searches:`` list, in its order; a second
    search of one name is a problem."""
    if section is None:
        return
    if not isinstance(section, list):
        yield ConfigError("must be a list of searches, each with a name: and a query: or url:",
                          key="searches")
        return
    seen: set[str] = set()
    for index, item in enumerate(section):
        key = f"searches[{index}]"
        try:
            entry = _entry(key, item)
        except ConfigError as error:
            yield error
            continue
        if entry.name in seen:
            yield ConfigError(f"a second search named {quoted(entry.name)}", key=f"{key}.name")
            continue
        seen.add(entry.name)
        yield entry


def _entry(key: str, item: Any) -> SearchEntry:
    if not isinstance(item, Mapping):
        raise ConfigError("must be a mapping with name: and query: (or url:)", key=key)
    for problem in unknown_keys(item, SEARCH_KEYS, prefix=f"{key}."):
        raise problem
    name = item.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name) or NAME_IS_ID.fullmatch(name):
        raise ConfigError(f"must be a name of letters, digits, '.', '_' or '-', not an NCT id "
                          f"(got {quoted(name)})", key=f"{key}.name")
    follow = item.get("follow", False)
    if not isinstance(follow, bool):
        raise ConfigError(f"must be true or false (got {quoted(follow)})", key=f"{key}.follow")
    notify = item.get("notify") or []
    if not isinstance(notify, list):
        raise ConfigError("must be a list of channels", key=f"{key}.notify")
    return SearchEntry(name, _query(key, item), follow, tuple(notify))


NAME_IS_ID = re.compile(r"(?i)NCT\d+")


def is_name(value: str) -> bool:
    """Whether a command-line value names a search (else it is meant as an NCT id)."""
    return NAME.fullmatch(value) is not None and NAME_IS_ID.fullmatch(value) is None


def _query(key: str, item: Mapping[str, Any]) -> queries.SearchQuery:
    if "url" in item:
        if "query" in item or "filter" in item:
            raise ConfigError("give either url: or query: (and filter:), not both",
                              key=f"{key}.url")
        url = item["url"]
        if not isinstance(url, str):
            raise ConfigError(f"must be a registry search URL (got {quoted(url)})",
                              key=f"{key}.url")
        return _checked(f"{key}.url", queries.from_url, url)
    if "query" not in item:
        raise ConfigError("missing: the search's query (query: {} watches the whole registry)",
                          key=f"{key}.query")
    for part in ("query", "filter"):
        if not isinstance(item.get(part) or {}, Mapping):
            raise ConfigError("must be a mapping of the registry's parameters", key=f"{key}.{part}")
    return _checked(key, queries.search_query, item.get("query") or {}, item.get("filter"))


def _checked(key: str, build: Any, *args: Any) -> queries.SearchQuery:
    """``build(*args)``; its ValueError as a ConfigError whose key adds the part it names."""
    try:
        return build(*args)
    except ValueError as error:
        text = str(error)
        part, colon, rest = text.partition(": ")
        if colon and re.fullmatch(r"(query|filter)\.[A-Za-z]+", part) and key.endswith("]"):
            raise ConfigError(rest, key=f"{key}.{part}") from None
        raise ConfigError(text, key=key) from None


# -- what a search's change says --------------------------------------------------------------


def member(listed: Listed) -> dict[str, Any]:
    """What an alert says of a trial in a search (JSON: the store and the channels keep it)."""
    return {"nct_id": listed.nct_id, "title": listed.title, "phases": list(listed.phases),
            "status": listed.status, "sponsor": listed.sponsor,
            "first_posted": listed.first_posted,
            "url": STUDY_URL.format(nct_id=listed.nct_id)}


def entered(listed: Listed, severity: Severity, category: str = "search") -> Change:
    """The change of a trial that entered a search (a new registration or one that came into
    its scope)."""
    return Change(path=f"{ENTERED}[{listed.nct_id}]", kind="added", new=member(listed),
                  category=category, severity=severity, label="New trial",
                  summary=f"new trial {listed.nct_id}: {listed.title or '(no title)'}")


def left(nct_id: str, now: Listed | None, before: Mapping[str, Any] | None, why: str,
         severity: Severity, category: str = "search") -> Change:
    """The change of a trial that left a search, with why when the record tells it."""
    known = member(now) if now is not None else dict(before or {}, nct_id=nct_id,
                                                        url=STUDY_URL.format(nct_id=nct_id))
    return Change(path=f"{LEFT}[{nct_id}]", kind="removed", old={**known, "why": why},
                  category=category, severity=severity, label="Left the search",
                  summary=f"{nct_id} left the search: {why}")


def why_left(now: Listed | None, query: queries.SearchQuery, missing: bool) -> str:
    """Why a trial is no longer among a search's results, as far as its record tells."""
    if missing:
        return "no longer in the registry"
    status = now.status if now is not None else None
    filtered = dict(query.filter).get("overallStatus", "")
    if status and filtered and status not in filtered.split(","):
        return f"status now {wording('status', status)}"
    if status == "WITHDRAWN":
        return "withdrawn"
    return "no longer matches the search"


def chosen(change_sets: Sequence[SearchChangeSet], old_ref: str | None,
           new_ref: str | None) -> SearchChangeSet:
    """The change set of a search's (newest first) that ``diff NAME --to`` names: its id, or
    the latest by default; ``--from`` names nothing in a search."""
    if old_ref is not None:
        raise UsageError("a search's changes are one change set each: give --to ID only",
                         option="--from")
    if not change_sets:
        raise UsageError("no changes of this search yet: its members are as first listed")
    if new_ref in (None, "latest"):
        return change_sets[0]
    found = [c for c in change_sets if str(c.id) == new_ref]
    if not found:
        raise UsageError(f"{new_ref!r} is not a change set of this search (see ctwatch "
                         "history NAME)", option="--to")
    return found[0]


# -- what ``ctwatch searches`` lists --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listing:
    """A search as ``ctwatch searches`` shows it: as configured, and as last checked."""

    name: str
    configured: bool  # in config.yaml (else only in the store, from an earlier config)
    follow: bool
    whole_registry: bool
    size: int | None  # members at the last check (None: never checked)
    baseline: str  # "done", "in progress" (an interrupted or redone baseline) or "not yet"
    last_checked: str | None
    last_changed: str | None
    url: str

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def listings(entries: Sequence[SearchEntry], states: Sequence[Any]) -> list[Listing]:
    """Every configured search, then those the store still holds that config.yaml no longer
    names (``states``: the store's :class:`~ctwatch.store.searches.SearchState`)."""
    stored = {state.name: state for state in states}
    found = []
    for entry in entries:
        state = stored.pop(entry.name, None)
        if state is not None and state.definition != entry.query.key:
            state = None  # checked as another search: its next check is a new baseline
        found.append(_listing(entry.name, True, entry.follow, entry.whole_registry,
                              entry.query.page_url, state))
    found += [_listing(name, False, False, False, state.url, state)
              for name, state in sorted(stored.items())]
    return found


def _listing(name: str, configured: bool, follow: bool, whole: bool, url: str,
             state: Any) -> Listing:
    if state is None:
        return Listing(name, configured, follow, whole, None, "not yet", None, None, url)
    baseline = "done" if state.baseline_at else "in progress"
    return Listing(name, configured, follow, whole, state.size, baseline, state.last_checked,
                   state.last_changed, url)
