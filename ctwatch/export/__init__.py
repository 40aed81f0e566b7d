"""Relational tables of the stored trials, for analysts: CSV, SQLite or Parquet (issue 18).

``export(db, out, fmt, nct_ids, history=…)`` writes one table per entity of the latest
stored version of each trial (every trial in the store, or those named) and, with
``history``, every snapshot, change set and change of them, to ``out``: a folder of
``TABLE.csv`` or ``TABLE.parquet`` files, or one SQLite file. It streams: trials are read
from the store as it sends them (:mod:`ctwatch.store.exports`) and their rows written in
batches of ``BATCH`` trials, so memory does not grow with the number of trials. A snapshot a
parser of another version stored is re-parsed from its raw payload first, as the query side
does (:func:`ctwatch.timeline.current`; nothing is written to the store). The export is
written whole into a temporary sibling of ``out`` and renamed at the end
(:mod:`ctwatch.export.output`).

Names. Tables and columns are named as AACT (the Clinical Trials Transformation Initiative's
relational copy of the registry) names them where the concept is the same: ``studies``,
``design_groups`` (arms), ``design_group_interventions``, ``design_outcomes``, ``facilities``
(locations), ``sponsors``, ``conditions``, ``eligibilities``, ``brief_title``,
``overall_status``, ``group_type``… Analysts who know AACT, or join its tables with these,
then read an export without a glossary, and a query written for AACT's tables mostly runs
here. ctwatch's own concepts keep ctwatch's names (``criteria``, ``thresholds``,
``snapshots``, ``change_sets``, ``changes``): AACT keeps eligibility as one text blob and has
no history. The mapping from the trial's JSON (``ctwatch parse``) to these tables and AACT's is
a table of the data dictionary (``docs/data-dictionary.md``, made from
:mod:`ctwatch.export.tables` by :mod:`ctwatch.export.dictionary`). Values keep the JSON's
spelling (API v2 enums, dates with their precision). Keys are ctwatch's own, not AACT's
(:mod:`ctwatch.export.keys`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctwatch import sources
from ctwatch.errors import NoSuchSnapshot
from ctwatch.export import history, output, writers
from ctwatch.export.rows import trial_rows
from ctwatch.export.tables import chosen
from ctwatch.store import Store
from ctwatch.store import exports as stored
from ctwatch.timeline import parsed_trial

#: trials (or history rows) whose rows are written at a time
BATCH = 100
FORMATS = ("csv", "sqlite", "parquet")


@dataclass(frozen=True, slots=True)
class Exported:
    """What an export wrote."""

    format: str
    out: Path
    trials: int
    rows: dict[str, int]  # table → rows


def writer_for(fmt: str) -> type[writers.Writer]:
    """The writer of a format; a UsageError naming the fix when it cannot be used here."""
    if fmt == "csv":
        return writers.CsvWriter
    if fmt == "sqlite":
        return writers.SqliteWriter
    if fmt == "parquet":
        from ctwatch.export import parquet

        parquet.require()
        return parquet.ParquetWriter
    raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")


def export(db: Store, out: Path, fmt: str, nct_ids: Sequence[str] = (), *,
           history: bool = False, force: bool = False) -> Exported:
    """Write the tables of the trials named (every stored trial: none) to ``out``."""
    kind = writer_for(fmt)
    named = list(dict.fromkeys(nct_ids)) or None
    with db.transaction(write=False):  # every table from the same store
        if named:
            _refuse_unknown(db, named)
        with output.staged(out, folder=kind.folder, force=force) as temporary:
            writer = kind(temporary, chosen(history))
            try:
                trials = _write_trials(db, named, writer)
                if history:
                    _write_history(db, named, writer)
                writer.close()
            except BaseException:
                writer.abort()
                raise
    return Exported(fmt, out, trials, dict(writer.counts))


def _refuse_unknown(db: Store, nct_ids: list[str]) -> None:
    found = db.with_snapshots(nct_ids)
    missing = [nct_id for nct_id in nct_ids if nct_id not in found]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise NoSuchSnapshot(f"{missing[0]}{more}: no snapshots in the store {db.target}; run "
                             "ctwatch check first, or leave it out")


def _write_trials(db: Store, named: list[str] | None, writer: writers.Writer) -> int:
    count = 0
    for count, latest in enumerate(stored.latest(db, named, sources.PARSER_VERSION), start=1):
        for table, rows in trial_rows(_current(latest), latest.snapshot_id,
                                      latest.fetched_at).items():
            writer.add(table, rows)
        if count % BATCH == 0:
            writer.flush()
    return count


def _current(latest: stored.Latest) -> dict[str, Any]:
    """The trial's published shape, as the current parser reads the snapshot."""
    if latest.raw is None:
        return json.loads(latest.trial)
    return parsed_trial(latest.raw, latest.nct_id, latest.snapshot_id).to_dict()


def _write_history(db: Store, named: list[str] | None, writer: writers.Writer) -> None:
    for count, snapshot in enumerate(stored.snapshot_rows(db, named), start=1):
        writer.add("snapshots", [history.snapshot_row(snapshot)])
        if count % (BATCH * 10) == 0:
            writer.flush()
    writer.flush()
    for count, change_set in enumerate(stored.change_set_rows(db, named), start=1):
        row, changes = history.change_set_rows(change_set)
        writer.add("change_sets", [row])
        writer.add("changes", changes)
        if count % BATCH == 0:
            writer.flush()
