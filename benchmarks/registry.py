"""Watching the whole registry (``searches: [{query: {}, follow: true}]``): a day's work.

    python benchmarks/registry.py [--trials 100000] [--changed 0.003] [--new 50]

On a 2-core machine the default takes 4 minutes at a load average of ~2 (11 at 5-6), nearly
all of it the baseline: the first check reads and stores every record once, 2.4 ms a trial
(~6 ms at load 5-6); ``--trials 5000`` takes ~15-40 s.

The registry runs in this process: benchmarks/check.py's editable synthetic registry (real
records from fixtures/realdata/api_v2 under generated NCT ids), whose last-update dates are
spread as the real registry's are, a day's share of the trials on each of the ``1/changed``
days up to the first data timestamp's (the real registry: ~1,500 of ~550,000 records a day);
the templates' own dates would put a fifth of the trials on one day, and a changed-since
query from near it would read them all. It counts the requests it serves and their body bytes
(uncompressed) by kind, as benchmarks/check.py does: the version, full reads (a list of whole
records), changed-since lists (``filter.advanced``), history indexes; and the records each list
held. Each check is the real command, ``python -m ctwatch check``, in its own process, with a
config.yaml in a temporary folder: ``searches: [{name: everything, query: {}, follow: true}]``,
no trials, a SQLite store there, a file channel, no pacing. Its wall time is measured from
here, its peak memory is its own max RSS (os.wait4).

The runs:

1. the baseline: the first check reads the whole registry once (held to the memory target
   only); its bytes are "a full fetch" for the bytes target;
2. the day: ``--changed`` of the trials edited (benchmarks/check.py's ``publish_changes``: the
   content changes, the last-update date moves to the new day, a history of two versions)
   and ``--new`` trials registered (new ids, first posted and last updated that day), under a
   new data timestamp. Held to (issue 17): changed-since requests (lists with
   ``filter.advanced``) ≤ 10, the version request counted apart, no other request but the
   history lookups; bytes ≤ 5% of a full fetch; wall ≤ 60 s; peak RSS ≤ 1 GB; one search
   change set naming exactly the new trials, one change set per edited trial; exit 0;
3. the quiet day (informational): a new data timestamp and nothing edited, so what a day
   costs whatever changed (start-up, the store's state, the day of overlap read again).

History lookups — one request per alerted change set, for the registry's version numbers of
the alert's comparison link (ctwatch/numbering.py) — are counted apart: at most one per edited
trial and ctwatch.limits.MAX_VERSION_LOOKUPS a run.

Then the extrapolation to 550,000 trials with ~1,500 changed records a day: requests (the
changed-since pages, with the overlap measured, and the version), bytes, and the day's time at
1 request/s: (requests + history lookups) × 1 s, plus a check's start-up, plus the quiet day's
work beyond start-up scaled with the registry's size, plus the measured processing time per
changed record (the day's wall time less the quiet day's, per record that changed) × 1,500.
Goal: ≤ 15 minutes (held). The machine's load average is printed at the start and the end.
Exit status 1 when a held target is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sqlite3
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.check import (  # noqa: E402
    CHECK_STARTUP,
    FIRST_TIMESTAMP,
    MAX_MB,
    EditableRegistry,
    Measured,
    Tally,
    check,
    kind,
    load,
    median_seconds,
    next_stamp,
    publish_changes,
    size,
    tallying,
)
from benchmarks.fetch import FIRST_ID, PLACEHOLDER, TEMPLATES, SyntheticRegistry  # noqa: E402
from ctwatch.fetch import DEFAULT_REQUESTS_PER_SECOND, ApiSettings  # noqa: E402
from ctwatch.limits import MAX_VERSION_LOOKUPS  # noqa: E402
from ctwatch.replay import Registry, ReplayHandler, ReplayServer  # noqa: E402

SEARCH = "everything"
DAY_MAX_CHANGED_SINCE = 10
DAY_MAX_SHARE = 0.05  # of a full fetch's bytes
DAY_MAX_SECONDS = 60.0
REAL_TRIALS = 550_000
REAL_CHANGED = 1_500  # records updated or registered a day
PAGE = ApiSettings().page_size  # records a changed-since request (Client.updated's page)
PACE_S = 1 / DEFAULT_REQUESTS_PER_SECOND  # ctwatch's pace: the registry's robots.txt
GOAL_S = 15 * 60
DATE_PLACEHOLDER = "@@@@-@@-@@"


# -- the registry: dates as the real one's, and new registrations ------------------------------


class DailyRegistry(EditableRegistry):
    """The editable synthetic registry, its generated records' last-update dates spread over
    ``days`` days up to ``last_day`` (1/days of the trials each); and trials registered later
    (:func:`register`). What it publishes is kept in ``published``."""

    def __init__(self, count: int, days: int, last_day: str) -> None:
        super().__init__(count)
        self._dated = [_split_dated(path.read_bytes()) for path in TEMPLATES]
        end = date.fromisoformat(last_day)
        self._days = [(end - timedelta(days=back)).isoformat().encode() for back in range(days)]
        self.registered: list[str] = []
        self.published: list[str] = []

    def generated(self, number: int, day: bytes | None = None) -> bytes:
        """The generated record of trial ``number``, last updated on its day (or ``day``)."""
        before, middle, after = self._dated[number % len(self._dated)]
        # Knuth's multiplicative hash: every n-th trial (publish_changes' edits) spread too
        spread = ((number * 2654435761) & 0xFFFFFFFF) * len(self._days) >> 32
        return before + _nct(number).encode() + middle + (day or self._days[spread]) + after

    def record(self, nct_id: str) -> bytes | None:
        published = Registry.record(self, nct_id)
        if published is not None:
            return published
        if SyntheticRegistry.resolve(self, nct_id) is None:
            return None
        return self.generated(int(nct_id[3:]))

    def ids(self) -> list[str]:
        return [*SyntheticRegistry.ids(self), *self.registered]

    def resolve(self, nct_id: str) -> str | None:
        return SyntheticRegistry.resolve(self, nct_id) or Registry.resolve(self, nct_id)

    def publish(self, record: bytes | Any) -> str:
        nct_id = super().publish(record)
        self.published.append(nct_id)
        return nct_id


def _split_dated(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """A template record cut where its NCT id and its last-update date go."""
    study = json.loads(raw)
    protocol = study["protocolSection"]
    protocol["identificationModule"]["nctId"] = PLACEHOLDER
    protocol["statusModule"]["lastUpdatePostDateStruct"]["date"] = DATE_PLACEHOLDER
    text = json.dumps(study, ensure_ascii=False).encode()
    before, rest = text.split(PLACEHOLDER.encode())
    middle, after = rest.split(DATE_PLACEHOLDER.encode())  # the id comes first in a record
    return before, middle, after


def _nct(number: int) -> str:
    return f"NCT{number:08d}"


def register(registry: DailyRegistry, count: int, stamp: str) -> list[str]:
    """``count`` new trials, first posted and last updated on ``stamp``'s day; their ids."""
    day = stamp[:10]
    first = FIRST_ID + registry.count + len(registry.registered)
    new = []
    for number in range(first, first + count):
        study = json.loads(registry.generated(number, day.encode()))
        protocol = study["protocolSection"]
        protocol["identificationModule"]["briefTitle"] = f"A trial registered on {day}"
        status = protocol["statusModule"]
        status["overallStatus"] = "NOT_YET_RECRUITING"
        status["studyFirstSubmitDate"] = day
        status["studyFirstPostDateStruct"] = {"date": day, "type": "ACTUAL"}
        study.pop("resultsSection", None)
        study["hasResults"] = False
        registry.registered.append(_nct(number))
        registry.publish(study)
        new.append(_nct(number))
    return new


