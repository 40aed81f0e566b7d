"""What ``ctwatch export`` reads of the store, streamed in NCT-id order.

Each reader yields rows as the database sends them, ``FETCH_ROWS`` at a time (SQLAlchemy's
``yield_per``: a server-side cursor on PostgreSQL, SQLite's own stepping), so that memory
stays flat whatever the number of trials; none of them loads every snapshot at once. The
order comes from the index on ``nct_id`` (a latest snapshot is one that no later snapshot of
its trial follows), not from sorting the trials' JSON. Named trials are read 900 ids a
statement, in NCT-id order. A caller that wants every reader to see the same store opens one
``Store.transaction(write=False)`` around them.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ctwatch.store import Store
from ctwatch.store.rows import IN_CHUNK
from ctwatch.store.tables import change_sets, snapshots

FETCH_ROWS = 100  # rows a fetch brings: 100 latest trials are a few MB of JSON


@dataclass(frozen=True, slots=True)
class Latest:
    """A trial's latest snapshot as an export reads it: the trial as stored, and the
    registry's bytes when a parser other than ``parser_version`` stored it (to re-parse)."""

    snapshot_id: int
    nct_id: str
    fetched_at: str
    parser_version: int
    trial: str  # the trial's JSON text, as stored
    raw: bytes | None  # only for a snapshot of another parser version


def latest(db: Store, nct_ids: Sequence[str] | None, parser_version: int) -> Iterator[Latest]:
    """The latest snapshot of every stored trial (``nct_ids`` None) or of the trials named."""
    later = snapshots.alias("later")
    stale = snapshots.c.parser_version != parser_version
    query = (sa.select(snapshots.c.id, snapshots.c.nct_id, snapshots.c.fetched_at,
                       snapshots.c.parser_version, snapshots.c.trial,
                       sa.case((stale, snapshots.c.raw), else_=sa.null()).label("raw"))
             .where(~sa.exists().where(later.c.nct_id == snapshots.c.nct_id,
                                       later.c.id > snapshots.c.id))
             .order_by(snapshots.c.nct_id))
    for row in _stream(db, query, snapshots.c.nct_id, nct_ids):
        yield Latest(row.id, row.nct_id, row.fetched_at, row.parser_version, row.trial,
                     zlib.decompress(row.raw) if row.raw is not None else None)


def snapshot_rows(db: Store, nct_ids: Sequence[str] | None) -> Iterator[dict[str, Any]]:
    """Every snapshot's metadata (not its trial), by trial, oldest first."""
    shown = [column for column in snapshots.c if column.name not in ("trial", "raw")]
    query = sa.select(*shown).order_by(snapshots.c.nct_id, snapshots.c.id)
    for row in _stream(db, query, snapshots.c.nct_id, nct_ids):
        yield dict(row._mapping)


def change_set_rows(db: Store, nct_ids: Sequence[str] | None) -> Iterator[dict[str, Any]]:
    """Every change set, by trial, oldest first, with the registry version and date of its two
    snapshots; ``changes`` is the JSON text stored."""
    old, new = snapshots.alias("old"), snapshots.alias("new")
    query = (sa.select(change_sets.c.id, change_sets.c.nct_id, change_sets.c.from_snapshot,
                       change_sets.c.to_snapshot,
                       old.c.registry_version.label("from_version"),
                       new.c.registry_version.label("to_version"),
                       old.c.registry_date.label("from_date"),
                       new.c.registry_date.label("to_date"),
                       change_sets.c.created_at, change_sets.c.changes)
             .join(old, old.c.id == change_sets.c.from_snapshot)
             .join(new, new.c.id == change_sets.c.to_snapshot)
             .order_by(change_sets.c.nct_id, change_sets.c.id))
    for row in _stream(db, query, change_sets.c.nct_id, nct_ids):
        yield dict(row._mapping)


def _stream(db: Store, query: sa.Select[Any], nct_id: sa.ColumnElement[str],
            nct_ids: Sequence[str] | None) -> Iterator[Any]:
    """The query's rows, streamed; with ``nct_ids``, those of the trials named, in NCT-id
    order (a statement per chunk of ids)."""
    named = sorted(set(nct_ids)) if nct_ids is not None else None
    statements = [query] if named is None else [
        query.where(nct_id.in_(named[start:start + IN_CHUNK]))
        for start in range(0, len(named), IN_CHUNK)]
    with db.transaction(write=False) as conn:
        for statement in statements:
            yield from conn.execute(statement, execution_options={"yield_per": FETCH_ROWS})
