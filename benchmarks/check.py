"""`ctwatch check` over many watched trials against a local registry: requests, bytes, time, memory.

    python benchmarks/check.py [--trials 10000] [--changed 0.01] [--big-trials 100000]
                               [--big-changed 0.003] [--skip-100k] [--cadence-hours 24]
                               [--profile DIR] [--store URL]

The default runs everything below: ~8 minutes on 2 cores, 6 of them the first check of
100,000 trials (~3.5 ms a trial); ``--skip-100k`` stops after the 10,000-trial runs (~1 minute).

The registry runs in this process (benchmarks/fetch.py's synthetic one: real records from
fixtures/realdata/api_v2 under generated NCT ids; an edited record is published over the
generated one, with a history of two versions) and counts the requests it serves and their body
bytes (uncompressed), by kind: the version, the light probe (a list with ``fields=``), full
reads (a list of whole records), changed-since lists (``filter.advanced``), history indexes.
Each check is the real command, ``python -m ctwatch check``, in its own process, with a
config.yaml in a temporary folder (a SQLite store there, a file channel, no pacing); its wall
time is measured from here and its peak memory is its own max RSS (os.wait4).

An edit is made the way the registry makes one: the content changes (enrollment count + 10),
``lastUpdatePostDateStruct.date`` moves to the day of a new data timestamp, which is published.

Runs, and their targets (issue 13; each judged against a yardstick measured in the same run):

* 10,000 trials, first check: ≤ 12 requests; wall ≤ 8× fetch-only and ≤ 60 s (idle machine);
* 10,000 trials, nothing changed upstream: ≤ 1 request, ≤ 1 kB ("tiny"), wall ≤ 2× start-up
  (the median of 3 such runs);
* 10,000 trials, 1% changed: ≤ 12 + ⌈changed/1000⌉ requests (+ history lookups), bytes and
  wall time each ≤ 10% of the first check's;
* 100,000 trials, first check: measured (it makes the store), held to the memory target only;
* 100,000 trials, 0.3% changed: ≤ 105 + ⌈changed/1000⌉ requests (+ history lookups), bytes
  ≤ 10% of a full fetch's, wall ≤ 60 s.

History lookups (one request per alerted change set, for the registry's version numbers) are
counted apart: at most one per changed trial and ctwatch.limits.MAX_VERSION_LOOKUPS a run.
Every check: exit 0, peak RSS ≤ 1 GB (for 100,000 trials too: streamed, not held), and a
changed run makes exactly one change set per edited trial. "nothing changed" means the
registry's dataTimestamp did not move: the check asks /api/v2/version and stops.

Yardsticks: fetch-only is fetching the same trials with ctwatch's client, nothing parsed or
stored (benchmarks/fetch.py's batched child; for 10,000 trials the median of 3 runs); for
100,000 trials it is also "a full fetch" for the bytes target. Start-up is the start-up of a
check: a Python process that imports ctwatch's command line and the libraries a check stands
on (click, PyYAML, SQLAlchemy, requests), the median of 3. ``python -m ctwatch --version``
(which imports none of them) is printed beside it for information, with the nothing-changed
check's ratio to it: importing SQLAlchemy and requests alone takes several times as long as
``--version``, so a check that stores its runs with the one and asks the registry with the
other cannot come within 2× of it.

Informational, not held to a target:

* the changed run's alternative design, measured against the same registry state by a child
  with ctwatch's client only: the probe and a full read of the trials it says moved, against
  ``Client.changed_since(watched ids, day of the last run's data timestamp - 1 day)``;
* ``--cadence-hours`` (default 24; 0 skips it): one more 1%-changed check of the 10,000 trials
  with the store's clock moved back that many hours (runs and reads), as a daily cron finds it:
  the rolling sweep then reads its share of the trials in full (hours / api.full_sweep_days).

``--store URL`` runs the checks against that store (``postgresql://user@host/db``; its password
in the URL, or libpq's PGPASSWORD or ~/.pgpass) instead of a SQLite file in the temporary
folder, and reads its counts through SQLAlchemy. The database must hold none of ctwatch's
tables (it is refused otherwise): the benchmark creates them with its first check and drops
them after the 10,000-trial runs and after the 100,000-trial runs, each of which starts from an
empty store.

``--profile DIR`` runs the 10,000-trial checks under cProfile (DIR/first.prof,
DIR/unchanged.prof, DIR/changed.prof) and skips the 100,000-trial runs; its wall times are then
not comparable. The machine's load average is printed at the start and the end.
Exit status 1 when a held target is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.fetch import FIRST_ID, SyntheticRegistry  # noqa: E402
from benchmarks.fetch import measure as measure_fetch  # noqa: E402
from ctwatch.errors import FetchError  # noqa: E402
from ctwatch.fetch import ApiSettings, Client  # noqa: E402
from ctwatch.limits import MAX_VERSION_LOOKUPS  # noqa: E402
from ctwatch.logs import mask_url  # noqa: E402
from ctwatch.replay import Registry, ReplayHandler, ReplayServer, Version  # noqa: E402

MAX_MB = 1024.0
FIRST_MAX_REQUESTS = 12
FIRST_MAX_SECONDS = 60.0
FIRST_MAX_FETCH_RATIO = 8.0
CHANGED_BASE_REQUESTS = 12  # + ⌈changed/1000⌉ for 10,000 trials
BIG_CHANGED_BASE_REQUESTS = 105  # + ⌈changed/1000⌉ for 100,000 trials
CHANGED_MAX_SHARE = 0.10  # of the first check's (or a full fetch's) bytes and wall time
BIG_CHANGED_MAX_SECONDS = 60.0
UNCHANGED_MAX_REQUESTS = 1
UNCHANGED_MAX_BYTES = 1024
UNCHANGED_MAX_STARTUP_RATIO = 2.0
FIRST_TIMESTAMP = "2026-01-05T09:00:05"


# -- the registry: edits, and what each request asked for ---------------------------------------


class EditableRegistry(SyntheticRegistry):
    """The synthetic registry, where a published record replaces the generated one."""

    def record(self, nct_id: str) -> bytes | None:
        return Registry.record(self, nct_id) or SyntheticRegistry.record(self, nct_id)


def edit(raw: bytes, day: str) -> tuple[dict[str, Any], str]:
    """A new version of a record, posted on ``day``: an enrollment change (major), the
    last-update date moved, the registry's bookkeeping; and the date of the version before."""
    study = json.loads(raw)
    protocol = study["protocolSection"]
    before = protocol["statusModule"]["lastUpdatePostDateStruct"]["date"]
    enrollment = protocol.setdefault("designModule", {}).setdefault("enrollmentInfo", {})
    enrollment["count"] = int(enrollment.get("count") or 0) + 10
    protocol["statusModule"]["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
    study.setdefault("derivedSection", {}).setdefault("miscInfoModule", {})["versionHolder"] = day
    return study, before


def publish_changes(registry: EditableRegistry, share: float, stamp: str, offset: int = 0) -> int:
    """Edit ``share`` of the trials (every 1/share-th, from the ``offset``-th), as posted on
    ``stamp``'s day; publish the data timestamp ``stamp``. How many were edited."""
    step = max(1, round(1 / share)) if share > 0 else registry.count + 1
    day = stamp[:10]
    edited = 0
    for number in range(FIRST_ID + offset, FIRST_ID + registry.count, step):
        nct_id = f"NCT{number:08d}"
        study, before = edit(registry.record(nct_id) or b"{}", day)
        status = study["protocolSection"]["statusModule"].get("overallStatus")
        small = {"protocolSection": {"statusModule": {"overallStatus": status}}}
        if not registry.versions(nct_id)[1:]:  # the history index lists the version before
            registry.add_version(nct_id, Version(date=before, study=small))
        registry.add_version(nct_id, Version(date=day, study=small))
        registry.publish(study)
        edited += 1
    registry.data_timestamp = stamp
    return edited


class Tally:
    """Requests served and their body bytes, by kind (see ``kind``)."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, kind: str, size: int) -> None:
        with self._lock:
            self.requests[kind] += 1
            self.bytes[kind] += size

    def take(self) -> tuple[Counter[str], Counter[str]]:
        """The counts so far, and start again from zero."""
        with self._lock:
            taken = self.requests.copy(), self.bytes.copy()
            self.requests.clear()
            self.bytes.clear()
        return taken


def kind(route: str, query: dict[str, list[str]]) -> str:
    """What a request asked for: the route, and for lists whether it was the light probe
    (``fields=``), a changed-since query (``filter.advanced``) or a read of whole records."""
    if route == "list":
        if "filter.advanced" in query:
            return "changed-since"
        return "probe" if "fields" in query else "full"
    if route == "study" and "fields" in query:
        return "probe-one"
    return route


def tallying(tally: Tally) -> type[ReplayHandler]:
    class Tallying(ReplayHandler):
        def respond(self, route: str, match: re.Match[str] | None, query: Any) -> Any:
            reply = super().respond(route, match, query)
            tally.add(kind(route, query), sum(map(len, reply.chunks)))
            return reply

    return Tallying


# -- one check, measured ------------------------------------------------------------------------


@dataclass
class Measured:
    """One `ctwatch check` process as seen from outside, and its targets by column."""

    name: str
    code: int
    seconds: float
    peak_mb: float
    requests: Counter[str]
    bytes: Counter[str]
    summary: str
    snapshots: int = 0
    change_sets: int = 0
    alerts: int = 0
    numbered: int = 0  # snapshots with a registry version number
    # column → [(target, met)]; a run that is not held shows its verdicts but never fails
    targets: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    held: bool = True

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    @property
    def lookups(self) -> int:
        return self.requests.get("history_index", 0)

    def missed(self) -> list[str]:
        return [f"{column} {target}" for column, judged in self.targets.items()
                for target, ok in judged if not ok]


def run_process(command: list[str], folder: Path) -> tuple[int, float, float, str, str]:
    """Run a command to its end: exit code, wall seconds, its own peak RSS in MB, stdout,
    stderr."""
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    env["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=err)
        # wait4 gives this child's own rusage; RUSAGE_CHILDREN would be the max over all runs.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    return process.returncode, seconds, usage.ru_maxrss / 1024, stdout, stderr  # Linux: kB


def check(tally: Tally, folder: Path, name: str, profile: Path | None = None,
          store: str | None = None) -> Measured:
    tally.take()
    command = [sys.executable, "-m", "ctwatch", "check"]
    if profile is not None:
        command[1:1] = ["-m", "cProfile", "-o", str(profile)]
    code, seconds, peak_mb, _, stderr = run_process(command, folder)
    requests, sizes = tally.take()
    lines = stderr.strip().splitlines()
    measured = Measured(name, code, seconds, peak_mb, requests, sizes, lines[-1] if lines else "")
    if code != 0:
        print(f"{name}: exit {code}\n{stderr}", file=sys.stderr)
    measured.snapshots, measured.change_sets, measured.numbered = store_counts(folder, store)
    alerts = folder / "alerts.jsonl"
    measured.alerts = len(alerts.read_text().splitlines()) if alerts.exists() else 0
    print(f"  … {name}: {measured.total_requests} requests, {size(measured.total_bytes)}, "
          f"{seconds:.1f} s, {peak_mb:.0f} MB, exit {code}", flush=True)
    return measured


#: what a check stored: snapshots, change sets, snapshots with a registry version number
COUNTS = ("select count(*) from snapshots", "select count(*) from change_sets",
          "select count(*) from snapshots where registry_version is not null")


def store_counts(folder: Path, store: str | None) -> tuple[int, int, int]:
    """COUNTS, from the SQLite file in ``folder`` or from the ``store`` URL (SQLAlchemy)."""
    if store is None:
        with sqlite3.connect(folder / "ctwatch.db") as db:
            found = [db.execute(query).fetchone()[0] for query in COUNTS]
    else:  # SQLAlchemy is imported only for --store: the SQLite runs go on without it
        from benchmarks import stores

        found = stores.counts(store, COUNTS)
    return found[0], found[1], found[2]


def startup_seconds(folder: Path, *arguments: str, repeat: int = 3) -> float:
    """The median wall time of ``python -m ctwatch ARGUMENTS``."""
    return median_seconds(folder, [sys.executable, "-m", "ctwatch", *arguments], repeat)


#: a check's start-up: its command line and the libraries it cannot work without
CHECK_STARTUP = "import ctwatch.cli, click, yaml, sqlalchemy, requests"
YARDSTICK_RUNS = 3  # fetch-only runs of the 10,000 trials: the median is the yardstick


def median_seconds(folder: Path, command: list[str], repeat: int = 3) -> float:
    return statistics.median(run_process(command, folder)[1] for _ in range(repeat))


def write_config(folder: Path, url: str, count: int, store: str | None = None) -> None:
    trials = [f"NCT{number:08d}" for number in range(FIRST_ID, FIRST_ID + count)]
    config = {
        "store": store or "ctwatch.db",
        "api": {"base_url": url, "requests_per_second": 1_000_000, "timeout_s": 60},
        "trials": trials,
        "notify": [{"kind": "file", "path": "alerts.jsonl"}],
    }
    (folder / "config.yaml").write_text(json.dumps(config, indent=1))  # JSON is YAML


def age_store(folder: Path, hours: float, store: str | None = None) -> None:
    """Move every moment the triage reads (runs, reads) ``hours`` back: the next check finds
    the store as it would that much later."""
    shift = timedelta(hours=hours)

    def back(value: str | None) -> str | None:
        if not value:
            return value
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")) - shift
        return moment.isoformat().replace("+00:00", "Z")

    columns = {"runs": ("started_at", "finished_at"),
               "trial_state": ("last_checked", "last_success", "last_full_read")}
    if store is not None:
        from benchmarks import stores

        stores.change_moments(store, columns, back)
        return
    with sqlite3.connect(folder / "ctwatch.db") as db:
        db.create_function("back", 1, back)
        for table, moments in columns.items():
            db.execute(f"update {table} set "
                       + ", ".join(f"{column} = back({column})" for column in moments))


# -- the alternative design: client only, against the same registry state ----------------------


def run_child(approach: str, url: str, count: int, since: str) -> None:
    """Find and read the trials that moved since ``since``, with ctwatch's client only."""
    ids = [f"NCT{number:08d}" for number in range(FIRST_ID, FIRST_ID + count)]
    settings = ApiSettings(base_url=url, requests_per_second=1_000_000, timeout_s=60)
    found = failed = 0
    started = time.perf_counter()
    with Client(settings) as client:
        if approach == "probe":
            moved = [result.nct_id for result in client.last_updates(ids)
                     if not isinstance(result, FetchError)
                     and (result.last_update_posted or "") >= since]
            results: Iterator[Any] = client.fetch_studies(moved) if moved else iter(())
        else:
            results = client.changed_since(ids, since)
        for result in results:
            failed += isinstance(result, FetchError)
            found += not isinstance(result, FetchError)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "found": found, "failed": failed}))