def counting(tally: Tally, records: Counter[str]) -> type[ReplayHandler]:
    """benchmarks/check.py's tallying handler that also counts the records of each list."""
    lock = threading.Lock()

    class Counting(tallying(tally)):  # type: ignore[misc, valid-type]
        def respond(self, route: str, match: re.Match[str] | None, query: Any) -> Any:
            reply = super().respond(route, match, query)
            if route == "list":
                held = sum(chunk.count(b'"protocolSection"') for chunk in reply.chunks)
                with lock:
                    records[kind(route, query)] += held
            return reply

    return Counting


# -- one check, and what it stored --------------------------------------------------------------


@dataclass
class Run:
    """A check, the records its lists held by kind, and what it stored."""

    measured: Measured
    records: Counter[str]
    search_change_sets: list[list[str]]  # the trials each entered (one list per change set)
    change_sets: Counter[str]  # trial → its change sets made by this run
    load: str

    @property
    def requests(self) -> Counter[str]:
        return self.measured.requests

    def sent(self, kind: str) -> int:
        return self.measured.bytes.get(kind, 0)


def write_config(folder: Path, url: str) -> None:
    config = {
        "store": "ctwatch.db",
        "api": {"base_url": url, "requests_per_second": 1_000_000, "timeout_s": 60},
        "trials": [],
        "searches": [{"name": SEARCH, "query": {}, "follow": True}],
        "notify": [{"kind": "file", "path": "alerts.jsonl"}],
    }
    (folder / "config.yaml").write_text(json.dumps(config, indent=1))  # JSON is YAML


