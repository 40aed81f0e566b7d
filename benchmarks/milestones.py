"""What judging compliance milestones costs a check (``compliance_alerts: true``), on many trials.

    python benchmarks/milestones.py [--trials 10000] [--store URL] [--whole 1000]

A store of ``--trials`` trials is made in a temporary folder (a SQLite file; ``--store URL``: a
PostgreSQL database that must hold none of ctwatch's tables, dropped after): one snapshot each,
the real records of fixtures/realdata/api_v2 and NCT04083898 in turn under generated NCT ids
(their normalized JSON is 43 kB on average, above most registry records). Then, timed:

* outlines: reading what judging needs of every latest snapshot (``Store.outlines``: title,
  status, design, oversight, intervention types, a U.S. site or not, extracted by the
  database) and making the trials of them;
* assess: finding their milestones (``ctwatch.compliance.assess``) and the alerts not yet sent;
* first run: ``milestones.queue`` as a day's first check runs it, recording every milestone
  and queueing its alert on one channel, in one transaction;
* next day: the same with every milestone recorded already (what a daily check pays);
* same day: a later check of the same day with no new snapshot (nothing is judged);
* whole trials, the yardstick: reading and decoding ``--whole`` whole latest trials (the
  trial column, ``Trial.from_dict``), scaled to ``--trials``.

Target (issue 16): a day's first judging of 10,000 trials (next day) at most 15% of the whole
trials' yardstick, and a same-day run under 50 ms. Exit status 1 when one is missed.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa

from ctwatch import milestones, sources
from ctwatch.checks import Plan
from ctwatch.model import Trial
from ctwatch.notify import build
from ctwatch.store import Store, content_hash
from ctwatch.store.rows import canonical_json
from ctwatch.store.tables import metadata, snapshots

ROOT = Path(__file__).resolve().parent.parent
RECORDS = [*sorted((ROOT / "fixtures" / "realdata" / "api_v2").glob("*.json")),
           ROOT / "fixtures" / "NCT04083898" / "NCT04083898.json"]
DAY = date(2026, 1, 5)
RATIO_TARGET = 0.15  # next day's judging / whole trials' yardstick
SAME_DAY_TARGET_S = 0.05
CHUNK = 500  # snapshots inserted a statement
T = TypeVar("T")


def templates() -> list[tuple[str, str, bytes]]:
    """(NCT id, canonical trial JSON, compressed raw record) of each real record."""
    found = []
    for path in RECORDS:
        raw = path.read_bytes()
        for trial in sources.parse(raw, path.name):
            found.append((trial.nct_id, canonical_json(trial), zlib.compress(raw, 1)))
    return found


def fill(db: Store, count: int) -> list[str]:
    """``count`` trials of one snapshot each, the templates in turn under generated ids."""
    made, ids = templates(), []
    rows = []
    for number in range(count):
        source_id, text, raw = made[number % len(made)]
        nct_id = f"NCT{20_000_000 + number:08d}"
        ids.append(nct_id)
        trial = text.replace(source_id, nct_id)
        rows.append({"nct_id": nct_id, "fetched_at": "2026-01-05T07:00:00Z",
                     "source": "api_v2", "url": None, "registry_version": None,
                     "registry_date": "2025-12-01", "parser_version": sources.PARSER_VERSION,
                     "content_hash": content_hash(Trial.from_dict(json.loads(trial)))
                     if number < len(made) else f"{number:064d}",
                     "trial": trial, "raw": raw})
    with db.transaction() as conn:
        for start in range(0, len(rows), CHUNK):
            conn.execute(snapshots.insert(), rows[start:start + CHUNK])
    return ids


def timed(work: Callable[[], T]) -> tuple[float, T]:
    """Seconds ``work`` took, and what it gave."""
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def whole(db: Store, ids: list[str]) -> float:
    """Seconds to read and decode the whole latest trials of ``ids``."""
    query = (sa.select(snapshots.c.trial).where(snapshots.c.nct_id.in_(ids)))
    start = time.perf_counter()
    with db.transaction(write=False) as conn:
        trials = [Trial.from_dict(json.loads(text)) for text in conn.execute(query).scalars()]
    assert len(trials) == len(ids)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--store", help="a PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--whole", type=int, default=1_000,
                        help="whole trials decoded for the yardstick (scaled to --trials)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Store(args.store or str(Path(folder) / "ctwatch.db"))
        try:
            return run(db, args.trials, args.whole)
        finally:
            if args.store:
                with db.engine.begin() as conn:
                    metadata.drop_all(conn)
            db.close()


def run(db: Store, count: int, sample: int) -> int:
    print(f"store: {db.target}; making {count:,} trials …", flush=True)
    ids = fill(db, count)
    plan = Plan(trials=tuple(ids), channels=build([{"kind": "stdout"}], stdout=io.StringIO()),
                today=lambda: DAY, milestones=True)
    outline_s, judged = timed(lambda: milestones.judged(db, ids))
    assess_s, found = timed(lambda: milestones.reached(plan, judged, DAY, db.milestone_keys()))
    first_s, queued = timed(lambda: milestones.queue(plan, db, set()))
    later = replace(plan, today=lambda: DAY + timedelta(days=1))
    next_s, again = timed(lambda: milestones.queue(later, db, set()))
    same_s, none = timed(lambda: milestones.queue(later, db, set()))
    whole_s = whole(db, ids[:sample]) * count / sample
    print(f"outlines     {outline_s:7.2f} s  ({outline_s / count * 1e6:.0f} µs a trial)")
    print(f"assess       {assess_s:7.2f} s  ({len(found):,} milestones found)")
    print(f"first run    {first_s:7.2f} s  ({len(queued):,} recorded and queued)")
    print(f"next day     {next_s:7.2f} s  ({len(again):,} new)")
    print(f"same day     {same_s:7.3f} s  ({len(none):,} new, nothing judged)")
    print(f"whole trials {whole_s:7.2f} s  (yardstick: {sample:,} decoded, scaled to "
          f"{count:,})")
    ratio = next_s / whole_s
    print(f"next day / whole trials: {ratio:.1%} (target ≤ {RATIO_TARGET:.0%}); same day "
          f"{same_s * 1000:.0f} ms (target ≤ {SAME_DAY_TARGET_S * 1000:.0f} ms)")
    return 0 if ratio <= RATIO_TARGET and same_s <= SAME_DAY_TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
