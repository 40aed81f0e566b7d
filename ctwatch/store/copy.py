"""Copying a store's whole history into another store (``ctwatch store copy SRC DST``):
SQLite to PostgreSQL when one machine is outgrown, and back.

Every table is copied with its ids, so change sets still point at their snapshots and outbox
rows at their change sets: ``history`` and ``diff`` read the same from either store. The copy
is one transaction on the destination, verified before it commits: each table's row count and
a SHA-256 over its rows (:func:`table_digest`) must equal the source's, else nothing is kept.
A copy that fails or is killed midway leaves the destination as it was (empty, or with what
``replace`` would have deleted). Both stores' run locks are held throughout, so no check
writes to either, and the source is read in one consistent snapshot, a chunk of rows at a
time: a store of any size passes through in bounded memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ctwatch import logs
from ctwatch.config import Config
from ctwatch.errors import StoreError, UsageError
from ctwatch.store import Store
from ctwatch.store.locks import reason
from ctwatch.store.tables import json_as_is, metadata
from ctwatch.urls import database_url

log = logging.getLogger("ctwatch")

#: every table of a store, each after those it refers to (a table a later schema adds too)
TABLES = tuple(metadata.sorted_tables)
#: the tables that hold a history (the meta table always holds the schema version), and what
#: one of their rows is called
HISTORY = {"snapshots": "snapshot", "change_sets": "change set", "milestones": "milestone",
           "outbox": "alert", "runs": "run", "trial_state": "trial"}
#: (table, column) of the JSON columns: jsonb on PostgreSQL
JSON_COLUMNS = frozenset((table.name, column.name) for table in TABLES for column in table.c
                         if column.type.compile(dialect=postgresql.dialect()) == "JSONB")
# Rows read and written at a time: a snapshot is ~25 kB with its raw payload (rarely over
# 2 MB), so a chunk is ~2.5 MB (at most ~200 MB), however large the store.
CHUNK_ROWS = 100


@dataclass(frozen=True, slots=True)
class Digest:
    """What one table holds, as the copy compares it: its rows and a hash over them."""

    table: str
    rows: int
    sha256: str


def open_store(target: str, password: str | None = None, *, existing: bool = False) -> Store:
    """The store ``target`` names (a ``store:`` value); ``existing``: a SQLite file must be
    there already (a source is read, never created)."""
    url = _parsed(target)
    if existing and url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            raise UsageError(f"store {logs.mask_url(target)}: no such file")
    return Store(target, password)


def password_for(target: str, variable: str | None, *, option: str, config: Config,
                 environ: Mapping[str, str]) -> str | None:
    """The password of the store ``target``: from the environment variable ``variable``
    (the command line's ``option``) when given, else from config.yaml's store_password_env
    when ``target`` is config.yaml's own store; None otherwise (libpq then looks at
    PGPASSWORD and ~/.pgpass)."""
    if variable:
        if _is_sqlite(target):
            raise UsageError(f"store {logs.mask_url(target)} is a SQLite file, which takes no "
                             "password", option=option)
        value = environ.get(variable)
        if not value:
            raise UsageError(f"environment variable {variable} is not set", option=option)
        return value
    if config.store_password_env and not _is_sqlite(target) and _same(target, config.store):
        return config.store_password(environ)
    return None


def copy_store(source: Store, destination: Store, *, replace: bool = False,
               wait: bool = False, chunk_rows: int = CHUNK_ROWS) -> list[Digest]:
    """Copy every row of ``source`` into ``destination``, ids kept, and verify it; the
    digest of each table, equal in both.

    The destination must hold no history, or ``replace`` deletes it first (in the same
    transaction: a failed copy keeps it). Both run locks are taken (StoreBusy when a check
    holds one, unless ``wait``); a mismatch is a StoreError and leaves nothing copied."""
    if _same(source.url, destination.url):
        raise UsageError(f"store {source.target}: source and destination are the same store")
    with source.lock(wait), destination.lock(wait):
        if source.locked("daemon"):
            log.warning("store %s: a ctwatch run daemon serves it: its next checks are "
                        "stored there, not in %s", source.target, destination.target)
        with _snapshot_of(source) as src, destination.transaction() as dst:
            counts = _counts(src, source)
            if not _history(counts):
                raise UsageError(f"store {source.target}: holds no history to copy")
            _make_room(dst, destination, replace)
            log.info("copying %s to %s: %s", source.target, destination.target,
                     _history(counts))
            copied = [_copy_table(src, source, dst, table, counts[table.name], chunk_rows)
                      for table in TABLES]
            found = [table_digest(dst, table, chunk_rows) for table in TABLES]
            _compare(copied, found, source, destination)
            _continue_ids(dst)
    return copied


def table_digest(conn: Connection, table: sa.Table, chunk_rows: int = CHUNK_ROWS) -> Digest:
    """Rows and SHA-256 of a table as ``conn`` sees it, the same for equal content on SQLite
    and PostgreSQL (:func:`row_bytes`)."""
    digest = _Hasher(table)
    for chunk in _chunks(conn, table, chunk_rows):
        for row in chunk:
            digest.add(row)
    return digest.result()


def row_bytes(table: sa.Table, row: Mapping[str, Any]) -> bytes:
    """A row as the hash reads it: its values in column order as one line of JSON, whatever
    the database. JSON columns count as the JSON they hold (jsonb keeps neither key order nor
    spacing, nor a number's spelling, and holds U+0000 as U+FFFD); binary columns as their
    SHA-256."""
    values = [_canonical((table.name, name) in JSON_COLUMNS, value) for name, value in row.items()]
    text = json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=_number)
    return text.encode("utf-8", "surrogatepass") + b"\n"


def rows_text(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")


# -- reading and writing ----------------------------------------------------------------------


@contextmanager
def _snapshot_of(store: Store) -> Iterator[Connection]:
    """A read-only transaction that sees one state of the store from its first read to its
    end: PostgreSQL's REPEATABLE READ; SQLite's read transaction (WAL), which alone does."""
    try:
        with store.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ",
                                       postgresql_readonly=True)
            with conn.begin():
                yield conn
    except SQLAlchemyError as error:
        raise StoreError(f"store {store.target}: {reason(error)}") from None


def _chunks(conn: Connection, table: sa.Table, chunk_rows: int) -> Iterator[list[dict[str, Any]]]:
    """A table's rows, a chunk at a time, by primary key (text keys in code point order on
    both databases)."""
    order = [column.collate("C") if conn.dialect.name == "postgresql"
             and isinstance(column.type, sa.String) else column
             for column in table.primary_key.columns]
    query = sa.select(table).order_by(*order).execution_options(yield_per=chunk_rows)
    with conn.execute(query) as result:  # a server-side cursor on PostgreSQL: closed early too
        for part in result.partitions():
            yield [dict(row._mapping) for row in part]


def _counts(conn: Connection, store: Store) -> dict[str, int]:
    try:
        return {table.name: conn.execute(sa.select(sa.func.count()).select_from(table))
                .scalar_one() for table in TABLES}
    except SQLAlchemyError as error:
        raise StoreError(f"store {store.target}: {reason(error)}") from None


def _make_room(conn: Connection, store: Store, replace: bool) -> None:
    """Delete every row of the destination: only the schema version when it holds no
    history; its history too with ``replace``."""
    held = _history(_counts(conn, store))
    if held and not replace:
        raise UsageError(f"store {store.target}: already holds a history ({held}); "
                         "copy into an empty store, or add --replace to delete it first")
    if held:
        log.info("store %s: deleting its history (%s)", store.target, held)
    for table in reversed(TABLES):
        conn.execute(table.delete())


def _history(counts: Mapping[str, int]) -> str:
    """What the tables of a history hold ("6 snapshots, 4 change sets, 1 trial"); "" for none."""
    return ", ".join(f"{counts[name]:,} {noun}{'' if counts[name] == 1 else 's'}"
                     for name, noun in HISTORY.items() if counts[name])


def _copy_table(src: Connection, source: Store, dst: Connection, table: sa.Table, count: int,
                chunk_rows: int) -> Digest:
    """Copy a table's rows, ids kept; their digest as read from the source."""
    if count:
        log.debug("copying %s: %s", table.name, rows_text(count))
    digest = _Hasher(table)
    with closing(_chunks(src, table, chunk_rows)) as rows:
        while True:
            try:
                chunk = next(rows, None)
            except SQLAlchemyError as error:  # the source's: the destination's name their store
                raise StoreError(f"store {source.target}: {reason(error)}") from None
            if chunk is None:
                return digest.result()
            dst.execute(table.insert(), chunk)
            for row in chunk:
                digest.add(row)