def stored_ids(folder: Path) -> tuple[int, int]:
    """The last search change set's id and the last change set's (0: none yet)."""
    path = folder / "ctwatch.db"
    if not path.exists():
        return 0, 0
    with sqlite3.connect(path) as db:
        return (db.execute("select coalesce(max(id), 0) from search_changes").fetchone()[0],
                db.execute("select coalesce(max(id), 0) from change_sets").fetchone()[0])


def measure(tally: Tally, records: Counter[str], folder: Path, name: str) -> Run:
    searched, changed = stored_ids(folder)
    records.clear()
    measured = check(tally, folder, name)
    with sqlite3.connect(folder / "ctwatch.db") as db:
        rows = db.execute("select changes from search_changes where id > ? order by id",
                          (searched,)).fetchall()
        sets = Counter(nct_id for (nct_id,) in db.execute(
            "select nct_id from change_sets where id > ?", (changed,)))
    entered = [[change["path"][len("search.entered["):-1] for change in json.loads(row[0])
                if change["path"].startswith("search.entered[")] for row in rows]
    return Run(measured, records.copy(), entered, sets, load())


# -- the day judged -----------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    value: str
    target: str
    met: bool | None  # None: not held
    baseline: str


def judge(day: Run, baseline: Run, quiet: Run, edited: list[str], new: list[str]) -> list[Row]:
    full = baseline.measured.total_bytes
    allowed = DAY_MAX_SHARE * full
    lookups = day.measured.lookups
    most_lookups = min(len(edited), MAX_VERSION_LOOKUPS)
    apart = {"changed-since", "version", "history_index"}
    others = {k: n for k, n in day.requests.items() if k not in apart}
    base_others = sum(n for k, n in baseline.requests.items() if k not in apart)
    entered = day.search_change_sets
    wanted = Counter(edited)
    stray = sum((day.change_sets - wanted).values()) + sum((wanted - day.change_sets).values())
    peak = day.measured.peak_mb
    return [
        Row("changed-since requests (lists with filter.advanced)",
            str(day.requests["changed-since"]), f"≤ {DAY_MAX_CHANGED_SINCE}",
            day.requests["changed-since"] <= DAY_MAX_CHANGED_SINCE,
            f"{baseline.requests['changed-since']} (and {baseline.requests['full']} full pages)"),
        Row("version request (apart)", str(day.requests["version"]), "apart", None,
            str(baseline.requests["version"])),
        Row("history lookups (apart)", str(lookups),
            f"≤ min(edited {len(edited)}, MAX_VERSION_LOOKUPS {MAX_VERSION_LOOKUPS}) "
            f"= {most_lookups}", lookups <= most_lookups, str(baseline.measured.lookups)),
        Row("other requests (per trial or else)",
            ", ".join(f"{k} {n}" for k, n in sorted(others.items())) or "0", "0",
            not others, str(base_others)),
        Row("bytes downloaded", size(day.measured.total_bytes),
            f"≤ {DAY_MAX_SHARE:.0%} of a full fetch (the baseline's {size(full)}) "
            f"= {size(allowed)}", day.measured.total_bytes <= allowed, size(full)),
        Row("wall time", f"{day.measured.seconds:.1f} s", f"≤ {DAY_MAX_SECONDS:.0f} s",
            day.measured.seconds <= DAY_MAX_SECONDS, f"{baseline.measured.seconds:.1f} s"),
        Row("peak RSS", f"{peak:.0f} MB", f"≤ {MAX_MB:.0f} MB", peak <= MAX_MB,
            f"{baseline.measured.peak_mb:.0f} MB (held: ≤ {MAX_MB:.0f} MB "
            f"{'ok' if baseline.measured.peak_mb <= MAX_MB else 'MISSED'})"),
        Row("search change sets",
            "; ".join(f"{len(ids)} entered" for ids in entered) or "none",
            f"one, naming exactly the {len(new)} new trials",
            len(entered) == 1 and sorted(entered[0]) == sorted(new),
            str(len(baseline.search_change_sets))),
        Row("trial change sets", f"{day.measured.change_sets:,} in the store; "
            f"{sum(day.change_sets.values()):,} made, {len(day.change_sets):,} trials",
            f"one per edited trial ({len(edited):,}), no other", stray == 0,
            f"{sum(baseline.change_sets.values()):,}"),
        Row("exit status", str(day.measured.code), "0", day.measured.code == 0,
            str(baseline.measured.code)),
        Row("quiet day (nothing edited, new timestamp)",
            f"{quiet.measured.total_requests} requests, {size(quiet.measured.total_bytes)}, "
            f"{quiet.measured.seconds:.1f} s, {quiet.measured.peak_mb:.0f} MB, "
            f"{sum(quiet.change_sets.values())} change sets, exit {quiet.measured.code}",
            "informational", None, ""),
    ]