@dataclass
class Alternative:
    name: str
    seconds: float
    peak_mb: float
    found: int
    requests: Counter[str]
    bytes: Counter[str]


def alternatives(tally: Tally, url: str, count: int, since: str) -> list[Alternative]:
    measured = []
    for approach, name in (("probe", "probe, then full read of the moved"),
                           ("changed-since", f"changed_since(ids, {since})")):
        tally.take()
        command = [sys.executable, __file__, "--child", approach, "--url", url,
                   "--trials", str(count), "--since", since]
        code, _, _, stdout, stderr = run_process(command, ROOT)
        if code != 0:
            raise SystemExit(f"the {approach} child failed:\n{stderr}")
        result = json.loads(stdout)
        requests, sizes = tally.take()
        measured.append(Alternative(name, result["seconds"], result["peak_mb"],
                                    result["found"] + result["failed"], requests, sizes))
    return measured


def day_before(stamp: str) -> str:
    return (date.fromisoformat(stamp[:10]) - timedelta(days=1)).isoformat()


def next_stamp(stamp: str) -> str:
    return (datetime.fromisoformat(stamp) + timedelta(days=1)).isoformat()


# -- targets ------------------------------------------------------------------------------------


def judge_first(run: Measured, fetch_seconds: float, trials: int) -> None:
    wall = FIRST_MAX_FETCH_RATIO * fetch_seconds
    run.targets = {
        "requests": [(f"≤ {FIRST_MAX_REQUESTS}", run.total_requests <= FIRST_MAX_REQUESTS)],
        "wall": [(f"≤ {FIRST_MAX_FETCH_RATIO:g}× fetch-only = {wall:.1f} s", run.seconds <= wall),
                 (f"≤ {FIRST_MAX_SECONDS:.0f} s", run.seconds <= FIRST_MAX_SECONDS)],
        **common(run, snapshots=trials),
    }