def _continue_ids(conn: Connection) -> None:
    """Make PostgreSQL's id sequences go on after the copied ids (a row inserted with its id
    does not move them); SQLite takes the largest id + 1 by itself. A sequence never goes
    back: ids it gave before a copy that is rolled back are not given again."""
    if conn.dialect.name != "postgresql":
        return
    for table in TABLES:
        if "id" not in table.c:
            continue
        sequence = conn.execute(sa.text("SELECT pg_get_serial_sequence(:table, 'id')"),
                                {"table": table.name}).scalar_one()
        conn.execute(sa.text(f"SELECT setval(CAST(:sequence AS regclass), GREATEST("
                             f"(SELECT max(id) FROM {table.name}), "
                             f"(SELECT last_value FROM {sequence})))"), {"sequence": sequence})


def _compare(copied: list[Digest], found: list[Digest], source: Store,
             destination: Store) -> None:
    for expected, got in zip(copied, found, strict=True):
        if got.rows != expected.rows:
            raise StoreError(f"store {destination.target}: the copy of {expected.table} has "
                             f"{got.rows:,} rows, {source.target} {expected.rows:,}; nothing "
                             "was copied")
        if got.sha256 != expected.sha256:
            raise StoreError(f"store {destination.target}: the copy of {expected.table} "
                             f"differs from {source.target} (SHA-256 {got.sha256[:16]}, "
                             f"not {expected.sha256[:16]}); nothing was copied")


