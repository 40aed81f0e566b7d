"""Start-up cost of ctwatch's commands: CPU time next to ``python -c "import click"``.

    python benchmarks/startup.py [--runs 15]

Each command runs as a whole process, ``--runs`` times, interleaved with the baseline so that
a busy moment of the machine falls on both alike; its CPU time (user + system, from
os.wait4's resource usage, so the machine's other load does not count) is the median over the
runs. The baseline is the floor every click program pays: the interpreter and click.

Also printed: whether each command imported SQLAlchemy, apprise or http.server (from
``python -X importtime``), which only the commands that need them may.

Target (issue 12): ``--version``, ``schema`` and ``parse FILE`` each at most 2x the baseline.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "fixtures" / "NCT04083898" / "NCT04083898.json"
BASELINE = ("import click", [sys.executable, "-c", "import click"])
TARGET_RATIO = 2.0
HEAVY = ("sqlalchemy", "apprise", "http.server")  # what a fast command must not import


def commands(folder: Path) -> list[tuple[str, list[str], bool]]:
    """(label, argv, held to the target) of each command measured."""
    ctwatch = [sys.executable, "-m", "ctwatch", "--config", str(folder / "config.yaml")]
    return [
        ("--version", [*ctwatch, "--version"], True),
        ("schema", [*ctwatch, "schema"], True),
        ("parse FILE", [*ctwatch, "parse", str(RECORD)], True),
        ("check --help", [*ctwatch, "check", "--help"], False),
        ("status", [*ctwatch, "status"], False),
        ("config check", [*ctwatch, "config", "check"], False),
    ]


def cpu_seconds(argv: list[str], cwd: Path) -> float:
    """The CPU time (user + system) of one run of ``argv``; its output is discarded."""
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {process.returncode}")
    return usage.ru_utime + usage.ru_stime


def heavy_imports(argv: list[str], cwd: Path) -> list[str]:
    """Which of HEAVY the command imported, read from ``python -X importtime``."""
    traced = [argv[0], "-X", "importtime", *argv[1:]]
    result = subprocess.run(traced, cwd=cwd, capture_output=True, text=True, check=True)
    loaded = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
              if line.startswith("import time:")}
    return [name for name in HEAVY if name in loaded]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ctwatch-startup-") as temp:
        folder = Path(temp)
        (folder / "config.yaml").write_text("store: ctwatch.db\ntrials: [NCT04083898]\n")
        measured = commands(folder)
        runs: dict[str, list[float]] = {label: [] for label, _, _ in [(*BASELINE, False),
                                                                       *measured]}
        for _ in range(args.runs):
            for label, argv, *_ in [BASELINE, *measured]:
                runs[label].append(cpu_seconds(argv, folder))
        base = statistics.median(runs[BASELINE[0]])
        print(f"{args.runs} runs each, median CPU time (user + system); "
              f"baseline python -c 'import click': {base * 1000:.0f} ms")
        print(f"{'command':<14} {'CPU ms':>7} {'x click':>8}  {'target':<8} imports")
        missed = 0
        for label, argv, held in measured:
            cpu = statistics.median(runs[label])
            ratio = cpu / base
            heavy = heavy_imports(argv, folder)
            verdict = ("ok" if ratio <= TARGET_RATIO and not heavy else "MISSED") if held else ""
            missed += verdict == "MISSED"
            print(f"{label:<14} {cpu * 1000:>7.0f} {ratio:>7.2f}x  {verdict:<8} "
                  f"{', '.join(heavy) or '-'}")
    print(f"target: --version, schema and parse FILE at most {TARGET_RATIO:g}x the baseline, "
          f"without {', '.join(HEAVY)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
