"""The history tables' rows (``--history``): snapshots, change sets and their changes.

Change sets are exported as stored when they were found (the parser and rules of that day),
as ``ctwatch diff --from A --to B --format json`` shows a stored one; a change stored before
labels existed gets its label from its path, as everywhere else (:class:`ctwatch.model.Change`).
``old``, ``new``, ``flags`` and ``bounds`` are JSON text; an absent value is null.
"""

from __future__ import annotations

import json
from typing import Any

from ctwatch.export import keys
from ctwatch.export.rows import Row
from ctwatch.model import Change, Severity, top_severity


def snapshot_row(stored: dict[str, Any]) -> Row:
    return {"id": stored["id"], "nct_id": stored["nct_id"],
            "registry_version": stored["registry_version"],
            "registry_date": stored["registry_date"], "fetched_at": stored["fetched_at"],
            "source": stored["source"], "url": stored["url"],
            "parser_version": stored["parser_version"], "content_hash": stored["content_hash"]}


def change_set_rows(stored: dict[str, Any]) -> tuple[Row, list[Row]]:
    """A stored change set's row, and one row per change in it."""
    changes = [Change.from_dict(item) for item in json.loads(stored["changes"])]
    ident = stored["id"]
    moments = {name: stored[name] for name in ("from_version", "to_version", "from_date",
                                               "to_date")}
    owner = f"{stored['nct_id']} change set {ident}"
    rows = [{"id": keys.key(ident, position, table="changes", owner=owner),
             "nct_id": stored["nct_id"], "change_set_id": ident, "position": position,
             "path": change.path, "label": change.label or None, "kind": change.kind,
             "category": change.category or None, "severity": change.severity.value,
             "summary": change.summary or None, "old": _json(change.old),
             "new": _json(change.new), "flags": _json(list(change.flags)),
             "bounds": _json([bound.to_dict() for bound in change.bounds]), **moments}
            for position, change in enumerate(changes, start=1)]
    top = top_severity(changes)
    change_set = {"id": ident, "nct_id": stored["nct_id"],
                  "from_snapshot_id": stored["from_snapshot"],
                  "to_snapshot_id": stored["to_snapshot"], **moments,
                  "created_at": stored["created_at"], "top_severity": (top or Severity.INFO).value,
                  "change_count": len(changes)}
    return change_set, rows


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
