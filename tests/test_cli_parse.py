"""`ctwatch parse` and `ctwatch schema` through the real entry point, as a person runs them
(in-process; the smoke tests as ``python -m ctwatch``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctwatch import __version__
from tests.helpers import MYELOMA, MYELOMA_EXPECTED, REALDATA, Run, load_json
from tests.helpers import ctwatch as run_ctwatch


def ctwatch(*args: str, stdin: bytes | None = None, process: bool = False) -> Run:
    return run_ctwatch(None, *args, stdin=stdin, process=process)


@pytest.mark.smoke
def test_parse_a_saved_record() -> None:
    result = ctwatch("parse", str(MYELOMA), process=True)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == load_json(MYELOMA_EXPECTED)
    assert result.stderr == ""


@pytest.mark.smoke
def test_python_m_ctwatch_tells_its_version() -> None:
    result = ctwatch("--version", process=True)
    assert result.code == 0, result.stderr
    assert result.stdout == f"ctwatch, version {__version__}\n"


def test_parse_stdin_as_json_lines() -> None:
    result = ctwatch("parse", "--format", "jsonl", "-", stdin=MYELOMA.read_bytes())
    assert result.code == 0
    [line] = result.stdout.splitlines()
    assert json.loads(line)["nct_id"] == "NCT04083898"


def test_a_list_page_gives_one_line_per_trial() -> None:
    page = REALDATA / "api_v2_list" / "cyanheads_studies_2025-06-17T11-16-37_page1.json"
    result = ctwatch("parse", "--format", "jsonl", str(page))
    assert [json.loads(line)["nct_id"] for line in result.stdout.splitlines()] == [
        "NCT00184067", "NCT03934567"]


def test_several_sources_give_a_json_array() -> None:
    result = ctwatch("parse", str(MYELOMA), str(MYELOMA))
    assert [trial["nct_id"] for trial in json.loads(result.stdout)] == ["NCT04083898"] * 2


BAD_INPUTS = {
    "empty": (b"", "empty file"),
    "invalid JSON": (b'{"protocolSection": ', "invalid JSON"),
    "truncated record": (MYELOMA.read_bytes()[:5000], "invalid JSON"),
    "JSON that is not a study": (b'{"hello": "world"}', "no protocolSection"),
    "a JSON array": (b"[1, 2]", "expected a JSON object"),
    "study without protocolSection": (b'{"derivedSection": {}, "hasResults": false}',
                                      "no protocolSection"),
    "binary bytes": (bytes(range(256)) * 4, "not a ClinicalTrials.gov record"),
    "binary after a brace": (b"{\xff\xfe\x00garbage", "not UTF-8"),
    "bad NCT id": (b'{"protocolSection": {"identificationModule": {"nctId": "NCT12"}}}',
                   "not an NCT id"),
    "module of the wrong type": (b'{"protocolSection": {"identificationModule": '
                                 b'{"nctId": "NCT04083898"}, "statusModule": [1]}}',
                                 "malformed record"),
    "JSON nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "lone surrogate in an NCT id": (b'{"protocolSection": {"identificationModule": '
                                    b'{"nctId": "NCT\\ud800"}}}', "not an NCT id"),
    "HTML error page": (b"<!DOCTYPE html><html><body>Service unavailable</body></html>",
                        "not a ClinicalTrials.gov study page (no NCT id found)"),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_is_one_line_naming_the_file(name: str, tmp_path: Path) -> None:
    content, reason = BAD_INPUTS[name]
    path = tmp_path / "record.json"
    path.write_bytes(content)
    result = ctwatch("parse", str(path))
    assert result.code == 3
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert str(path) in line and reason in line


def test_missing_file() -> None:
    result = ctwatch("parse", "no/such/record.json")
    assert result.code == 3
    assert result.stderr.strip() == (
        "ctwatch: error: no/such/record.json: cannot read: No such file or directory")


def test_good_sources_are_printed_when_one_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{")
    result = ctwatch("parse", "--format", "jsonl", str(bad), str(MYELOMA))
    assert result.code == 3
    assert json.loads(result.stdout)["nct_id"] == "NCT04083898"
    assert str(bad) in result.stderr


def test_schema_command_prints_the_shipped_schema() -> None:
    result = ctwatch("schema")
    assert result.code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "ctwatch normalized trial"
    assert set(schema["required"]) == set(load_json(MYELOMA_EXPECTED))  # type: ignore[arg-type]
