"""`ctwatch check` over many watched trials against a local registry: requests, time, memory.

    python benchmarks/check.py [--trials 10000] [--changed 0.01]

The registry runs in this process (benchmarks/fetch.py's synthetic one: real records from
fixtures/realdata/api_v2 under generated NCT ids) and counts the requests it serves. Each check
is the real command, ``python -m ctwatch check``, in its own process, with a config.yaml in a
temporary folder (a SQLite store there, a file channel, no pacing); its wall time is measured
from here and its peak memory is its own max RSS (os.wait4), as /usr/bin/time reports it.
Three checks run on the same store:

1. the first check: a baseline snapshot for every trial;
2. a rerun while the registry's dataTimestamp has not moved;
3. a check after a new dataTimestamp, with ``--changed`` of the trials edited (enrollment
   count and last-update date): one change set each is expected.

Yardsticks measured in the same run: fetching the same trials with ctwatch's client and
decoding them, nothing parsed or stored (benchmarks/fetch.py's batched child) — the part of a
check no design can avoid — and starting the program (``python -m ctwatch --version``), the
floor of the rerun. The store goes to $TMPDIR; its file system is printed, as the store commits
one transaction per trial.
Targets (issue 4): ≤ 12 requests, ≤ 120 s, ≤ 1 GB on 2 cores; the rerun ≤ 2 requests. A
changed trial costs one more request (its history index, for the version numbers of the
comparison link); the table shows those by route and counts them apart from the 12.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.fetch import FIRST_ID, SyntheticRegistry  # noqa: E402
from benchmarks.fetch import measure as measure_fetch  # noqa: E402
from ctwatch.replay import Registry, ReplayServer  # noqa: E402

MAX_REQUESTS = 12
MAX_SECONDS = 120.0
MAX_MB = 1024.0
MAX_RERUN_REQUESTS = 2
FIRST_TIMESTAMP = "2026-01-05T09:00:05"
NEXT_TIMESTAMP = "2026-01-06T09:00:05"


class EditableRegistry(SyntheticRegistry):
    """The synthetic registry, where a published record replaces the generated one."""

    def record(self, nct_id: str) -> bytes | None:
        return Registry.record(self, nct_id) or SyntheticRegistry.record(self, nct_id)


def edit(raw: bytes) -> dict[str, Any]:
    """A new version of a record: an enrollment change (major) and the registry's bookkeeping."""
    study = json.loads(raw)
    protocol = study["protocolSection"]
    enrollment = protocol.setdefault("designModule", {}).setdefault("enrollmentInfo", {})
    enrollment["count"] = int(enrollment.get("count") or 0) + 10
    protocol["statusModule"]["lastUpdatePostDateStruct"] = {"date": NEXT_TIMESTAMP[:10],
                                                           "type": "ACTUAL"}
    study.setdefault("derivedSection", {}).setdefault("miscInfoModule", {})["versionHolder"] = (
        NEXT_TIMESTAMP[:10])
    return study


def publish_changes(registry: EditableRegistry, share: float) -> int:
    """Edit ``share`` of the trials, spread evenly; move the data timestamp. How many edited."""
    step = max(1, round(1 / share)) if share > 0 else registry.count + 1
    edited = 0
    for number in range(FIRST_ID, FIRST_ID + registry.count, step):
        nct_id = f"NCT{number:08d}"
        registry.publish(edit(registry.record(nct_id) or b"{}"))
        edited += 1
    registry.data_timestamp = NEXT_TIMESTAMP
    return edited


# -- one check, measured ------------------------------------------------------------------------


@dataclass
class Measured:
    """One `ctwatch check` process as seen from outside."""

    name: str
    code: int
    seconds: float
    peak_mb: float
    requests: dict[str, int]
    summary: str
    snapshots: int = 0
    change_sets: int = 0
    alerts: int = 0
    expected_change_sets: int | None = None
    targets: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


