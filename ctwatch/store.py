"""The snapshot store: the only module that speaks SQL.

SQLite by default (a file path), any SQLAlchemy URL otherwise (``postgresql://…``), through
SQLAlchemy Core so both share one code path. It keeps per trial: snapshots (raw payload
compressed, the normalized trial, its canonical hash, where it came from), change sets
between snapshots, the alert outbox, run records and per-trial state. Everything a run
writes for one trial is one transaction, so a run killed at any point leaves the store as it
was before that trial or after it, never between.

Messages name the store by ``logs.mask_url`` of its URL (``postgresql://ops:***@db/ctwatch``);
its password can also come apart from the URL (``Store(url, password)``, from
``store_password_env``), and is then registered with ``logs.secret``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ctwatch import logs
from ctwatch.clock import stamp
from ctwatch.errors import StoreBusy, StoreError
from ctwatch.model import Change, ChangeSet, Snapshot, Trial

SCHEMA_VERSION = 2

metadata = sa.MetaData()

meta = sa.Table(
    "ctwatch_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
snapshots = sa.Table(
    "snapshots", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("nct_id", sa.String(11), nullable=False, index=True),
    sa.Column("fetched_at", sa.String(32), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("registry_version", sa.Integer),
    sa.Column("registry_date", sa.String(32)),
    sa.Column("parser_version", sa.Integer, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("trial", sa.Text, nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),
)
change_sets = sa.Table(
    "change_sets", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("nct_id", sa.String(11), nullable=False, index=True),
    sa.Column("from_snapshot", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=False),
    sa.Column("to_snapshot", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=False,
              unique=True),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("changes", sa.Text, nullable=False),
)
outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("change_set", sa.Integer, sa.ForeignKey("change_sets.id"), nullable=False),
    sa.Column("channel", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("delivered_at", sa.String(32)),
    # The identity of the message an alert was first tried in, shared by the alerts sent
    # together (status "sending" while in flight): every later try, after a failure or a crash,
    # sends the same message (same Message-ID, same Idempotency-Key), so a receiver that got it
    # can drop the repeat.
    sa.Column("claim", sa.String(64)),
    sa.Column("claimed_at", sa.String(32)),
    sa.UniqueConstraint("change_set", "channel"),
)
runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("started_at", sa.String(32), nullable=False),
    sa.Column("finished_at", sa.String(32)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("data_timestamp", sa.String(32)),
    sa.Column("counts", sa.Text, nullable=False, default="{}"),
)
trial_state = sa.Table(
    "trial_state", metadata,
    sa.Column("nct_id", sa.String(11), primary_key=True),
    sa.Column("last_checked", sa.String(32)),
    sa.Column("last_success", sa.String(32)),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
)


_BUSY = {
    "run": "store {store}: another ctwatch run holds its lock ({path}); try again later or use "
           "--wait",
    "daemon": "store {store}: another ctwatch run daemon already uses it ({path})",
}


def content_hash(trial: Trial) -> str:
    """A hash of the trial's canonical JSON: equal content, equal hash."""
    canonical = json.dumps(trial.to_dict(), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def database_url(target: str) -> str:
    """A SQLAlchemy URL from the ``store:`` setting: a URL, or a SQLite file path."""
    return target if "://" in target else f"sqlite:///{Path(target).expanduser()}"


@dataclass(frozen=True, slots=True)
class Saved:
    """What saving one checked trial wrote."""

    snapshot_id: int | None  # None: same content as the latest snapshot, nothing new stored
    change_set: ChangeSet | None


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


class Store:
    """The snapshot store of one database."""

    def __init__(self, target: str, password: str | None = None) -> None:
        """The store ``target`` names (``store:``: a SQLite file or a SQLAlchemy URL);
        ``password``: the database's password, when it is not in the URL."""
        self.target = logs.mask_url(target)  # the store as messages name it
        self.url = database_url(target)
        logs.secret(password)
        try:
            self.engine = _engine(_url(self.url, password, self.target), self.target)
            with self.engine.begin() as conn:
                _migrate(conn)
        except SQLAlchemyError as error:
            raise StoreError(f"store {self.target}: cannot open ({_reason(error)})") from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as error:
            raise StoreError(f"store {self.target}: {_reason(error)}") from None

    @contextmanager
    def lock(self, wait: bool = False, *, name: str = "run") -> Iterator[None]:
        """Hold one of the store's locks across processes: ``run`` (one check at a time) or
        ``daemon`` (one ``ctwatch run`` per store).

        A lock dies with its process (SIGKILL included), so it never goes stale."""
        path = self._lock_path(name)
        with self._lock_file(path) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise StoreBusy(_BUSY[name].format(store=self.target, path=path)) from None
            except OSError as error:
                raise self._lock_error(path, error) from None
            try:
                _write_pid(handle)
            except OSError as error:
                fcntl.flock(handle, fcntl.LOCK_UN)
                raise self._lock_error(path, error) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _lock_file(self, path: Path) -> IO[str]:
        try:
            return open(path, "a+")
        except OSError as error:  # a folder in its place, no permission…
            raise self._lock_error(path, error) from None

    def _lock_error(self, path: Path, error: OSError) -> StoreError:
        return StoreError(f"store {self.target}: cannot use its lock file {path} "
                          f"({error.strerror or error})")

    def locked(self, name: str = "run") -> bool:
        """Whether some process holds one of the store's locks right now."""
        try:
            with self.lock(name=name):
                return False
        except StoreBusy:
            return True

    def _lock_path(self, name: str) -> Path:
        suffix = ".lock" if name == "run" else f".{name}.lock"
        database = self.engine.url.database
        if self.engine.url.get_backend_name() == "sqlite" and database:
            return Path(f"{database}{suffix}")
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        return Path(os.environ.get("TMPDIR", "/tmp")) / f"ctwatch-{digest}{suffix}"

    # -- snapshots -------------------------------------------------------------------------

    def latest(self, nct_id: str) -> Snapshot | None:
        with self.transaction() as conn:
            row = conn.execute(_snapshot_query().where(snapshots.c.nct_id == nct_id)
                               .order_by(snapshots.c.id.desc()).limit(1)).first()
        return _snapshot(row) if row else None

    def snapshot(self, snapshot_id: int) -> Snapshot | None:
        with self.transaction() as conn:
            row = conn.execute(_snapshot_query().where(snapshots.c.id == snapshot_id)).first()
        return _snapshot(row) if row else None

    def snapshots(self, nct_id: str) -> list[Snapshot]:
        with self.transaction() as conn:
            rows = conn.execute(_snapshot_query().where(snapshots.c.nct_id == nct_id)
                                .order_by(snapshots.c.id)).all()
        return [_snapshot(row) for row in rows]

    def latest_hash(self, nct_id: str) -> tuple[str, int] | None:
        """(content hash, parser version) of a trial's latest snapshot, without reading it."""
        with self.transaction() as conn:
            row = conn.execute(sa.select(snapshots.c.content_hash, snapshots.c.parser_version)
                               .where(snapshots.c.nct_id == nct_id)
                               .order_by(snapshots.c.id.desc()).limit(1)).first()
        return (row.content_hash, row.parser_version) if row else None

    def set_registry_version(self, snapshot_id: int, version: int) -> None:
        """Record the registry's version number of a snapshot learnt after it was stored."""
        with self.transaction() as conn:
            conn.execute(snapshots.update().where(snapshots.c.id == snapshot_id)
                         .values(registry_version=version))

    def raw(self, snapshot_id: int) -> bytes:
        """The registry's own bytes of a snapshot, as fetched."""
        with self.transaction() as conn:
            data = conn.execute(sa.select(snapshots.c.raw)
                                .where(snapshots.c.id == snapshot_id)).scalar_one()
        return zlib.decompress(data)

    def trial_ids(self) -> list[str]:
        with self.transaction() as conn:
            return list(conn.execute(sa.select(snapshots.c.nct_id).distinct()
                                     .order_by(snapshots.c.nct_id)).scalars())

    def save(self, snapshot: Snapshot, raw: bytes, changes: Sequence[Change] = (),
             channels: Sequence[str] = ()) -> Saved:
        """Store a checked trial in one transaction: a snapshot if its content is new, the
        change set against the previous snapshot if there are changes, one outbox row per
        channel for it, and the trial's state."""
        with self.transaction() as conn:
            previous = conn.execute(
                sa.select(snapshots.c.id, snapshots.c.content_hash)
                .where(snapshots.c.nct_id == snapshot.nct_id)
                .order_by(snapshots.c.id.desc()).limit(1)).first()
            _mark_success(conn, snapshot.nct_id)
            if previous and previous.content_hash == snapshot.content_hash:
                return Saved(None, None)
            snapshot_id = _insert_snapshot(conn, snapshot, raw)
            if previous is None or not changes:
                return Saved(snapshot_id, None)
            change_set_id = _insert_change_set(conn, snapshot.nct_id, previous.id, snapshot_id,
                                               changes, channels)
            return Saved(snapshot_id, _change_set(conn, change_set_id))

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
        with self.transaction() as conn:
            return [_change_set(conn, ident) for ident in conn.execute(query).scalars()]

    def pending_alerts(self) -> list[Alert]:
        """Alerts not yet delivered (pending, or claimed by a run that died), oldest first."""
        with self.transaction() as conn:
            rows = conn.execute(sa.select(outbox).where(outbox.c.status.in_(_UNDELIVERED))
                                .order_by(outbox.c.id)).all()
            return [Alert(row.id, row.channel, row.attempts, _change_set(conn, row.change_set),
                          row.last_error, row.claim, row.status == "sending")
                    for row in rows]

    def claim(self, alert_ids: Sequence[int], identity: str) -> None:
        """Mark alerts as being sent in the message ``identity``, before it is sent; they keep
        it until delivered, so that every try sends the same message."""
        with self.transaction() as conn:
            conn.execute(outbox.update().where(outbox.c.id.in_(list(alert_ids))).values(
                status="sending", claim=identity, claimed_at=stamp()))

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
                outbox.c.channel == channel, outbox.c.status.in_(_UNDELIVERED)).values(
                status="dropped", claim=None, claimed_at=None)).rowcount

    # -- settings shared between processes --------------------------------------------------

    def set_meta(self, key: str, value: str | None) -> None:
        with self.transaction() as conn:
            conn.execute(meta.delete().where(meta.c.key == key))
            if value is not None:
                conn.execute(meta.insert().values(key=key, value=value))

    def get_meta(self, key: str) -> str | None:
        with self.transaction() as conn:
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
        with self.transaction() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return {**row._asdict(), "counts": json.loads(row.counts)}

    def record_failure(self, nct_id: str, error: str) -> int:
        """Note a failed check of a trial; returns its consecutive failures."""
        with self.transaction() as conn:
            state = _state(conn, nct_id)
            failures = (state.consecutive_failures if state else 0) + 1
            values = {"last_checked": stamp(), "consecutive_failures": failures,
                      "last_error": error}
            _upsert_state(conn, nct_id, state is not None, values)
            return failures

    def trial_states(self) -> list[dict[str, Any]]:
        with self.transaction() as conn:
            rows = conn.execute(sa.select(trial_state).order_by(trial_state.c.nct_id)).all()
        return [row._asdict() for row in rows]


