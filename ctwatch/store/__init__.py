"""The snapshot store: the only module that speaks SQL.

SQLite by default (a file path), any SQLAlchemy URL otherwise (``postgresql://…``), through
SQLAlchemy Core so both share one code path. It keeps per trial: snapshots (raw payload
compressed, the normalized trial, its canonical hash, where it came from), change sets
between snapshots, the alert outbox, run records and per-trial state. Everything a run
writes for one trial is written whole or not at all (its own transaction, or a savepoint in a
batch's: :meth:`Store.unit`), so a run killed at any point leaves every trial as it was
before or after, never between.

On PostgreSQL the JSON columns are ``jsonb`` (analysts query them), and the locks that keep
one check at a time, one daemon and one deliverer per channel are the server's advisory locks,
so they hold across hosts (:mod:`ctwatch.store.locks`; file locks for SQLite).

Messages name the store by ``logs.mask_url`` of its URL (``postgresql://ops:***@db/ctwatch``);
its password can also come apart from the URL (``Store(url, password)``, from
``store_password_env``), and is then registered with ``logs.secret``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ctwatch import logs
from ctwatch.clock import stamp
from ctwatch.errors import StoreError
from ctwatch.limits import STORE_CONNECT_TIMEOUT_S
from ctwatch.model import Change, ChangeSet, Snapshot, Trial
from ctwatch.store import rows
from ctwatch.store.locks import locks_for
from ctwatch.store.locks import reason as _reason
from ctwatch.store.rows import Outline as Outline
from ctwatch.store.tables import (
    SCHEMA_VERSION as SCHEMA_VERSION,
)
from ctwatch.store.tables import (
    UNDELIVERED,
    change_sets,
    json_as_is,
    json_text,
    meta,
    migrate,
    milestones,
    outbox,
    runs,
    snapshots,
    trial_state,
)
from ctwatch.urls import database_url as database_url

if TYPE_CHECKING:
    from ctwatch.store.searches import SearchStore



def content_hash(trial: Trial) -> str:
    """A hash of the trial's canonical JSON: equal content, equal hash."""
    return hashlib.sha256(rows.canonical_json(trial).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Saved:
    """What saving one checked trial wrote."""

    snapshot_id: int | None  # None: same content as the latest snapshot, nothing new stored
    change_set: ChangeSet | None
    nct_id: str | None = None


class Head(NamedTuple):
    """A trial's latest snapshot, as far as deciding whether a reading is new needs it."""

    id: int
    content_hash: str
    parser_version: int


@dataclass(frozen=True, slots=True)
class Read:
    """What the last full read of a trial's record found."""

    registry_date: str | None  # its last update posted
    raw_hash: str | None  # the record's, registry bookkeeping left out
    at: str | None  # when (None: never, or before the store kept it)


@dataclass(frozen=True, slots=True)
class Alert:
    """One pending delivery of a change set on one channel."""

    id: int
    channel: str
    attempts: int
    change_set: ChangeSet
    last_error: str | None = None
    claim: str | None = None  # the identity of the message it goes in, once it was tried
    maybe_sent: bool = False  # claimed but never confirmed: a run died while sending it


class _NotAll(Exception):
    """Not every alert of a claim could be claimed: the claim is rolled back."""


class Store:
    """The snapshot store of one database."""

    def __init__(self, target: str, password: str | None = None) -> None:
        """The store ``target`` names (``store:``: a SQLite file or a SQLAlchemy URL);
        ``password``: the database's password, when it is not in the URL."""
        self.target = logs.mask_url(target)  # the store as messages name it
        self.url = database_url(target)
        self._local = threading.local()  # the transaction open in each thread
        logs.secret(password)
        try:
            self.engine = _engine(_url(self.url, password, self.target), self.target)
            self._locks = locks_for(self.engine, self.url, self.target)
            with self.engine.begin() as conn:
                migrate(conn)
        except SQLAlchemyError as error:
            raise StoreError(f"store {self.target}: cannot open ({_reason(error)})") from None

    def close(self) -> None:
        self.engine.dispose()

    @cached_property
    def searches(self) -> SearchStore:
        """The watched searches: their members and change sets (imported when used)."""
        from ctwatch.store.searches import SearchStore

        return SearchStore(self)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Connection]:
        """One database transaction. One opened inside another, in the same thread, is part
        of it: a use case wraps its writes in ``with db.transaction():`` to make them one.

        On SQLite one that may ``write`` takes the write lock as it begins (BEGIN IMMEDIATE),
        waiting for another process's transaction to end: one that read first would fail at
        once if another process wrote in between ("database is locked")."""
        current = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        try:
            with self.engine.connect() as conn:
                conn.execution_options(ctwatch_writes=write)
                with conn.begin():
                    self._local.conn = conn
                    try:
                        yield conn
                    finally:
                        self._local.conn = None
        except SQLAlchemyError as error:
            raise StoreError(f"store {self.target}: {_reason(error)}") from None

    @contextmanager
    def unit(self) -> Iterator[Connection]:
        """The writes of one unit of work (one trial): a transaction of its own, or, inside a
        transaction opened around many units (a batch), a savepoint rolled back alone when the
        unit fails, leaving the batch's other units to commit."""
        current = getattr(self._local, "conn", None)
        if current is None:
            with self.transaction() as conn:
                yield conn
            return
        try:
            with current.begin_nested():
                yield current
        except SQLAlchemyError as error:
            raise StoreError(f"store {self.target}: {_reason(error)}") from None

    def lock(self, wait: bool = False, *, name: str = "run") -> AbstractContextManager[None]:
        """Hold one of the store's locks across processes (across hosts for PostgreSQL):
        ``run`` (one check at a time), ``daemon`` (one ``ctwatch run`` per store) or
        ``outbox:CHANNEL`` (one process delivering a channel's alerts); StoreBusy at once when
        another process holds it, unless ``wait``.

        A lock dies with its process (SIGKILL included), so it never goes stale."""
        return self._locks.hold(name, wait)

    def locked(self, name: str = "run") -> bool:
        """Whether some process holds one of the store's locks right now. The lock is tested,
        not taken: asking never turns a check away."""
        return self._locks.held(name)

    # -- snapshots -------------------------------------------------------------------------

    def latest(self, nct_id: str) -> Snapshot | None:
        with self.transaction(write=False) as conn:
            row = conn.execute(rows.snapshot_query().where(snapshots.c.nct_id == nct_id)
                               .order_by(snapshots.c.id.desc()).limit(1)).first()
        return rows.to_snapshot(row) if row else None

    def snapshot(self, snapshot_id: int) -> Snapshot | None:
        with self.transaction(write=False) as conn:
            row = conn.execute(rows.snapshot_query().where(snapshots.c.id == snapshot_id)).first()
        return rows.to_snapshot(row) if row else None

    def snapshots(self, nct_id: str) -> list[Snapshot]:
        with self.transaction(write=False) as conn:
            found = conn.execute(rows.snapshot_query().where(snapshots.c.nct_id == nct_id)
                                 .order_by(snapshots.c.id)).all()
        return [rows.to_snapshot(row) for row in found]

    def head(self, nct_id: str) -> Head | None:
        """Id, content hash and parser version of a trial's latest snapshot, without reading it."""
        with self.transaction(write=False) as conn:
            row = conn.execute(rows.LATEST, {"trial": nct_id}).first()
        return Head(row.id, row.content_hash, row.parser_version) if row else None

    def set_registry_version(self, snapshot_id: int, version: int) -> None:
        """Record the registry's version number of a snapshot learnt after it was stored."""
        with self.transaction() as conn:
            conn.execute(snapshots.update().where(snapshots.c.id == snapshot_id)
                         .values(registry_version=version))

    def raw(self, snapshot_id: int) -> bytes:
        """The registry's own bytes of a snapshot, as fetched."""
        with self.transaction(write=False) as conn:
            data = conn.execute(sa.select(snapshots.c.raw)
                                .where(snapshots.c.id == snapshot_id)).scalar_one()
        return zlib.decompress(data)

    def trial_ids(self) -> list[str]:
        with self.transaction(write=False) as conn:
            return list(conn.execute(sa.select(snapshots.c.nct_id).distinct()
                                     .order_by(snapshots.c.nct_id)).scalars())

    def with_snapshots(self, nct_ids: Sequence[str]) -> set[str]:
        """Which of these trials have a snapshot (a statement per 900 ids)."""
        found: set[str] = set()
        with self.transaction(write=False) as conn:
            for start in range(0, len(nct_ids), rows.IN_CHUNK):
                chunk = list(nct_ids[start:start + rows.IN_CHUNK])
                found.update(conn.execute(sa.select(snapshots.c.nct_id).distinct()
                                          .where(snapshots.c.nct_id.in_(chunk))).scalars())
        return found

    def save(self, snapshot: Snapshot, raw: bytes, changes: Sequence[Change] = (),
             channels: Sequence[str] = (), *, raw_hash: str | None = None) -> Saved:
        """Store a checked trial in one transaction: a snapshot if its content is new, the
        change set against the previous snapshot if there are changes, one outbox row per
        channel for it, and the trial's state (``raw_hash``: it was read in full from the
        registry, whose record hashes so)."""
        with self.transaction():
            return self.save_after(self.head(snapshot.nct_id), snapshot, raw, changes, channels,
                                   raw_hash=raw_hash)

    def save_after(self, head: Head | None, snapshot: Snapshot, raw: bytes,
                   changes: Sequence[Change] = (), channels: Sequence[str] = (), *,
                   raw_hash: str | None = None) -> Saved:
        """:meth:`save`, the trial's latest snapshot being ``head`` (read in this transaction)."""
        with self.transaction() as conn:
            read = None if raw_hash is None else (snapshot.registry_date, raw_hash)
            rows.mark_success(conn, snapshot.nct_id, read)
            if head and head.content_hash == snapshot.content_hash:
                return Saved(None, None, snapshot.nct_id)
            snapshot_id = rows.insert_snapshot(conn, snapshot, raw)
            if head is None or not changes:
                return Saved(snapshot_id, None, snapshot.nct_id)
            change_set_id = rows.insert_change_set(conn, snapshot.nct_id, head.id,
                                                   snapshot_id, changes, channels)
            return Saved(snapshot_id, rows.change_set(conn, change_set_id), snapshot.nct_id)

    def replace_trial(self, snapshot_id: int, trial: Trial, parser_version: int) -> None:
        """Store a re-parse of a snapshot's raw payload (``ctwatch reparse``)."""
        with self.transaction() as conn:
            conn.execute(snapshots.update().where(snapshots.c.id == snapshot_id).values(
                trial=json.dumps(trial.to_dict(), ensure_ascii=False),
                content_hash=content_hash(trial), parser_version=parser_version))

    # -- change sets and the outbox ---------------------------------------------------------

    def change_sets(self, nct_id: str | None = None, limit: int | None = None) -> list[ChangeSet]:
        """Change sets, newest first."""
        query = sa.select(change_sets.c.id).order_by(change_sets.c.id.desc()).limit(limit)
        if nct_id:
            query = query.where(change_sets.c.nct_id == nct_id)
        with self.transaction(write=False) as conn:
            return [rows.change_set(conn, ident) for ident in conn.execute(query).scalars()]

    def pending_alerts(self, channel: str | None = None) -> list[Alert]:
        """Alerts not yet delivered (pending, or claimed by a run that died), oldest first;
        those of ``channel`` only, if given."""
        query = sa.select(outbox).where(outbox.c.status.in_(UNDELIVERED)).order_by(outbox.c.id)
        if channel is not None:
            query = query.where(outbox.c.channel == channel)
        with self.transaction(write=False) as conn:
            return [Alert(row.id, row.channel, row.attempts, _alerted(conn, row),
                          row.last_error, row.claim, row.status == "sending")
                    for row in conn.execute(query).all()]

    def claim(self, alert_ids: Sequence[int], identity: str) -> bool:
        """Mark alerts as being sent in the message ``identity``, before it is sent; they keep
        it until delivered, so that every try sends the same message. All or none: False, and
        nothing claimed, when one of them was delivered, dropped or claimed for another message
        since it was read (one UPDATE that says which rows it changed: PostgreSQL re-checks a
        row another transaction changed meanwhile, SQLite lets one writer in at a time)."""
        ids = set(alert_ids)
        try:
            with self.unit() as conn:
                claimed = conn.execute(outbox.update().where(
                    outbox.c.id.in_(ids), outbox.c.status.in_(UNDELIVERED),
                    sa.or_(outbox.c.claim.is_(None), outbox.c.claim == identity),
                ).values(status="sending", claim=identity, claimed_at=stamp())).rowcount
                if claimed != len(ids):
                    raise _NotAll
        except _NotAll:
            return False
        return True

    def delivered(self, alert_ids: int | Sequence[int]) -> None:
        """Mark alerts delivered (all of a digest at once): they are never sent again."""
        ids = [alert_ids] if isinstance(alert_ids, int) else list(alert_ids)
        with self.transaction() as conn:
            conn.execute(outbox.update().where(outbox.c.id.in_(ids)).values(
                status="delivered", attempts=outbox.c.attempts + 1, delivered_at=stamp(),
                last_error=None))

    def delivery_failed(self, alert_ids: int | Sequence[int], error: str) -> None:
        """Count a failed try of alerts; they stay pending, with the error (and their claim:
        the receiver may have the message although the sender heard no answer)."""
        ids = [alert_ids] if isinstance(alert_ids, int) else list(alert_ids)
        with self.transaction() as conn:
            conn.execute(outbox.update().where(outbox.c.id.in_(ids)).values(
                status="pending", claimed_at=None, attempts=outbox.c.attempts + 1,
                last_error=error))

    def drop_alerts(self, channel: str) -> int:
        """Give up the undelivered alerts of a channel (one removed from the config); they
        stay in the outbox as "dropped". Returns how many."""
        with self.transaction() as conn:
            return conn.execute(outbox.update().where(
                outbox.c.channel == channel, outbox.c.status.in_(UNDELIVERED)).values(
                status="dropped", claim=None, claimed_at=None)).rowcount

    # -- compliance milestones --------------------------------------------------------------

    def milestone_keys(self) -> set[tuple[str, str]]:
        """(NCT id, key) of every milestone recorded."""
        with self.transaction(write=False) as conn:
            return {(row.nct_id, row.key) for row in conn.execute(
                sa.select(milestones.c.nct_id, milestones.c.key))}

    def save_milestone(self, nct_id: str, key: str, snapshot_id: int, changes: Sequence[Change],
                       channels: Sequence[str]) -> int:
        """Record a milestone reached and queue its alert on ``channels``, in one transaction
        (its id): the same key of the same trial is refused ever after (a StoreError)."""
        with self.transaction() as conn:
            return rows.insert_milestone(conn, nct_id, key, snapshot_id, changes, channels)

    def outlines(self, nct_ids: Sequence[str], countries: Sequence[str]) -> list[Outline]:
        """The :class:`Outline` of the latest snapshot of each trial named that has one, read
        in the database from the stored JSON: a few hundred bytes a trial, not the trial
        (a statement per 900 ids)."""
        statement = rows.outlines(self.engine.dialect.name)
        with self.transaction(write=False) as conn:
            return [rows.to_outline(row) for start in range(0, len(nct_ids), rows.IN_CHUNK)
                    for row in conn.execute(statement, {
                        "ids": list(nct_ids[start:start + rows.IN_CHUNK]),
                        "countries": list(countries) or [""]})]

    # -- settings shared between processes --------------------------------------------------

    def set_meta(self, key: str, value: str | None) -> None:
        with self.transaction() as conn:
            if value is None:
                conn.execute(meta.delete().where(meta.c.key == key))
            else:
                rows.upsert(conn, meta, {"key": key}, {"value": value})

    def get_meta(self, key: str) -> str | None:
        with self.transaction(write=False) as conn:
            return conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()

    # -- runs and per-trial state -----------------------------------------------------------

    def start_run(self) -> int:
        """Record a run starting. The caller holds the run lock, so a run still "running"
        died (SIGKILL, power loss): it is marked "aborted"."""
        with self.transaction() as conn:
            conn.execute(runs.update().where(runs.c.status == "running")
                         .values(status="aborted"))
            return conn.execute(runs.insert().values(started_at=stamp(), status="running",
                                                     counts="{}")).inserted_primary_key[0]

    def finish_run(self, run_id: int, status: str, counts: dict[str, int],
                   data_timestamp: str | None) -> None:
        """Record how a run ended. ``data_timestamp`` is the registry data it checked
        completely, or None when some trial was not."""
        with self.transaction() as conn:
            conn.execute(runs.update().where(runs.c.id == run_id).values(
                finished_at=stamp(), status=status, counts=json.dumps(counts),
                data_timestamp=data_timestamp))

    def last_run(self, *, before: int | None = None) -> dict[str, Any] | None:
        """The newest run record (older than run ``before``), as a dict."""
        query = sa.select(runs).order_by(runs.c.id.desc()).limit(1)
        if before is not None:
            query = query.where(runs.c.id < before)
        with self.transaction(write=False) as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return {**row._asdict(), "counts": json.loads(row.counts)}

    def record_failure(self, nct_id: str, error: str) -> int:
        """Note a failed check of a trial; returns its consecutive failures."""
        with self.transaction() as conn:
            return rows.count_failure(conn, nct_id, error)

    def reads(self) -> dict[str, Read]:
        """What the last full read of each trial found, by trial."""
        columns = (trial_state.c.nct_id, trial_state.c.registry_date, trial_state.c.raw_hash,
                   trial_state.c.last_full_read)
        with self.transaction(write=False) as conn:
            return {row.nct_id: Read(row.registry_date, row.raw_hash, row.last_full_read)
                    for row in conn.execute(sa.select(*columns))}

    def mark_read(self, nct_id: str, registry_date: str | None, raw_hash: str) -> None:
        """A trial read in full whose record did not change: only its state is written."""
        with self.transaction() as conn:
            rows.mark_success(conn, nct_id, (registry_date, raw_hash))

    def mark_checked(self, nct_ids: Sequence[str]) -> None:
        """Trials the registry says did not move since their last full read: checked now,
        without a fault, in one transaction (a statement per thousand)."""
        moment = stamp()
        with self.transaction() as conn:
            for start in range(0, len(nct_ids), rows.IN_CHUNK):
                chunk = list(nct_ids[start:start + rows.IN_CHUNK])
                conn.execute(trial_state.update().where(trial_state.c.nct_id.in_(chunk)).values(
                    last_checked=moment, last_success=moment, consecutive_failures=0,
                    last_error=None))

    def failing(self) -> list[str]:
        """The trials whose last check failed."""
        with self.transaction(write=False) as conn:
            return list(conn.execute(sa.select(trial_state.c.nct_id).where(
                trial_state.c.consecutive_failures > 0).order_by(trial_state.c.nct_id)).scalars())

    def trial_states(self) -> list[dict[str, Any]]:
        """Each trial's state for ``ctwatch status`` (the raw hash is no concern of people)."""
        shown = [column for column in trial_state.c if column.name != "raw_hash"]
        with self.transaction(write=False) as conn:
            found = conn.execute(sa.select(*shown).order_by(trial_state.c.nct_id)).all()
        return [row._asdict() for row in found]


