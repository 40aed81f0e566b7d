"""How fast `ctwatch parse` reads records, against `json.loads` of the same bytes.

Run: python benchmarks/parse.py [--repeat N]

Prints records per second for parsing every API v2 / history record in fixtures/ (the real
records of ../shared/realdata and NCT04083898) into normalized trials, and the ratio of that
time to `json.loads` of the same bytes measured in the same run. Target (issue 2): ≤ 10×.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from ctwatch import sources

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FOLDERS = ("realdata/api_v2", "realdata/api_v2_list", "realdata/api_v2_fields_subset",
           "realdata/api_v2_trimmed", "realdata/history", "NCT04083898")


def corpus() -> list[bytes]:
    paths = sorted(p for folder in FOLDERS for p in (FIXTURES / folder).glob("*.json")
                   if p.name != "expected.json")
    return [path.read_bytes() for path in paths]


def best_of(repeat: int, work: Callable[[], object]) -> float:
    """The fastest of `repeat` runs: the least disturbed by the rest of the machine."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    records = corpus()
    trials = sum(len(sources.parse(raw)) for raw in records)
    size = sum(map(len, records))

    baseline = best_of(args.repeat, lambda: [json.loads(raw) for raw in records])
    parse = best_of(args.repeat, lambda: [sources.parse(raw) for raw in records])
    to_json = best_of(args.repeat, lambda: [[t.to_dict() for t in sources.parse(raw)]
                                           for raw in records])

    print(f"corpus: {len(records)} files, {trials} trials, {size / 1e6:.2f} MB")
    print(f"{'step':<28}{'seconds':>10}{'trials/s':>12}{'× json.loads':>14}")
    for name, seconds in (("json.loads (baseline)", baseline), ("parse → Trial", parse),
                          ("parse → Trial → dict", to_json)):
        print(f"{name:<28}{seconds:>10.4f}{trials / seconds:>12.0f}{seconds / baseline:>14.1f}")
    verdict = "met" if parse / baseline <= 10 else "MISSED"
    print(f"target: parse ≤ 10 × json.loads: {verdict} ({parse / baseline:.1f}×)")


if __name__ == "__main__":
    main()
