"""The stores the end-to-end tests run against: a SQLite file, and a database of a real
PostgreSQL server — a throwaway cluster (initdb + pg_ctl in a temporary folder, on a free port
of 127.0.0.1) started once per test session and stopped at its end, with a fresh database per
test. No mock, no container: the server binaries of the machine (Debian's ``postgresql``).

Where they are missing the PostgreSQL tests are skipped, saying why — except in CI (CI=true),
where .ci/run installs them, so that their absence is a failure.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ctwatch.store import Store

PASSWORD_ENV = "CTWATCH_DB_PASSWORD"  # the store_password_env of every PostgreSQL test store
USER, PASSWORD = "ctwatch", "Pg-t3st-pa55"  # ctwatch's role: no superuser, owns its database
_ADMIN_PASSWORD = "Pg-adm1n-pa55"
_SERVER_OPTIONS = ("-c listen_addresses=127.0.0.1 -F -c full_page_writes=off "  # F: no fsync
                   "-c synchronous_commit=off -c max_connections=200")
_START_S = 60  # for the server to accept connections (pg_ctl -t)


def server_binaries() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found and (Path(os.path.realpath(found)).parent / "pg_ctl").exists():
        return Path(os.path.realpath(found)).parent
    folders = [Path(folder) for folder in glob.glob("/usr/lib/postgresql/*/bin")
               if Path(folder, "initdb").exists() and Path(folder, "pg_ctl").exists()]
    folders.sort(key=lambda folder: [int(part) for part in folder.parent.name.split(".")
                                     if part.isdigit()])
    return folders[-1] if folders else None


def unavailable(reason: str) -> None:
    """Skip the PostgreSQL tests, visibly; in CI, where the server must be there, fail."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL store tests skipped: {reason}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """A PostgreSQL cluster of its own in a temporary folder, run as the ``postgres`` user when
    the tests run as root (the server refuses to run as root)."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="ctwatch-pg-"))
        self.port = 0
        self._names = itertools.count(1)
        self._owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._owner = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("the tests run as root, and there is no postgres user to run "
                                   "the PostgreSQL server as") from None
            os.chown(self.folder, self._owner.pw_uid, self._owner.pw_gid)
        self.admin: sa.Engine | None = None

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.binaries / program), *args]
        if self._owner is not None:
            command = ["runuser", "-u", self._owner.pw_name, "--", *command]
        return subprocess.run(command, cwd=self.folder, capture_output=True, text=True,
                              timeout=120, check=False)

    def start(self) -> None:
        secret = self.folder / "superuser-password"
        secret.write_text(_ADMIN_PASSWORD + "\n")
        if self._owner is not None:
            os.chown(secret, self._owner.pw_uid, self._owner.pw_gid)
        made = self._run("initdb", "-D", "data", "-U", "postgres", "-E", "UTF8", "--locale=C",
                         "-N", "--auth-local=trust", "--auth-host=scram-sha-256",
                         f"--pwfile={secret}")
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed: {made.stderr.strip() or made.stdout.strip()}")
        for _ in range(3):  # a free port may be taken by another process before the server binds
            self.port = free_port()
            started = self._run("pg_ctl", "-D", "data", "-l", "server.log", "-w", "-t",
                                str(_START_S), "-o",
                                f"-p {self.port} -k {self.folder} {_SERVER_OPTIONS}", "start")
            if started.returncode == 0:
                break
        else:
            log = (self.folder / "server.log")
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()}; "
                               f"{log.read_text()[-2000:] if log.exists() else ''}")
        self.admin = sa.create_engine(self.url("postgres", "postgres", _ADMIN_PASSWORD),
                                      isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        with self.admin.connect() as conn:
            conn.execute(sa.text(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'"))

    def stop(self) -> None:
        if self.admin is not None:
            self.admin.dispose()
        if self.port:
            self._run("pg_ctl", "-D", "data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str, user: str = USER, password: str | None = None) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql+psycopg://{user}{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"ctwatch_test_{next(self._names)}"
        assert self.admin is not None
        with self.admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name} OWNER {USER} TEMPLATE template0"))
        return name

    def drop_database(self, name: str) -> None:
        assert self.admin is not None
        with self.admin.connect() as conn:  # FORCE: a killed ctwatch's session may linger
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@contextmanager
def cluster() -> Iterator[Cluster]:
    """A running cluster, or the tests skipped (failed in CI) saying what is missing."""
    try:
        import psycopg  # noqa: F401 -- the driver ctwatch uses, from pyproject's test extra
    except ImportError:
        unavailable("the psycopg driver is not installed (pip install -e '.[test]')")
    binaries = server_binaries()
    if binaries is None:
        unavailable("the PostgreSQL server binaries (initdb, pg_ctl) are not installed "
                    "(Debian: apt-get install postgresql)")
    assert binaries is not None
    server = Cluster(binaries)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@dataclass
class StoreUnderTest:
    """The store of one test: ``settings`` go into config.yaml; ``url`` and ``password``
    open it (:meth:`open`); the other methods read and write it behind ctwatch's back, as a
    person with a database client would."""

    kind: str  # sqlite or postgresql
    folder: Path  # where config.yaml is, and the SQLite file
    url: str
    password: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    _engine: sa.Engine | None = None

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            url = sa.engine.make_url(self.url)
            self._engine = sa.create_engine(url.set(password=self.password) if self.password
                                            else url, poolclass=sa.NullPool)
        return self._engine

    def open(self) -> Store:
        return Store(self.url, self.password)

    def query(self, statement: str, **params: Any) -> list[dict[str, Any]]:
        with self.engine.begin() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.text(statement), params)]

    def rows(self, table: str, where: str = "") -> int:
        """How many rows ``table`` has (``where``: those matching it); 0 before the store's
        tables exist (a first check is creating them)."""
        try:
            found = self.query(f"select count(*) as n from {table}"
                               + (f" where {where}" if where else ""))
        except sa.exc.DBAPIError:
            return 0
        return found[0]["n"]

    def execute(self, *statements: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement), params)

    def fail_writes(self, name: str, table: str, event: str, when: str = "") -> None:
        """A trigger that fails ``event`` (INSERT, UPDATE) on ``table`` as a full disk would
        (``when``: only rows matching it, in terms of NEW)."""
        if self.kind == "sqlite":
            self.execute(f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                         + (f"WHEN {when} " if when else "")
                         + "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
            return
        self.execute("CREATE OR REPLACE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql "
                     "AS $$ BEGIN RAISE EXCEPTION 'database or disk is full'; END $$",
                     f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW "
                     + (f"WHEN ({when}) " if when else "") + "EXECUTE FUNCTION disk_full()")

    def allow_writes(self, name: str, table: str) -> None:
        self.execute(f"DROP TRIGGER {name}" + ("" if self.kind == "sqlite" else f" ON {table}"))

    def before_searches(self) -> None:
        """Take the store back to schema version 5, before watched searches: no searches
        tables, no outbox rows about a search."""
        drop = ("drop table search_changes", "drop table search_members", "drop table searches",
                "update ctwatch_meta set value = '5' where key = 'schema_version'")
        if self.kind == "postgresql":
            self.execute("alter table outbox drop column search_change", *drop)
            return
        columns = ("id, change_set, milestone, channel, status, attempts, last_error, "
                   "created_at, delivered_at, claim, claimed_at")
        self.execute(f"create table outbox_v6 as select {columns} from outbox",
                     "drop table outbox",
                     "create table outbox (id integer not null primary key, change_set integer "
                     "references change_sets (id), milestone integer references milestones (id), "
                     "channel text not null, status varchar(16) not null, attempts integer not "
                     "null, last_error text, created_at varchar(32) not null, delivered_at "
                     "varchar(32), claim varchar(64), claimed_at varchar(32), "
                     "unique (change_set, channel), unique (milestone, channel))",
                     f"insert into outbox ({columns}) select {columns} from outbox_v6",
                     "drop table outbox_v6", *drop)

    def before_milestones(self) -> None:
        """Take the store back to schema version 4, before compliance milestones: no
        milestones table, every outbox row about a change set."""
        self.before_searches()
        if self.kind == "postgresql":
            self.execute("alter table outbox drop column milestone", "drop table milestones",
                         "alter table outbox alter column change_set set not null",
                         "update ctwatch_meta set value = '4' where key = 'schema_version'")
            return
        columns = ("id, change_set, channel, status, attempts, last_error, created_at, "
                   "delivered_at, claim, claimed_at")
        self.execute(f"create table outbox_v5 as select {columns} from outbox",
                     "drop table outbox", "drop table milestones",
                     "create table outbox (id integer not null primary key, change_set integer "
                     "not null references change_sets (id), channel text not null, status "
                     "varchar(16) not null, attempts integer not null, last_error text, "
                     "created_at varchar(32) not null, delivered_at varchar(32), claim "
                     "varchar(64), claimed_at varchar(32), unique (change_set, channel))",
                     f"insert into outbox ({columns}) select {columns} from outbox_v5",
                     "drop table outbox_v5",
                     "update ctwatch_meta set value = '4' where key = 'schema_version'")

    def consistent(self) -> bool:
        """SQLite's integrity check; a PostgreSQL server keeps its own files consistent."""
        if self.kind != "sqlite":
            return True
        return self.query("pragma integrity_check")[0]["integrity_check"] == "ok"

    def lock_waiters(self) -> int:
        """How many processes wait for one of the store's locks (``check --wait``)."""
        if self.kind == "postgresql":
            return self.rows("pg_locks", "locktype = 'advisory' and not granted")
        lock = self.folder / "ctwatch.db.lock"
        if not lock.exists():
            return 0
        inode = f":{lock.stat().st_ino} "
        return sum(" -> " in line and inode in f"{line} "
                   for line in Path("/proc/locks").read_text().splitlines())

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def sqlite_store(folder: Path) -> StoreUnderTest:
    return StoreUnderTest("sqlite", folder, f"sqlite:///{folder / 'ctwatch.db'}",
                          settings={"store": "ctwatch.db"})


def postgresql_store(folder: Path, server: Cluster, database: str) -> StoreUnderTest:
    return StoreUnderTest("postgresql", folder, server.url(database), PASSWORD,
                          settings={"store": server.url(database),
                                    "store_password_env": PASSWORD_ENV})


# -- fixtures (conftest.py imports them) ------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """One PostgreSQL cluster for the whole session, started by the first test that needs it."""
    with cluster() as server:
        yield server


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture
def store(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreUnderTest]:
    """The test's store: a SQLite file in tmp_path, or a new database of the session's
    PostgreSQL cluster whose password ctwatch reads from the environment (store_password_env),
    as a deployment would."""
    if store_kind == "sqlite":
        under_test = sqlite_store(tmp_path)
        yield under_test
        under_test.close()
        return
    server: Cluster = request.getfixturevalue("postgres")
    database = server.create_database()
    under_test = postgresql_store(tmp_path, server, database)
    monkeypatch.setenv(PASSWORD_ENV, under_test.password or "")
    try:
        yield under_test
    finally:
        under_test.close()
        server.drop_database(database)
