"""Rows of the store's tables to and from the domain's snapshots and change sets."""

from __future__ import annotations

import importlib
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ctwatch.clock import stamp
from ctwatch.model import Change, ChangeSet, Snapshot, Trial
from ctwatch.store.tables import change_sets, milestones, outbox, snapshots, trial_state

IN_CHUNK = 900  # ids in one IN (…), rows in one INSERT: below SQLite's old limit of 999

# Statements of every checked trial, built once: building one costs more than running it.
#: a trial's latest snapshot: id, content hash, parser version
LATEST = (sa.select(snapshots.c.id, snapshots.c.content_hash, snapshots.c.parser_version)
          .where(snapshots.c.nct_id == sa.bindparam("trial"))
          .order_by(snapshots.c.id.desc()).limit(1))
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
    return insert_alerted(conn, change_sets, "change_set", changes, channels, "created_at",
                          nct_id=nct_id, from_snapshot=from_id, to_snapshot=to_id)


def insert_alerted(conn: Connection, table: sa.Table, alerted: str, changes: Sequence[Change],
                   channels: Sequence[str], moment: str, **values: Any) -> int:
    """A row of what an alert is about (a change set, a milestone, a search's change set),
    stamped now in its ``moment`` column, and its alert queued on ``channels``; its id."""
    created = stamp()
    row_id = conn.execute(table.insert().values(
        changes=changes_json(changes), **{moment: created}, **values)).inserted_primary_key[0]
    queue(conn, channels, created, **{alerted: row_id})
    return row_id


def changes_json(changes: Sequence[Change]) -> str:
    """A change set's changes as the store keeps them."""
    return json.dumps([c.to_dict() for c in changes], ensure_ascii=False)


def queue(conn: Connection, channels: Sequence[str], created: str, **alerted: int) -> None:
    """One pending outbox row per channel, for what ``alerted`` names (its outbox column)."""
    for channel in channels:
        conn.execute(outbox.insert().values(channel=channel, status="pending", attempts=0,
                                            created_at=created, **alerted))


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


def insert_milestone(conn: Connection, nct_id: str, key: str, snapshot_id: int,
                     changes: Sequence[Change], channels: Sequence[str]) -> int:
    return insert_alerted(conn, milestones, "milestone", changes, channels, "alerted_at",
                          nct_id=nct_id, key=key, snapshot=snapshot_id)


def milestone_change_set(conn: Connection, milestone_id: int) -> ChangeSet:
    """A milestone's alert as a change set of its trial: from and to the snapshot it was
    judged on, its one change the finding."""
    row = conn.execute(
        sa.select(milestones, snapshots.c.registry_version, snapshots.c.registry_date,
                  snapshots.c.trial)
        .join(snapshots, snapshots.c.id == milestones.c.snapshot)
        .where(milestones.c.id == milestone_id)).one()
    return ChangeSet(
        id=row.id, nct_id=row.nct_id, title=json.loads(row.trial).get("brief_title"),
        from_snapshot=row.snapshot, to_snapshot=row.snapshot,
        from_version=row.registry_version, to_version=row.registry_version,
        from_date=row.registry_date, to_date=row.registry_date, created_at=row.alerted_at,
        changes=tuple(Change.from_dict(c) for c in json.loads(row.changes)))


@dataclass(frozen=True, slots=True)
class Outline:
    """What judging a trial's duties reads of its latest snapshot (:meth:`Store.outlines`),
    without the rest: the trial's title, status, design and oversight as stored, its
    interventions' types, and whether one of its locations is in the countries asked about."""

    snapshot_id: int
    nct_id: str
    parser_version: int
    registry_version: int | None
    registry_date: str | None
    parts: dict[str, Any]  # brief_title, status, design, oversight
    intervention_types: list[str | None]
    located: bool


# Of a latest snapshot, what judging the trial's duties reads, extracted in the database: one
# pass over each stored trial's JSON instead of sending it whole to be decoded in Python.
_OUTLINE_PARTS = {
    "sqlite": ("json_extract(s.trial, '$.brief_title', '$.status', '$.design', '$.oversight')",
               "(SELECT json_group_array(json_extract(value, '$.type')) "
               "FROM json_each(s.trial, '$.interventions'))",
               "EXISTS (SELECT 1 FROM json_each(s.trial, '$.locations') "
               "WHERE json_extract(value, '$.country') IN :countries)"),
    "postgresql": ("CAST(jsonb_build_array(s.trial -> 'brief_title', s.trial -> 'status', "
                   "s.trial -> 'design', s.trial -> 'oversight') AS TEXT)",
                   "CAST(COALESCE((SELECT jsonb_agg(i -> 'type') FROM "
                   "jsonb_array_elements(s.trial -> 'interventions') AS i), '[]') AS TEXT)",
                   "EXISTS (SELECT 1 FROM jsonb_array_elements(s.trial -> 'locations') AS l "
                   "WHERE l ->> 'country' IN :countries)"),
}


