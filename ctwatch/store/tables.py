"""The store's tables and their migrations: the one place its schema is written down.

A new store is created at SCHEMA_VERSION; an older one is brought to it one step at a time
(MIGRATIONS, the same statements on SQLite and PostgreSQL unless a step says otherwise); a
store written by a newer ctwatch is refused rather than misread. JSON columns are TEXT on
SQLite and ``jsonb`` on PostgreSQL, for analysts' queries (``trial->'status'->>'overall'``);
the code writes and reads them as JSON text either way.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ctwatch.errors import StoreError
from ctwatch.store.locks import migrating

SCHEMA_VERSION = 6

class JsonText(sa.types.TypeDecorator[str]):
    """JSON, as text the code writes and reads (canonical, hashed as written); ``jsonb`` on
    PostgreSQL, whose dialect is imported only there (a check on SQLite does without its
    ~20 ms)."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.Text())


JSON_TEXT = JsonText()


#: a JSON escape of U+0000 (not an escaped backslash followed by "u0000")
_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def json_as_is(text: str) -> str:
    """The PostgreSQL driver's JSON serializer: the code hands it JSON text already. jsonb
    refuses U+0000, which registry text may hold: it is stored as U+FFFD (the snapshot's hash,
    taken before, and its raw payload keep the original)."""
    return _NUL.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


def json_text(data: Any) -> str:
    """The PostgreSQL driver's JSON deserializer: the text, which the code parses itself."""
    return data if isinstance(data, str) else bytes(data).decode()

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
    sa.Column("trial", JSON_TEXT, nullable=False),
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
    sa.Column("changes", JSON_TEXT, nullable=False),
)
# A compliance milestone reached (ctwatch.milestones): recorded once per trial and key, in the
# transaction that queues its alerts, so that it is alerted once, whatever the runs that follow.
milestones = sa.Table(
    "milestones", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("nct_id", sa.String(11), nullable=False),
    sa.Column("key", sa.String(64), nullable=False),  # results-overdue:2024-10-27
    # the snapshot the trial was judged on (its latest then)
    sa.Column("snapshot", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=False),
    sa.Column("alerted_at", sa.String(32), nullable=False),
    sa.Column("changes", JSON_TEXT, nullable=False),  # the finding, as its alert's one change
    sa.UniqueConstraint("nct_id", "key"),
)
# A watched search (ctwatch.searches): its definition as last checked, and where its check is.
searches = sa.Table(
    "searches", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("definition", sa.Text, nullable=False),  # queries.SearchQuery.key
    sa.Column("url", sa.Text, nullable=False),  # the search on the registry's site
    sa.Column("baseline_at", sa.String(32)),  # when its members were first all known
    sa.Column("last_checked", sa.String(32)),
    sa.Column("last_changed", sa.String(32)),  # its last change set
    sa.Column("size", sa.Integer, nullable=False, default=0),
    # the whole registry: the last update posted date its records were stored up to
    sa.Column("cursor", sa.String(32)),
)
search_members = sa.Table(
    "search_members", metadata,
    sa.Column("search", sa.String(100), sa.ForeignKey("searches.name"), primary_key=True),
    sa.Column("nct_id", sa.String(11), primary_key=True),
    sa.Column("entered_at", sa.String(32), nullable=False),
    # what its alert said of it (searches.member), JSON; text, for it may be none
    sa.Column("member", sa.Text),
)
search_changes = sa.Table(
    "search_changes", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("search", sa.String(100), sa.ForeignKey("searches.name"), nullable=False,
              index=True),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("changes", JSON_TEXT, nullable=False),  # entered and left, as Change dicts
)
outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # what the alert is about: a change set, a compliance milestone or a search's change set
    # (one of the three)
    sa.Column("change_set", sa.Integer, sa.ForeignKey("change_sets.id")),
    sa.Column("milestone", sa.Integer, sa.ForeignKey("milestones.id")),
    sa.Column("search_change", sa.Integer, sa.ForeignKey("search_changes.id")),
    sa.Column("channel", sa.Text, nullable=False),  # a name, or file:PATH, email:TO…
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
    sa.UniqueConstraint("milestone", "channel"),
    sa.UniqueConstraint("search_change", "channel"),
)
runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("started_at", sa.String(32), nullable=False),
    sa.Column("finished_at", sa.String(32)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("data_timestamp", sa.String(32)),
    sa.Column("counts", JSON_TEXT, nullable=False, default="{}"),
)
trial_state = sa.Table(
    "trial_state", metadata,
    sa.Column("nct_id", sa.String(11), primary_key=True),
    sa.Column("last_checked", sa.String(32)),
    sa.Column("last_success", sa.String(32)),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    # What the last full read of the trial's record found (a check's probe compares the
    # registry's last-update date with it; the sweep re-reads the least recently read first).
    sa.Column("registry_date", sa.String(32)),
    sa.Column("raw_hash", sa.String(64)),  # of the record minus registry bookkeeping
    sa.Column("last_full_read", sa.String(32)),
)



