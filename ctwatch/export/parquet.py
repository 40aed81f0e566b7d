"""The Parquet writer: a folder of one ``TABLE.parquet`` per table, through pyarrow.

pyarrow is an optional extra (``pip install 'ctwatch[parquet]'``), imported only when a
Parquet export is asked for; without it the export stops before it starts, saying how to get
it. Each batch of rows the exporter hands over becomes Arrow columns at once, held until
the table has ``ROW_GROUP_ROWS`` rows waiting or all tables together ``HELD_BYTES``: then the
table holding most is written as one row group. So memory stays bounded whatever the number of
trials, and row groups are as large as that bound allows. Each column carries its meaning in
the file's schema (field metadata ``description``), each file its table's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctwatch.errors import UsageError
from ctwatch.export.tables import Table
from ctwatch.export.writers import Writer

ROW_GROUP_ROWS = 100_000
HELD_BYTES = 16 * 1024 * 1024  # of Arrow data held, all tables together, before one is written
INSTALL = "pip install 'ctwatch[parquet]'"


def require() -> None:
    """Stop, saying how to install it, when pyarrow is missing."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise UsageError(f"parquet needs pyarrow, which is not installed: {INSTALL}",
                         option="--format") from None


class ParquetWriter(Writer):
    """A folder of one Parquet file per table."""

    suffix = ".parquet"

    def __init__(self, path: Path, tables: Sequence[Table]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        super().__init__(path, tables)
        self._pa = pa
        self._schemas = {table.name: schema(table) for table in tables}
        self._files = {table.name: pq.ParquetWriter(path / f"{table.name}{self.suffix}",
                                                    self._schemas[table.name])
                       for table in tables}
        self._held: dict[str, list[Any]] = {table.name: [] for table in tables}
        self._held_rows = dict.fromkeys(self._held, 0)
        self._held_bytes = dict.fromkeys(self._held, 0)

    def write(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        fields = self._schemas[table.name]
        batch = self._pa.Table.from_arrays(
            [self._pa.array(values, type=field.type)
             for values, field in zip(zip(*rows, strict=True), fields, strict=True)],
            schema=fields)
        self._held[table.name].append(batch)
        self._held_rows[table.name] += batch.num_rows
        self._held_bytes[table.name] += batch.nbytes
        if self._held_rows[table.name] >= ROW_GROUP_ROWS:
            self._write_held(table.name)
        while sum(self._held_bytes.values()) >= HELD_BYTES:
            self._write_held(max(self._held_bytes, key=self._held_bytes.__getitem__))

    def _write_held(self, name: str) -> None:
        if self._held[name]:
            self._files[name].write_table(self._pa.concat_tables(self._held[name]),
                                          row_group_size=ROW_GROUP_ROWS)
        self._held[name].clear()
        self._held_rows[name] = self._held_bytes[name] = 0

    def close(self) -> None:
        super().close()
        for name, file in self._files.items():
            self._write_held(name)
            file.close()

    def abort(self) -> None:
        for file in self._files.values():
            file.close()


#: the Arrow type of each column type, by its name in pyarrow
ARROW_TYPES = {"integer": "int64", "real": "float64", "text": "string", "boolean": "bool_",
               "json": "string"}


def schema(table: Table) -> Any:
    """The Arrow schema of a table, each column's meaning in its metadata."""
    import pyarrow as pa

    return pa.schema(
        [pa.field(column.name, getattr(pa, ARROW_TYPES[column.type])(),
                  nullable=not column.required, metadata={"description": column.meaning})
         for column in table.columns],
        metadata={"description": table.meaning})
