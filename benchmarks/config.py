"""How fast config.yaml is validated, against `yaml.safe_load` of the same text.

Run: python benchmarks/config.py [--repeat N] [--sizes 1000,10000,100000]

For generated configurations of each size, in two shapes — `ids` (`- NCT…` lines, as in the
issue) and `routed` (`{id: NCT…, notify: [team], ignore: [...]}` per trial, every trial-level
check at work) — prints the CPU seconds of:

    safe_load      yaml.safe_load of the text (the baseline, PyYAML's own parser)
    read           config.read_document (libyaml when present)
    problems_of    validate.problems_of of the document (what `config check` adds)
    load           validate.load: read + problems_of + parse_config (what `check` pays)

then load's µs per trial and how that changed from the size before (linear: ~1.0×), and
load ÷ safe_load. Target (issue): linear in trials; 100,000 trials in well under a minute.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from ctwatch import config, validate

SHAPES = {
    "ids": lambda n: f"  - NCT{n:08d}",
    "routed": lambda n: f"  - {{id: NCT{n:08d}, notify: [team], "
                        "ignore: ['locations[*].contacts']}",
}
HEADER = "notify: [{kind: stdout, name: team}]\ntrials:\n"


def text_of(shape: str, count: int) -> str:
    return HEADER + "\n".join(SHAPES[shape](n) for n in range(count)) + "\n"


def best_of(repeat: int, work: Callable[[], object]) -> float:
    """The least CPU time of `repeat` runs: the least disturbed by the rest of the machine."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return min(times)


def measure(path: Path, repeat: int) -> dict[str, float]:
    text = path.read_text(encoding="utf-8")
    document = config.read_document(path)
    assert validate.problems_of(document) == [], "a generated configuration has problems"
    return {
        "safe_load": best_of(repeat, lambda: yaml.safe_load(text)),
        "read": best_of(repeat, lambda: config.read_document(path)),
        "problems_of": best_of(repeat, lambda: validate.problems_of(document)),
        "load": best_of(repeat, lambda: validate.load(path)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"libyaml: {yaml.__with_libyaml__}; CPU seconds, best of {args.repeat}")
    print(f"{'shape':<8}{'trials':>8}{'safe_load':>11}{'read':>9}{'problems_of':>13}"
          f"{'load':>9}{'µs/trial':>10}{'vs before':>11}{'÷ safe_load':>13}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        for shape in SHAPES:
            before = None
            for count in sizes:
                path.write_text(text_of(shape, count), encoding="utf-8")
                t = measure(path, args.repeat)
                per_trial = t["load"] / count * 1e6
                change = f"{per_trial / before:.2f}×" if before else "-"
                print(f"{shape:<8}{count:>8}{t['safe_load']:>11.3f}{t['read']:>9.3f}"
                      f"{t['problems_of']:>13.3f}{t['load']:>9.3f}{per_trial:>10.1f}"
                      f"{change:>11}{t['load'] / t['safe_load']:>12.2f}×")
                before = per_trial


if __name__ == "__main__":
    main()