def table(rows: list[Row]) -> None:
    print("| figure | the day | target | met | baseline (first check, same run) |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        met = "-" if row.met is None else ("ok" if row.met else "MISSED")
        print(f"| {row.figure} | {row.value} | {row.target} | {met} | {row.baseline} |")


# -- 550,000 trials -----------------------------------------------------------------------------


def extrapolate(day: Run, quiet: Run, startup: float, trials: int, changed: int) -> bool:
    """Print the day of the real registry; whether it fits the goal."""
    window = day.records["changed-since"]
    overlap = window / changed if changed else 1.0
    mean = day.sent("changed-since") / window if window else 0.0
    scale = REAL_TRIALS / trials
    per_record = max(0.0, day.measured.seconds - quiet.measured.seconds) / changed
    fixed = max(0.0, quiet.measured.seconds - startup) * scale
    read = math.ceil(REAL_CHANGED * overlap)
    pages = math.ceil(read / PAGE)
    plain_pages = math.ceil(REAL_CHANGED / PAGE)
    requests = pages + 1  # and the version
    lookups = min(REAL_CHANGED, MAX_VERSION_LOOKUPS)
    paced = (requests + lookups) * PACE_S
    total = paced + startup + fixed + per_record * REAL_CHANGED
    print(f"\nextrapolated to {REAL_TRIALS:,} trials, ~{REAL_CHANGED:,} records changed or "
          f"registered a day, at {1 / PACE_S:g} request/s:")
    print(f"  measured at {trials:,} trials: the day's changed-since lists held {window:,} "
          f"records for {changed:,} that changed ({overlap:.2f} each: the day of overlap and "
          f"the cursor's own day read again), {size(mean)} a record on average")
    print(f"  requests: ⌈{REAL_CHANGED:,}/{PAGE:,}⌉ = {plain_pages} changed-since pages for the "
          f"changed records alone; with the overlap ⌈{read:,}/{PAGE:,}⌉ = {pages}; + 1 version "
          f"request = {requests}")
    print(f"  history lookups, counted apart: one per alerted change set (the registry's "
          f"version numbers for the alert's comparison link, ctwatch/numbering.py), at most "
          f"MAX_VERSION_LOOKUPS = {MAX_VERSION_LOOKUPS} a run: {lookups} if every change is "
          f"alerted")
    print(f"  bytes: {REAL_CHANGED:,} × {size(mean)} = {size(REAL_CHANGED * mean)} for the "
          f"changed records; with the overlap {size(read * mean)} (a full fetch of "
          f"{REAL_TRIALS:,}: {size(REAL_TRIALS * mean)})")
    print(f"  time: ({requests} requests + {lookups} lookups) × {PACE_S:g} s = {paced:.0f} s; "
          f"start-up {startup:.1f} s; the quiet day's work past start-up × {scale:.1f} = "
          f"{fixed:.1f} s; {per_record * 1000:.1f} ms a changed record (the day less the "
          f"quiet day, per record) × {REAL_CHANGED:,} = {per_record * REAL_CHANGED:.1f} s; "
          f"in all {total:.0f} s = {total / 60:.1f} min "
          f"(goal ≤ {GOAL_S // 60} min: {'ok' if total <= GOAL_S else 'MISSED'})")
    print("  not counted: the real registry's transfer time (a page of 1,000 whole records is "
          f"~{size(PAGE * mean)} uncompressed) and its answer time")
    return total <= GOAL_S


# -- the runs -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000,
                        help="trials of the synthetic registry (default 100,000)")
    parser.add_argument("--changed", type=float, default=0.003,
                        help="share of the trials edited in the day (default 0.003)")
    parser.add_argument("--new", type=int, default=50,
                        help="trials registered in the day (default 50)")
    args = parser.parse_args()
    print(f"ctwatch whole-registry benchmark; {load()}", flush=True)
    days = max(1, round(1 / args.changed))
    registry = DailyRegistry(args.trials, days, FIRST_TIMESTAMP[:10])
    registry.data_timestamp = FIRST_TIMESTAMP
    tally, records = Tally(), Counter[str]()
    with tempfile.TemporaryDirectory(prefix="ctwatch-bench-") as temp, \
            ReplayServer(registry, handler=counting(tally, records)) as server:
        folder = Path(temp)
        write_config(folder, server.url)
        print(f"{args.trials:,} trials at {server.url}, {registry.average_size() / 1024:.1f} kB "
              f"a record on average, last updated over the {days} days up to "
              f"{FIRST_TIMESTAMP[:10]}; store in {folder}; no pacing", flush=True)
        startup = median_seconds(folder, [sys.executable, "-c", CHECK_STARTUP])
        print(f"start-up of a check: {startup:.2f} s (median of 3)", flush=True)
        baseline = measure(tally, records, folder, f"baseline, {args.trials:,} trials")
        stamp = next_stamp(FIRST_TIMESTAMP)
        registry.published.clear()
        publish_changes(registry, args.changed, stamp)
        edited = list(registry.published)
        new = register(registry, args.new, stamp)
        day = measure(tally, records, folder,
                      f"the day: {len(edited):,} edited ({len(edited) / args.trials:.2%}), "
                      f"{len(new)} new")
        registry.data_timestamp = next_stamp(stamp)
        quiet = measure(tally, records, folder, "the quiet day: nothing edited")
    print()
    rows = judge(day, baseline, quiet, edited, new)
    table(rows)
    print()
    for name, run in (("baseline", baseline), ("the day", day), ("the quiet day", quiet)):
        by_kind = ", ".join(f"{k} {run.requests[k]} ({size(run.sent(k))}"
                            + (f", {run.records[k]:,} records" if k in run.records else "")
                            + ")" for k in sorted(run.requests))
        print(f"{name}: {by_kind}; {run.measured.alerts:,} alerts in the file so far; "
              f"{run.load} after it; ctwatch said: {run.measured.summary}")
    fits = extrapolate(day, quiet, startup, args.trials, len(edited) + len(new))
    missed = [row.figure for row in rows if row.met is False]
    if baseline.measured.peak_mb > MAX_MB:
        missed.append("baseline peak RSS")
    if not fits:
        missed.append(f"{REAL_TRIALS:,}-trial day ≤ {GOAL_S // 60} min")
    print(f"\n{load()} at the end")
    print("targets: " + ("all met" if not missed else "MISSED — " + "; ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