# -- the hash ---------------------------------------------------------------------------------


class _Hasher:
    def __init__(self, table: sa.Table) -> None:
        self.table, self.rows, self.hash = table, 0, hashlib.sha256()

    def add(self, row: Mapping[str, Any]) -> None:
        self.hash.update(row_bytes(self.table, row))
        self.rows += 1

    def result(self) -> Digest:
        return Digest(self.table.name, self.rows, self.hash.hexdigest())


def _canonical(is_json: bool, value: Any) -> Any:
    if value is None:
        return None
    if is_json:
        return json.loads(json_as_is(value), parse_float=Decimal, parse_int=Decimal)
    if isinstance(value, bytes | bytearray | memoryview):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    return value


def _number(value: Any) -> Any:
    """A JSON number, spelt one way: 1e+16, 10000000000000000 and 1.0E16 are one number."""
    if isinstance(value, Decimal):
        return {"number": str(value.normalize())}
    raise TypeError(f"{type(value).__name__} is not JSON")


# -- naming stores ----------------------------------------------------------------------------


def _parsed(target: str) -> sa.URL:
    try:
        return make_url(database_url(target))
    except (ArgumentError, ValueError):  # their messages quote the URL, password and all
        raise UsageError(f"store {logs.mask_url(target)}: not a SQLite file or a database URL "
                         "such as postgresql://user@host/db") from None


def _is_sqlite(target: str) -> bool:
    return _parsed(target).get_backend_name() == "sqlite"


def _same(one: str, other: str) -> bool:
    """Whether two store: values name the same database (a password aside)."""
    first, second = _parsed(one), _parsed(other)
    if first.get_backend_name() == "sqlite" == second.get_backend_name():
        return Path(first.database or "").resolve() == Path(second.database or "").resolve()
    return first.set(password=None) == second.set(password=None)
