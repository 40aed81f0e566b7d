"""``ctwatch check`` against a misbehaving local registry (issue 11), run in-process through the
real entry point (click's CliRunner) so that tracemalloc sees its memory.

Endless page tokens, a trickling reply, a body without end, a gzip bomb, deep JSON: each costs
one error line naming the request (exit 3), never a traceback; the trials it does not concern
are checked; memory stays far below 300 MB. SIGINT stops a check held up by a trickling or
silent server. An absurd ``schedule:`` interval is a configuration error, not a traceback.
"""

from __future__ import annotations

import signal
import sqlite3
import tracemalloc
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from ctwatch import fetch
from ctwatch.cli import main
from ctwatch.fetch import ApiSettings
from ctwatch.replay import ReplayServer
from tests.conftest import REGISTRY_STUDIES, SAFETY_S, Faults
from tests.helpers import signal_when

MB = 1024 * 1024
PEAK_MB = 128  # "well below 300 MB": the reply cap (64 MB) and what a check holds besides (~16 MB)
# page_size 3: two batches, REGISTRY_STUDIES[:3] and [3:]; TARGET is in the second
TARGET = REGISTRY_STUDIES[3]
STUDY_URL = "/api/v2/studies/" + TARGET


@dataclass
class Case:
    name: str
    faults: list[tuple[str, str, dict[str, Any]]]
    failed: tuple[str, ...]  # the trials that fail; the others are checked
    reason: str  # in the one error line
    api: dict[str, Any] = field(default_factory=dict)
    # False: a failed batch is not split, so that the error itself shows (splitting finds the
    # trial at fault with a single GET, which is healthy there: see the test after)
    split: bool = True


CASES = [
    Case("endless page tokens", [("list", "endless_tokens", {"target": TARGET, "times": 50})],
         (TARGET,), "the registry kept sending page tokens (3 pages for 2 ids)", split=False),
    Case("trickle", [("list", "trickle", {"delay_s": 0.05})],
         REGISTRY_STUDIES, "reply not complete within the deadline (1 s)", {"deadline_s": 1}),
    Case("endless body", [("list", "endless", {"size_mb": 80}),
                          ("study", "endless", {"size_mb": 80, "only": TARGET})],
         (TARGET,), f"{STUDY_URL}): reply larger than 64 MB (api.max_reply_mb)"),
    Case("gzip bomb", [("list", "gzip_bomb", {"size_mb": 512}),
                       ("study", "gzip_bomb", {"size_mb": 512, "only": TARGET})],
         (TARGET,), f"{STUDY_URL}): reply larger than 64 MB (api.max_reply_mb)"),
    Case("deep JSON in a list page", [("list", "poison", {"target": TARGET}),
                                      ("study", "poison", {"target": TARGET})],
         (TARGET,), f"{STUDY_URL}): reply is not valid JSON (nested too deeply)"),
]


@pytest.fixture
def folder(tmp_path: Path, replay: ReplayServer, fast_api: ApiSettings) -> Path:
    write_config(tmp_path, fast_api)
    return tmp_path


def write_config(folder: Path, api: ApiSettings, **options: Any) -> None:
    # max_reply_mb left at its default until config.yaml knows the key
    values = {k: v for k, v in asdict(api).items() if k not in ("user_agent", "max_reply_mb")}
    config = {"store": str(folder / "ctwatch.db"), "trials": list(REGISTRY_STUDIES),
              "api": {**values, "timeout_s": 5, "deadline_s": SAFETY_S, "page_size": 3},
              "notify": [{"kind": "file", "path": str(folder / "alerts.jsonl")}]}
    config["api"].update(options)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))


def check(folder: Path) -> tuple[Result, int]:
    """``ctwatch check`` in ``folder``, and the peak of memory it allocated."""
    tracemalloc.start()
    try:
        result = CliRunner().invoke(main, ["--config", str(folder / "config.yaml"), "check"])
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def checked(folder: Path) -> set[str]:
    with sqlite3.connect(folder / "ctwatch.db") as db:
        return {row[0] for row in db.execute("select distinct nct_id from snapshots")}


