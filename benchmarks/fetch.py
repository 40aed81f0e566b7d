"""Fetching many trials: ctwatch's batched client against one GET per trial, on a local registry.

    python benchmarks/fetch.py [--trials 10000] [--sample 1000]

The registry (ctwatch/replay.py) runs in this process and counts the requests it serves; each
approach runs in its own child process, which reports its wall time and peak memory (max RSS),
so one approach's memory never shows up in the other's figure. One GET per trial is how cthist
and urlwatch fetch records; to keep the run short it fetches ``--sample`` trials and the totals
for all trials are extrapolated (its memory does not grow with the number of trials).
Records are real ones from fixtures/realdata/api_v2, copied under generated NCT ids.
Targets (issue 3): batched ≤ 11 requests and peak memory under 500 MB for 10,000 trials.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))

from ctwatch.fetch import DEFAULT_REQUESTS_PER_SECOND, ApiSettings, Client  # noqa: E402
from ctwatch.replay import Registry, ReplayServer  # noqa: E402

# Typical-size real records (7-22 kB); the 1.5 MB PALLAS record would dominate every page.
TEMPLATES = [ROOT / "fixtures" / "realdata" / "api_v2" / f"{nct}.json" for nct in (
    "NCT00184067", "NCT00973089", "NCT03475563", "NCT03934567", "NCT05147467")]
PLACEHOLDER = "NCT@@@@@@@@"
FIRST_ID = 10_000_000


class SyntheticRegistry(Registry):
    """``count`` trials made from a few real records, without holding ``count`` records."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self._parts = [_split(path.read_bytes()) for path in TEMPLATES]

    def ids(self) -> list[str]:
        return [_nct(number) for number in range(FIRST_ID, FIRST_ID + self.count)]

    def resolve(self, nct_id: str) -> str | None:
        number = int(nct_id[3:])
        return nct_id if FIRST_ID <= number < FIRST_ID + self.count else None

    def record(self, nct_id: str) -> bytes | None:
        if self.resolve(nct_id) is None:
            return None
        before, after = self._parts[int(nct_id[3:]) % len(self._parts)]
        return before + nct_id.encode() + after

    def average_size(self) -> float:
        return sum(len(a) + len(b) + 11 for a, b in self._parts) / len(self._parts)


def _split(raw: bytes) -> tuple[bytes, bytes]:
    study = json.loads(raw)
    study["protocolSection"]["identificationModule"]["nctId"] = PLACEHOLDER
    before, after = json.dumps(study, ensure_ascii=False).encode().split(PLACEHOLDER.encode())
    return before, after


def _nct(number: int) -> str:
    return f"NCT{number:08d}"


# -- child side: one approach, measured ---------------------------------------------------------


def run_child(approach: str, url: str, count: int) -> None:
    ids = [_nct(number) for number in range(FIRST_ID, FIRST_ID + count)]
    settings = ApiSettings(base_url=url, requests_per_second=1_000_000)  # no pacing here
    fetched = failed = size = 0
    started = time.perf_counter()
    with Client(settings) as client:
        if approach == "batched":
            results = client.fetch_studies(ids)
        else:
            results = (client.fetch_study(nct_id) for nct_id in ids)
        for result in results:  # a consumer that keeps nothing, as a store writing rows would
            if isinstance(result, Exception):
                failed += 1
            else:
                fetched += 1
                size += len(result.raw)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "fetched": fetched,
                      "failed": failed, "bytes": size}))


# -- parent side: the registry, the children, the table ----------------------------------------


def measure(server: ReplayServer, approach: str, count: int) -> dict[str, float]:
    server.reset_counts()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, __file__, "--child", approach, "--url", server.url,
               "--trials", str(count)]
    child = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    result = json.loads(child.stdout)
    result["requests"] = sum(server.counts.values())
    result["list_requests"] = server.counts["list"]
    result["study_requests"] = server.counts["study"]
    return result


def report(trials: int, sample: int, batched: dict[str, float], single: dict[str, float],
           registry: SyntheticRegistry, url: str) -> None:
    scale = trials / sample
    rows = [
        ("batched (filter.ids, 1000 ids/request)", trials, batched["requests"],
         batched["seconds"], f"{batched['peak_mb']:.0f}"),
        (f"one GET per trial (measured, {sample:,})", sample, single["requests"],
         single["seconds"], f"{single['peak_mb']:.0f}"),
        ("one GET per trial (extrapolated)", trials, single["requests"] * scale,
         single["seconds"] * scale, "same"),
    ]
    print(f"ctwatch fetch benchmark: {trials:,} trials from a local registry at {url}")
    print(f"records: real fixtures under generated ids, {registry.average_size() / 1024:.1f} kB "
          f"on average; {batched['bytes'] / 1e6:.0f} MB of records fetched; no pacing\n")
    print(f"{'approach':<42} {'trials':>7} {'requests':>9} {'wall s':>8} {'peak RSS MB':>12}")
    for name, count, requests, seconds, peak in rows:
        print(f"{name:<42} {count:>7,} {requests:>9,.0f} {seconds:>8.2f} {peak:>12}")
    per_trial_requests = single["requests"] * scale
    per_trial_seconds = single["seconds"] * scale
    print(f"\nratios, one GET per trial / batched: "
          f"{per_trial_requests / batched['requests']:,.0f}x requests, "
          f"{per_trial_seconds / batched['seconds']:.1f}x wall time")
    pace = DEFAULT_REQUESTS_PER_SECOND
    print(f"at the default pace ({pace:g} request/s) against clinicaltrials.gov: batched "
          f"≥ {batched['requests'] / pace:.0f} s, one GET per trial ≥ "
          f"{per_trial_requests / pace / 3600:.1f} h")
    ok = batched["requests"] <= 11 and batched["peak_mb"] < 500 and batched["failed"] == 0
    print(f"targets (≤ 11 requests, < 500 MB, all {trials:,} fetched): {'met' if ok else 'MISSED'}"
          f" — list requests {batched['list_requests']:.0f}, single-study requests "
          f"{batched['study_requests']:.0f}, fetched {batched['fetched']:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=1_000,
                        help="trials fetched one GET at a time (extrapolated to --trials)")
    parser.add_argument("--child", choices=["batched", "single"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.url, args.trials)
        return
    registry = SyntheticRegistry(args.trials)
    sample = min(args.sample, args.trials)
    with ReplayServer(registry) as server:
        batched = measure(server, "batched", args.trials)
        single = measure(server, "single", sample)
        report(args.trials, sample, batched, single, registry, server.url)


if __name__ == "__main__":
    main()