def _alerted(conn: Connection, row: Any) -> ChangeSet:
    """What an outbox row is about: a change set, a milestone or a search's change set."""
    if row.milestone is not None:
        return rows.milestone_change_set(conn, row.milestone)
    if row.search_change is not None:
        from ctwatch.store.searches import load

        return load(conn, row.search_change)
    return rows.change_set(conn, row.change_set)


def _url(target: str, password: str | None, shown: str) -> URL:
    """The SQLAlchemy URL of the store, with the password given apart from it."""
    try:
        url = make_url(target)  # ValueError: a port that is not a number
    except (ArgumentError, ValueError):  # their messages quote the URL, password and all
        raise StoreError(f"store {shown}: not a database URL such as postgresql://user@host/db "
                         "or sqlite:///ctwatch.db") from None
    logs.secret(url.password if isinstance(url.password, str) else None)
    return url.set(password=password) if password else url


def _engine(url: URL, shown: str) -> Engine:
    try:
        engine = sa.create_engine(url, **_options(url))
    except ImportError as error:  # config check says so first, for check, run and notify
        raise StoreError(f"store {shown}: the {url.get_backend_name()} driver "
                         f"{error.name or error} is not installed") from None
    if engine.url.get_backend_name() == "sqlite":
        database = engine.url.database
        if database and database != ":memory:" and not Path(database).parent.is_dir():
            raise StoreError(f"store {database}: folder {Path(database).parent} does not exist")

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.execute("PRAGMA journal_mode = WAL")
            # In WAL mode, NORMAL syncs at checkpoints, not at every commit: a power cut may
            # lose the last transactions but never corrupts the store, and a check redoes
            # what was lost (its run is not recorded complete). Measured by benchmarks/check.py.
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()
            # sqlite3 would begin transactions when it sees fit and cannot nest them: SQLAlchemy
            # begins them itself instead, so that a batch of trials holds a savepoint each.
            dbapi_conn.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            writes = conn.get_execution_options().get("ctwatch_writes", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


def _options(url: URL) -> dict[str, Any]:
    """create_engine's options for the database: for PostgreSQL, JSON passed as the text the
    code writes and reads (jsonb in the database), a bound on the wait for the server, and
    pooled connections tested before use (the daemon's outlive a restart of the server)."""
    if url.get_backend_name() != "postgresql":
        return {}
    connect = {} if "connect_timeout" in url.query else {"connect_timeout": STORE_CONNECT_TIMEOUT_S}
    return {"json_serializer": json_as_is, "json_deserializer": json_text,
            "connect_args": connect, "pool_pre_ping": True}