def errors(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if "error" in line]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_misbehaving_registry_costs_one_line_and_bounded_memory(
    folder: Path, faults: Faults, fast_api: ApiSettings, settle: None, case: Case,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(folder, fast_api, **case.api)
    if not case.split:
        monkeypatch.setattr(fetch, "MAX_SPLITS_PER_BATCH", 0)
    for route, kind, options in case.faults:
        faults.add(route, kind, **options)
    result, peak = check(folder)
    assert result.exit_code == 3, result.stderr
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr
    [line] = errors(result)
    assert case.reason in line
    assert all(nct_id in line for nct_id in case.failed)
    assert checked(folder) == set(REGISTRY_STUDIES) - set(case.failed)
    assert peak < PEAK_MB * MB


def test_endless_page_tokens_cost_a_few_requests_and_every_trial_is_checked(
    folder: Path, replay: ReplayServer, faults: Faults
) -> None:
    """When the batch can be split, the trial left out of its pages is asked for alone."""
    faults.add("list", "endless_tokens", target=TARGET, times=50)
    result, _ = check(folder)
    assert result.exit_code == 0, result.stderr
    assert checked(folder) == set(REGISTRY_STUDIES)
    # batch 1: one page; batch 2: three pages, then TARGET alone
    assert (replay.counts["list"], replay.counts["study"]) == (4, 1)


def test_deep_json_from_the_version_endpoint_only_means_checking_every_trial(
    folder: Path, faults: Faults
) -> None:
    faults.add("version", "poison")
    result, _ = check(folder)
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert errors(result) == []
    assert checked(folder) == set(REGISTRY_STUDIES)


# -- SIGINT while the registry holds the check up -----------------------------------------------


@pytest.mark.parametrize(("kind", "signum"), [
    ("trickle", signal.SIGINT), ("silent", signal.SIGTERM)],
    ids=["SIGINT, a reply trickles", "SIGTERM, the server is silent"])
def test_a_stop_signal_ends_a_check_held_up_by_the_registry(
    folder: Path, replay: ReplayServer, faults: Faults, fast_api: ApiSettings, settle: None,
    kind: str, signum: int
) -> None:
    write_config(folder, fast_api, timeout_s=SAFETY_S, deadline_s=2 * SAFETY_S)
    faults.add("list", kind, delay_s=0.05 if kind == "trickle" else SAFETY_S)
    sender = signal_when(lambda: replay.counts["list"] > 0, signum)
    result, _ = check(folder)
    sender.join()
    name = signal.Signals(signum).name
    assert result.exit_code == 3, (result.exception, result.stderr)
    assert errors(result) == [f"ctwatch: error: stopped by {name}; the next run checks every "
                              "trial again"]
    assert not faults.released.is_set()  # stopped by the signal, not by the safety release
    assert checked(folder) == set()


# -- finding 6: an interval longer than any timer ---------------------------------------------


@pytest.mark.parametrize("schedule", [
    {"every": "99999999999999999999d"}, {"every": "367d"},
    {"every": "1d", "jitter": 10**30}, {"cron": "0 7 * * *", "jitter": 10**12}])
@pytest.mark.parametrize("command", ["check", "config check"])
def test_an_absurd_schedule_is_a_configuration_error(
    folder: Path, schedule: dict[str, Any], command: str
) -> None:
    config = yaml.safe_load((folder / "config.yaml").read_text())
    (folder / "config.yaml").write_text(yaml.safe_dump({**config, "schedule": schedule}))
    result = CliRunner().invoke(main, ["--config", str(folder / "config.yaml"),
                                       *command.split()])
    assert result.exit_code == 2, result.stderr
    key = "schedule.every" if "every" in schedule and "jitter" not in schedule else \
        "schedule.jitter"
    assert f"{key}: " in result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
