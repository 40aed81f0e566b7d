"""One store shared by processes and hosts, as a team runs it on PostgreSQL: the daemon on one
host, a cron ``notify --retry`` on another, analysts querying from a third.

A "host" is a process with a working folder and a temporary folder of its own (where a store's
lock would be if it were a file in TMPDIR); the store is the same database. Real processes, a
real PostgreSQL server (tests/stores.py), a real SMTP server (aiosmtpd), a real local registry.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from ctwatch.diff import diff
from ctwatch.errors import StoreBusy
from ctwatch.fetch import ApiSettings
from ctwatch.replay import Registry, ReplayServer
from ctwatch.status import NEXT_RUN
from tests.conftest import SAFETY_S, Faults, Watcher, two_trials
from tests.helpers import ctwatch, environment, wait_for
from tests.stores import PASSWORD_ENV, StoreUnderTest, free_port
from tests.test_daemon_e2e import holding
from tests.test_notify_support import Mailbox, myeloma, smtp_server, snapshot, with_title

DEADLINE_S = 60  # generous: under load a command can take long; a pass never waits for it
POSTGRESQL = pytest.mark.parametrize("store_kind", ["postgresql"], indirect=True)


@pytest.fixture
def registry() -> Registry:
    return two_trials()


def host(folder: Path, config: dict[str, Any]) -> dict[str, str]:
    """A host's working folder with its config.yaml, and the environment of its processes: a
    temporary folder of its own."""
    (folder / "tmp").mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return environment(TMPDIR=str(folder / "tmp"))


def shared(store: StoreUnderTest) -> dict[str, str]:
    """store: settings that name the test's store from any folder."""
    return {**store.settings, "store": store.url} if store.kind == "sqlite" else store.settings


