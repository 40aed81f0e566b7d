"""The store's side of watched searches: their state, their members, their change sets.

A search's members and the change set that says which entered and which left are written in
one transaction with the change set's outbox rows: a check killed at any moment leaves the
search as it was before or after, so that no trial's entry is alerted twice or never.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ctwatch.clock import stamp
from ctwatch.model import Change, SearchChangeSet
from ctwatch.store.rows import IN_CHUNK, insert_alerted
from ctwatch.store.tables import search_changes, search_members, searches

if TYPE_CHECKING:
    from ctwatch.store import Store



@dataclass(frozen=True, slots=True)
class SearchState:
    """A watched search as the store knows it."""

    name: str
    definition: str  # queries.SearchQuery.key of the search it was checked as
    url: str
    baseline_at: str | None  # None: its members are not all known yet
    last_checked: str | None
    last_changed: str | None
    size: int
    cursor: str | None  # the whole registry: records stored up to this last update date


class SearchStore:
    """The searches of one store (``Store.searches``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def state(self, name: str) -> SearchState | None:
        with self._store.transaction(write=False) as conn:
            row = conn.execute(sa.select(searches).where(searches.c.name == name)).first()
        return SearchState(**row._asdict()) if row else None

    def states(self) -> list[SearchState]:
        with self._store.transaction(write=False) as conn:
            found = conn.execute(sa.select(searches).order_by(searches.c.name)).all()
        return [SearchState(**row._asdict()) for row in found]

    def members(self, name: str) -> dict[str, dict[str, Any] | None]:
        """The search's members: NCT id → what its alert said of it (None: not kept)."""
        query = sa.select(search_members.c.nct_id, search_members.c.member).where(
            search_members.c.search == name)
        with self._store.transaction(write=False) as conn:
            return {row.nct_id: json.loads(row.member) if row.member else None
                    for row in conn.execute(query)}

    def member_ids(self, names: Iterable[str]) -> set[str]:
        """The members of any of these searches."""
        wanted = list(names)
        if not wanted:
            return set()
        query = sa.select(search_members.c.nct_id).where(search_members.c.search.in_(wanted))
        with self._store.transaction(write=False) as conn:
            return set(conn.execute(query).scalars())

    def begin(self, name: str, definition: str, url: str) -> None:
        """A search checked for the first time, or as a new definition: its members are
        forgotten and its baseline begins."""
        with self._store.transaction() as conn:
            conn.execute(search_members.delete().where(search_members.c.search == name))
            values = {"definition": definition, "url": url, "baseline_at": None,
                      "last_checked": None, "last_changed": None, "size": 0, "cursor": None}
            if conn.execute(sa.select(searches.c.name).where(searches.c.name == name)).first():
                conn.execute(searches.update().where(searches.c.name == name).values(**values))
            else:
                conn.execute(searches.insert().values(name=name, **values))

    def record(self, name: str, entered: Mapping[str, Mapping[str, Any] | None],
               left: Sequence[str], changes: Sequence[Change], channels: Sequence[str], *,
               baseline: bool = False, cursor: str | None = None) -> int | None:
        """Members that entered and left, and the change set saying so (none without
        ``changes``) with its alert on ``channels``, in one transaction. ``baseline``: the
        members are now all known; ``cursor``: the whole registry was stored up to that date.
        Returns the change set's id."""
        moment = stamp()
        with self._store.transaction() as conn:
            _add(conn, name, entered, moment)
            gone = sum(conn.execute(search_members.delete().where(
                search_members.c.search == name,
                search_members.c.nct_id.in_(list(left[start:start + IN_CHUNK])))).rowcount
                for start in range(0, len(left), IN_CHUNK))
            change_id = insert_alerted(conn, search_changes, "search_change", changes,
                                       channels, "created_at", search=name) if changes else None
            _update(conn, name, moment, grown=len(entered) - gone, changed=bool(changes),
                    baseline=baseline, cursor=cursor)
            return change_id

    def change_set(self, change_id: int) -> SearchChangeSet:
        with self._store.transaction(write=False) as conn:
            return load(conn, change_id)

    def change_sets(self, name: str | None = None,
                    limit: int | None = None) -> list[SearchChangeSet]:
        """A search's change sets (every search's: none named), newest first."""
        query = sa.select(search_changes.c.id).order_by(search_changes.c.id.desc()).limit(limit)
        if name is not None:
            query = query.where(search_changes.c.search == name)
        with self._store.transaction(write=False) as conn:
            return [load(conn, ident) for ident in conn.execute(query).scalars()]


def _add(conn: Connection, name: str, entered: Mapping[str, Mapping[str, Any] | None],
         moment: str) -> None:
    items = [{"search": name, "nct_id": nct_id, "entered_at": moment,
              "member": json.dumps(member, ensure_ascii=False) if member else None}
             for nct_id, member in entered.items()]
    for start in range(0, len(items), IN_CHUNK):
        conn.execute(search_members.insert(), items[start:start + IN_CHUNK])


def _update(conn: Connection, name: str, moment: str, *, grown: int, changed: bool,
            baseline: bool, cursor: str | None) -> None:
    # the size follows the rows added and removed: counting the whole registry's members
    # again for each page of its baseline would cost more than the page
    values: dict[str, Any] = {"last_checked": moment, "size": searches.c.size + grown}
    if changed:
        values["last_changed"] = moment
    if baseline:
        values["baseline_at"] = moment
    if cursor is not None:
        values["cursor"] = cursor
    conn.execute(searches.update().where(searches.c.name == name).values(**values))


def load(conn: Connection, change_id: int) -> SearchChangeSet:
    """A search's change set, as its alert shows it."""
    row = conn.execute(sa.select(search_changes, searches.c.url)
                       .join(searches, searches.c.name == search_changes.c.search)
                       .where(search_changes.c.id == change_id)).one()
    return SearchChangeSet(
        id=row.id, nct_id="", title=f"Search {row.search}", from_snapshot=0, to_snapshot=0,
        from_version=None, to_version=None, from_date=None, to_date=None,
        created_at=row.created_at,
        changes=tuple(Change.from_dict(c) for c in json.loads(row.changes)),
        search=row.search, search_url=row.url)