def _write_pid(handle: IO[str]) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()


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
        engine = sa.create_engine(url)
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
            cursor.close()

    return engine


def _migrate(conn: Connection) -> None:
    """Bring the schema to SCHEMA_VERSION; refuse a store written by a newer ctwatch."""
    metadata.create_all(conn, tables=[meta])
    found = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    version = int(found) if found else 0
    if version > SCHEMA_VERSION:
        raise StoreError(f"store schema version {version} is newer than this ctwatch "
                         f"understands ({SCHEMA_VERSION}); upgrade ctwatch")
    if version == 0:
        metadata.create_all(conn)  # a new store is created at the current version
        version = SCHEMA_VERSION
    for step in range(version + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[step](conn)
    if found != str(SCHEMA_VERSION):
        conn.execute(meta.delete().where(meta.c.key == "schema_version"))
        conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))


def _v2_outbox_claims(conn: Connection) -> None:
    conn.execute(sa.text("ALTER TABLE outbox ADD COLUMN claim VARCHAR(64)"))
    conn.execute(sa.text("ALTER TABLE outbox ADD COLUMN claimed_at VARCHAR(32)"))


#: schema version → the step that brings a store of version - 1 to it
MIGRATIONS = {2: _v2_outbox_claims}

#: outbox states of an alert still owed to its channel
_UNDELIVERED = ("pending", "sending")


