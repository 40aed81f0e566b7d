"""Hostile records (issue 11, findings 4 and 9): whatever a saved record holds, `parse`, `diff`
and `import` print valid output or one line naming the file (exit 3), never a traceback, and
every trial they print holds to `ctwatch schema`.

Commands run in-process through the real entry point; the records are real ones with one value
changed.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result

from ctwatch import dosing, sources
from ctwatch.cli import main
from ctwatch.errors import ParseError
from ctwatch.model import schema
from ctwatch.sources import classic, terms
from tests.helpers import FIXTURES, MYELOMA, REALDATA

VALIDATOR = jsonschema.Draft202012Validator(schema())
LEGACY = REALDATA / "legacy_xml" / "NCT03424005.xml"
PAGE = FIXTURES / "NCT04083898" / "classic_page.html"
DEEP = "[" * 100_000 + "]" * 100_000
Study = dict[str, Any]


def api(change: Callable[[Study], Any]) -> bytes:
    """The NCT04083898 record with ``change`` applied to its protocolSection."""
    study = json.loads(MYELOMA.read_bytes())
    change(study["protocolSection"])
    return json.dumps(study).encode()


def put(path: str, value: Any) -> Callable[[Study], None]:
    """A change that sets the dotted ``path`` of a protocolSection to ``value``."""
    *above, last = path.split(".")

    def change(protocol: Study) -> None:
        for key in above:
            protocol = protocol[key]
        protocol[last] = value

    return change


def legacy(pattern: str, replacement: str) -> bytes:
    text, count = re.subn(pattern, replacement, LEGACY.read_text(encoding="utf-8"), count=1)
    assert count == 1, pattern
    return text.encode()


def page(old: str, new: str) -> bytes:
    text = PAGE.read_text(encoding="utf-8")
    assert old in text, old
    return text.replace(old, new, 1).encode()


def run(tmp_path: Path, *args: str, stdin: bytes | None = None) -> Result:
    config = tmp_path / "config.yaml"
    if not config.exists():
        config.write_text(yaml.safe_dump({"store": str(tmp_path / "ctwatch.db")}))
    return CliRunner().invoke(main, ["--config", str(config), *args], input=stdin)


def trials_printed(result: Result) -> list[Study]:
    """The trials a parse printed, checked to be UTF-8 JSON that holds to the schema."""
    document = json.loads(result.stdout_bytes.decode("utf-8"))
    found = document if isinstance(document, list) else [document]
    for trial in found:
        VALIDATOR.validate(trial)
    return found


# name → (file name, content, what the one error line says)
BAD_RECORDS: dict[str, tuple[str, bytes, str]] = {
    "JSON nested 100,000 deep": ("deep.json", DEEP.encode(), "nested too deeply"),
    "a study nested deep in its protocolSection": (
        "deep-module.json", ('{"protocolSection": ' + DEEP + "}").encode(), "nested too deeply"),
    "a list page with one study nested deep": (
        "deep-page.json", ('{"studies": [' + DEEP + "]}").encode(), "nested too deeply"),
    "a number of 5,000 digits": ("long-number.json", api(put("designModule.enrollmentInfo."
                                                             "count", 0)).replace(
        b'"count": 0', b'"count": ' + b"9" * 5000), "Exceeds the limit"),
    "NaN": ("nan.json", api(put("designModule.enrollmentInfo.count", 0)).replace(
        b'"count": 0', b'"count": NaN'), "NaN is not a JSON value"),
    "legacy enrollment ²": ("enrollment.xml", legacy(r"(<enrollment[^>]*>)[^<]*<", r"\1²<"),
                            "<enrollment>: not a number of participants: '²'"),
    "classic enrollment ,": ("enrollment.html", page(">37 participants<", ">,<"),
                             "Enrollment: not a number of participants: ','"),
    "API enrollment ²": ("enrollment.json", api(put("designModule.enrollmentInfo.count", "²")),
                         "enrollmentInfo.count: expected a whole number, got '²'"),
    "API date given as a number": ("date-number.json",
                                   api(put("statusModule.startDateStruct.date", 20200403)),
                                   "startDateStruct.date: expected a date (text), got a number"),
    "API date given as a list": ("date-list.json",
                                 api(put("statusModule.statusVerifiedDate", ["2022-06"])),
                                 "statusVerifiedDate: expected a date (text), got a list"),
    "API impossible date": ("date-impossible.json",
                            api(put("statusModule.startDateStruct.date", "2020-13-45")),
                            "startDateStruct.date: no such date '2020-13-45'"),
    "API 29 February of a common year": (
        "date-feb.json", api(put("statusModule.lastUpdatePostDateStruct.date", "2021-02-29")),
        "lastUpdatePostDateStruct.date: no such date '2021-02-29'"),
    "API date in full-width digits": (
        "date-width.json", api(put("statusModule.statusVerifiedDate", "２０２２-０６")),
        "statusVerifiedDate: not a date"),
    "legacy impossible date": ("date.xml",
                               legacy(r"(<start_date[^>]*>)[^<]*<", r"\g<1>2020-13-45<"),
                               "<start_date>: no such date '2020-13-45'"),
    "legacy 30 February": ("date-feb.xml",
                           legacy(r"(<verification_date>)[^<]*<", r"\1February 30, 2021<"),
                           "<verification_date>: no such date '2021-02-30'"),
    "classic impossible date": ("date.html", page("April 3, 2020", "April 31, 2020"),
                                "no such date '2020-04-31'"),
    "API enum given as a number": ("enum-number.json", api(put("statusModule.overallStatus", 5)),
                                   "overallStatus: expected an enum value (text), got a number"),
    "API enum in display wording": (
        "enum-text.json", api(put("statusModule.overallStatus", "Active, not recruiting")),
        "overallStatus: not an enum value"),
    "API enum in full-width letters": (
        "enum-width.json", api(put("designModule.phases", ["ＰＨＡＳＥ１"])),
        "phases[]: not an enum value"),
    "API NCT id in full-width digits": (
        "nct-width.json", api(put("identificationModule.nctId", "NCT０４０８３８９８")),
        "not an NCT id"),
    "legacy NCT id in full-width digits": (
        "nct-width.xml", legacy(r"<nct_id>NCT03424005<", "<nct_id>NCT０３４２４００５<"),
        "not an NCT id"),
}


@pytest.mark.parametrize("name", BAD_RECORDS)
@pytest.mark.parametrize("command", ["parse", "diff", "import"])
def test_a_bad_record_is_one_line_naming_the_file(name: str, command: str,
                                                  tmp_path: Path) -> None:
    file_name, content, reason = BAD_RECORDS[name]
    path = tmp_path / file_name
    path.write_bytes(content)
    args = {"parse": [str(path)], "diff": [str(path), str(MYELOMA)], "import": [str(path)]}
    result = run(tmp_path, command, *args[command])
    assert result.exit_code == 3, result.output
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    assert str(path) in errors[0] and reason in errors[0]
    assert "unexpected" not in result.stderr and len(errors[0]) < 300


def test_a_lone_surrogate_is_printed_as_the_replacement_character(tmp_path: Path) -> None:
    record = api(lambda p: (put("identificationModule.briefTitle", "Isatuximab \ud800")(p),
                            put("eligibilityModule.eligibilityCriteria",
                                "Inclusion Criteria:\n\n* age \udfff ≥ 18 years")(p),
                            put("conditionsModule.keywords", ["\udbff", "\ud83d\ude00"])(p)))
    path = tmp_path / "surrogate.json"
    path.write_bytes(record)
    assert b"\\ud800" in record  # json.dumps escapes them: this is what a registry could send
    for fmt in ("json", "jsonl"):
        result = run(tmp_path, "parse", "--format", fmt, str(path))
        assert result.exit_code == 0, result.output
        [trial] = trials_printed(result)
        assert trial["brief_title"] == "Isatuximab \ufffd"
        assert trial["keywords"] == ["\ufffd", "\U0001f600"]  # a valid pair stays one emoji
        assert trial["eligibility"]["inclusion"][0]["text"] == "age \ufffd ≥ 18 years"


def test_a_record_with_a_lone_surrogate_can_be_compared_and_imported(tmp_path: Path) -> None:
    path = tmp_path / "surrogate.json"
    path.write_bytes(api(put("identificationModule.briefTitle", "\ud800")))
    compared = run(tmp_path, "diff", "--format", "json", str(MYELOMA), str(path))
    assert compared.exit_code == 0, compared.output
    [change] = json.loads(compared.stdout_bytes.decode("utf-8"))["changes"]
    assert (change["path"], change["new"]) == ("brief_title", "\ufffd")
    imported = run(tmp_path, "import", str(path))
    assert imported.exit_code == 0, imported.output


def test_an_unknown_enum_value_is_kept_as_the_registry_spells_it(tmp_path: Path) -> None:
    def news(protocol: Study) -> None:
        protocol["statusModule"]["overallStatus"] = "paused"  # upper-cased, as before
        protocol["designModule"]["phases"] = ["PHASE1", "PHASE5"]
        protocol["contactsLocationsModule"]["locations"][0]["status"] = "ON_HOLD"

    path = tmp_path / "new-values.json"
    path.write_bytes(api(news))
    result = run(tmp_path, "parse", str(path))
    assert result.exit_code == 0, result.output
    [trial] = trials_printed(result)
    assert trial["status"]["overall"] == "PAUSED"
    assert trial["design"]["phases"] == ["PHASE1", "PHASE5"]
    assert trial["locations"][0]["status"] == "ON_HOLD"
    compared = run(tmp_path, "diff", "--format", "json", str(MYELOMA), str(path))
    changes = {c["path"]: (c["old"], c["new"]) for c in json.loads(compared.stdout)["changes"]}
    assert changes["status.overall"] == ("RECRUITING", "PAUSED")


def test_parse_reads_no_more_than_the_cap_from_a_file(tmp_path: Path) -> None:
    result = run(tmp_path, "parse", "/dev/zero")
    assert result.exit_code == 3
    assert result.stderr.strip() == ("ctwatch: error: /dev/zero: larger than 64 MB; not a "
                                     "registry record")


@pytest.mark.parametrize("command", ["parse", "import"])
def test_standard_input_is_capped_too(command: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "MAX_RECORD_BYTES", 2 * 2**20)
    result = run(tmp_path, command, "-", stdin=b" " * (2 * 2**20) + MYELOMA.read_bytes())
    assert result.exit_code == 3
    assert "<stdin>: larger than 2 MB; not a registry record" in result.stderr


def test_a_record_as_large_as_the_cap_is_read(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    record = MYELOMA.read_bytes()
    monkeypatch.setattr(sources, "MAX_RECORD_BYTES", len(record))
    path = tmp_path / "record.json"
    path.write_bytes(record)
    assert sources.load(str(path)) == record
    path.write_bytes(record + b"\n")
    with pytest.raises(ParseError, match=r"record\.json: larger than 0 MB"):
        sources.load(str(path))


@pytest.mark.parametrize(("text", "expected"), [
    ("2023", "2023"), ("2023-10", "2023-10"), ("2024-02-29", "2024-02-29"),
    ("March 30, 2018", "2018-03-30"), ("July 2001", "2001-07"), ("Sept. 5, 2019", "2019-09-05"),
])
def test_registry_dates_are_read_at_their_precision(text: str, expected: str) -> None:
    assert terms.date(text) == expected


@pytest.mark.parametrize("text", ["2020-13-45", "2021-02-29", "0000", "2020-00", "2020-1-5",
                                  "２０２０", "2020-01-0５", "March 32, 2018", "2020-01-01T10:00"])
def test_a_date_that_does_not_exist_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError, match="date"):
        terms.date(text)


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("", None), (" RECRUITING ", "RECRUITING"), ("early_phase1", "EARLY_PHASE1"),
    ("NEW_VALUE_2030", "NEW_VALUE_2030"),
])
def test_api_enum_values_are_kept_upper_cased(value: str | None, expected: str | None) -> None:
    assert terms.token(value) == expected


def test_every_value_the_registry_lists_is_kept_as_it_is() -> None:
    for value in set().union(*terms.ENUMS.values()):
        assert terms.token(value) == value
        assert terms.token(f" {value.lower()} ") == value


@pytest.mark.parametrize("value", ["Active, not recruiting", "PHASE 1", "_NA", "NA_", "A__B",
                                   "ＮＡ", "ﬁ", "recruıtıng", "\ud800", "\u202eNA", 1, True, [],
                                   {}])
def test_anything_else_in_an_enum_is_a_parse_error(value: object) -> None:
    with pytest.raises(ParseError, match="enum value"):
        terms.token(value)


def test_a_long_value_is_quoted_short_in_the_error() -> None:
    record = api(put("statusModule.overallStatus", "x " * 50_000))
    with pytest.raises(ParseError) as caught:
        sources.parse(record, "long.json")
    assert len(str(caught.value)) < 200 and "…" in str(caught.value)


def test_every_real_record_keeps_its_dates_and_enums() -> None:
    """The boundary checks refuse nothing the registry really sends."""
    paths = [*sorted((REALDATA / "api_v2").glob("*.json")), *sorted(
        (REALDATA / "legacy_xml").glob("*.xml")), PAGE, MYELOMA]
    for path in paths:
        for trial in sources.parse(path.read_bytes(), str(path)):
            VALIDATOR.validate(trial.to_dict())


# Registry text that made a parser's patterns backtrack (each took 4 to 40 s of CPU before).
CPU_BOUND_S = 5.0
SLOW_TEXTS: dict[str, Callable[[], object]] = {
    "many time frames without a bracket": lambda: classic.TIME_FRAME.match(
        "[ Time Frame: " * 5000),
    "a time frame of white space": lambda: classic.TIME_FRAME.match(
        "x [ Time Frame: " + " " * 2000),
    "a page header of white space": lambda: classic.header(
        "Recruitment Status : x" + " " * 20000 + "x"),
    "a site contact of digits and spaces": lambda: classic.site_rows(
        [(True, ["Site", "Recruiting"]), (False, ["Contact: x " + "1 " * 8000 + "z"])]),
    "an age of 10,000 digits": lambda: terms.age("9" * 10000 + " parsecs"),
    "a design term of open brackets": lambda: terms.enum("masking", "(" * 100_000),
    "a record of unterminated comments": lambda: sources.detect(b"<" + b"<!--" * 16384),
    "a classic page with an outcome of time frames": lambda: sources.parse(page(
        "Overall response rate (ORR) (Phase II only) [&nbsp;Time Frame:&nbsp;6 months&nbsp;]",
        "[ Time Frame: " * 5000), "p"),
    "a legacy record with an age of digits": lambda: sources.parse(legacy(
        r"<minimum_age>18 Years<", "<minimum_age>" + "9" * 10000 + "<"), "r"),
}


@pytest.mark.parametrize("name", SLOW_TEXTS)
def test_registry_text_is_read_in_bounded_cpu_time(name: str) -> None:
    started = time.process_time()
    with contextlib.suppress(ParseError):
        SLOW_TEXTS[name]()
    assert time.process_time() - started < CPU_BOUND_S


def test_dosing_numbers_are_short_and_day_ranges_bounded() -> None:
    huge = dosing.parse("Drug X 1" + "9" * 400 + " mg on days 1, " + "9" * 5000, ("Drug X",))
    assert huge == (dosing.Dose("Drug X", None, None, (1,)),)  # no infinite dose, no ValueError
    [wide] = dosing.parse("Drug X 10 mg on days 1-9999 of each cycle", ("Drug X",))
    assert wide.days == (1, 9999)  # its two ends, not 9,999 days
    [usual] = dosing.parse("Drug X 10 mg on days 1-21 of each cycle", ("Drug X",))
    assert usual.days == tuple(range(1, 22)) and usual.cycle == "each"
