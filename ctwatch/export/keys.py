"""The integer keys of exported rows: the same store content gives the same keys.

A row of a trial's tables is keyed by its trial and its place in it:

    key = NCT number × 1,000,000 + position

position counting from 1 in the order of the trial's JSON, table by table (criteria depth
first: a criterion, then the ones under it; inclusion, then exclusion, then unclassified).
``studies`` and ``eligibilities``, one row a trial, are keyed by the NCT number itself
(NCT04083898 → 4083898). So a key does not depend on which other trials are exported beside
it, and names the same row in every export of the trial until its latest version changes (a
key is a place in that version, not an arm or a criterion across versions).

The history tables keep the store's own ids for snapshots and change sets (``ctwatch history``
and ``ctwatch diff --from`` take them); a change is keyed ``change set id × 1,000,000 +
position``. Every key stays below 2^53, so it survives a column read as floating point (pandas
reads an integer column with nulls so).
"""

from __future__ import annotations

from ctwatch.errors import CtwatchError

PER_PARENT = 1_000_000  # rows a trial (or a change set) may have in one table


def trial_number(nct_id: str) -> int:
    """The key of a trial: its NCT number."""
    return int(nct_id[3:])


def key(parent: int, position: int, *, table: str, owner: str) -> int:
    """The key of the row at ``position`` (from 1) of its parent's rows in ``table``;
    ``owner`` names the parent (trial or change set) in the error when it has too many."""
    if not 0 < position < PER_PARENT:
        raise CtwatchError(f"{owner}: more than {PER_PARENT - 1:,} rows in {table}; the "
                           "export's keys cannot number them")
    return parent * PER_PARENT + position