def run_process(command: list[str], folder: Path) -> tuple[int, float, float, str]:
    """Run a command to its end: exit code, wall seconds, its own peak RSS in MB, its stderr."""
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    env["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=err)
        # wait4 gives this child's own rusage; RUSAGE_CHILDREN would be the max over all runs.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return process.returncode, seconds, usage.ru_maxrss / 1024, stderr  # Linux: kB


def check(server: ReplayServer, folder: Path, name: str) -> Measured:
    server.reset_counts()
    command = [sys.executable, "-m", "ctwatch", "check"]
    code, seconds, peak_mb, stderr = run_process(command, folder)
    lines = stderr.strip().splitlines()
    measured = Measured(name, code, seconds, peak_mb, dict(server.counts),
                        lines[-1] if lines else "")
    if code != 0:
        print(f"{name}: exit {code}\n{stderr}", file=sys.stderr)
    with sqlite3.connect(folder / "ctwatch.db") as db:
        measured.snapshots, measured.change_sets = (
            db.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("snapshots", "change_sets"))
    alerts = folder / "alerts.jsonl"
    measured.alerts = len(alerts.read_text().splitlines()) if alerts.exists() else 0
    return measured


def startup_seconds(folder: Path, repeat: int = 3) -> float:
    """The median wall time of starting ctwatch and doing nothing."""
    command = [sys.executable, "-m", "ctwatch", "--version"]
    return statistics.median(run_process(command, folder)[1] for _ in range(repeat))


def write_config(folder: Path, url: str, count: int) -> None:
    trials = [f"NCT{number:08d}" for number in range(FIRST_ID, FIRST_ID + count)]
    config = {
        "store": "ctwatch.db",
        "api": {"base_url": url, "requests_per_second": 1_000_000, "timeout_s": 60},
        "trials": trials,
        "notify": [{"kind": "file", "path": "alerts.jsonl"}],
    }
    (folder / "config.yaml").write_text(json.dumps(config, indent=1))  # JSON is YAML


# -- targets and the table ----------------------------------------------------------------------


def judge_full(measured: Measured) -> None:
    # A changed trial costs one request more, to its history index: the registry's version
    # numbers of the change, for the alert's link to the registry's comparison view. The
    # target is for checking the trials; those lookups grow with the changes, one each.
    lookups = measured.requests.get("history_index", 0)
    changed = measured.change_sets
    measured.targets = [
        (f"requests ≤ {MAX_REQUESTS}", measured.total_requests - lookups <= MAX_REQUESTS),
        ("one version lookup per changed trial", lookups <= changed),
        (f"wall ≤ {MAX_SECONDS:.0f} s", measured.seconds <= MAX_SECONDS),
        (f"peak ≤ {MAX_MB:.0f} MB", measured.peak_mb <= MAX_MB),
        ("exit 0", measured.code == 0),
    ]


def judge_rerun(measured: Measured) -> None:
    measured.targets = [(f"requests ≤ {MAX_RERUN_REQUESTS}",
                         measured.total_requests <= MAX_RERUN_REQUESTS),
                        ("exit 0", measured.code == 0)]


def verdict(measured: Measured) -> str:
    missed = [name for name, ok in measured.targets if not ok]
    if measured.expected_change_sets is not None and (
            measured.change_sets != measured.expected_change_sets):
        missed.append(f"change sets {measured.change_sets} ≠ {measured.expected_change_sets}")
    return "met" if not missed else "MISSED: " + ", ".join(missed)


def routes(requests: dict[str, int]) -> str:
    return " ".join(f"{route} {count}" for route, count in sorted(requests.items())) or "none"


def report(trials: int, runs: list[Measured], fetch_only: dict[str, float], startup: float,
           edited: int) -> None:
    print(f"{'run':<40} {'requests':>8} {'wall s':>7} {'peak MB':>8} {'snapshots':>10} "
          f"{'change sets':>12}  targets")
    for run in runs:
        print(f"{run.name:<40} {run.total_requests:>8} {run.seconds:>7.1f} {run.peak_mb:>8.0f} "
              f"{run.snapshots:>10,} {run.change_sets:>12,}  {verdict(run)}")
    print(f"{'yardstick: fetch only (same client)':<40} {fetch_only['requests']:>8.0f} "
          f"{fetch_only['seconds']:>7.1f} {fetch_only['peak_mb']:>8.0f}")
    print(f"{'yardstick: start ctwatch, do nothing':<40} {'':>8} {startup:>7.2f}")
    print()
    for run in runs:
        print(f"{run.name}: requests by route: {routes(run.requests)}; alerts written "
              f"{run.alerts}; ctwatch said: {run.summary}")
    first, rerun, changed = runs
    print(f"\nedited for run 3: {edited:,} trials ({edited / trials:.1%})")
    for run in (first, changed):
        print(f"{run.name}: {run.seconds / trials * 1000:.2f} ms per trial; "
              f"{run.seconds / fetch_only['seconds']:.1f}× the wall time and "
              f"{run.peak_mb / fetch_only['peak_mb']:.1f}× the memory of fetching alone "
              f"({fetch_only['seconds'] / trials * 1000:.2f} ms per trial)")
    print(f"{rerun.name}: {rerun.seconds / startup:.1f}× the time to start ctwatch")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.01,
                        help="share of the trials edited before the third check")
    args = parser.parse_args()
    registry = EditableRegistry(args.trials)
    registry.data_timestamp = FIRST_TIMESTAMP
    with tempfile.TemporaryDirectory(prefix="ctwatch-bench-") as temp, \
            ReplayServer(registry) as server:
        folder = Path(temp)
        write_config(folder, server.url, args.trials)
        print(f"ctwatch check benchmark: {args.trials:,} watched trials, local registry at "
              f"{server.url}; {os.cpu_count()} CPUs; store in {folder} "
              f"({file_system(folder)})")
        print(f"records: real fixtures under generated ids, "
              f"{registry.average_size() / 1024:.1f} kB on average; no pacing\n")
        fetch_only = measure_fetch(server, "batched", args.trials)
        startup = startup_seconds(folder)
        first = check(server, folder, "1 first check (baseline snapshots)")
        judge_full(first)
        rerun = check(server, folder, "2 rerun, dataTimestamp unchanged")
        judge_rerun(rerun)
        edited = publish_changes(registry, args.changed)
        before = rerun.change_sets
        changed = check(server, folder, f"3 new dataTimestamp, {args.changed:.0%} edited")
        judge_full(changed)
        changed.expected_change_sets = before + edited
        report(args.trials, [first, rerun, changed], fetch_only, startup, edited)


if __name__ == "__main__":
    main()
