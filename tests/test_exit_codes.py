"""Every command ends with the exit code of what went wrong (README "Exit codes"), said in one
line: a code is a property of the error, whichever part of ctwatch raised it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from ctwatch.cli import main
from ctwatch.store import Store
from tests.helpers import MYELOMA

TRIAL = "NCT04083898"


def record(posted: str, status: str) -> bytes:
    study = json.loads(MYELOMA.read_text())
    module = study["protocolSection"]["statusModule"]
    module["overallStatus"] = status
    module["lastUpdatePostDateStruct"]["date"] = posted
    return json.dumps(study).encode()


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """config.yaml and a store holding two imported versions of the trial (snapshots 1, 2),
    an older version saved apart, and a file where a folder could be expected."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(f"store: ctwatch.db\ntrials: [{TRIAL}]\n")
    for name, posted, status in [("a.json", "2024-01-05", "RECRUITING"),
                                 ("b.json", "2024-06-05", "ACTIVE_NOT_RECRUITING"),
                                 ("old.json", "2023-01-05", "NOT_YET_RECRUITING")]:
        (tmp_path / name).write_bytes(record(posted, status))
    run = CliRunner().invoke(main, ["import", "a.json", "b.json"])
    assert run.exit_code == 0, run.output
    (tmp_path / "a-file").write_text("not a folder")
    return tmp_path


def hold_the_lock(folder: Path) -> Callable[[], object]:
    store = Store(str(folder / "ctwatch.db"))
    held = store.lock()
    held.__enter__()
    return lambda: (held.__exit__(None, None, None), store.close())


CASES = [  # (arguments, exit code, the start of the one line said)
    (["history", "NCT123"], 2, "'NCT123' is not an NCT id"),
    (["diff", TRIAL, "--from", "99"], 2, "--from: no snapshot '99' among the 2 of"),
    (["diff", TRIAL, "--from", "2024-13"], 2, "--from: '2024-13' is not a date"),
    (["diff", TRIAL, "--to", "1"], 2, "snapshot 1 is the first of NCT04083898; there is nothing"),
    (["diff", TRIAL, "--from", "2", "--to", "1"], 2, "--from 2 (snapshot 2) is newer than"),
    (["history", "NCT00000001"], 2, "NCT00000001: no snapshots in the store"),
    (["report", TRIAL, "--out", "a-file/report.html"], 2,
     "--out: cannot write a-file/report.html: Not a directory"),
    (["feed", "--out", "missing/feed.atom"], 2,
     "--out: cannot write missing/feed.atom: No such file or directory"),
    (["--config", "absent.yaml", "status"], 2, "absent.yaml: no such configuration file"),
    (["import", "old.json"], 3, "old.json: NCT04083898 of 2023-01-05 is older than its latest"),
    (["backfill", TRIAL], 3, "NCT04083898 already has snapshots from checks or imported"),
    (["import", "absent.json"], 3, "absent.json: cannot read: No such file or directory"),
]


@pytest.mark.parametrize(("args", "code", "said"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_each_error_ends_with_its_exit_code_and_one_line(
        folder: Path, args: list[str], code: int, said: str) -> None:
    run = CliRunner().invoke(main, args)
    errors = [line for line in run.stderr.splitlines() if line.startswith("ctwatch: error: ")]
    assert (run.exit_code, run.stdout) == (code, ""), run.output
    assert len(errors) == 1 and errors[0].startswith(f"ctwatch: error: {said}"), run.stderr
    assert "Traceback" not in run.stderr


def test_a_run_holding_the_lock_makes_writers_exit_4(folder: Path) -> None:
    release = hold_the_lock(folder)
    try:
        for args in (["check"], ["import", "b.json"], ["notify", "--drop", "file:old.jsonl"],
                     ["reparse"]):
            run = CliRunner().invoke(main, args)
            assert run.exit_code == 4, (args, run.output)
            assert "another ctwatch run holds its lock" in run.stderr
        # Delivering needs no run lock: each channel is delivered by one process at a time.
        delivered = CliRunner().invoke(main, ["notify", "--retry"])
        assert delivered.exit_code == 0, delivered.output
    finally:
        release()

