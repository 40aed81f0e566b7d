"""The data dictionary of ``ctwatch export``, made from :mod:`ctwatch.export.tables`.

    python -m ctwatch.export.dictionary > docs/data-dictionary.md

The shipped ``docs/data-dictionary.md`` is this module's output (a test holds them equal), so
the tables are described once, where they are defined.
"""

from __future__ import annotations

from ctwatch.export.parquet import ARROW_TYPES
from ctwatch.export.tables import BY_NAME, TABLES, TYPES, Column, Table
from ctwatch.export.writers import SQLITE_TYPES

_CSV_TYPES = {"integer": "digits", "real": "a decimal number", "text": "the text",
              "boolean": "true or false", "json": "JSON text"}

INTRO = """\
# Data dictionary of `ctwatch export`

Generated from `ctwatch/export/tables.py` by
`python -m ctwatch.export.dictionary > docs/data-dictionary.md`; edit the tables there, not
this file.

`ctwatch export --format csv|sqlite|parquet --out PATH [--history] [NCT…]` writes one table
per entity of the latest stored version of each trial (every trial in the store, or those
named) and, with `--history`, every stored snapshot, change set and change of them: a folder
of `TABLE.csv` files (UTF-8, a header row, RFC 4180 quoting), one SQLite file (primary and
foreign keys declared, an index on `nct_id` and on every foreign key), or a folder of
`TABLE.parquet` files (`pip install 'ctwatch[parquet]'`; each column's meaning is in the
file's schema too).

**Names** follow [AACT](https://aact.ctti-clinicaltrials.org/)'s where the concept is the same
(`studies`, `design_groups` for arms, `design_outcomes`, `facilities` for locations,
`brief_title`, `overall_status`…), so that a query written for AACT's tables mostly runs on
these; ctwatch's own concepts (the criteria tree, thresholds, history) keep ctwatch's names.
Values keep the spelling of `ctwatch parse`'s JSON: API v2 enums (`RECRUITING`, `PHASE2`),
dates with their precision (`2023-10` stays `2023-10`). The keys are ctwatch's, not AACT's.

**Keys.** Every table has an integer `id` and the trial's `nct_id` (which refers to
`studies.nct_id`). A row of a trial's tables is keyed *NCT number × 1,000,000 + position*,
the position counting from 1 in the order of the trial's JSON; `studies` and
`eligibilities` are keyed by the NCT number (NCT04083898 → 4083898). The same store content
gives the same keys, whichever trials are exported beside it; a key names a place in the
trial's latest version, not an arm or a criterion across versions. The history tables keep
the store's ids of snapshots and change sets (those `ctwatch history` lists and
`ctwatch diff --from` takes); a change is keyed *change set id × 1,000,000 + position*. Every
key is below 2^53 (exact as a floating-point number too).

**Null** is an empty field in CSV, NULL in SQLite, null in Parquet.
"""


def markdown() -> str:
    """The whole data dictionary."""
    parts = [INTRO, _types(), _mapping(), *(_table(table) for table in TABLES)]
    return "\n".join(parts)


def _row(*cells: str) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _types() -> str:
    lines = ["## Column types", "",
             _row("type", "CSV", "SQLite", "Parquet (Arrow)"), _row(*["---"] * 4)]
    lines += [_row(kind, _CSV_TYPES[kind], SQLITE_TYPES[kind],
                   ARROW_TYPES[kind].rstrip("_")) for kind in TYPES]
    return "\n".join(lines) + "\n"


def _mapping() -> str:
    lines = ["## Tables, where their rows come from, and AACT's", "",
             _row("table", "its rows come from (`ctwatch parse` JSON, or the store)",
                  "AACT table"), _row(*["---"] * 3)]
    lines += [_row(f"[`{table.name}`](#{table.name})", table.source,
                   f"`{table.aact}`" if table.aact else "—") for table in TABLES]
    return "\n".join(lines) + "\n"


def _table(table: Table) -> str:
    heading = f"## {table.name}"
    where = f"AACT: `{table.aact}`." if table.aact else "AACT has no such table."
    only = " Written only with `--history`." if table.history else ""
    lines = [heading, "", f"{table.meaning} From: {table.source}. {where}{only}", "",
             _row("column", "type", "meaning", "AACT"), _row(*["---"] * 4)]
    lines += [_row(f"`{column.name}`", column.type, _meaning(column),
                   f"`{column.aact}`" if column.aact else "—") for column in table.columns]
    return "\n".join(lines) + "\n"


def _reference(references: str | None) -> str:
    if not references:
        return ""
    target = BY_NAME[references.split(".")[0]]
    return f"→ `{references}`" + (" with `--history`" if target.history else "")


def _meaning(column: Column) -> str:
    notes = ["primary key" if column.key else "",
             "unique" if column.unique else "",
             "never null" if column.required and not column.key else "",
             _reference(column.references)]
    marks = "; ".join(note for note in notes if note)
    return f"{column.meaning} ({marks})" if marks else column.meaning


if __name__ == "__main__":
    print(markdown(), end="")