def judge_big_first(run: Measured, trials: int) -> None:
    run.targets = common(run, snapshots=trials)


def judge_unchanged(run: Measured, startup: float) -> None:
    wall = UNCHANGED_MAX_STARTUP_RATIO * startup
    run.targets = {
        "requests": [(f"≤ {UNCHANGED_MAX_REQUESTS}",
                      run.total_requests <= UNCHANGED_MAX_REQUESTS)],
        "bytes": [(f"≤ {size(UNCHANGED_MAX_BYTES)}", run.total_bytes <= UNCHANGED_MAX_BYTES)],
        "wall": [(f"≤ {UNCHANGED_MAX_STARTUP_RATIO:g}× start-up = {wall:.2f} s",
                  run.seconds <= wall)],
        **common(run),
    }


def judge_changed(run: Measured, *, base: int, changed: int, full_bytes: int,
                  full_bytes_name: str, wall_s: float, wall_name: str, change_sets: int) -> None:
    allowed = base + math.ceil(changed / 1000)
    lookups = min(changed, MAX_VERSION_LOOKUPS)
    share = CHANGED_MAX_SHARE * full_bytes
    run.targets = {
        "requests": [(f"≤ {base} + ⌈{changed}/1000⌉ = {allowed} without lookups",
                      run.total_requests - run.lookups <= allowed),
                     (f"lookups ≤ {lookups}", run.lookups <= lookups)],
        "bytes": [(f"≤ {CHANGED_MAX_SHARE:.0%} of {full_bytes_name} = {size(share)}",
                   run.total_bytes <= share)],
        "wall": [(f"≤ {wall_name} = {wall_s:.1f} s", run.seconds <= wall_s)],
        **common(run, change_sets=change_sets),
    }


