"""SIGKILL at random moments of a check — while trials are checked and while alerts are
delivered — and at the end every change set is stored once and delivered once, or delivered
again with the same identity: never a repeat the receiver can not recognise.

The suite runs a small loop; the issue's full one (2,000 trials, 20 kills) is

    CTWATCH_KILL_LOOP=2000x20 python -m pytest tests/test_kill_loop.py -s
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import chdir
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ctwatch.cli import main
from ctwatch.fetch import ApiSettings
from ctwatch.replay import Registry, ReplayServer
from tests.conftest import clone_record, generated_ids, posted_anew
from tests.helpers import MYELOMA, environment, wait_for

TRIALS, KILLS = (int(n) for n in os.environ.get("CTWATCH_KILL_LOOP", "80x4").split("x"))
SEED = 20261130
DEADLINE_S = 600  # for one killed run to reach its kill point; never reached when healthy


@pytest.fixture
def served() -> Iterator[tuple[Registry, ReplayServer]]:
    registry = Registry(data_timestamp="2026-01-05T09:00:05")
    template = MYELOMA.read_bytes()
    for nct_id in generated_ids(TRIALS):
        registry.publish(clone_record(template, nct_id))
    with ReplayServer(registry) as server:
        yield registry, server


def setup_folder(folder: Path, server: ReplayServer, ids: list[str]) -> None:
    api = ApiSettings(base_url=server.url, requests_per_second=1000, backoff_s=0.01,
                      backoff_max_s=0.05, timeout_s=30, deadline_s=120)
    config = {"store": "ctwatch.db", "trials": ids,
              "api": {k: v for k, v in asdict(api).items() if k != "user_agent"},
              "notify": [{"kind": "file", "path": "alerts.jsonl"},
                         {"kind": "file", "path": "digest.jsonl", "digest": True}]}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))


def progress(folder: Path) -> int:
    """Change sets stored plus lines written on the first channel: 0 … 2 × trials."""
    lines = folder / "alerts.jsonl"
    written = lines.read_bytes().count(b"\n") if lines.exists() else 0
    return rows(folder, "change_sets") + written


def rows(folder: Path, table: str) -> int:
    try:
        with sqlite3.connect(f"file:{folder / 'ctwatch.db'}?mode=ro", uri=True,
                             timeout=30) as db:
            return db.execute(f"select count(*) from {table}").fetchone()[0]
    except sqlite3.OperationalError:  # the file or the table is being created
        return 0


def killed_check(folder: Path, target: int,
                 done: Callable[[Path], int] = progress) -> bool:
    """``ctwatch check`` killed once progress reaches ``target``; False if it ended first."""
    process = subprocess.Popen([sys.executable, "-m", "ctwatch", "-q", "check"], cwd=folder,
                               env=environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        reached = wait_for(lambda: process.poll() is not None or done(folder) >= target,
                           DEADLINE_S)
        if not reached or process.poll() is not None:
            return False
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        return True
    finally:
        process.kill()
        process.wait()


@pytest.mark.smoke
def test_kills_at_random_moments_lose_nothing_and_repeat_nothing_unrecognisably(
        tmp_path: Path, served: tuple[Registry, ReplayServer]) -> None:
    registry, server = served
    ids = list(registry.ids())
    setup_folder(tmp_path, server, ids)
    with chdir(tmp_path):
        assert CliRunner().invoke(main, ["check"]).exit_code == 0  # the baseline
    for nct_id in ids:
        study = json.loads(registry.record(nct_id) or b"{}")
        study["protocolSection"]["statusModule"]["overallStatus"] = "SUSPENDED"
        posted_anew(study)
        registry.publish(study)
    registry.data_timestamp = "2026-01-06T09:00:05"

    chance = random.Random(SEED)
    kills = 0
    for left in range(KILLS, 0, -1):
        done = progress(tmp_path)
        if done >= 2 * TRIALS:
            break
        step = math.ceil(2 * (2 * TRIALS - done) / left)  # spread the kills over the work
        kills += killed_check(tmp_path, done + chance.randint(1, step))
    assert kills >= 1, "no run was killed: the loop tested nothing"
    with chdir(tmp_path):
        final = CliRunner().invoke(main, ["check"])
    assert final.exit_code == 0, final.stderr

    with sqlite3.connect(tmp_path / "ctwatch.db") as db:
        stored = db.execute("select nct_id, count(*) from change_sets group by nct_id").fetchall()
        statuses = {row[0] for row in db.execute("select status from outbox")}
    assert sorted(stored) == [(nct_id, 1) for nct_id in sorted(ids)]  # stored once each
    assert statuses == {"delivered"}
    for channel in ("alerts.jsonl", "digest.jsonl"):
        events: dict[str, set[str]] = defaultdict(set)
        lines = (tmp_path / channel).read_text().splitlines()
        for line in lines:
            alert = json.loads(line)
            events[alert["nct_id"]].add(alert["event_id"])
        assert sorted(events) == sorted(ids)  # delivered, every one
        assert all(len(found) == 1 for found in events.values())  # a repeat is the same event
        print(f"\n{channel}: {TRIALS} trials, {kills} kills: {len(lines)} lines for {TRIALS} "
              f"change sets ({len(lines) - TRIALS} repeats, each with its change set's event_id)")


@pytest.mark.smoke
def test_a_first_check_killed_at_random_moments_is_completed_by_the_next(
        tmp_path: Path, served: tuple[Registry, ReplayServer]) -> None:
    """Kills while a first check stores its baselines: the store stays consistent, and the
    next run stores each trial's snapshot once, with no change set."""
    registry, server = served
    ids = list(registry.ids())
    setup_folder(tmp_path, server, ids)
    chance = random.Random(SEED + 1)
    kills = 0
    for left in range(KILLS, 0, -1):
        stored = rows(tmp_path, "snapshots")
        if stored >= TRIALS:
            break
        step = math.ceil((TRIALS - stored) / left)
        kills += killed_check(tmp_path, stored + chance.randint(1, step),
                              lambda folder: rows(folder, "snapshots"))
    assert kills >= 1, "no run was killed: the loop tested nothing"
    with chdir(tmp_path):
        final = CliRunner().invoke(main, ["check"])
    assert final.exit_code == 0, final.stderr
    with sqlite3.connect(tmp_path / "ctwatch.db") as db:
        assert db.execute("pragma integrity_check").fetchone() == ("ok",)
        stored = db.execute("select nct_id, count(*) from snapshots group by nct_id").fetchall()
        checked = db.execute("select count(*) from trial_state where last_full_read is not null"
                             " and consecutive_failures = 0").fetchone()[0]
        assert db.execute("select count(*) from change_sets").fetchone() == (0,)
    assert sorted(stored) == [(nct_id, 1) for nct_id in sorted(ids)]
    assert checked == TRIALS
    assert not (tmp_path / "alerts.jsonl").exists()
    print(f"\nfirst check: {TRIALS} trials, {kills} kills, each trial stored once")
