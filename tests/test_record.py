"""Recording a new version of a trial is one store transaction: the re-parse of the snapshot an
older parser stored, the registry version numbers learnt for the comparison link, the new
snapshot, its change set and its alerts are all written, or none of them. A record fetched
from a list page is parsed from the page's decoding of it, exactly as its bytes would be."""

from __future__ import annotations

import json
import sqlite3
import zlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from ctwatch import sources
from ctwatch.errors import ParseError, StoreError
from ctwatch.fetch import Fetched
from ctwatch.model import Snapshot, Trial
from ctwatch.record import Reading, parse_fetched, record
from ctwatch.rules import Rules
from ctwatch.store import Store, content_hash, rows
from tests.helpers import MYELOMA

OLD_PARSER = sources.PARSER_VERSION - 1


def version(status: str, posted: str) -> tuple[bytes, Trial]:
    """The myeloma record with another overall status and last-update date."""
    study = json.loads(MYELOMA.read_text())
    module = study["protocolSection"]["statusModule"]
    module["overallStatus"] = status
    module["lastUpdatePostDateStruct"]["date"] = posted
    raw = json.dumps(study).encode()
    return raw, sources.parse(raw)[0]


@pytest.fixture
def db(tmp_path: Path) -> Store:
    """A store whose one snapshot of the trial was written by an older parser."""
    raw, trial = version("RECRUITING", "2026-01-05")
    store = Store(str(tmp_path / "ctwatch.db"))
    store.save(Snapshot(id=None, nct_id=trial.nct_id, fetched_at="2026-01-05T09:00:00Z",
                        source="api_v2", url=None, registry_version=None,
                        registry_date="2026-01-05", parser_version=OLD_PARSER,
                        content_hash="stored by the older parser", trial=trial), raw)
    return store


def reading(raw: bytes, trial: Trial) -> Reading:
    fetched = Fetched(trial.nct_id, trial.nct_id, f"http://registry/{trial.nct_id}",
                      datetime(2026, 1, 6, 9, tzinfo=UTC), raw, {})
    return Reading(fetched, trial, "api_v2", trial.status.last_update_posted,
                   Rules.default(), date(2026, 1, 6))


def table(db: Store, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db.engine.url.database or "") as connection:
        return connection.execute(query).fetchall()


def test_a_failure_while_storing_leaves_the_trial_exactly_as_it_was(
        db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(*_args: Any, **_kwargs: Any) -> int:
        raise OperationalError("INSERT INTO change_sets", {}, Exception("database or disk is full"))

    monkeypatch.setattr(rows, "insert_change_set", disk_full)
    with pytest.raises(StoreError, match="database or disk is full"):
        record(db, reading(*version("TERMINATED", "2026-01-06")),
               channels=lambda _changes: ["stdout"], raw_hash="read in full")
    assert table(db, "select parser_version, registry_version, content_hash from snapshots") == [
        (OLD_PARSER, None, "stored by the older parser")]
    assert table(db, "select count(*) from change_sets") == [(0,)]
    assert table(db, "select count(*) from outbox") == [(0,)]
    assert table(db, "select raw_hash, registry_date from trial_state") == [(None, None)]


def test_the_same_version_recorded_again_writes_all_of_it_in_one_go(db: Store) -> None:
    raw, trial = version("TERMINATED", "2026-01-06")
    saved = record(db, reading(raw, trial), channels=lambda _changes: ["stdout"],
                   raw_hash="read in full")
    assert saved.change_set is not None
    assert [change.path for change in saved.change_set.changes] == ["status.overall"]
    [old, new] = table(db, "select parser_version, content_hash from snapshots order by id")
    assert old == (sources.PARSER_VERSION, content_hash(version("RECRUITING", "2026-01-05")[1]))
    assert new == (sources.PARSER_VERSION, content_hash(trial))  # re-parsed in the same go
    assert table(db, "select channel, status from outbox") == [("stdout", "pending")]
    assert table(db, "select raw_hash, registry_date from trial_state") == [
        ("read in full", "2026-01-06")]


def test_a_parser_upgrade_alone_is_no_change(db: Store) -> None:
    raw, trial = version("RECRUITING", "2026-01-05")
    saved = record(db, reading(raw, trial))
    assert (saved.snapshot_id, saved.change_set) == (None, None)
    assert table(db, "select parser_version, content_hash from snapshots") == [
        (sources.PARSER_VERSION, content_hash(trial))]


DERIVED = ("measure_code", "value_si", "unit_si")


def schema_2(trial: dict[str, Any]) -> dict[str, Any]:
    """A trial as ctwatch stored it before schema 3 (issue 18): thresholds without their
    measure codes and normalized values."""
    def criteria(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**item, "children": criteria(item["children"]),
                 "thresholds": [{key: value for key, value in bound.items() if key not in DERIVED}
                                for bound in item["thresholds"]]} for item in items]
    eligibility = {key: criteria(value) if key in ("inclusion", "exclusion", "unclassified")
                   else value for key, value in trial["eligibility"].items()}
    return {**trial, "schema_version": 2, "eligibility": eligibility}