def popen(folder: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "ctwatch", *args], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.smoke
@POSTGRESQL
def test_two_hosts_run_one_check_at_a_time(watcher: Watcher, faults: Faults,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    config = yaml.safe_load((watcher.folder / "config.yaml").read_text())
    config["api"] |= {"timeout_s": DEADLINE_S, "deadline_s": DEADLINE_S}
    first = host(watcher.folder / "host-a", config)
    second = host(watcher.folder / "host-b", config)
    waiting: subprocess.Popen[bytes] | None = None
    with holding(monkeypatch, faults, "list") as gate:
        running = popen(watcher.folder / "host-a", first, "check")
        try:
            assert gate.arrived.wait(DEADLINE_S)  # host A's check is under way
            refused = subprocess.run([sys.executable, "-m", "ctwatch", "check"],
                                     cwd=watcher.folder / "host-b", env=second,
                                     capture_output=True, text=True, timeout=DEADLINE_S)
            assert refused.returncode == 4, refused.stderr
            [line] = refused.stderr.splitlines()
            assert "another ctwatch run holds its lock" in line and "--wait" in line
            assert watcher.store.password not in line

            waiting = popen(watcher.folder / "host-b", second, "check", "--wait")
            assert wait_for(lambda: watcher.store.lock_waiters() == 1, DEADLINE_S)
            assert running.poll() is None and waiting.poll() is None
            gate.release.set()
            _, said = running.communicate(timeout=DEADLINE_S)
            assert running.returncode == 0, said.decode()
            _, said = waiting.communicate(timeout=DEADLINE_S)
            assert waiting.returncode == 0, said.decode()
        finally:
            for process in (running, waiting):
                if process is not None:
                    process.kill()
                    process.wait()
    # Host B ran after host A, on the history host A wrote: nothing new to store.
    assert "nothing to check" in said.decode()
    trials = len(config["trials"])
    assert watcher.store.rows("snapshots") == trials
    assert [row["status"] for row in watcher.store.query("select status from runs order by id")
            ] == ["ok", "skipped"]


@dataclass
class Switchboard(Mailbox):
    """A mailbox whose server holds every message until two are being handed over at once —
    two processes delivering at the same moment — or ``opened`` is set (a regression: then
    ``overlapped`` stays False)."""

    opened: threading.Event = field(default_factory=threading.Event)
    in_flight: int = 0
    overlapped: bool = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.in_flight += 1  # the server's event loop is one thread
        if self.in_flight >= 2:
            self.overlapped = True
            self.opened.set()
        while not self.opened.is_set():
            await asyncio.sleep(0.01)
        self.in_flight -= 1
        return await super().handle_DATA(server, session, envelope)


CHANGE_SETS = 100  # each owed to both channels: 200 pending alerts
TEAMS = ("ra@example.org", "clinops@example.org")


def queue_alerts(store: StoreUnderTest, channels: list[str]) -> None:
    """CHANGE_SETS change sets of one trial, each queued on ``channels``."""
    trial = myeloma()
    base = snapshot(trial, None)
    with store.open() as db:
        db.save(base, b"{}")
        changes = diff(trial, with_title(trial, "edited"))
        for number in range(1, CHANGE_SETS + 1):
            edited = with_title(trial, f"{trial.brief_title} (edit {number})")
            saved = db.save(replace(snapshot(edited, None), content_hash=f"edit-{number}"),
                            b"{}", changes, channels)
            assert saved.change_set is not None


@pytest.mark.smoke
@pytest.mark.both_stores
def test_a_daemon_and_notify_retry_deliver_each_alert_once(
        tmp_path: Path, store: StoreUnderTest, replay: ReplayServer,
        fast_api: ApiSettings) -> None:
    port, mailbox = free_port(), Switchboard()
    channels = [{"kind": "email", "to": team, "from": "ctwatch@example.org",
                 "smtp": {"host": "127.0.0.1", "port": port, "starttls": False,
                          "timeout_s": DEADLINE_S}} for team in TEAMS]
    api = {key: value for key, value in asdict(fast_api).items() if key != "user_agent"}
    config = {**shared(store), "api": api, "trials": ["NCT00184067"],
              "schedule": {"every": "1h"}}
    daemon_env = host(tmp_path / "host-a", {**config, "notify": channels})
    # The other host lists the channels the other way round: both deliver at once.
    cron_env = host(tmp_path / "host-b", {**config, "notify": channels[::-1]})
    queue_alerts(store, [f"email:{team}" for team in TEAMS])
    safety = threading.Timer(SAFETY_S, mailbox.opened.set)
    safety.start()
    with smtp_server(port, mailbox):
        daemon = popen(tmp_path / "host-a", daemon_env, "run", "--now")
        # the daemon's check done, its first alert held at the server: the cron job comes in
        assert wait_for(lambda: mailbox.in_flight >= 1, DEADLINE_S)
        cron = popen(tmp_path / "host-b", cron_env, "notify", "--retry")
        try:
            _, said = cron.communicate(timeout=DEADLINE_S * 2)
            assert cron.returncode == 0, said.decode()
            assert wait_for(lambda: store.rows("outbox", "status <> 'delivered'") == 0,
                            DEADLINE_S)
            daemon.send_signal(signal.SIGTERM)
            _, logged = daemon.communicate(timeout=DEADLINE_S)
            assert daemon.returncode == 0, logged.decode()
        finally:
            safety.cancel()
            for process in (daemon, cron):
                process.kill()
                process.wait()
    assert mailbox.overlapped, "the two processes never delivered at the same time"
    sent = Counter((message["To"], message["Message-ID"]) for message in mailbox.messages)
    assert len(sent) == CHANGE_SETS * len(TEAMS)  # every alert arrived…
    assert set(sent.values()) == {1}  # …once
    assert store.rows("outbox") == CHANGE_SETS * len(TEAMS)
    assert "Traceback" not in said.decode() + logged.decode()


@pytest.mark.parametrize("store_kind", ["sqlite", "postgresql"], indirect=True)
def test_asking_whether_the_store_is_locked_never_turns_a_check_away(
        store: StoreUnderTest) -> None:
    """``status`` and the daemon's next run read the locks without taking them: a check
    starting while they ask is never refused (it was, when asking took the lock an instant)."""
    asks = 300
    with store.open() as status, store.open() as check:
        def ask() -> None:
            for _ in range(asks):
                status.locked("run")
                status.locked("daemon")

        asking = threading.Thread(target=ask)
        asking.start()
        refused = 0
        while asking.is_alive():
            try:
                with check.lock():
                    pass
            except StoreBusy:
                refused += 1
        asking.join()
    assert refused == 0


@pytest.mark.parametrize("store_kind", ["sqlite", "postgresql"], indirect=True)
def test_one_daemon_per_store_and_status_tells_its_next_run(watcher: Watcher) -> None:
    path = watcher.folder / "config.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()),
                                    "schedule": {"every": "1h"}}))
    with watcher.store.open() as daemon, daemon.lock(name="daemon"):  # another host's daemon
        daemon.set_meta(NEXT_RUN, "2026-02-02T07:00:00+00:00")
        second = watcher.run("run")
        state = json.loads(watcher.run("status", "--format", "json").stdout)
    assert second.code == 4
    [line] = second.stderr.splitlines()
    assert "another ctwatch run daemon already uses it" in line
    assert (state["next_run"], state["running"]) == ("2026-02-02T07:00:00+00:00", False)
    # The daemon is gone (its note of the next run left behind): no next run.
    assert json.loads(watcher.run("status", "--format", "json").stdout)["next_run"] is None


