"""How fast `ctwatch parse` reads records, against `json.loads` of the same bytes.

Run: python benchmarks/parse.py [--repeat N] [--records]

The corpus is every API v2 / history record in fixtures/ (the real records of
fixtures/realdata and NCT04083898). Printed:

- the corpus as a whole: trials per second, and the time to parse every record over the time
  to `json.loads` every record. Two large records with results (1.5 MB and 370 kB, most of the
  bytes, and cheap to parse per byte) dominate that sum, so it says little of a typical record.
  Target (issue 2): ≤ 10×.
- per record: its parse time over `json.loads` of its bytes, each the best of --repeat runs
  taken in turns; the median over all records, and over records of typical size (7–22 kB, most
  registry records). Target (issue 13): the median ≤ 15×. --records lists every record's ratio.
- where the median record's time goes (parse and to_dict, under cProfile, which overstates
  code made of many small calls), by part of the parser.

Times are CPU seconds of this process (``time.process_time``), so that other work on the
machine counts less; the load average is printed with them. On a busy machine the ratios still
move by a unit or two from run to run: the fastest of each is kept, and more --repeat runs find
quieter moments.

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from ctwatch import sources

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FOLDERS = ("realdata/api_v2", "realdata/api_v2_list", "realdata/api_v2_fields_subset",
           "realdata/api_v2_trimmed", "realdata/history", "NCT04083898")
CORPUS_TARGET = 10.0  # issue 2: the whole corpus
MEDIAN_TARGET = 15.0  # issue 13: the per-record median
TYPICAL = (7_000, 22_000)  # bytes: the size of most registry records without results
MEASURE_S = 0.005  # a timed run of a small record repeats it to last about this long


def corpus() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (FIXTURES / folder).glob("*.json")
                  if p.name != "expected.json")


def timed(work: Callable[[], object], number: int = 1) -> float:
    """CPU seconds per call of `number` calls of `work`."""
    start = time.process_time()
    for _ in range(number):
        work()
    return (time.process_time() - start) / number


def best_of(repeat: int, work: Callable[[], object]) -> float:
    """The fastest of `repeat` runs: the least disturbed by the rest of the machine."""
    return min(timed(work) for _ in range(repeat))


def record_ratio(raw: bytes, repeat: int) -> float:
    """Parse time of one record over json.loads time of its bytes, each the fastest of
    `repeat` runs, taken in turns so that a busy moment of the machine falls on both."""
    once = timed(lambda: sources.parse(raw))  # also loads what the first record of a kind needs
    number = max(1, round(MEASURE_S / max(once, 1e-6)))
    parse, baseline = [], []
    for _ in range(repeat):
        baseline.append(timed(lambda: json.loads(raw), number * 4))
        parse.append(timed(lambda: sources.parse(raw), number))
    return min(parse) / min(baseline)


# -- where the time goes ---------------------------------------------------------------------

# Code of each part, by file; time in the standard library and builtins (re, str, dataclasses)
# counts for the part that called it.
PARTS = (
    ("json.loads", ("/json/",)),
    ("markup", ("ctwatch/markup.py", "/markdown_it/", "/lxml/", "/html/")),
    ("thresholds", ("ctwatch/thresholds.py", "ctwatch/measures.py", "ctwatch/phrases.py")),
    ("criteria tree", ("ctwatch/criteria.py",)),
    ("arm links, dosing", ("ctwatch/dosing.py", "ctwatch/sources/linking.py")),
    ("API v2 reader", ("ctwatch/sources/",)),
)
# @dataclass writes every __init__ in a file "<string>", which cProfile counts as one function:
# the domain's records and markup's blocks are built there.
MODEL = "model construction"
TO_DICT = "to_dict"


def _part(key: tuple[str, int, str]) -> str | None:
    path, _, function = key
    path = path.replace("\\", "/")
    if path == "<string>" and function == "__init__":  # what @dataclass writes
        return MODEL
    if path.endswith("ctwatch/model.py"):
        return TO_DICT if function in ("to_dict", "_dump") else MODEL
    return next((part for part, paths in PARTS if any(p in path for p in paths)), None)


def split(raw: bytes) -> dict[str, float]:
    """The share of each part in the time of parsing `raw` and dumping its trials to dicts."""
    sources.parse(raw)  # what the first record of its kind loads is not its cost
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(20):
        for trial in sources.parse(raw):
            trial.to_dict()
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    shares: dict[str, float] = defaultdict(float)
    resolved: dict[tuple, dict[str, float]] = {}

    def owners(key: tuple, seen: frozenset = frozenset()) -> dict[str, float]:
        """The parts a function's time belongs to, as shares: its own, or its callers'."""
        if key in resolved:
            return resolved[key]
        part = _part(key)
        if part or key in seen or key not in stats:
            return {part or "other": 1.0}
        callers = stats[key][4]  # caller → (calls, primitive calls, own time, total time)
        total = sum(edge[2] for edge in callers.values()) or 1.0
        mix: dict[str, float] = defaultdict(float)
        for caller, edge in callers.items():
            for name, share in owners(caller, seen | {key}).items():
                mix[name] += share * edge[2] / total
        resolved[key] = mix
        return mix

    for key, (_, _, own, _, _) in stats.items():
        for name, share in owners(key).items():
            shares[name] += own * share
    total = sum(shares.values())
    return {name: value / total for name, value in
            sorted(shares.items(), key=lambda item: -item[1])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--records", action="store_true", help="print every record's ratio")
    args = parser.parse_args()
    paths = corpus()
    records = [path.read_bytes() for path in paths]
    trials = sum(len(sources.parse(raw)) for raw in records)
    size = sum(map(len, records))

    baseline = best_of(args.repeat, lambda: [json.loads(raw) for raw in records])
    parse = best_of(args.repeat, lambda: [sources.parse(raw) for raw in records])
    to_json = best_of(args.repeat, lambda: [[t.to_dict() for t in sources.parse(raw)]
                                           for raw in records])

    print(f"corpus: {len(records)} files, {trials} trials, {size / 1e6:.2f} MB; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'step':<28}{'seconds':>10}{'trials/s':>12}{'× json.loads':>14}")
    for name, seconds in (("json.loads (baseline)", baseline), ("parse → Trial", parse),
                          ("parse → Trial → dict", to_json)):
        print(f"{name:<28}{seconds:>10.4f}{trials / seconds:>12.0f}{seconds / baseline:>14.1f}")

    ratios = [(record_ratio(raw, args.repeat), len(raw), path)
              for raw, path in zip(records, paths, strict=True)]
    ratios.sort(key=lambda row: row[0])
    if args.records:
        print(f"\n{'× json.loads':>12}{'bytes':>10}  record")
        for ratio, length, path in ratios:
            print(f"{ratio:>12.1f}{length:>10}  {path.relative_to(FIXTURES)}")
    median = statistics.median(ratio for ratio, _, _ in ratios)
    typical = [ratio for ratio, length, _ in ratios if TYPICAL[0] <= length <= TYPICAL[1]]
    print(f"\nper record (parse / json.loads of its bytes), {len(ratios)} records: "
          f"median {median:.1f}×, from {ratios[0][0]:.1f}× to {ratios[-1][0]:.1f}×")
    print(f"records of {TYPICAL[0] // 1000}–{TYPICAL[1] // 1000} kB ({len(typical)}): "
          f"median {statistics.median(typical):.1f}×")

    _, length, path = ratios[(len(ratios) - 1) // 2]
    shares = split(path.read_bytes())
    print(f"\nwhere the time goes (cProfile, parse + to_dict) for the median record, "
          f"{path.name} ({length / 1000:.0f} kB):")
    print("  " + ", ".join(f"{name} {share:.0%}" for name, share in shares.items()
                           if share >= 0.005))

    verdicts = [("corpus", parse / baseline, CORPUS_TARGET),
                ("per-record median", median, MEDIAN_TARGET)]
    print()
    for name, ratio, target in verdicts:
        verdict = "met" if ratio <= target else "MISSED"
        print(f"target: {name} parse ≤ {target:.0f} × json.loads: {verdict} ({ratio:.1f}×)")
    return 0 if all(ratio <= target for _, ratio, target in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
