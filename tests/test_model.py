"""The analyst contract: every key present, round trips, and the schema describes it all."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from enum import Enum
from itertools import product

import jsonschema
import pytest

from ctwatch.errors import InvalidNctId
from ctwatch.model import (
    SCHEMA_VERSION,
    Arm,
    Change,
    ChangeSet,
    Contact,
    Criterion,
    Dose,
    Eligibility,
    Intervention,
    Location,
    Official,
    Outcome,
    Oversight,
    Party,
    Severity,
    Sponsor,
    Status,
    Threshold,
    Trial,
    parse_nct_id,
    schema,
    top_severity,
)
from ctwatch.sources.terms import ENUMS

FULL = Trial(
    nct_id="NCT04083898",
    status=Status(overall="COMPLETED", has_results=True, results_first_submitted="2024-03-20",
                  results_first_posted="2024-05-07", disposition_first_submitted="2023-02-07",
                  disposition_first_posted="2023-02-08"),
    oversight=Oversight(is_fda_regulated_drug=True, is_fda_regulated_device=False),
    sponsor=Sponsor(Party("Washington University", "OTHER"), (Party("Sanofi", "INDUSTRY"),)),
    arms=(Arm("A", "EXPERIMENTAL", "d", ("X",), (Dose("X", 10, "mg/kg", (1, 8), "1"),)),),
    interventions=(Intervention("DRUG", "X", "d", ("x-1",), ("A",)),),
    outcomes=(Outcome("primary", "ORR", None, "6 months"),),
    eligibility=Eligibility(
        sex="ALL", std_ages=("ADULT",), healthy_volunteers=False,
        inclusion=(Criterion("I1", "Labs:", (Criterion("I1.1", "ANC ≥ 1500", (),
                                                       (Threshold("anc", ">=", 1500),)),)),),
        exclusion=(Criterion("E1", "pregnancy"),), unclassified=(Criterion("U1", "other"),)),
    contacts=(Contact("Ravi Vij", "CONTACT", "314", "a@b"),),
    officials=(Official("Ravi Vij", "WashU", "PRINCIPAL_INVESTIGATOR"),),
    locations=(Location("WashU", "RECRUITING", "Saint Louis", "Missouri", "63110",
                        "United States", (Contact("Ravi Vij", "SUB_INVESTIGATOR"),)),),
)


def change_set(*changes: Change) -> ChangeSet:
    return ChangeSet(1, "NCT04083898", "T", 1, 2, 3, 4, "2024-01-01", "2024-02-01",
                     "2024-02-02T00:00:00Z", changes)


def test_every_nested_type_validates_and_round_trips() -> None:
    data = FULL.to_dict()
    jsonschema.validate(data, schema())
    assert Trial.from_dict(data) == FULL


def test_an_empty_trial_has_every_key() -> None:
    data = Trial(nct_id="NCT00000001").to_dict()
    jsonschema.validate(data, schema())
    assert list(data)[:2] == ["schema_version", "nct_id"]
    assert data["arms"] == [] and data["acronym"] is None
    assert data["status"]["start"] == {"date": None, "type": None}
    assert data["sponsor"] == {"lead": None, "collaborators": []}


def test_a_version_1_object_reads_as_the_current_trial() -> None:
    # Snapshots stored before schema 2 (issue 16) lack oversight and the results and
    # certification dates: they read as unknown, never as a record that lost them.
    data = FULL.to_dict()
    assert data["schema_version"] == SCHEMA_VERSION == 3
    del data["oversight"]
    for key in ("results_first_submitted", "results_first_posted",
                "disposition_first_submitted", "disposition_first_posted"):
        del data["status"][key]
    data["schema_version"] = 1
    trial = Trial.from_dict(data)
    assert trial.oversight == Oversight() and trial.schema_version == SCHEMA_VERSION
    assert trial.status == Status(overall="COMPLETED", has_results=True)
    assert trial == dataclasses.replace(FULL, oversight=Oversight(),
                                        status=Status(overall="COMPLETED", has_results=True))
    jsonschema.validate(trial.to_dict(), schema())


def test_a_version_2_object_reads_as_the_current_trial() -> None:
    # Snapshots stored before schema 3 (issue 18) lack the thresholds' measure codes and
    # normalized values: they read as not coded (a stored snapshot is re-parsed before it is
    # compared, so they never show as a change).
    coded = Threshold("anc", ">=", 1500, "/mm3", "anc", 1.5, "10*9/L")
    full = dataclasses.replace(FULL, eligibility=dataclasses.replace(
        FULL.eligibility, inclusion=(Criterion("I1", "ANC ≥ 1500/mm3", (), (coded,)),)))
    data = full.to_dict()
    bound = data["eligibility"]["inclusion"][0]["thresholds"][0]
    assert bound == {"measure": "anc", "comparator": ">=", "value": 1500, "unit": "/mm3",
                     "measure_code": "anc", "value_si": 1.5, "unit_si": "10*9/L"}
    for key in ("measure_code", "value_si", "unit_si"):
        del bound[key]
    data["schema_version"] = 2
    trial = Trial.from_dict(data)
    assert trial.schema_version == SCHEMA_VERSION
    assert trial.eligibility.inclusion[0].thresholds == (Threshold("anc", ">=", 1500, "/mm3"),)
    jsonschema.validate(trial.to_dict(), schema())


def dumped(value: object) -> object:
    """The published shape as fields() reads it: what to_dict wrote before it read each class's
    fields once (issue 13), the order of keys included."""
    if isinstance(value, Trial):
        data = {f.name: dumped(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"schema_version": data.pop("schema_version"), **data}
    if dataclasses.is_dataclass(value):
        data = {f.name.rstrip("_"): dumped(getattr(value, f.name))
                for f in dataclasses.fields(value)}
        return {**data, "top_severity": value.top_severity.value} if isinstance(
            value, ChangeSet) else data
    if isinstance(value, Enum):
        return value.value
    return [dumped(item) for item in value] if isinstance(value, tuple) else value


@pytest.mark.parametrize("record", [
    FULL, Trial(nct_id="NCT00000001"),
    change_set(Change("x", "changed", ("a", 1), {"b": [True]}, "c", Severity.MAJOR, "s", ("f",))),
    Threshold(None, "<=", 1.0), Threshold("anc", ">=", 1500, "/mm3"),
    Threshold("anc", ">=", 1500, "/mm3", "anc", 1.5, "10*9/L"), Party("p", "OTHER"),
], ids=lambda record: type(record).__name__)
def test_to_dict_writes_what_fields_read(record: object) -> None:
    data = record.to_dict()  # type: ignore[attr-defined]
    assert json.dumps(data) == json.dumps(dumped(record))  # values, their types, key order


def test_schema_requires_exactly_the_published_keys() -> None:
    published = schema()
    assert set(published["required"]) == set(FULL.to_dict())
    party = published["$defs"]["party"]
    assert set(party["required"]) == {f.name.rstrip("_") for f in dataclasses.fields(Party)}


def test_schema_rejects_an_unknown_enum_spelling() -> None:
    data = FULL.to_dict()
    data["status"]["overall"] = "Active, not recruiting"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema())


def test_trials_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        FULL.nct_id = "NCT1"  # type: ignore[misc]


@pytest.mark.parametrize(("value", "expected"), [
    ("NCT04083898", "NCT04083898"),
    ("nct04083898", "NCT04083898"),
    (" NCT04083898 ", "NCT04083898"),
])
def test_nct_ids_are_upper_cased(value: str, expected: str) -> None:
    assert parse_nct_id(value) == expected


@pytest.mark.parametrize("value", ["", "NCT1234567", "NCT123456789", "04083898", "NCTABCDEFGH",
                                   "ＮＣＴ０４０８３８９８", "NCT０４０８３８９８", "NCT٠٤٠٨٣٨٩٨",
                                   "NCT0408389８", "ＮＣＴ04083898"])
def test_bad_nct_ids_are_refused(value: str) -> None:
    with pytest.raises(InvalidNctId, match="not an NCT id"):
        parse_nct_id(value)


def invalid(path: str, value: object) -> bool:
    """Whether the schema refuses FULL with the value at the dotted ``path`` replaced."""
    data = FULL.to_dict()
    *above, last = path.split(".")
    parent = data
    for key in above:
        parent = parent[int(key)] if isinstance(parent, list) else parent[key]
    parent[last] = value
    return not jsonschema.Draft202012Validator(schema()).is_valid(data)


@pytest.mark.parametrize(("path", "value"), [
    ("nct_id", "NCT０４０８３８９８"), ("status.start.date", "2020-13-45"),
    ("status.verified", "２０２２-０６"), ("status.first_posted", "2019-9-10"),
    ("status.last_update_posted", 20220615), ("status.overall", "Active, not recruiting"),
    ("status.overall", "RECRUITING "), ("status.overall", "ＲＥＣＲＵＩＴＩＮＧ"),
    ("design.phases", ["PHASE 1"]), ("locations.0.status", "recruiting"),
])
def test_schema_refuses_what_no_source_outputs(path: str, value: object) -> None:
    assert invalid(path, value)


@pytest.mark.parametrize(("path", "value"), [
    ("status.overall", "PAUSED"), ("design.phases", ["PHASE5"]), ("arms.0.type", "NEW_ARM_2"),
    ("locations.0.status", "UNKNOWN"), ("status.start.date", "2024-02-29"),
    ("status.verified", "2022"), ("status.completion.date", None),
])
def test_schema_accepts_a_value_the_registry_adds_later_and_real_dates(path: str,
                                                                         value: object) -> None:
    assert not invalid(path, value)


def known_values(node: object) -> Iterator[list[str]]:
    """Every list of known enum values in the schema (those beside $defs/enum_value)."""
    if isinstance(node, dict):
        alternatives = node.get("anyOf", [])
        if {"$ref": "#/$defs/enum_value"} in alternatives:
            yield next(a["enum"] for a in alternatives if "enum" in a)
        for value in node.values():
            yield from known_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from known_values(value)


def test_every_known_enum_list_is_the_registry_vocabulary() -> None:
    lists = [frozenset(v for v in values if v is not None) for values in known_values(schema())]
    assert len(lists) == 17
    for values in lists:  # officials' roles and site statuses are part of a vocabulary
        assert any(values <= vocabulary for vocabulary in ENUMS.values()), sorted(values)


# -- severities -------------------------------------------------------------------------------

#: DESIGN §7, least severe first: not the alphabetical order ("critical" < "info" < "major").
ORDER = ["info", "minor", "major", "critical"]


def test_severities_are_the_published_strings_least_severe_first() -> None:
    assert [severity.value for severity in Severity] == ORDER
    assert sorted(Severity(s) for s in reversed(ORDER)) == ORDER != sorted(ORDER)


@pytest.mark.parametrize(("low", "high"), product(ORDER, ORDER))
def test_severities_compare_by_rank(low: str, high: str) -> None:
    below = ORDER.index(low) < ORDER.index(high)
    assert (Severity(low) < Severity(high)) is below
    assert (Severity(low) >= Severity(high)) is not below
    # a plain string (a config value) is read as its severity, on either side
    assert (Severity(low) < high) is below and (low < Severity(high)) is below
    assert max(Severity(low), Severity(high)) == ORDER[max(ORDER.index(low), ORDER.index(high))]


@pytest.mark.parametrize(("severities", "top"), [
    ([], None),
    (["info"], "info"),
    (["minor", "critical", "info"], "critical"),  # the greatest string would be "minor"
    (["major", "info", "minor"], "major"),
])
def test_top_severity_is_the_most_severe(severities: list[str], top: str | None) -> None:
    changes = [Change("status.overall", "changed", severity=s) for s in severities]
    assert top_severity(changes) == top


def test_severities_are_published_and_read_back_as_plain_strings() -> None:
    published = change_set(Change("status.overall", "changed", "RECRUITING", "TERMINATED",
                                  "status", Severity.CRITICAL, "status.overall: …")).to_dict()
    assert json.dumps(published["changes"][0]["severity"]) == '"critical"'
    assert type(published["changes"][0]["severity"]) is str
    assert (published["top_severity"], type(published["top_severity"])) == ("critical", str)
    stored = json.loads(json.dumps(published))  # as the store keeps it
    read = ChangeSet.from_dict(stored)
    assert read.changes[0].severity is Severity.CRITICAL
    assert read.to_dict() == published
    assert change_set().to_dict()["top_severity"] == "info"  # no change: the least, as before