def _reason(error: SQLAlchemyError) -> str:
    lines = str(getattr(error, "orig", None) or error).splitlines()
    return logs.mask_url(lines[0]) if lines else type(error).__name__


def _snapshot_query() -> sa.Select[Any]:
    return sa.select(*(column for column in snapshots.c if column.name != "raw"))


def _snapshot(row: Any) -> Snapshot:
    return Snapshot(
        id=row.id, nct_id=row.nct_id, fetched_at=row.fetched_at, source=row.source,
        url=row.url, registry_version=row.registry_version, registry_date=row.registry_date,
        parser_version=row.parser_version, content_hash=row.content_hash,
        trial=Trial.from_dict(json.loads(row.trial)))


def _insert_snapshot(conn: Connection, snapshot: Snapshot, raw: bytes) -> int:
    values = {
        "nct_id": snapshot.nct_id, "fetched_at": snapshot.fetched_at, "source": snapshot.source,
        "url": snapshot.url, "registry_version": snapshot.registry_version,
        "registry_date": snapshot.registry_date, "parser_version": snapshot.parser_version,
        "content_hash": snapshot.content_hash, "raw": zlib.compress(raw),
        "trial": json.dumps(snapshot.trial.to_dict(), ensure_ascii=False),
    }
    return conn.execute(snapshots.insert().values(**values)).inserted_primary_key[0]


def _insert_change_set(conn: Connection, nct_id: str, from_id: int, to_id: int,
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


def _change_set(conn: Connection, change_set_id: int) -> ChangeSet:
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


def _state(conn: Connection, nct_id: str) -> Any:
    return conn.execute(sa.select(trial_state).where(trial_state.c.nct_id == nct_id)).first()


def _upsert_state(conn: Connection, nct_id: str, exists: bool, values: dict[str, Any]) -> None:
    if exists:
        conn.execute(trial_state.update().where(trial_state.c.nct_id == nct_id).values(**values))
    else:
        conn.execute(trial_state.insert().values(nct_id=nct_id, **values))


def _mark_success(conn: Connection, nct_id: str) -> None:
    moment = stamp()
    values = {"last_checked": moment, "last_success": moment, "consecutive_failures": 0,
              "last_error": None}
    _upsert_state(conn, nct_id, _state(conn, nct_id) is not None, values)
