"""Snapshot references of ``ctwatch diff --from REF --to REF``: what is refused and why."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ctwatch.cli import main
from ctwatch.imports import import_records
from ctwatch.rules import Rules
from ctwatch.store import Store
from tests.helpers import MYELOMA

TRIAL = "NCT04083898"
#: (last update posted, overall status) of the versions imported, oldest first: snapshots 1-4
VERSIONS = [("2020-01-10", "NOT_YET_RECRUITING"), ("2021-03-05", "RECRUITING"),
            ("2022-06-15", "ACTIVE_NOT_RECRUITING"), ("2023-11-20", "COMPLETED")]


def record(day: str, overall: str) -> bytes:
    study = copy.deepcopy(json.loads(MYELOMA.read_bytes()))
    status = study["protocolSection"]["statusModule"]
    status["overallStatus"] = overall
    status["lastUpdatePostDateStruct"]["date"] = day
    return json.dumps(study).encode()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A store holding the four imported versions (no registry version numbers)."""
    store = tmp_path / "ctwatch.db"
    with Store(str(store)) as db:
        done = import_records(db, [(f"{day}.json", record(day, overall))
                                   for day, overall in VERSIONS], Rules.default())
    assert (done.snapshots, done.failures) == (4, [])
    path = tmp_path / "config.yaml"
    path.write_text(f"store: {store}\n")
    return path


def diff(config: Path, *refs: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), "diff", TRIAL, *refs,
                                     "--format", "json"])


def refused(run: Result) -> str:
    """The one line a refused diff prints on stderr (and nothing on stdout)."""
    assert (run.exit_code, run.stdout) == (2, ""), run.output
    assert run.stderr.count("\n") == 1, run.stderr
    return run.stderr.strip()


@pytest.mark.parametrize("ref", ["2024-13-01", "2024-02-30", "2024-00", "0000"])
def test_a_ref_that_looks_like_a_date_but_is_not_one_is_refused(config: Path, ref: str) -> None:
    assert refused(diff(config, "--from", ref)).endswith(
        f"--from: '{ref}' is not a date (YYYY, YYYY-MM or YYYY-MM-DD)")
    assert f"--to: '{ref}' is not a date" in refused(diff(config, "--from", "1", "--to", ref))


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("2021", "latest", (2, 4)),  # a year counts to its end
    ("2021-03", "2022-06-15", (2, 3)),
    ("2021-03-04", "2023", (1, 4)),
    ("2020-01-10", "3", (1, 3)),
])
def test_real_dates_name_the_newest_snapshot_on_or_before_them(
        config: Path, old: str, new: str, expected: tuple[int, int]) -> None:
    run = diff(config, "--from", old, "--to", new)
    assert run.exit_code == 0, run.output
    shown = json.loads(run.stdout)
    assert (shown["from_snapshot"], shown["to_snapshot"]) == expected


@pytest.mark.parametrize(("refs", "expected"), [
    (["--from", "latest"], "--from latest and --to latest are the same snapshot (4)"),
    (["--from", "2", "--to", "2021-12-31"],
     "--from 2 and --to 2021-12-31 are the same snapshot (2)"),
    (["--from", "v3", "--to", "3"], "--from v3 and --to 3 are the same snapshot (3)"),
], ids=["latest", "id-and-date", "version-and-id"])
def test_the_same_snapshot_at_both_ends_is_refused(config: Path, refs: list[str],
                                                   expected: str) -> None:
    with Store(str(config.parent / "ctwatch.db")) as db:
        db.set_registry_version(3, 3)
    assert refused(diff(config, *refs)) == f"ctwatch: error: {expected}; nothing to compare"


@pytest.mark.parametrize(("refs", "expected"), [
    (["--from", "4", "--to", "2"], "--from 4 (snapshot 4) is newer than --to 2 (snapshot 2); "
                                   "swap them: --from 2 --to 4"),
    (["--from", "latest", "--to", "2021"], "--from latest (snapshot 4) is newer than --to 2021 "
                                           "(snapshot 2); swap them: --from 2021 --to latest"),
], ids=["ids", "latest-and-year"])
def test_from_newer_than_to_is_refused_not_reversed(config: Path, refs: list[str],
                                                    expected: str) -> None:
    assert refused(diff(config, *refs)) == f"ctwatch: error: {expected}"


def test_a_date_before_the_first_snapshot_names_the_first(config: Path) -> None:
    assert refused(diff(config, "--from", "2019-12")) == (
        f"ctwatch: error: --from: no snapshot '2019-12' among the 4 of {TRIAL} "
        "(the oldest is of 2020-01-10)")


def test_an_unknown_version_says_why_and_that_none_is_known(config: Path) -> None:
    message = refused(diff(config, "--from", "v0"))
    assert message.startswith(f"ctwatch: error: --from: no snapshot 'v0' among the 4 of {TRIAL}: "
                              "no registry version is known; ")
    for why in ("learns its registry version only when a check finds a change",
                f"ctwatch backfill {TRIAL}", "v0 being the first registration",
                f"ctwatch history {TRIAL}"):
        assert why in message


def test_an_unknown_version_lists_the_known_ones(config: Path) -> None:
    with Store(str(config.parent / "ctwatch.db")) as db:
        for snapshot_id, version in [(2, 5), (3, 6), (4, 7)]:
            db.set_registry_version(snapshot_id, version)
    assert f"of {TRIAL}: known versions: v5-v7; a snapshot stored by ctwatch check" in refused(
        diff(config, "--from", "v0"))
    run = diff(config, "--from", "v5", "--to", "v7")
    assert run.exit_code == 0, run.output
    assert (json.loads(run.stdout)["from_version"], json.loads(run.stdout)["to_version"]) == (5, 7)