def migrate(conn: Connection) -> None:
    """Bring the schema to SCHEMA_VERSION; refuse a store written by a newer ctwatch."""
    migrating(conn)
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


def _v3_trial_reads(conn: Connection) -> None:
    # Left empty: the first check after the upgrade reads every trial in full once.
    for column in ("registry_date VARCHAR(32)", "raw_hash VARCHAR(64)",
                   "last_full_read VARCHAR(32)"):
        conn.execute(sa.text(f"ALTER TABLE trial_state ADD COLUMN {column}"))


def _v4_postgresql_types(conn: Connection) -> None:
    # SQLite keeps any text in any column; PostgreSQL gets jsonb, and channel names of any length.
    if conn.dialect.name != "postgresql":
        return
    for table, column in (("snapshots", "trial"), ("change_sets", "changes"), ("runs", "counts")):
        conn.execute(sa.text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE jsonb "
                             f"USING {column}::jsonb"))
    conn.execute(sa.text("ALTER TABLE outbox ALTER COLUMN channel TYPE text"))


#: the outbox's columns before version 5, which a SQLite store's migration copies
_OUTBOX_V4 = ("id", "change_set", "channel", "status", "attempts", "last_error", "created_at",
              "delivered_at", "claim", "claimed_at")


def _v5_milestones(conn: Connection) -> None:
    # Compliance milestones, and outbox rows that are about one instead of a change set.
    metadata.create_all(conn, tables=[milestones])
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("ALTER TABLE outbox ALTER COLUMN change_set DROP NOT NULL"))
        conn.execute(sa.text("ALTER TABLE outbox ADD COLUMN milestone INTEGER "
                             "REFERENCES milestones (id)"))
        conn.execute(sa.text("ALTER TABLE outbox ADD UNIQUE (milestone, channel)"))
        return
    # SQLite cannot drop a NOT NULL: the outbox is made anew and its rows copied, ids kept (no
    # table refers to the outbox, so none is left pointing at the old one). Made anew, it is
    # the latest outbox, which refers to the tables of watched searches (step 6) too.
    metadata.create_all(conn, tables=[searches, search_members, search_changes])
    columns = ", ".join(_OUTBOX_V4)
    conn.execute(sa.text("ALTER TABLE outbox RENAME TO outbox_v4"))
    outbox.create(conn)
    conn.execute(sa.text(f"INSERT INTO outbox ({columns}) SELECT {columns} FROM outbox_v4"))
    conn.execute(sa.text("DROP TABLE outbox_v4"))


def _v6_searches(conn: Connection) -> None:
    # Watched searches, and outbox rows that are about a search's change set.
    metadata.create_all(conn, tables=[searches, search_members, search_changes])
    if "search_change" in {column["name"] for column in sa.inspect(conn).get_columns("outbox")}:
        return  # a SQLite outbox made anew by step 5 has it already
    conn.execute(sa.text("ALTER TABLE outbox ADD COLUMN search_change INTEGER "
                         "REFERENCES search_changes (id)"))
    # SQLite cannot add a constraint to a table: a unique index does the same
    conn.execute(sa.text("CREATE UNIQUE INDEX outbox_search_change_channel "
                         "ON outbox (search_change, channel)"))


#: schema version → the step that brings a store of version - 1 to it
MIGRATIONS = {2: _v2_outbox_claims, 3: _v3_trial_reads, 4: _v4_postgresql_types,
              5: _v5_milestones, 6: _v6_searches}

#: outbox states of an alert still owed to its channel
UNDELIVERED = ("pending", "sending")
