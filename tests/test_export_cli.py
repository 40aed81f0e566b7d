"""`ctwatch export` refusing what it must, in one line and exit 2, and leaving no half export.

The store is the demo's (``ctwatch demo --keep``: NCT04083898 in six registry versions), made
once for the module; each test exports it into its own folder.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path

import pytest

from ctwatch.errors import EXIT_FAILED, EXIT_USAGE, StoreError
from ctwatch.export import history
from ctwatch.export.tables import chosen
from tests.helpers import Run, ctwatch

TRIAL = "NCT04083898"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's kept folder: its config.yaml names its store."""
    folder = tmp_path_factory.mktemp("demo")
    run = ctwatch(folder, "demo", "--keep", "kept")
    assert run.code == 0, run.stderr
    return folder / "kept"


def export(demo: Path, out: Path, *args: str) -> Run:
    return ctwatch(demo, "export", "--out", str(out), *args)


def one_line(run: Run) -> str:
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Temporary files or folders an export left beside its --out."""
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


@pytest.mark.parametrize("fmt", ["csv", "sqlite"])
def test_an_export_says_what_it_wrote(demo: Path, tmp_path: Path, fmt: str) -> None:
    run = export(demo, tmp_path / "out", "--format", fmt, "--history")
    assert run.code == 0, run.stderr
    assert run.stdout == ""
    assert one_line(run).startswith(f"ctwatch: exported 1 trial to {tmp_path / 'out'} ({fmt}): "
                                    "16 tables, ")
    assert leftovers(tmp_path) == []


def test_a_csv_export_is_utf8_with_a_header_and_rfc4180_quoting(demo: Path,
                                                                tmp_path: Path) -> None:
    assert export(demo, tmp_path / "out", "--format", "csv").code == 0
    files = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert files == sorted(f"{table.name}.csv" for table in chosen(history=False))
    data = (tmp_path / "out" / "criteria.csv").read_bytes()
    assert data.startswith(b"id,nct_id,positional_id,parent_id,section,depth,text\r\n")
    assert "≥".encode() in data
    assert re.search(rb',"[^"\r\n]*, [^"]*"\r\n', data)  # a text holding a comma, quoted


@pytest.mark.parametrize("fmt", ["csv", "sqlite"])
def test_a_non_empty_out_is_refused_and_left_alone(demo: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out"
    if fmt == "csv":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    else:
        out.write_text("mine")
    run = export(demo, out, "--format", fmt)
    assert run.code == EXIT_USAGE
    assert one_line(run) == (f"ctwatch: error: --out: {out} exists and is not empty; give a "
                             "new path, or --force to replace an earlier export")
    assert (out / "notes.txt" if fmt == "csv" else out).read_text() == "mine"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", ["csv", "sqlite"])
def test_force_replaces_an_earlier_export(demo: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out"
    assert export(demo, out, "--format", fmt, "--history").code == 0
    assert export(demo, out, "--format", fmt).code == EXIT_USAGE
    run = export(demo, out, "--format", fmt, "--force")
    assert run.code == 0, run.stderr
    if fmt == "csv":
        assert not (out / "changes.csv").exists() and (out / "studies.csv").exists()
    else:
        with sqlite3.connect(out) as db:
            assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'changes'"
                              ).fetchone() == (0,)
    assert leftovers(tmp_path) == []


def test_force_never_replaces_what_is_not_an_export(demo: Path, tmp_path: Path) -> None:
    store = demo / "ctwatch.db"
    before = store.read_bytes()
    run = export(demo, store, "--format", "sqlite", "--force")
    assert run.code == EXIT_USAGE
    assert "is not an earlier export" in one_line(run)
    assert store.read_bytes() == before
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.docx").write_text("years of work")
    assert export(demo, folder, "--format", "csv", "--force").code == EXIT_USAGE
    assert (folder / "thesis.docx").read_text() == "years of work"


def test_an_empty_folder_is_filled(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert export(demo, out, "--format", "csv").code == 0
    assert (out / "studies.csv").exists()


@pytest.mark.parametrize(("fmt", "made"), [("sqlite", "folder"), ("csv", "file")])
def test_a_path_of_the_other_kind_is_refused(demo: Path, tmp_path: Path, fmt: str,
                                             made: str) -> None:
    out = tmp_path / "out"
    if made == "folder":
        out.mkdir()
    else:
        out.write_text("")
    run = export(demo, out, "--format", fmt)
    assert run.code == EXIT_USAGE
    assert f"{out} is a {made}, and this format writes" in one_line(run)


def test_a_missing_folder_is_refused(demo: Path, tmp_path: Path) -> None:
    run = export(demo, tmp_path / "no" / "out.db", "--format", "sqlite")
    assert run.code == EXIT_USAGE
    assert one_line(run).endswith(f"folder {tmp_path / 'no'} does not exist")


def test_an_unknown_trial_is_refused_and_nothing_written(demo: Path, tmp_path: Path) -> None:
    run = export(demo, tmp_path / "out.db", "--format", "sqlite", TRIAL, "NCT09999999")
    assert run.code == EXIT_USAGE
    assert one_line(run).startswith("ctwatch: error: NCT09999999: no snapshots in the store ")
    assert list(tmp_path.iterdir()) == []


def test_a_bad_nct_id_is_refused(demo: Path, tmp_path: Path) -> None:
    run = export(demo, tmp_path / "out.db", "--format", "sqlite", "NCT123")
    assert run.code == EXIT_USAGE
    assert "'NCT123' is not an NCT id" in one_line(run)


def test_format_and_out_are_required(demo: Path, tmp_path: Path) -> None:
    assert ctwatch(demo, "export", "--out", str(tmp_path / "x")).code == EXIT_USAGE
    assert ctwatch(demo, "export", "--format", "csv").code == EXIT_USAGE
    assert ctwatch(demo, "export", "--format", "xlsx", "--out", "x").code == EXIT_USAGE


def test_parquet_without_pyarrow_names_the_extra(demo: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name.split(".")[0] == "pyarrow"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    run = export(demo, tmp_path / "out", "--format", "parquet")
    assert run.code == EXIT_USAGE
    assert one_line(run) == ("ctwatch: error: --format: parquet needs pyarrow, which is not "
                             "installed: pip install 'ctwatch[parquet]'")
    assert list(tmp_path.iterdir()) == []


def test_parquet_with_pyarrow(demo: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet export needs pyarrow "
                             "(pip install 'ctwatch[parquet]')")
    run = export(demo, tmp_path / "out", "--format", "parquet", "--history")
    assert run.code == 0, run.stderr
    assert pq.read_table(tmp_path / "out" / "changes.parquet").num_rows > 0


def fail_midway(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store fails while the history is being written, after the trials' tables."""
    def broken(stored: object) -> object:
        raise StoreError("store ctwatch.db: disk I/O error")
    monkeypatch.setattr(history, "change_set_rows", broken)


@pytest.mark.parametrize("fmt", ["csv", "sqlite", "parquet"])
def test_a_failed_export_leaves_nothing(demo: Path, tmp_path: Path, fmt: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow.parquet", reason="Parquet export needs pyarrow")
    fail_midway(monkeypatch)
    run = export(demo, tmp_path / "out", "--format", fmt, "--history")
    assert run.code == EXIT_FAILED
    assert one_line(run) == "ctwatch: error: store ctwatch.db: disk I/O error"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["csv", "sqlite"])
def test_a_failed_export_keeps_the_earlier_one(demo: Path, tmp_path: Path, fmt: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    assert export(demo, out, "--format", fmt).code == 0
    before = sorted(out.iterdir()) if fmt == "csv" else out.read_bytes()
    fail_midway(monkeypatch)
    assert export(demo, out, "--format", fmt, "--history", "--force").code == EXIT_FAILED
    assert (sorted(out.iterdir()) if fmt == "csv" else out.read_bytes()) == before
    assert leftovers(tmp_path) == []