def common(run: Measured, *, snapshots: int | None = None,
           change_sets: int | None = None) -> dict[str, list[tuple[str, bool]]]:
    other = [("exit 0", run.code == 0)]
    if snapshots is not None:
        other.append((f"{snapshots:,} snapshots", run.snapshots == snapshots))
    if change_sets is not None:
        other.append((f"{change_sets:,} change sets", run.change_sets == change_sets))
    return {"peak": [(f"≤ {MAX_MB:.0f} MB", run.peak_mb <= MAX_MB)], "other": other}


# -- the tables ---------------------------------------------------------------------------------


def size(count: float) -> str:
    if count < 10_000:
        return f"{count:,.0f} B"
    if count < 10_000_000:
        return f"{count / 1e3:,.1f} kB"
    return f"{count / 1e6:,.1f} MB"


def cell(figure: str, judged: list[tuple[str, bool]]) -> str:
    if not judged:
        return figure
    return figure + " (" + "; ".join(f"{t} {'ok' if ok else 'MISSED'}" for t, ok in judged) + ")"


def kinds(counts: Counter[str], sizes: Counter[str]) -> str:
    return ", ".join(f"{name} {counts[name]} ({size(sizes[name])})"
                     for name in sorted(counts)) or "none"


def table(runs: list[Measured]) -> None:
    print("| run | requests | bytes downloaded | wall time | peak RSS | also |")
    print("| --- | --- | --- | --- | --- | --- |")
    for run in runs:
        lookups = f", {run.lookups} of them lookups" if run.lookups else ""
        name = run.name + ("" if run.held else " (not held)")
        print(f"| {name} "
              f"| {cell(f'{run.total_requests}{lookups}', run.targets.get('requests', []))} "
              f"| {cell(size(run.total_bytes), run.targets.get('bytes', []))} "
              f"| {cell(f'{run.seconds:.2f} s', run.targets.get('wall', []))} "
              f"| {cell(f'{run.peak_mb:.0f} MB', run.targets.get('peak', []))} "
              f"| {cell(f'{run.change_sets:,} change sets', run.targets.get('other', []))} |")