@POSTGRESQL
def test_analysts_query_the_json_in_the_database(watcher: Watcher) -> None:
    watcher.check()

    def closed(study: dict[str, Any]) -> None:
        study["protocolSection"]["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"

    watcher.publish(closed)
    assert watcher.check().code == 0
    assert watcher.store.query(
        "select nct_id, trial -> 'status' ->> 'overall' as overall from snapshots "
        "where trial @> '{\"status\": {\"overall\": \"ACTIVE_NOT_RECRUITING\"}}'") == [
        {"nct_id": "NCT04083898", "overall": "ACTIVE_NOT_RECRUITING"}]
    assert watcher.store.query(
        "select change ->> 'path' as path, change ->> 'severity' as severity "
        "from change_sets, jsonb_array_elements(changes) as change") == [
        {"path": "status.overall", "severity": "major"}]
    assert watcher.store.query("select (counts ->> 'change_sets')::int as found from runs "
                               "order by id") == [{"found": 0}, {"found": 1}]


@POSTGRESQL
def test_a_nul_character_in_registry_text_is_stored_and_changes_nothing_after(
        watcher: Watcher) -> None:
    """jsonb refuses U+0000: the trial must not fail at every check for it; the character
    reads as U+FFFD (README, Configuration)."""
    watcher.check()
    watcher.publish(lambda study: study["protocolSection"]["identificationModule"].update(
        briefTitle="Stopped\u0000 early"))
    run = watcher.check()
    assert run.code == 0, run.stderr
    [alert] = watcher.alerts()
    assert alert["changes"][0]["new"] == "Stopped\ufffd early"
    watcher.registry.data_timestamp += "1"
    again = watcher.check("--full")
    assert again.code == 0, again.stderr
    assert len(watcher.alerts()) == 1


@POSTGRESQL
def test_a_server_down_or_a_wrong_password_is_one_line(watcher: Watcher,
                                                       store: StoreUnderTest) -> None:
    config = yaml.safe_load((watcher.folder / "config.yaml").read_text())
    url = config["store"]
    server = url.split("@")[1].split("/")[0]
    without_env = {key: value for key, value in config.items() if key != "store_password_env"}
    cases = [  # (configuration, the password in the environment, the cause said, the secret)
        ({**config, "store": url.replace(server, f"127.0.0.1:{free_port()}")},
         store.password, "Connection refused", store.password),
        ({**without_env, "store": url.replace("ctwatch@", "ctwatch:Wr0ng-pa55@")},
         None, "password authentication failed", "Wr0ng-pa55"),
        (config, "Wr0ng-env-pa55", "password authentication failed", "Wr0ng-env-pa55"),
    ]
    for settings, password, cause, secret in cases:
        (watcher.folder / "config.yaml").write_text(yaml.safe_dump(settings))
        env = {key: value for key, value in watcher.env.items() if key != PASSWORD_ENV}
        env |= {PASSWORD_ENV: password} if password else {}
        for command in ("check", "status"):
            run = ctwatch(watcher.folder, command, env=env)
            assert run.code == 3, (command, run.stderr)
            [line] = run.stderr.splitlines()
            assert line.startswith("ctwatch: error: store postgresql+psycopg://ctwatch"), line
            assert "cannot open" in line and cause in line, line
            assert secret not in line and "Traceback" not in run.stderr, line
            assert "ctwatch:***@" in line or "ctwatch@" in line
