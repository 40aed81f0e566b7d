"""Rows of the store's tables to and from the domain's snapshots and change sets."""

from __future__ import annotations

import importlib
import json
import zlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ctwatch.clock import stamp
from ctwatch.model import Change, ChangeSet, Snapshot, Trial
from ctwatch.store.tables import change_sets, outbox, snapshots, trial_state

# Statements of every checked trial, built once: building one costs more than running it.
#: a trial's latest snapshot: id, content hash, parser version
LATEST = (sa.select(snapshots.c.id, snapshots.c.content_hash, snapshots.c.parser_version)
          .where(snapshots.c.nct_id == sa.bindparam("trial"))
          .order_by(snapshots.c.id.desc()).limit(1))
_UPDATE_STATE = trial_state.update().where(trial_state.c.nct_id == sa.bindparam("trial"))
_INSERT_SNAPSHOT = snapshots.insert()


def snapshot_query() -> sa.Select[Any]:
    return sa.select(*(column for column in snapshots.c if column.name != "raw"))


def to_snapshot(row: Any) -> Snapshot:
    return Snapshot(
        id=row.id, nct_id=row.nct_id, fetched_at=row.fetched_at, source=row.source,
        url=row.url, registry_version=row.registry_version, registry_date=row.registry_date,
        parser_version=row.parser_version, content_hash=row.content_hash,
        trial=Trial.from_dict(json.loads(row.trial)))


def insert_snapshot(conn: Connection, snapshot: Snapshot, raw: bytes) -> int:
    values = {
        "nct_id": snapshot.nct_id, "fetched_at": snapshot.fetched_at, "source": snapshot.source,
        "url": snapshot.url, "registry_version": snapshot.registry_version,
        "registry_date": snapshot.registry_date, "parser_version": snapshot.parser_version,
        # level 1: a third of the time of the default for a few percent more bytes
        "content_hash": snapshot.content_hash, "raw": zlib.compress(raw, 1),
        "trial": canonical_json(snapshot.trial),
    }
    return conn.execute(_INSERT_SNAPSHOT, values).inserted_primary_key[0]


def insert_change_set(conn: Connection, nct_id: str, from_id: int, to_id: int,
                       changes: Sequence[Change], channels: Sequence[str]) -> int:
    created = stamp()
    change_set_id = conn.execute(change_sets.insert().values(
        nct_id=nct_id, from_snapshot=from_id, to_snapshot=to_id, created_at=created,
        changes=json.dumps([c.to_dict() for c in changes], ensure_ascii=False),
    )).inserted_primary_key[0]
    for channel in channels:
        conn.execute(outbox.insert().values(change_set=change_set_id, channel=channel,
                                            status="pending", attempts=0, created_at=created))
    return change_set_id


def change_set(conn: Connection, change_set_id: int) -> ChangeSet:
    old, new = snapshots.alias("old"), snapshots.alias("new")
    row = conn.execute(
        sa.select(change_sets, old.c.registry_version.label("from_version"),
                  old.c.registry_date.label("from_date"),
                  new.c.registry_version.label("to_version"),
                  new.c.registry_date.label("to_date"), new.c.trial.label("trial"))
        .join(old, old.c.id == change_sets.c.from_snapshot)
        .join(new, new.c.id == change_sets.c.to_snapshot)
        .where(change_sets.c.id == change_set_id)).one()
    return ChangeSet(
        id=row.id, nct_id=row.nct_id, title=json.loads(row.trial).get("brief_title"),
        from_snapshot=row.from_snapshot, to_snapshot=row.to_snapshot,
        from_version=row.from_version, to_version=row.to_version,
        from_date=row.from_date, to_date=row.to_date, created_at=row.created_at,
        changes=tuple(Change.from_dict(c) for c in json.loads(row.changes)))


def trial_state_row(conn: Connection, nct_id: str) -> Any:
    return conn.execute(sa.select(trial_state).where(trial_state.c.nct_id == nct_id)).first()


def upsert_state(conn: Connection, nct_id: str, values: dict[str, Any]) -> None:
    """Update a trial's state, or insert it if the trial has none yet: one statement (INSERT …
    ON CONFLICT DO UPDATE, which SQLite and PostgreSQL both speak)."""
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        if conn.execute(_UPDATE_STATE, {"trial": nct_id, **values}).rowcount == 0:
            conn.execute(trial_state.insert(), {"nct_id": nct_id, **values})
        return
    key = (dialect, tuple(values))
    if key not in _UPSERTS:
        _UPSERTS[key] = _upsert(dialect, tuple(values))
    conn.execute(_UPSERTS[key], {"nct_id": nct_id, **values})


_UPSERTS: dict[tuple[str, tuple[str, ...]], Any] = {}  # by dialect and columns written


def _upsert(dialect: str, columns: tuple[str, ...]) -> Any:
    insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(trial_state)
    return insert.on_conflict_do_update(index_elements=[trial_state.c.nct_id],
                                        set_={name: insert.excluded[name] for name in columns})


def mark_success(conn: Connection, nct_id: str,
                 read: tuple[str | None, str] | None = None) -> None:
    """A trial checked without fault; ``read``: (registry date, raw hash) of the record read
    in full from the registry."""
    moment = stamp()
    values: dict[str, Any] = {"last_checked": moment, "last_success": moment,
                              "consecutive_failures": 0, "last_error": None}
    if read is not None:
        values |= {"registry_date": read[0], "raw_hash": read[1], "last_full_read": moment}
    upsert_state(conn, nct_id, values)


# The trial serialised last: a new snapshot's trial is hashed, then stored as this very text.
_LAST_SERIALISED: list[tuple[Trial, str]] = []


def canonical_json(trial: Trial) -> str:
    """The trial's JSON, keys sorted, as the store keeps it and hashes it."""
    if _LAST_SERIALISED and _LAST_SERIALISED[0][0] is trial:
        return _LAST_SERIALISED[0][1]
    text = json.dumps(trial.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    _LAST_SERIALISED[:] = [(trial, text)]
    return text