def details(runs: list[Measured], trials: dict[str, int]) -> None:
    for run in runs:
        per_trial = run.seconds / trials[run.name] * 1000
        print(f"{run.name}: {per_trial:.2f} ms per watched trial; by kind: "
              f"{kinds(run.requests, run.bytes)}; {run.snapshots:,} snapshots, "
              f"{run.numbered:,} with a version number, {run.alerts:,} alerts written; "
              f"ctwatch said: {run.summary}")


def compare(name: str, check_run: Measured, found: list[Alternative]) -> None:
    print(f"\n{name}: finding and reading the changed trials, two designs, same registry state")
    print(f"  {'':<44} {'requests':>8} {'bytes':>10} {'client s':>9} {'found':>6}  by kind")
    for alternative in found:
        print(f"  {alternative.name:<44} {sum(alternative.requests.values()):>8} "
              f"{size(sum(alternative.bytes.values())):>10} {alternative.seconds:>9.2f} "
              f"{alternative.found:>6}  {kinds(alternative.requests, alternative.bytes)}")
    print(f"  {'the check itself (probe design, all of it)':<44} {check_run.total_requests:>8} "
          f"{size(check_run.total_bytes):>10} {check_run.seconds:>9.2f} {'':>6}  "
          f"{kinds(check_run.requests, check_run.bytes)}")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def file_system(path: Path) -> str:
    """The type of the file system holding ``path`` (from /proc/mounts), or "?"."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "?"
    resolved = str(path.resolve())
    found = [(point, kind) for point, kind in mounts
             if resolved == point or resolved.startswith(point.rstrip("/") + "/")]
    return max(found, key=lambda item: len(item[0]))[1] if found else "?"


# -- the runs -----------------------------------------------------------------------------------


@contextmanager
def registry_at(count: int, store: str | None = None,
                ) -> Iterator[tuple[EditableRegistry, ReplayServer, Tally, Path]]:
    """A registry of ``count`` trials, and a folder whose config.yaml watches them; with
    ``store`` (--store), in that store, whose tables are dropped at the end."""
    registry = EditableRegistry(count)
    registry.data_timestamp = FIRST_TIMESTAMP
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="ctwatch-bench-") as temp, \
            ReplayServer(registry, handler=tallying(tally)) as server:
        folder = Path(temp)
        write_config(folder, server.url, count, store)
        where = (f"store in {folder} ({file_system(folder)})" if store is None
                 else f"store {mask_url(store)}")
        print(f"\n{count:,} watched trials: local registry at {server.url}; {where}; {load()}",
              flush=True)
        try:
            yield registry, server, tally, folder
        finally:
            if store is not None:
                from benchmarks import stores

                stores.drop_tables(store)


def small_runs(args: argparse.Namespace, runs: list[Measured], trials: dict[str, int]) -> None:
    count = args.trials
    store = args.store
    with registry_at(count, store) as (registry, server, tally, folder):
        print(f"records: real fixtures under generated ids, "
              f"{registry.average_size() / 1024:.1f} kB on average; no pacing", flush=True)
        fetches = []
        for _ in range(YARDSTICK_RUNS):  # one run of it varied by a third from run to run
            fetches.append(measure_fetch(server, "batched", count))
            fetch_bytes = sum(tally.take()[1].values())
        fetch_only = sorted(fetches, key=lambda run: run["seconds"])[len(fetches) // 2]
        startup = median_seconds(folder, [sys.executable, "-c", CHECK_STARTUP])
        version = startup_seconds(folder, "--version")
        each = ", ".join(f"{run['seconds']:.2f}" for run in fetches)
        print(f"yardsticks: fetch only {fetch_only['requests']:.0f} requests, "
              f"{size(fetch_bytes)}, {fetch_only['seconds']:.2f} s (median of {each}), "
              f"{fetch_only['peak_mb']:.0f} MB; start-up of a check {startup:.2f} s; "
              f"--version {version:.2f} s", flush=True)
        profile = args.profile
        first = check(tally, folder, f"{count:,} trials, first check",
                      profile / "first.prof" if profile else None, store)
        judge_first(first, fetch_only["seconds"], count)
        # A second and third run find the registry unchanged too: the median of three, as
        # for the start-up it is held to (one run of 0.6 s varies by a fifth)
        unchanged = sorted((check(tally, folder, f"{count:,} trials, nothing changed upstream",
                                  profile / "unchanged.prof" if profile and not run else None,
                                  store)
                            for run in range(YARDSTICK_RUNS)), key=lambda m: m.seconds)[1]
        judge_unchanged(unchanged, startup)
        print(f"  (nothing changed upstream: {unchanged.seconds / startup:.1f}× a check's "
              f"start-up, {unchanged.seconds / version:.1f}× --version)", flush=True)
        stamp = next_stamp(FIRST_TIMESTAMP)
        edited = publish_changes(registry, args.changed, stamp)
        found = alternatives(tally, server.url, count, day_before(FIRST_TIMESTAMP))
        changed = check(tally, folder, f"{count:,} trials, {args.changed:.0%} changed",
                        profile / "changed.prof" if profile else None, store)
        judge_changed(changed, base=CHANGED_BASE_REQUESTS, changed=edited,
                      full_bytes=first.total_bytes, full_bytes_name="the first check's",
                      wall_s=CHANGED_MAX_SHARE * first.seconds,
                      wall_name=f"{CHANGED_MAX_SHARE:.0%} of the first check's",
                      change_sets=first.change_sets + edited)
        batch = [first, unchanged, changed]
        if args.cadence_hours > 0:
            age_store(folder, args.cadence_hours, store)
            before = stamp
            stamp = next_stamp(stamp)
            again = publish_changes(registry, args.changed, stamp, offset=1)
            later = check(tally, folder, f"{count:,} trials, {args.changed:.0%} changed, "
                          f"{args.cadence_hours:g} h after the last check", store=store)
            judge_changed(later, base=CHANGED_BASE_REQUESTS, changed=again,
                          full_bytes=first.total_bytes, full_bytes_name="the first check's",
                          wall_s=CHANGED_MAX_SHARE * first.seconds,
                          wall_name=f"{CHANGED_MAX_SHARE:.0%} of the first check's",
                          change_sets=changed.change_sets + again)
            later.held = False
            batch.append(later)
        runs.extend(batch)
        trials.update({run.name: count for run in batch})
        compare(changed.name, changed, found)
        print(f"  (edited {edited:,} trials, {edited / count:.1%}; changed-since from the day "
              f"before the last run's data timestamp {FIRST_TIMESTAMP})")
        if args.cadence_hours > 0:
            print(f"  the later run's timestamp {stamp} follows {before}; "
                  f"{again:,} other trials edited")


def big_runs(args: argparse.Namespace, runs: list[Measured], trials: dict[str, int]) -> None:
    count = args.big_trials
    with registry_at(count, args.store) as (registry, server, tally, folder):
        fetch_only = measure_fetch(server, "batched", count)
        fetch_bytes = sum(tally.take()[1].values())
        print(f"yardstick: a full fetch (fetch only) {fetch_only['requests']:.0f} requests, "
              f"{size(fetch_bytes)}, {fetch_only['seconds']:.1f} s, "
              f"{fetch_only['peak_mb']:.0f} MB", flush=True)
        first = check(tally, folder, f"{count:,} trials, first check", store=args.store)
        judge_big_first(first, count)
        print(f"  first check: {first.seconds / fetch_only['seconds']:.1f}× the wall time of "
              f"fetching alone; {load()}", flush=True)
        edited = publish_changes(registry, args.big_changed, next_stamp(FIRST_TIMESTAMP))
        found = alternatives(tally, server.url, count, day_before(FIRST_TIMESTAMP))
        changed = check(tally, folder, f"{count:,} trials, {args.big_changed:.1%} changed",
                        store=args.store)
        judge_changed(changed, base=BIG_CHANGED_BASE_REQUESTS, changed=edited,
                      full_bytes=fetch_bytes, full_bytes_name="a full fetch",
                      wall_s=BIG_CHANGED_MAX_SECONDS, wall_name="the target",
                      change_sets=first.change_sets + edited)
        runs.extend([first, changed])
        trials.update({first.name: count, changed.name: count})
        compare(changed.name, changed, found)
        print(f"  (edited {edited:,} trials, {edited / count:.1%})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.01,
                        help="share of the trials edited before the changed check")
    parser.add_argument("--big-trials", type=int, default=100_000,
                        help="trials of the big runs (first check, then a changed one)")
    parser.add_argument("--big-changed", type=float, default=0.003,
                        help="share of the big runs' trials edited")
    parser.add_argument("--skip-100k", action="store_true",
                        help="only the --trials runs (~1 minute instead of ~8)")
    parser.add_argument("--cadence-hours", type=float, default=24.0,
                        help="hours the store is aged before one more changed check (0: none)")
    parser.add_argument("--profile", type=Path,
                        help="profile the --trials checks into this folder (no 100k runs)")
    parser.add_argument("--store", metavar="URL",
                        help="check against this store (e.g. postgresql://user@host/db, holding "
                             "none of ctwatch's tables) instead of a SQLite file in the temporary "
                             "folder; its tables are dropped after the runs")
    parser.add_argument("--child", choices=["probe", "changed-since"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--since", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.url, args.trials, args.since)
        return 0
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        args.profile = args.profile.resolve()
    if args.store:
        from benchmarks import stores

        stores.refuse_tables(args.store)
    print(f"ctwatch check benchmark; {load()}", flush=True)
    runs: list[Measured] = []
    trials: dict[str, int] = {}
    small_runs(args, runs, trials)
    if not (args.skip_100k or args.profile):
        big_runs(args, runs, trials)
    print()
    table(runs)
    print()
    details(runs, trials)
    missed = [f"{run.name}: {', '.join(run.missed())}" for run in runs
              if run.held and run.missed()]
    print(f"\n{load()} at the end")
    if args.profile:
        print(f"profiles in {args.profile} (first, unchanged, changed .prof): wall times not "
              "comparable")
    print("targets: " + ("all met" if not missed else "MISSED — " + "; ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
