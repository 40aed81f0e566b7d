"""SIGKILL at random moments of a check — while trials are checked and while alerts are
delivered — and at the end every change set is stored once and delivered once, or delivered
again with the same identity: never a repeat the receiver can not recognise.

Each loop runs on a SQLite file and on a PostgreSQL database. The suite runs a small loop;
the issue's full one (2,000 trials, 20 kills) is

    CTWATCH_KILL_LOOP=2000x20 python -m pytest tests/test_kill_loop.py -s
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
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
from tests.stores import StoreUnderTest

TRIALS, KILLS = (int(n) for n in os.environ.get("CTWATCH_KILL_LOOP", "80x4").split("x"))
SEED = 20261130
DEADLINE_S = 600  # for one killed run to reach its kill point; never reached when healthy

pytestmark = pytest.mark.both_stores


@pytest.fixture
def served() -> Iterator[tuple[Registry, ReplayServer]]:
    registry = Registry(data_timestamp="2026-01-05T09:00:05")
    template = MYELOMA.read_bytes()
    for nct_id in generated_ids(TRIALS):
        registry.publish(clone_record(template, nct_id))
    with ReplayServer(registry) as server:
        yield registry, server


def setup_folder(store: StoreUnderTest, server: ReplayServer, ids: list[str]) -> None:
    api = ApiSettings(base_url=server.url, requests_per_second=1000, backoff_s=0.01,
                      backoff_max_s=0.05, timeout_s=30, deadline_s=120)
    config = {**store.settings, "trials": ids,
              "api": {k: v for k, v in asdict(api).items() if k != "user_agent"},
              "notify": [{"kind": "file", "path": "alerts.jsonl"},
                         {"kind": "file", "path": "digest.jsonl", "digest": True}]}
    (store.folder / "config.yaml").write_text(yaml.safe_dump(config))


def progress(store: StoreUnderTest) -> int:
    """Change sets stored plus lines written on the first channel: 0 … 2 × trials."""
    lines = store.folder / "alerts.jsonl"
    written = lines.read_bytes().count(b"\n") if lines.exists() else 0
    return store.rows("change_sets") + written


def killed_check(store: StoreUnderTest, target: int,
                 done: Callable[[StoreUnderTest], int] = progress) -> bool:
    """``ctwatch check`` killed once progress reaches ``target``; False if it ended first.
    Returns once the store's lock is free again (a PostgreSQL server frees a killed process's
    locks when it sees its connection closed, a moment after the kill)."""
    process = subprocess.Popen([sys.executable, "-m", "ctwatch", "-q", "check"],
                               cwd=store.folder, env=environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        reached = wait_for(lambda: process.poll() is not None or done(store) >= target,
                           DEADLINE_S)
        if not reached or process.poll() is not None:
            return False
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        return True
    finally:
        process.kill()
        process.wait()
        with store.open() as db:
            assert wait_for(lambda: not db.locked(), 60)


@pytest.mark.smoke
def test_kills_at_random_moments_lose_nothing_and_repeat_nothing_unrecognisably(
        tmp_path: Path, served: tuple[Registry, ReplayServer], store: StoreUnderTest) -> None:
    registry, server = served
    ids = list(registry.ids())
    setup_folder(store, server, ids)
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
        done = progress(store)
        if done >= 2 * TRIALS:
            break
        step = math.ceil(2 * (2 * TRIALS - done) / left)  # spread the kills over the work
        kills += killed_check(store, done + chance.randint(1, step))
    assert kills >= 1, "no run was killed: the loop tested nothing"
    with chdir(tmp_path):
        final = CliRunner().invoke(main, ["check"])
    assert final.exit_code == 0, final.stderr

    stored = [(row["nct_id"], row["n"]) for row in store.query(
        "select nct_id, count(*) as n from change_sets group by nct_id")]
    statuses = {row["status"] for row in store.query("select status from outbox")}
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
        tmp_path: Path, served: tuple[Registry, ReplayServer], store: StoreUnderTest) -> None:
    """Kills while a first check stores its baselines: the store stays consistent, and the
    next run stores each trial's snapshot once, with no change set."""
    registry, server = served
    ids = list(registry.ids())
    setup_folder(store, server, ids)
    chance = random.Random(SEED + 1)
    kills = 0
    for left in range(KILLS, 0, -1):
        stored = store.rows("snapshots")
        if stored >= TRIALS:
            break
        step = math.ceil((TRIALS - stored) / left)
        kills += killed_check(store, stored + chance.randint(1, step),
                              lambda under_test: under_test.rows("snapshots"))
    assert kills >= 1, "no run was killed: the loop tested nothing"
    with chdir(tmp_path):
        final = CliRunner().invoke(main, ["check"])
    assert final.exit_code == 0, final.stderr
    assert store.consistent()
    stored = [(row["nct_id"], row["n"]) for row in store.query(
        "select nct_id, count(*) as n from snapshots group by nct_id")]
    checked = store.rows("trial_state",
                         "last_full_read is not null and consecutive_failures = 0")
    assert store.rows("change_sets") == 0
    assert sorted(stored) == [(nct_id, 1) for nct_id in sorted(ids)]
    assert checked == TRIALS
    assert not (tmp_path / "alerts.jsonl").exists()
    print(f"\nfirst check: {TRIALS} trials, {kills} kills, each trial stored once")
