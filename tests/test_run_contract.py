"""The run contract: a run counts the registry's data as checked only when every trial was
really checked, and one trial's bad record or failed write costs that trial alone.

``ctwatch check`` runs in-process (click's runner) against a real local registry and a real
store, a SQLite file and a PostgreSQL database (each test runs on both: on PostgreSQL a failed
statement spoils the rest of its transaction, so what a trial writes must be a unit of its own);
the registry publishes a release in which every trial became TERMINATED and one record is
malformed.
"""

from __future__ import annotations

import json
import socket
import time
import zlib
from collections.abc import Callable
from contextlib import chdir
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from ctwatch.cli import main
from ctwatch.replay import Registry
from tests.conftest import (
    Faults,
    Study,
    Watcher,
    clone_record,
    generated_ids,
    posted_anew,
    study_raw,
)
from tests.helpers import MYELOMA

DEPTH = 100_000

pytestmark = pytest.mark.both_stores


@pytest.fixture
def registry() -> Registry:
    """Three trials, none of them terminated yet; NCT04083898 first."""
    served = Registry(data_timestamp="2026-01-05T09:00:05")
    for raw in (MYELOMA.read_bytes(), study_raw("NCT03475563"), study_raw("NCT05147467")):
        served.publish(raw)
    return served


def invoke(watcher: Watcher, *args: str) -> Result:
    """``ctwatch ARGS`` in the watcher's folder, in this process."""
    with chdir(watcher.folder):
        return CliRunner().invoke(main, list(args))


def terminate(study: Study) -> None:
    status = study["protocolSection"]["statusModule"]
    status["overallStatus"] = "TERMINATED"
    status["whyStopped"] = "Sponsor decision"
    posted_anew(study)


def deeply_nested(study: Study) -> bytes:
    text = json.dumps(study)
    return (text[:-1] + ', "extra": ' + "[" * DEPTH + "]" * DEPTH + "}").encode()


def lone_surrogate(study: Study) -> bytes:
    study["protocolSection"]["identificationModule"]["briefTitle"] = "Stopped \ud800 early"
    return json.dumps(study).encode()  # the escape "\ud800", as a registry would send it


def list_for_a_date(study: Study) -> bytes:
    study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = ["2026-01-02"]
    return json.dumps(study).encode()


def number_for_a_date(study: Study) -> bytes:
    study["protocolSection"]["statusModule"]["startDateStruct"]["date"] = 20260102
    return json.dumps(study).encode()


def number_for_the_aliases(study: Study) -> bytes:
    study["protocolSection"]["identificationModule"]["nctIdAliases"] = 5
    return json.dumps(study).encode()


def surrogate_in_the_id(study: Study) -> bytes:
    ident = study["protocolSection"]["identificationModule"]
    ident["nctId"] += "\ud800"  # the error that quotes it must still be stored and shown
    return json.dumps(study).encode()


MALFORMED: dict[str, Callable[[Study], bytes]] = {
    "nested 100,000 deep": deeply_nested,
    "list for a date": list_for_a_date,
    "number for a date": number_for_a_date,
    "lone surrogate in the id": surrogate_in_the_id,
}


def release(watcher: Watcher, stamp: str, broken: str | None = None,
            malform: Callable[[Study], bytes] | None = None) -> Study:
    """A new data release: every trial TERMINATED, ``broken`` served malformed; returns the
    record ``broken`` should have had (the registry's repair)."""
    repaired: Study = {}
    for nct_id in watcher.registry.ids():
        study = json.loads(watcher.registry.record(nct_id) or b"{}")
        terminate(study)
        if nct_id == broken and malform is not None:
            repaired = json.loads(json.dumps(study))
            watcher.registry.publish_raw(nct_id, malform(study))
        else:
            watcher.registry.publish(study)
    watcher.registry.data_timestamp = stamp
    return repaired


def terminated(watcher: Watcher) -> list[str]:
    """The trials whose TERMINATED alert reached the file channel, in order."""
    return [alert["nct_id"] for alert in watcher.alerts()
            if any(change["path"] == "status.overall" and change["new"] == "TERMINATED"
                   for change in alert["changes"])]


def errors(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("ctwatch: error")]


def last_run(watcher: Watcher) -> dict[str, Any]:
    return watcher.store.query("select * from runs order by id desc limit 1")[0]


