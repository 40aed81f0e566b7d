"""Property: in a data release where every trial became TERMINATED, one record mutated in any
way (a key deleted, a value of another type, deep nesting, odd unicode, a huge string) costs
its own trial only — never a crash, never another trial's alert — and that trial's change
alerts exactly once, at the latest on the first run after the registry repairs the record.

``ctwatch check`` runs in-process against a real local registry and real SQLite files.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctwatch.cli import main
from ctwatch.fetch import ApiSettings
from ctwatch.replay import Registry, ReplayServer
from tests.conftest import posted_anew, study_raw
from tests.helpers import MYELOMA

BAD = "NCT04083898"
DEEP = object()  # stands for a value nested 100,000 levels deep
ODD = [None, True, 0, -1, 1e308, "", [], {}, "\ud800", "\x1b[2J\x1b[31mred", "\u202egnp.exe",
       "x" * 100_000, "2020-13-45", ["2026-01-02"], {"date": None}, DEEP]
Study = dict[str, Any]
Path_ = tuple[str | int, ...]


def terminated(raw: bytes) -> Study:
    study = json.loads(raw)
    study["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"
    posted_anew(study)
    return study


RECORDS = {BAD: MYELOMA.read_bytes(), "NCT03475563": study_raw("NCT03475563"),
           "NCT05147467": study_raw("NCT05147467")}
RELEASE = {nct_id: terminated(raw) for nct_id, raw in RECORDS.items()}


def paths(value: Any, here: Path_ = ()) -> Iterator[Path_]:
    """Every place in a JSON value, depth first."""
    if here:
        yield here
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, item in items:
        yield from paths(item, (*here, key))


# Every place of the record, and a few it lacks (a value added where none was).
PLACES = [*paths(RELEASE[BAD]), ("protocolSection", "identificationModule", "nctIdAliases"),
          ("protocolSection", "statusModule", "whyStopped"), ("protocolSection", "extra"),
          ("protocolSection", "conditionsModule", "conditions", 1)]


def mutated(place: Path_, odd: Any) -> bytes:
    study = json.loads(json.dumps(RELEASE[BAD]))
    *above, last = place
    parent: Any = study
    for key in above:
        parent = parent[key]
    if isinstance(parent, list) and last >= len(parent):  # type: ignore[operator]
        parent.append(None)
    if odd is None and isinstance(parent, dict) and last in parent:
        del parent[last]  # a missing key, rather than a null
    else:
        parent[last] = "<DEEP>" if odd is DEEP else odd
    text = json.dumps(study)
    return text.replace('"<DEEP>"', "[" * 100_000 + "]" * 100_000).encode()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Registry, ReplayServer]]:
    registry = Registry(data_timestamp="2026-01-05T09:00:05")
    for raw in RECORDS.values():
        registry.publish(raw)
    with ReplayServer(registry) as server:
        yield registry, server


@pytest.fixture(scope="module")
def baseline(served: tuple[Registry, ReplayServer],
             tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose store holds the first check of the three healthy trials."""
    folder = tmp_path_factory.mktemp("baseline")
    write_config(folder, served[1])
    assert invoke(folder, "check").exit_code == 0
    return folder


def write_config(folder: Path, server: ReplayServer) -> None:
    api = ApiSettings(base_url=server.url, timeout_s=5, max_retries=1, requests_per_second=1000,
                      backoff_s=0.01, backoff_max_s=0.01, deadline_s=10)
    config = {"store": str(folder / "ctwatch.db"), "trials": list(RECORDS),
              "api": {k: v for k, v in asdict(api).items() if k != "user_agent"},
              "notify": [{"kind": "file", "path": str(folder / "alerts.jsonl")}]}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))


def invoke(folder: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(folder / "config.yaml"), *args])


def terminations(folder: Path) -> list[str]:
    path = folder / "alerts.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [alert["nct_id"] for alert in map(json.loads, lines)
            if any(change["path"] == "status.overall" and change["new"] == "TERMINATED"
                   for change in alert["changes"])]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(place=st.sampled_from(PLACES), odd=st.sampled_from(ODD))
def test_one_bad_record_costs_its_own_trial_only(served: tuple[Registry, ReplayServer],
                                                 baseline: Path, place: Path_,
                                                 odd: Any) -> None:
    registry, server = served
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        shutil.copy(baseline / "ctwatch.db", folder / "ctwatch.db")
        write_config(folder, server)
        for study in RELEASE.values():
            registry.publish(study)
        registry.publish_raw(BAD, mutated(place, odd))
        registry.data_timestamp = "2026-02-02T09:00:00"

        result = invoke(folder, "check")
        assert result.exit_code in (0, 3), result.stderr
        assert isinstance(result.exception, SystemExit | None)  # nothing escaped
        errors = [line for line in result.stderr.splitlines() if "error" in line]
        assert all(BAD in line for line in errors), errors
        assert sorted(set(terminations(folder)) - {BAD}) == sorted(set(RECORDS) - {BAD})

        registry.publish(RELEASE[BAD])  # repaired, in the next data release
        registry.data_timestamp = "2026-02-03T09:00:00"
        repaired = invoke(folder, "check")
        assert repaired.exit_code == 0, repaired.stderr
        assert sorted(terminations(folder)) == sorted(RECORDS)  # each exactly once