def outlines(dialect: str) -> sa.TextClause:
    """The statement reading the outlines of the latest snapshots of the trials ``:ids``."""
    parts, kinds, located = _OUTLINE_PARTS["postgresql" if dialect == "postgresql" else "sqlite"]
    return sa.text(
        f"SELECT s.id, s.nct_id, s.parser_version, s.registry_version, s.registry_date, "
        f"{parts} AS parts, {kinds} AS kinds, {located} AS located FROM snapshots AS s "
        f"WHERE s.id IN (SELECT max(id) FROM snapshots WHERE nct_id IN :ids GROUP BY nct_id)"
    ).bindparams(sa.bindparam("countries", expanding=True), sa.bindparam("ids", expanding=True))


def to_outline(row: Any) -> Outline:
    title, status, design, oversight = json.loads(row.parts)
    return Outline(row.id, row.nct_id, row.parser_version, row.registry_version,
                   row.registry_date, {"brief_title": title, "status": status, "design": design,
                                       "oversight": oversight},
                   json.loads(row.kinds), bool(row.located))


def trial_state_row(conn: Connection, nct_id: str) -> Any:
    return conn.execute(sa.select(trial_state).where(trial_state.c.nct_id == nct_id)).first()


def upsert_state(conn: Connection, nct_id: str, values: dict[str, Any]) -> None:
    """Update a trial's state, or insert it if the trial has none yet."""
    upsert(conn, trial_state, {"nct_id": nct_id}, values)


def upsert(conn: Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """Update the row of ``table`` whose primary key is ``key``, or insert it: one statement
    (INSERT … ON CONFLICT DO UPDATE, which SQLite and PostgreSQL both speak), so that two
    processes writing the same row at once never both insert it."""
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        where = [table.c[name] == value for name, value in key.items()]
        if conn.execute(table.update().where(*where).values(values)).rowcount == 0:
            conn.execute(table.insert().values({**key, **values}))
        return
    statement = (dialect, table.name, tuple(key), tuple(values))
    if statement not in _UPSERTS:
        _UPSERTS[statement] = _upsert(dialect, table, tuple(key), tuple(values))
    conn.execute(_UPSERTS[statement], {**key, **values})


_UPSERTS: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Any] = {}  # built once each


def _upsert(dialect: str, table: sa.Table, key: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(table)
    return insert.on_conflict_do_update(index_elements=[table.c[name] for name in key],
                                        set_={name: insert.excluded[name] for name in columns})


def count_failure(conn: Connection, nct_id: str, error: str) -> int:
    """Note a failed check of a trial in its state; its consecutive failures, this one
    included. One statement on SQLite and PostgreSQL (an upsert returning the count)."""
    moment = stamp()
    if conn.dialect.name not in ("sqlite", "postgresql"):
        state = trial_state_row(conn, nct_id)
        failures = (state.consecutive_failures if state else 0) + 1
        upsert_state(conn, nct_id, {"last_checked": moment, "consecutive_failures": failures,
                                    "last_error": error})
        return failures
    if conn.dialect.name not in _COUNT_FAILURE:
        insert = importlib.import_module(f"sqlalchemy.dialects.{conn.dialect.name}").insert(
            trial_state)
        _COUNT_FAILURE[conn.dialect.name] = insert.on_conflict_do_update(
            index_elements=[trial_state.c.nct_id],
            set_={"last_checked": insert.excluded.last_checked,
                  "last_error": insert.excluded.last_error,
                  "consecutive_failures": trial_state.c.consecutive_failures + 1},
        ).returning(trial_state.c.consecutive_failures)
    return conn.execute(_COUNT_FAILURE[conn.dialect.name], {
        "nct_id": nct_id, "last_checked": moment, "consecutive_failures": 1,
        "last_error": error}).scalar_one()


_COUNT_FAILURE: dict[str, Any] = {}  # the statement, by dialect, built once


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
