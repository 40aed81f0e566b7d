"""The store's locks between processes, behind one interface (:class:`Locks`).

Three kinds of lock: ``run`` (one check, backfill, import or reparse at a time), ``daemon``
(one ``ctwatch run`` per store) and ``outbox:CHANNEL`` (one process delivering a channel's
alerts at a time, so that two never send the same alert, nor a channel's alerts out of order).

A SQLite store lives on one machine: its locks are file locks beside it (``ctwatch.db.lock``,
``ctwatch.db.daemon.lock``, ``ctwatch.db.outbox.lock`` with a byte per channel), Linux's
open-file-description locks, which a process can test without taking them. A PostgreSQL store
is shared by hosts: its locks are the server's session advisory locks, each held on a
connection of its own, and read from ``pg_locks``. Either kind dies with the process that
holds it (SIGKILL, a power cut: the server ends the session), so none ever goes stale.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ctwatch import logs
from ctwatch.errors import StoreBusy, StoreError

_BUSY = {
    "run": "store {store}: another ctwatch run holds its lock ({where}); try again later or use "
           "--wait",
    "daemon": "store {store}: another ctwatch run daemon already uses it ({where})",
    "outbox": "store {store}: another ctwatch process is delivering these alerts ({where})",
}


class Locks(Protocol):
    """The locks of one store."""

    def hold(self, name: str, wait: bool) -> AbstractContextManager[None]:
        """Hold lock ``name`` (``run``, ``daemon`` or ``outbox:CHANNEL``) while in the block;
        StoreBusy when another process holds it and not ``wait``."""
        ...

    def held(self, name: str) -> bool:
        """Whether some process holds lock ``name`` now; tested, never taken, so that asking
        never turns a check away."""
        ...


def locks_for(engine: Engine, url: str, shown: str) -> Locks:
    """The locks of the store at ``engine``: advisory locks for PostgreSQL, file locks beside
    a SQLite file, and for any other database file locks in the temporary folder (one host)."""
    backend, database = engine.url.get_backend_name(), engine.url.database
    if backend == "postgresql":
        return AdvisoryLocks(engine, shown)
    if backend == "sqlite" and database and database != ":memory:":
        return FileLocks(database, shown)
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return FileLocks(str(Path(os.environ.get("TMPDIR", "/tmp")) / f"ctwatch-{digest}"), shown)


def _kind(name: str) -> tuple[str, str]:
    kind, _, channel = name.partition(":")
    if kind not in _BUSY:
        raise ValueError(f"no store lock named {name!r}")
    return kind, channel


def _channel_key(channel: str) -> int:
    return zlib.crc32(channel.encode()) & 0x7FFFFFFF  # two channels may share one: they wait


# -- file locks (SQLite) ---------------------------------------------------------------------

_SUFFIXES = {"run": ".lock", "daemon": ".daemon.lock", "outbox": ".outbox.lock"}
# Open-file-description locks: held by an open file, not by a process as POSIX record locks
# are, so two holders in one process exclude each other too; F_OFD_GETLK tests without taking.
_OFD = hasattr(fcntl, "F_OFD_SETLK")
_FLOCK = "hhqqi4x"  # struct flock on Linux: type, whence, start, length, pid


class FileLocks:
    """Locks of a SQLite store: files beside ``database`` (``ctwatch.db.lock``, …)."""

    def __init__(self, database: str, shown: str) -> None:
        self.database, self.shown = database, shown

    def _place(self, name: str) -> tuple[str, Path, int]:
        kind, channel = _kind(name)
        return kind, Path(self.database + _SUFFIXES[kind]), _channel_key(channel) if channel else 0

    @contextmanager
    def hold(self, name: str, wait: bool) -> Iterator[None]:
        kind, path, offset = self._place(name)
        with self._open(path, "a+") as handle:
            try:
                _take(handle, offset, wait)
            except OSError as error:
                if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise StoreBusy(_BUSY[kind].format(store=self.shown, where=path)) from None
                raise self._error(path, error) from None
            try:
                if kind != "outbox":
                    _write_pid(handle)  # who holds it, for people
                yield
            finally:
                _take(handle, offset, wait=False, unlock=True)

    def held(self, name: str) -> bool:
        _, path, offset = self._place(name)
        if not path.exists():
            return False  # never locked
        with self._open(path, "a+") as handle:
            return _taken(handle, offset)

    def _open(self, path: Path, mode: str) -> IO[str]:
        try:
            return open(path, mode)
        except OSError as error:  # a folder in its place, no permission…
            raise self._error(path, error) from None

    def _error(self, path: Path, error: OSError) -> StoreError:
        return StoreError(f"store {self.shown}: cannot use its lock file {path} "
                          f"({error.strerror or error})")


def _take(handle: IO[str], offset: int, wait: bool, *, unlock: bool = False) -> None:
    """Lock (or unlock) one byte of the file at ``offset``; OSError EAGAIN when it is held."""
    if not _OFD:  # elsewhere than Linux: the whole file, whatever the byte
        flags = fcntl.LOCK_UN if unlock else fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB)
        fcntl.flock(handle, flags)
        return
    kind = fcntl.F_UNLCK if unlock else fcntl.F_WRLCK
    command = fcntl.F_OFD_SETLKW if wait and not unlock else fcntl.F_OFD_SETLK
    fcntl.fcntl(handle, command, struct.pack(_FLOCK, kind, os.SEEK_SET, offset, 1, 0))


def _taken(handle: IO[str], offset: int) -> bool:
    """Whether another open file holds the byte at ``offset``."""
    if not _OFD:  # flock cannot be tested: taken and let go at once
        try:
            _take(handle, offset, wait=False)
        except BlockingIOError:
            return True
        _take(handle, offset, wait=False, unlock=True)
        return False
    probe = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, offset, 1, 0)
    found = fcntl.fcntl(handle, fcntl.F_OFD_GETLK, probe)
    return struct.unpack(_FLOCK, found)[0] != fcntl.F_UNLCK


def _write_pid(handle: IO[str]) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()


# -- advisory locks (PostgreSQL) -------------------------------------------------------------

# Keys of the two-integer form of pg_advisory_lock: ctwatch's own first integer (the letters
# "ctw"), then the lock; a channel's lock is a hash of its name under the next one.
_NAMESPACE = 0x63747700
_KEYS = {"run": 1, "daemon": 2, "migrate": 3}
_KEY = "CAST(:space AS integer), CAST(:key AS integer)"
_LOCK = sa.text(f"SELECT pg_advisory_lock({_KEY})")  # waits for it
_TRY = sa.text(f"SELECT pg_try_advisory_lock({_KEY})")
_UNLOCK = sa.text(f"SELECT pg_advisory_unlock({_KEY})")
_HELD = sa.text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND classid = CAST(:space AS oid) AND objid = CAST(:key AS oid) AND objsubid = 2)")


def _advisory_key(name: str) -> tuple[int, int]:
    kind, channel = _kind(name)
    if kind == "outbox":
        return _NAMESPACE + 1, _channel_key(channel)
    return _NAMESPACE, _KEYS[kind]


class AdvisoryLocks:
    """Locks of a PostgreSQL store: advisory locks of its database, so they hold across
    every host that uses it."""

    def __init__(self, engine: Engine, shown: str) -> None:
        self.engine, self.shown = engine, shown

    @contextmanager
    def hold(self, name: str, wait: bool) -> Iterator[None]:
        space, key = _advisory_key(name)
        keys = {"space": space, "key": key}
        conn = self._session()
        try:
            try:
                taken = conn.execute(_LOCK if wait else _TRY, keys).scalar() or wait
            except BaseException as error:  # interrupted: the lock may have been granted
                conn.invalidate()  # the session ends, and any lock of it
                if isinstance(error, SQLAlchemyError):
                    raise self._error(error) from None
                raise
            if not taken:
                where = f"PostgreSQL advisory lock {space},{key}"
                raise StoreBusy(_BUSY[_kind(name)[0]].format(store=self.shown, where=where))
            try:
                yield
            finally:
                try:
                    conn.execute(_UNLOCK, keys)
                except SQLAlchemyError:  # the server or the network is gone: so is the lock
                    conn.invalidate()
        finally:
            conn.close()

    def held(self, name: str) -> bool:
        space, key = _advisory_key(name)
        try:
            with self.engine.connect() as conn:
                return bool(conn.execute(_HELD, {"space": space, "key": key}).scalar())
        except SQLAlchemyError as error:
            raise self._error(error) from None

    def _session(self) -> Connection:
        """A connection of its own, outside any transaction: a session lock outlives
        transactions, and the session is never left idle in one."""
        try:
            return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as error:
            raise self._error(error) from None

    def _error(self, error: SQLAlchemyError) -> StoreError:
        return StoreError(f"store {self.shown}: {reason(error)}")


def migrating(conn: Connection) -> None:
    """Make the transaction of ``conn`` the only one creating or migrating the schema: a
    second process opening a new PostgreSQL store waits for the first, then finds it made."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_KEY})"),
                     {"space": _NAMESPACE, "key": _KEYS["migrate"]})


def reason(error: SQLAlchemyError) -> str:
    """The first line of a database error, any URL in it masked."""
    lines = str(getattr(error, "orig", None) or error).splitlines()
    return logs.mask_url(lines[0]) if lines else type(error).__name__
