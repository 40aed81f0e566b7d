"""`ctwatch fetch` end to end: the real command (in-process) against the local registry."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from ctwatch.fetch import ApiSettings
from ctwatch.replay import Registry, ReplayServer
from tests.conftest import REGISTRY_STUDIES, Faults, clone_record, generated_ids, study_raw
from tests.helpers import ctwatch as run_ctwatch

KNOWN = "NCT00184067"
OTHER = "NCT00973089"


@dataclass
class Run:
    code: int
    stdout: bytes
    stderr: str


@pytest.fixture
def ctwatch(tmp_path: Path, fast_api: ApiSettings):
    """Run `ctwatch ARGS` in tmp_path, whose config.yaml points at the local registry."""
    api = {key: value for key, value in asdict(fast_api).items() if key != "user_agent"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"api": api}))

    def run(*args: str) -> Run:
        result = run_ctwatch(tmp_path, *args)
        return Run(result.code, result.stdout_bytes, result.stderr)

    return run


def assert_one_error_line(run: Run, nct_id: str, cause: str) -> None:
    assert run.code == 3, run.stderr
    assert run.stdout == b""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"ctwatch: error: {nct_id} (http://127.0.0.1:")
    assert cause in lines[0]
    assert "Traceback" not in run.stderr


def record(nct_id: str) -> bytes:
    return study_raw(nct_id)


def test_one_id_prints_the_raw_record(ctwatch, replay: ReplayServer) -> None:
    run = ctwatch("fetch", KNOWN)
    assert run.code == 0, run.stderr
    assert run.stderr == ""
    assert run.stdout == record(KNOWN).rstrip(b"\n") + b"\n"
    assert replay.counts == {"study": 1}


def test_a_lower_case_id_works(ctwatch, replay: ReplayServer) -> None:
    run = ctwatch("fetch", KNOWN.lower())
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["protocolSection"]["identificationModule"]["nctId"] == KNOWN
    assert replay.paths == {f"/api/v2/studies/{KNOWN}": 1}


def test_an_unknown_id_is_not_found(ctwatch) -> None:
    assert_one_error_line(ctwatch("fetch", "NCT99999999"), "NCT99999999", "): not found")


@pytest.mark.parametrize("value", ["NCT1234", "12345678", "NCT123456789", "nct0018406x"])
def test_a_malformed_id_is_refused_before_any_request(ctwatch, replay, value: str) -> None:
    run = ctwatch("fetch", KNOWN, value)
    assert run.code == 2
    assert run.stdout == b""
    assert run.stderr.splitlines() == [
        f"ctwatch: error: {value!r} is not an NCT id (expected NCT followed by 8 digits)"]
    assert sum(replay.counts.values()) == 0


FAILURES: list[tuple[str, dict[str, Any], str]] = [
    ("server error", {"kind": "status", "status": 500}, "server error (HTTP 500"),
    ("rate limited", {"kind": "status", "status": 429, "headers": (("Retry-After", "0"),)},
     "rate limited (HTTP 429)"),
    ("html page", {"kind": "html"}, "expected JSON, got text/html"),
    ("truncated body", {"kind": "truncate"}, "truncated"),
    ("slow reply", {"kind": "slow", "delay_s": 1.0}, "no reply within 0.5 s (timeout)"),
    ("wrong id", {"kind": "wrong_id"}, "registry returned NCT00000001, not the trial asked for"),
]


@pytest.mark.parametrize(("options", "cause"), [f[1:] for f in FAILURES],
                         ids=[f[0] for f in FAILURES])
def test_a_failing_registry_gives_one_line_and_no_output(
    ctwatch, faults: Faults, options: dict[str, Any], cause: str
) -> None:
    faults.add("study", **options)
    run = ctwatch("fetch", KNOWN)
    assert_one_error_line(run, KNOWN, cause)


@pytest.mark.parametrize(("options", "cause"), [f[1:] for f in FAILURES],
                         ids=[f[0] for f in FAILURES])
def test_a_failing_list_request_names_every_trial(
    ctwatch, faults: Faults, options: dict[str, Any], cause: str
) -> None:
    faults.add("list", **options)
    faults.add("study", **options)  # the single GETs that confirm ids missing from the page
    run = ctwatch("fetch", KNOWN, OTHER)
    assert run.code == 3
    assert run.stdout == b""
    lines = run.stderr.splitlines()
    assert sorted(line.split()[2] for line in lines) == [KNOWN, OTHER]
    assert all(cause in line for line in lines), run.stderr
    assert "Traceback" not in run.stderr


def test_a_record_that_cannot_be_decoded_fails_alone(ctwatch, faults: Faults, replay) -> None:
    ids = list(REGISTRY_STUDIES)
    bad = ids[2]
    faults.add("list", "poison", target=bad)
    faults.add("study", "poison", target=bad)
    run = ctwatch("fetch", *ids)
    assert run.code == 3
    printed = [json.loads(line)["protocolSection"]["identificationModule"]["nctId"]
               for line in run.stdout.splitlines()]
    assert sorted(printed) == sorted(set(ids) - {bad})
    assert run.stderr.splitlines() == [
        f"ctwatch: error: {bad} ({replay.url}/api/v2/studies/{bad}): "
        "reply is not valid JSON (nested too deeply)"]


def test_retries_are_bounded_by_max_retries(ctwatch, faults: Faults, replay) -> None:
    faults.add("study", "status", status=503)
    run = ctwatch("fetch", KNOWN)
    assert_one_error_line(run, KNOWN, "server error (HTTP 503")
    assert "gave up after 3 attempts" in run.stderr
    assert replay.counts == {"study": 3}


def test_a_429_is_retried_after_retry_after(ctwatch, faults: Faults, replay) -> None:
    faults.add("study", "status", status=429, headers=(("Retry-After", "1"),), times=1)
    run = ctwatch("fetch", KNOWN)
    assert run.code == 0, run.stderr
    assert run.stderr == ""
    assert json.loads(run.stdout)["protocolSection"]["identificationModule"]["nctId"] == KNOWN
    assert replay.counts == {"study": 2}
    first, again = replay.arrivals
    assert again - first >= 1.0  # the server's clock: the retry waited as it was asked


def test_a_dropped_id_is_confirmed_with_one_get(ctwatch, faults: Faults, replay) -> None:
    faults.add("list", "drop", target=OTHER)
    run = ctwatch("fetch", KNOWN, OTHER)
    assert run.code == 0, run.stderr
    ids = [json.loads(line)["protocolSection"]["identificationModule"]["nctId"]
           for line in run.stdout.splitlines()]
    assert sorted(ids) == [KNOWN, OTHER]
    assert replay.counts == {"list": 1, "study": 1}
    assert replay.paths[f"/api/v2/studies/{OTHER}"] == 1


def test_a_dropped_id_that_is_gone_is_reported_and_the_rest_kept(
    ctwatch, faults: Faults, replay
) -> None:
    faults.add("list", "drop", target=OTHER)
    faults.add("study", "status", status=404, only=OTHER, text=f"NCT number {OTHER} not found")
    run = ctwatch("fetch", KNOWN, OTHER)
    assert run.code == 3
    assert [json.loads(line)["protocolSection"]["identificationModule"]["nctId"]
            for line in run.stdout.splitlines()] == [KNOWN]
    assert run.stderr.splitlines() == [
        f"ctwatch: error: {OTHER} ({replay.url}/api/v2/studies/{OTHER}): not found"]


def test_several_ids_print_json_lines(ctwatch, replay) -> None:
    ids = ["NCT00184067", "nct03475563", "NCT03934567"]
    run = ctwatch("fetch", *ids)
    assert run.code == 0, run.stderr
    lines = run.stdout.decode().splitlines()
    assert sorted(json.loads(line)["protocolSection"]["identificationModule"]["nctId"]
                  for line in lines) == sorted(value.upper() for value in ids)
    assert replay.counts == {"list": 1}


def test_out_writes_one_file_per_trial(ctwatch, tmp_path: Path, replay) -> None:
    run = ctwatch("fetch", KNOWN, "NCT99999999", "--out", "records")
    assert run.code == 3
    assert run.stdout == b""
    assert "NCT99999999" in run.stderr and "not found" in run.stderr
    assert sorted(p.name for p in (tmp_path / "records").iterdir()) == [f"{KNOWN}.json"]
    saved = json.loads((tmp_path / "records" / f"{KNOWN}.json").read_bytes())
    assert saved == json.loads(record(KNOWN))


def test_one_id_with_out_saves_the_bytes_as_received(ctwatch, tmp_path: Path) -> None:
    run = ctwatch("fetch", KNOWN, "--out", "records")
    assert run.code == 0, run.stderr
    assert (run.stdout, run.stderr) == (b"", "")
    assert (tmp_path / "records" / f"{KNOWN}.json").read_bytes() == record(KNOWN)


def test_an_alias_is_followed_to_its_new_id(ctwatch, registry: Registry, replay) -> None:
    study = clone_record(record(OTHER), "NCT20000000")
    study["protocolSection"]["identificationModule"]["nctIdAliases"] = ["NCT20000001"]
    registry.publish(study)
    run = ctwatch("fetch", "NCT20000001")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["protocolSection"]["identificationModule"]["nctId"] == \
        "NCT20000000"
    assert replay.paths == {"/api/v2/studies/NCT20000001": 1, "/api/v2/studies/NCT20000000": 1}


def test_a_uri_limit_splits_the_batch(ctwatch, faults: Faults, registry: Registry, replay) -> None:
    ids = generated_ids(8)
    for nct_id in ids:
        registry.publish(clone_record(record(OTHER), nct_id))
    faults.add("list", "uri_limit", max_url=100)  # room for 4 ids, not 8
    run = ctwatch("fetch", *ids)
    assert run.code == 0, run.stderr
    assert len(run.stdout.splitlines()) == 8
    assert replay.counts == {"list": 3}  # 8 ids: 414, then 4 + 4


def test_2500_ids_cost_three_list_requests(ctwatch, registry: Registry, replay, tmp_path) -> None:
    ids = generated_ids(2500)
    template = record(OTHER)
    for nct_id in ids:
        registry.publish(clone_record(template, nct_id))
    run = ctwatch("fetch", *ids, "--out", "records")
    assert run.code == 0, run.stderr
    assert replay.counts == {"list": 3}
    assert len(list((tmp_path / "records").glob("NCT*.json"))) == 2500
    assert not list((tmp_path / "records").glob(".*"))  # no temporary files left behind


def test_an_explicit_config_file_must_exist(ctwatch, replay) -> None:
    run = ctwatch("--config", "missing.yaml", "fetch", KNOWN)
    assert run.code == 2
    assert run.stderr.splitlines() == ["ctwatch: error: missing.yaml: no such configuration file"]
    assert sum(replay.counts.values()) == 0


def test_a_bad_config_value_is_named(ctwatch, tmp_path: Path, replay) -> None:
    (tmp_path / "bad.yaml").write_text("api: {timeout_s: -1}\n")
    run = ctwatch("--config", "bad.yaml", "fetch", KNOWN)
    assert run.code == 2
    assert run.stderr.splitlines() == [
        "ctwatch: error: api.timeout_s: must be a positive number (got -1)"]