@pytest.mark.parametrize("malform", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_record_costs_its_own_trial_only_and_is_never_forgotten(
        watcher: Watcher, malform: Callable[[Study], bytes]) -> None:
    ids = list(watcher.registry.ids())
    assert invoke(watcher, "check").exit_code == 0
    bad = ids[0]  # the first trial: every trial after it must still be checked

    repaired = release(watcher, "2026-02-02T09:00:00", bad, malform)
    result = invoke(watcher, "check")
    assert result.exit_code == 3, result.stderr
    assert isinstance(result.exception, SystemExit)  # no exception escaped
    [line] = errors(result)
    assert bad in line
    assert sorted(terminated(watcher)) == sorted(ids[1:])  # in this very run
    assert last_run(watcher)["data_timestamp"] is None  # not "checked": a trial was not

    # The registry repairs the record within the same data release: no --force needed.
    watcher.registry.publish(repaired)
    result = invoke(watcher, "check")
    assert result.exit_code == 0, result.stderr
    assert sorted(terminated(watcher)) == sorted(ids)  # each exactly once
    assert last_run(watcher)["data_timestamp"] == "2026-02-02T09:00:00"
    assert "nothing to check" in invoke(watcher, "check").stderr




def test_a_damaged_table_fails_every_trial_in_one_line_and_the_next_run_redoes_them(
        watcher: Watcher) -> None:
    ids = list(watcher.registry.ids())
    assert invoke(watcher, "check").exit_code == 0
    for nct_id in ids:
        study = json.loads(watcher.registry.record(nct_id) or b"{}")
        terminate(study)
        watcher.registry.publish(study)
    watcher.registry.data_timestamp = "2026-02-02T09:00:00"
    watcher.store.fail_writes("broken", "snapshots", "INSERT")

    result = invoke(watcher, "check")
    assert result.exit_code == 3
    [line] = errors(result)
    assert "database or disk is full" in line and f"{len(ids)} trials" in line
    assert terminated(watcher) == []
    run = last_run(watcher)
    assert (run["status"], run["data_timestamp"]) == ("partial", None)

    watcher.store.allow_writes("broken", "snapshots")
    result = invoke(watcher, "check")
    assert result.exit_code == 0, result.stderr
    assert sorted(terminated(watcher)) == sorted(ids)


def test_a_store_that_cannot_even_record_failures_fails_the_run_in_one_line(
        watcher: Watcher) -> None:
    assert invoke(watcher, "check").exit_code == 0
    study = json.loads(watcher.registry.record(next(iter(watcher.registry.ids()))) or b"{}")
    terminate(study)
    watcher.registry.publish(study)
    watcher.registry.data_timestamp = "2026-02-02T09:00:00"
    broken = [(f"broken_{table}_{event}", table, event)
              for table, event in (("snapshots", "INSERT"), ("trial_state", "INSERT"),
                                   ("trial_state", "UPDATE"), ("runs", "UPDATE"))]
    for name, table, event in broken:
        watcher.store.fail_writes(name, table, event)

    result = invoke(watcher, "check")
    assert result.exit_code == 3
    [line] = errors(result)
    assert "disk is full" in line and "Traceback" not in result.stderr

    for name, table, _ in broken:
        watcher.store.allow_writes(name, table)
    result = invoke(watcher, "check")
    assert result.exit_code == 0, result.stderr
    assert len(terminated(watcher)) == 1


def test_a_failed_batch_is_one_line_and_a_run_of_failures_one_notice(
        watcher: Watcher, faults: Faults) -> None:
    ids = generated_ids(1000)
    template = MYELOMA.read_bytes()
    for nct_id in ids:
        watcher.registry.publish(clone_record(template, nct_id))
    watch_only(watcher, ids)
    faults.add("list", "status", status=503)

    for run in range(1, 4):
        result = invoke(watcher, "check")
        assert result.exit_code == 3
        [line] = errors(result)
        assert "HTTP 503" in line and "1000 trials" in line
        notices = [line for line in result.stderr.splitlines() if "in a row" in line]
        assert notices == ([] if run < 3 else
                           ["ctwatch: warning: 1000 trials have failed 3 checks in a row: "
                            f"{', '.join(ids[:5])} and 995 more (see ctwatch status)"])


def watch_only(watcher: Watcher, ids: list[str]) -> None:
    path = watcher.folder / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["trials"] = ids
    path.write_text(yaml.safe_dump(config))


def test_offline_a_check_fails_at_once_in_one_line(watcher: Watcher,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ids = generated_ids(2500)
    watch_only(watcher, ids)
    path = watcher.folder / "config.yaml"  # the default pace, retries and backoff
    config = yaml.safe_load(path.read_text())
    config["api"] = {"base_url": "https://clinicaltrials.gov"}
    path.write_text(yaml.safe_dump(config))
    lookups: list[str] = []
    sleeps: list[float] = []

    def offline(host: str, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    monkeypatch.setattr(time, "sleep", sleeps.append)  # the client's pace and backoff
    result = invoke(watcher, "check")
    assert result.exit_code == 3
    [line] = errors(result)
    assert "name resolution failed" in line and "2500 trials" in line
    assert len(lookups) == 2  # the data timestamp, then the first batch: no retry
    assert sum(sleeps) < 10  # the pace between the two requests; no backoff


def test_a_run_whose_process_died_shows_as_aborted_not_running(watcher: Watcher) -> None:
    assert invoke(watcher, "check").exit_code == 0
    with watcher.store.open() as db:
        db.start_run()  # and then the process dies: no lock is held, the row says "running"
    state = json.loads(invoke(watcher, "status", "--format", "json").stdout)
    assert (state["running"], state["last_run"]["status"]) == (False, "aborted")
    assert invoke(watcher, "check").exit_code == 0
    statuses = [row["status"] for row in watcher.store.query("select status from runs order by id")]
    assert statuses == ["ok", "aborted", "ok"]  # the next run checked everything again


def test_a_failed_data_timestamp_is_said_at_verbose_and_every_trial_is_checked(
        watcher: Watcher, faults: Faults) -> None:
    faults.add("version", "status", status=503)
    quiet = invoke(watcher, "check")
    assert quiet.exit_code == 0 and "/api/v2/version" not in quiet.stderr
    verbose = invoke(watcher, "-v", "check", "--force")
    assert "no data timestamp" in verbose.stderr and "/api/v2/version" in verbose.stderr
    assert "checked 3 trials" in verbose.stderr


def test_the_alerts_of_the_trials_checked_go_out_even_when_the_run_then_fails(
        watcher: Watcher) -> None:
    ids = list(watcher.registry.ids())
    assert invoke(watcher, "check").exit_code == 0
    bad = ids[-1]  # checked last, after the healthy trials were stored
    release(watcher, "2026-02-02T09:00:00", bad, list_for_a_date)
    watcher.store.fail_writes("failures_full", "trial_state", "UPDATE",
                            when="NEW.consecutive_failures > 0")
    result = invoke(watcher, "check")
    assert result.exit_code == 3
    assert "disk is full" in result.stderr
    assert last_run(watcher)["status"] == "failed"
    assert sorted(terminated(watcher)) == sorted(ids[:-1])  # delivered all the same


@pytest.mark.parametrize("malform", [number_for_the_aliases, lone_surrogate],
                         ids=["aliases read as none", "lone surrogate read as U+FFFD"])
def test_a_record_read_despite_an_odd_value_stops_nothing(
        watcher: Watcher, malform: Callable[[Study], bytes]) -> None:
    ids = list(watcher.registry.ids())
    assert invoke(watcher, "check").exit_code == 0
    release(watcher, "2026-02-02T09:00:00", ids[0], malform)
    result = invoke(watcher, "check")
    assert result.exit_code == 0, result.stderr
    assert sorted(terminated(watcher)) == sorted(ids)


def test_a_snapshot_the_new_parser_refuses_does_not_block_its_trial(watcher: Watcher) -> None:
    ids = list(watcher.registry.ids())
    assert invoke(watcher, "check").exit_code == 0
    study = json.loads(watcher.registry.record(ids[0]) or b"{}")
    study["protocolSection"]["statusModule"]["startDateStruct"]["date"] = "2020-13-45"
    watcher.store.execute("UPDATE snapshots SET parser_version = 1, raw = :raw "  # as an older
                          "WHERE nct_id = :trial",  # parser kept it
                          raw=zlib.compress(json.dumps(study).encode()), trial=ids[0])
    release(watcher, "2026-02-02T09:00:00")
    result = invoke(watcher, "check")
    assert result.exit_code == 0, result.stderr
    assert sorted(terminated(watcher)) == sorted(ids)
