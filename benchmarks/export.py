"""`ctwatch export` of the demo's store and of many trials: wall time, peak memory, size.

    python benchmarks/export.py [--trials 10000] [--small 1000] [--changed 0.01]

Stores are made as a user makes them. The demo's: ``ctwatch demo`` kept (NCT04083898 in six
registry versions). Two of many trials: benchmarks/check.py's synthetic registry (real records
of fixtures/realdata under generated NCT ids) checked by the real ``ctwatch check``, then
checked again after ``--changed`` of the trials were edited, so that each store holds change
sets; ``--small`` and ``--trials`` trials (1,000 and 10,000 by default).

Each export is the real command, ``python -m ctwatch export --format F --out … --history``, in
its own process: its wall time is measured from here and its peak memory is its own max RSS
(os.wait4, as benchmarks/check.py measures a check). The yardstick, measured in the same run on
the same store: reading what an export reads and writing nothing (this script's ``--child
read``: the same imports, every latest snapshot read and decoded, every history row read).

Target (issue 18): memory flat, streamed, not held: for each format, the peak RSS of the
``--trials`` export exceeds the ``--small`` one's by at most FLAT_MB. Exit status 1 when it
does not (or an export fails). About 1.5 minutes on 2 cores, most of it the checks that make
the 10,000-trial store.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.check import (  # noqa: E402
    FIRST_TIMESTAMP,
    check,
    load,
    next_stamp,
    publish_changes,
    registry_at,
    run_process,
    size,
)

FORMATS = ("csv", "sqlite", "parquet")
FLAT_MB = 40.0  # growth of an export's peak RSS allowed from --small to --trials trials


@dataclass
class Run:
    store: str
    trials: int
    what: str  # a format, or "read only"
    code: int
    seconds: float
    peak_mb: float
    bytes: int = 0
    summary: str = ""


def export(folder: Path, store: str, trials: int, fmt: str) -> Run:
    out = folder / f"export.{fmt}"
    command = [sys.executable, "-m", "ctwatch", "export", "--format", fmt, "--out", str(out),
               "--history", "--force"]
    code, seconds, peak_mb, _, stderr = run_process(command, folder)
    lines = stderr.strip().splitlines()
    if code != 0:
        print(f"{store} {fmt}: exit {code}\n{stderr}", file=sys.stderr)
    written = sum(path.stat().st_size for path in out.iterdir()) if out.is_dir() else \
        out.stat().st_size if out.exists() else 0
    run = Run(store, trials, fmt, code, seconds, peak_mb, written, lines[-1] if lines else "")
    print(f"  … {store}, {fmt}: {seconds:.2f} s, {peak_mb:.0f} MB, {size(written)}", flush=True)
    return run


def read_only(folder: Path, store: str, trials: int) -> Run:
    code, seconds, peak_mb, stdout, stderr = run_process(
        [sys.executable, str(Path(__file__).resolve()), "--child", "read"], folder)
    if code != 0:
        print(f"{store} read only: exit {code}\n{stderr}", file=sys.stderr)
    print(f"  … {store}, read only: {seconds:.2f} s, {peak_mb:.0f} MB", flush=True)
    return Run(store, trials, "read only", code, seconds, peak_mb, summary=stdout.strip())


def measure(folder: Path, store: str, trials: int, formats: tuple[str, ...]) -> list[Run]:
    return [read_only(folder, store, trials),
            *(export(folder, store, trials, fmt) for fmt in formats)]


def child_read() -> None:
    """Read what an export reads, in the folder's store, writing nothing."""
    # the export command's imports, for a peak memory of the same start
    import ctwatch.cli.exports
    import ctwatch.export  # noqa: F401
    from ctwatch import sources
    from ctwatch.config import load_config
    from ctwatch.store import Store, exports

    trials = rows = 0
    with Store(load_config("config.yaml", required=True).store) as db, \
            db.transaction(write=False):
        for latest in exports.latest(db, None, sources.PARSER_VERSION):
            json.loads(latest.trial)
            trials += 1
        for _ in exports.snapshot_rows(db, None):
            rows += 1
        for change_set in exports.change_set_rows(db, None):
            rows += len(json.loads(change_set["changes"]))
    print(f"read {trials:,} trials and {rows:,} history rows")


def demo_store(temporary: Path) -> Path:
    from ctwatch import demo

    folder = temporary / "demo"
    code = demo.run(io.StringIO(), workdir=folder)
    assert code == 0, "the demo failed"
    return folder


def synthetic_runs(count: int, changed: float, formats: tuple[str, ...]) -> list[Run]:
    with registry_at(count) as (registry, _server, tally, folder):
        first = check(tally, folder, f"{count:,} trials, first check")
        edited = publish_changes(registry, changed, next_stamp(FIRST_TIMESTAMP))
        again = check(tally, folder, f"{count:,} trials, {edited:,} edited")
        if first.code or again.code:
            raise SystemExit(f"the checks that make the {count:,}-trial store failed")
        return measure(folder, f"{count:,} trials", count, formats)


def flatness(runs: list[Run], small: int, big: int, formats: tuple[str, ...]) -> bool:
    ok = True
    print(f"\nmemory flat ({small:,} → {big:,} trials; peak RSS may grow by ≤ {FLAT_MB:.0f} MB):")
    for what in ("read only", *formats):
        peaks = {run.trials: run.peak_mb for run in runs if run.what == what}
        if small not in peaks or big not in peaks:
            continue
        growth = peaks[big] - peaks[small]
        held = what != "read only"
        met = growth <= FLAT_MB
        ok &= met or not held
        verdict = ("ok" if met else "MISSED") if held else "yardstick"
        print(f"  {what:<10} {peaks[small]:>6.0f} MB → {peaks[big]:>6.0f} MB "
              f"({growth:+.0f} MB) {verdict}")
    return ok


def table(runs: list[Run]) -> None:
    print("\n| store | trials | export | wall time | per trial | peak RSS | written |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for run in runs:
        per_trial = run.seconds / run.trials * 1000
        written = size(run.bytes) if run.what != "read only" else "—"
        print(f"| {run.store} | {run.trials:,} | {run.what} | {run.seconds:.2f} s "
              f"| {per_trial:.2f} ms | {run.peak_mb:.0f} MB | {written} |")
    for run in runs:
        if run.summary:
            print(f"{run.store}, {run.what}: {run.summary}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000,
                        help="trials of the smaller store, whose peak memory the --trials "
                             "export's is compared with")
    parser.add_argument("--changed", type=float, default=0.01,
                        help="share of the trials edited between the two checks")
    parser.add_argument("--child", choices=["read"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_read()
        return 0
    formats = FORMATS
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        formats = ("csv", "sqlite")
        print("pyarrow is not installed: no Parquet exports (pip install 'ctwatch[parquet]')")
    started = time.perf_counter()
    print(f"ctwatch export benchmark; {load()}", flush=True)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="ctwatch-bench-") as temporary:
        print("\nthe demo's store", flush=True)
        runs += measure(demo_store(Path(temporary)), "demo", 1, formats)
    for count in (args.small, args.trials):
        runs += synthetic_runs(count, args.changed, formats)
    table(runs)
    ok = flatness(runs, args.small, args.trials, formats)
    ok &= all(run.code == 0 for run in runs)
    print(f"\n{time.perf_counter() - started:.0f} s in all; {load()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
