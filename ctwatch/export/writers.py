"""Writers of the exported tables: a folder of CSV files, or one SQLite file.

Every writer takes rows table by table as a trial's come (:meth:`Writer.add`), keeps them until
the exporter says a batch is done (:meth:`Writer.flush`), and finishes its files on
:meth:`Writer.close`; on a failure :meth:`Writer.abort` only lets its files go (the exporter
removes them). Parquet is in :mod:`ctwatch.export.parquet` (pyarrow, an optional extra).

CSV: one ``TABLE.csv`` per table, UTF-8, a header row, fields quoted as RFC 4180 says (the
csv module's default dialect: ``"`` doubled inside quotes, lines ending CRLF, a field holding a
comma, quote or line break quoted); null is an empty field, a boolean ``true`` or ``false``.

SQLite: one file, a table per table with its primary key, NOT NULL, UNIQUE and foreign keys
declared (to the tables of the same export), an index on ``nct_id`` and on every foreign key;
booleans are 0 and 1. ``PRAGMA application_id`` marks the file as an export, so that
``--force`` replaces an export and never another database (the store itself, say).
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, ClassVar

from ctwatch.export.rows import Row
from ctwatch.export.tables import Table

#: PRAGMA application_id of an export's SQLite file: "ctwx"
APPLICATION_ID = int.from_bytes(b"ctwx", "big")


class Writer:
    """Rows of the chosen tables into ``path``: a file, or a folder when ``folder``."""

    folder: ClassVar[bool] = True
    suffix: ClassVar[str] = ""  # of each table's file in a folder

    def __init__(self, path: Path, tables: Sequence[Table]) -> None:
        self.path = path
        self.tables = {table.name: table for table in tables}
        self.counts = {table.name: 0 for table in tables}
        self._pending: dict[str, list[Row]] = {table.name: [] for table in tables}
        # a row's values in its table's column order, as a tuple (every table has 3 or more)
        self._values = {table.name: itemgetter(*table.names) for table in tables}

    def add(self, table: str, rows: list[Row]) -> None:
        if rows:
            self._pending[table] += rows
            self.counts[table] += len(rows)

    def flush(self) -> None:
        for name, rows in self._pending.items():
            if rows:
                values = self._values[name]
                self.write(self.tables[name], [values(row) for row in rows])
                rows.clear()

    def write(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Write what is pending and finish the files."""
        self.flush()

    def abort(self) -> None:
        """Let the files go, finished or not: the export failed."""


class CsvWriter(Writer):
    """A folder of one CSV file per table."""

    suffix = ".csv"

    def __init__(self, path: Path, tables: Sequence[Table]) -> None:
        super().__init__(path, tables)
        self._files: dict[str, IO[str]] = {}
        self._writers: dict[str, Any] = {}
        for table in tables:
            handle = open(path / f"{table.name}{self.suffix}", "w", encoding="utf-8",  # noqa: SIM115
                          newline="")
            self._files[table.name] = handle
            self._writers[table.name] = csv.writer(handle)
            self._writers[table.name].writerow(table.names)

    def write(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        # The csv module writes None as an empty field already; only booleans need words.
        if any(column.type == "boolean" for column in table.columns):
            rows = [tuple(_cell(value) for value in row) for row in rows]
        self._writers[table.name].writerows(rows)

    def close(self) -> None:
        super().close()
        self.abort()

    def abort(self) -> None:
        for handle in self._files.values():
            handle.close()


def _cell(value: Any) -> Any:
    if value is True or value is False:
        return "true" if value else "false"
    return value


SQLITE_TYPES = {"integer": "INTEGER", "real": "REAL", "text": "TEXT", "boolean": "BOOLEAN",
                "json": "TEXT"}  # a declared JSON would have numeric affinity: '12' → 12


class SqliteWriter(Writer):
    """One SQLite file; the tables are filled in one transaction, without a journal (the
    file is new and is renamed into place only once it is whole)."""

    folder = False

    def __init__(self, path: Path, tables: Sequence[Table]) -> None:
        super().__init__(path, tables)
        self._db = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode = OFF", "synchronous = OFF",
                       f"application_id = {APPLICATION_ID}"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("BEGIN")
        for table in tables:
            self._db.execute(create_table(table, self.tables))
        self._inserts = {table.name: f"INSERT INTO {_name(table.name)} VALUES "
                                     f"({', '.join('?' * len(table.columns))})"
                         for table in tables}

    def write(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        self._db.executemany(self._inserts[table.name], rows)

    def close(self) -> None:
        super().close()
        for table in self.tables.values():
            for statement in create_indexes(table, self.tables):
                self._db.execute(statement)
        self._db.execute("COMMIT")
        self._db.close()

    def abort(self) -> None:
        self._db.close()


def create_table(table: Table, present: dict[str, Table]) -> str:
    """The CREATE TABLE of a table; foreign keys to the tables ``present`` in the export."""
    columns = []
    for column in table.columns:
        words = [_name(column.name), SQLITE_TYPES[column.type]]
        words += ["PRIMARY KEY"] if column.key else []
        words += ["NOT NULL"] if column.required else []
        words += ["UNIQUE"] if column.unique else []
        target = _target(column.references, present)
        if target:
            words.append(f"REFERENCES {_name(target[0])} ({_name(target[1])})")
        columns.append(" ".join(words))
    return f"CREATE TABLE {_name(table.name)} ({', '.join(columns)})"


def create_indexes(table: Table, present: dict[str, Table]) -> list[str]:
    """An index on each column that points at another row: nct_id and the foreign keys."""
    return [f"CREATE INDEX {_name(f'ix_{table.name}_{column.name}')} ON {_name(table.name)} "
            f"({_name(column.name)})" for column in table.columns
            if _target(column.references, present) and not column.unique]


def _target(references: str | None, present: dict[str, Table]) -> tuple[str, str] | None:
    if not references:
        return None
    table, column = references.split(".")
    return (table, column) if table in present else None


def _name(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