def codes(trial: dict[str, Any]) -> set[str]:
    pending = [*trial["eligibility"]["inclusion"], *trial["eligibility"]["exclusion"]]
    found = set()
    while pending:
        item = pending.pop()
        pending.extend(item["children"])
        found.update(bound.get("measure_code") for bound in item["thresholds"])
    return found


@pytest.mark.parametrize(("status", "posted", "paths"), [
    ("RECRUITING", "2026-01-05", None),  # the record as stored: nothing to alert
    ("TERMINATED", "2026-01-06", ["status.overall"]),  # a change, and only that one
], ids=["same record", "status changed"])
def test_a_store_written_before_measure_codes_shows_no_change_of_them(
        db: Store, status: str, posted: str, paths: list[str] | None) -> None:
    [(stored,)] = table(db, "select trial from snapshots")
    old = schema_2(json.loads(stored))
    assert codes(old) == {None} and "anc" in codes(json.loads(stored))
    with db.transaction() as connection:
        connection.exec_driver_sql("update snapshots set trial = ?", (json.dumps(old),))
    saved = record(db, reading(*version(status, posted)))
    found = saved.change_set and [change.path for change in saved.change_set.changes]
    assert found == paths
    for parser, trial in table(db, "select parser_version, trial from snapshots order by id"):
        assert parser == sources.PARSER_VERSION  # re-parsed, in the same transaction
        assert "anc" in codes(json.loads(trial))


def test_a_snapshot_the_current_parser_refuses_is_compared_as_stored(db: Store) -> None:
    with db.transaction() as connection:  # its raw payload no longer reads as a study
        connection.exec_driver_sql("update snapshots set raw = ?", (zlib.compress(b""),))
    raw, trial = version("TERMINATED", "2026-01-06")
    saved = record(db, reading(raw, trial))
    assert saved.change_set is not None
    assert [change.path for change in saved.change_set.changes] == ["status.overall"]
    assert table(db, "select parser_version from snapshots order by id") == [
        (OLD_PARSER,), (sources.PARSER_VERSION,)]


def test_nested_transactions_are_one(db: Store) -> None:
    with pytest.raises(RuntimeError), db.transaction():
        db.set_meta("first", "1")
        with db.transaction():
            db.set_meta("second", "2")
        raise RuntimeError("after both writes")
    assert (db.get_meta("first"), db.get_meta("second")) == (None, None)


def fetched(raw: bytes) -> Fetched:
    """A record as the client hands it over: its bytes, and json.loads' reading of them."""
    data = json.loads(raw)
    nct_id = data["protocolSection"]["identificationModule"]["nctId"]
    return Fetched(nct_id, nct_id, f"http://127.0.0.1/{nct_id}", datetime.now(UTC), raw, data)


def with_title(title: str) -> bytes:
    study = json.loads(MYELOMA.read_text())
    study["protocolSection"]["identificationModule"]["briefTitle"] = title
    return json.dumps(study).encode()


@pytest.mark.parametrize("raw", [
    MYELOMA.read_bytes(),
    with_title("Stopped \ud800 early"),  # the escape "\ud800": read as U+FFFD
    with_title("NaN and Infinity in a title are words"),
    with_title("A pair \U0001F600 is one character"),
], ids=["as published", "lone surrogate", "NaN in a text", "surrogate pair"])
def test_a_fetched_record_parses_as_its_bytes_do(raw: bytes) -> None:
    assert parse_fetched(fetched(raw)) == sources.parse(raw)[0]


def test_a_fetched_record_with_a_json_constant_is_refused_as_its_bytes_are() -> None:
    raw = MYELOMA.read_bytes().replace(b'"count": 37', b'"count": NaN', 1)
    assert b"NaN" in raw
    with pytest.raises(ParseError, match="NaN is not a JSON value"):
        sources.parse(raw)
    with pytest.raises(ParseError, match="NaN is not a JSON value"):
        parse_fetched(fetched(raw))
