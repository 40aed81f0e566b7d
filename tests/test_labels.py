"""The one table of labels and wording (ctwatch.labels, issue 16) against the references: each
label where the classic study page shows it or as API v2 names the field
(reference/classic-page.md, reference/ctgov-api.md, real API v2 records), every enum value of
the API's data dictionary with the registry's display text, which the project's reader of
that text (sources.terms) reads back and which real legacy XML records spell the same."""

from __future__ import annotations

import json
import re
from dataclasses import fields, is_dataclass
from typing import Any, get_args, get_origin, get_type_hints

import pytest
from lxml import etree

from ctwatch import compliance, labels
from ctwatch.diff import WHOLE_LISTS
from ctwatch.model import Change, ChangeSet, Criterion, Trial
from ctwatch.notify import render
from ctwatch.sources import terms
from tests.helpers import FIXTURES, REALDATA, realdata_files

#: byte-exact copies of ../shared/reference/ (fixtures/README.md), so that CI has them too
REFERENCE = FIXTURES / "reference"
#: the text of the real classic study page of NCT04083898 (a byte-exact copy of the seed): the
#: rows reference/classic-page.md abbreviates ("…Device Product:") in full
CLASSIC_TEXT = (FIXTURES / "NCT04083898" / "classic_page.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reference() -> dict[str, str]:
    """The two reference pages, by name."""
    return {name: (REFERENCE / f"{name}.md").read_text(encoding="utf-8")
            for name in ("classic-page", "ctgov-api")}


@pytest.fixture(scope="module")
def api_keys() -> set[str]:
    """Every key of the real API v2 records."""
    keys: set[str] = set()
    pending: list[Any] = [json.loads(p.read_text(encoding="utf-8"))
                          for p in realdata_files("api_v2")]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            keys.update(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return keys


def in_words(key: str) -> str:
    """An API v2 key as words: ``whyStopped`` → "Why Stopped"."""
    return " ".join(word.capitalize() for word in re.findall(r"[a-z]+|[A-Z][a-z]*", key))


#: labels ctwatch makes itself, where the registry has none (each made of the registry's words)
OWN = {"Schema Version", "Sponsor Class", "Study Start Date Type", "Primary Completion Date Type",
       "Study Completion Date Type", "Enrollment Type", "Inclusion criterion",
       "Exclusion criterion", "Criterion"}


@pytest.fixture(scope="module")
def xml_tags() -> set[str]:
    """Every element name of the real legacy XML records."""
    return {element.tag for path in REALDATA.rglob("*.xml")
            for element in etree.parse(str(path)).iter() if isinstance(element.tag, str)}


@pytest.mark.parametrize("pattern", labels.FIELDS)
def test_every_label_is_the_registry_s_own(pattern: str, reference: dict[str, str],
                                          api_keys: set[str], xml_tags: set[str]) -> None:
    label, source = labels.FIELDS[pattern]
    if source == "classic":
        # as the page shows it, or the singular of its list heading ("Locations", "Collaborator(s)")
        wanted = rf"(?<![\w-]){re.escape(label)}(?:s|\(s\))?(?![\w-])"
        assert re.search(wanted, reference["classic-page"]) or re.search(wanted, CLASSIC_TEXT), \
            label
    elif source.startswith("xml:"):
        tag = source.removeprefix("xml:")
        assert tag in xml_tags, tag
        assert label == tag.replace("_", " ").title(), (label, tag)
    elif source.startswith("api:"):
        key = source.removeprefix("api:")
        assert key in reference["ctgov-api"] or key in api_keys, key
        assert label in (in_words(key), in_words(key).removesuffix("s")), (label, key)
    elif source.startswith("rule:"):  # a compliance milestone's finding, named as it reads
        code = pattern.removeprefix("compliance.").replace("_", "-")
        assert code in compliance.CODES and source.removeprefix("rule:") in compliance.RULES
        assert label.lower().startswith(" ".join(code.split("-")[:2])), (label, code)
    else:
        assert source == "ctwatch" and label in OWN, (pattern, source)
        text = " ".join(reference.values()).casefold()
        assert all(word.casefold()[:6] in text for word in label.split()), label


def test_the_issue_s_labels(reference: dict[str, str]) -> None:
    assert [labels.label(path) for path in ("status.overall", "status.primary_completion.date",
                                            "design.enrollment.count", "status.why_stopped",
                                            "arms[Phase I Dose Level 1]")] == [
        "Overall Status", "Primary Completion Date", "Enrollment", "Why Stopped",
        "Arm: Phase I Dose Level 1"]
    assert labels.criterion_label("inclusion", "I5") == "Inclusion criterion 5"


# -- every path of the trial has its label ------------------------------------------------------


def patterns(hint: Any = Trial, prefix: str = "") -> list[str]:
    """The path patterns of every field a change can be at, following the model: lists of
    records and of names are elements ([]), a criterion is a leaf, derived fields are left out
    (arm dosing is read from its description)."""
    found = []
    for f in fields(hint):
        name = f.name.rstrip("_")
        path = f"{prefix}.{name}" if prefix else name
        kind = get_type_hints(hint)[f.name]
        args = [a for a in get_args(kind) if a is not type(None)]
        if get_origin(kind) is tuple and path not in WHOLE_LISTS:
            element = args[0]
            if path == "arms.dosing" or path.endswith("[].dosing"):
                continue
            found.append(f"{path}[]")
            if is_dataclass(element) and element is not Criterion:
                found += patterns(element, f"{path}[]")
        elif args and is_dataclass(args[0]):  # optional: a change may be at the record
            found += [path, *patterns(args[0], path)]
        elif is_dataclass(kind):  # always there: changes are below it
            found += patterns(kind, path)
        else:
            found.append(path)
    return found


@pytest.mark.parametrize("pattern", patterns())
def test_every_field_of_the_trial_has_a_label_from_the_table(pattern: str) -> None:
    name = pattern.rpartition(".")[2].removesuffix("[]")
    if pattern.startswith("outcomes[]"):  # named by kind: "Primary Outcome Measure: …"
        assert all(f"outcomes[{kind}]" in labels.FIELDS for kind in labels.WORDING[
            "outcome_kind"])
        assert pattern == "outcomes[]" or pattern in labels.FIELDS
    elif pattern.startswith("locations[].contacts[]."):  # a person: name, role, phone, email
        assert f"*.{name}" in labels.FIELDS
    else:
        assert pattern in labels.FIELDS or f"*.{name}" in labels.FIELDS, pattern


@pytest.mark.parametrize(("path", "label"), [
    ("status.overall", "Overall Status"),
    ("status.primary_completion.type", "Primary Completion Date Type"),
    ("design.enrollment.type", "Enrollment Type"),
    ("design.phases", "Phase"),
    ("arms[Phase I Dose Level 1].description", "Arm: Phase I Dose Level 1 — Description"),
    ("arms[Phase I Dose Level 1].interventions[Isatuximab]",
     "Arm: Phase I Dose Level 1 — Intervention/treatment: Isatuximab"),
    ("interventions[Isatuximab].other_names[SAR650984]",
     "Intervention: Isatuximab — Other Name: SAR650984"),
    ("outcomes[primary: Overall response rate (ORR)].time_frame",
     "Primary Outcome Measure: Overall response rate (ORR) — Time Frame"),
    ("outcomes[secondary: Duration of response].kind",
     "Secondary Outcome Measure: Duration of response — Type"),
    ("locations[Washington University, Saint Louis].status",
     "Location: Washington University, Saint Louis — Recruitment Status"),
    ("locations[Washington University, Saint Louis].contacts[Ravi Vij].phone",
     "Location: Washington University, Saint Louis — Contact: Ravi Vij — Phone"),
    ("officials[Ravi Vij, M.D.].role", "Investigator: Ravi Vij, M.D. — Role"),
    ("contacts[Ravi Vij].email", "Central Contact: Ravi Vij — Email"),
    ("sponsor.collaborators[Sanofi]", "Collaborator: Sanofi"),
    ("conditions[Multiple Myeloma]", "Condition: Multiple Myeloma"),
    ("eligibility.healthy_volunteers", "Accepts Healthy Volunteers"),
    ("eligibility.exclusion[Active hepatitis A, B, or C.]", "Exclusion criterion"),
    ("a.field_ctwatch_does_not_know", "Field ctwatch does not know"),
])
def test_a_path_reads_as_its_label(path: str, label: str) -> None:
    assert labels.label(path) == label


@pytest.mark.parametrize(("section", "ident", "old", "label"), [
    ("inclusion", "I5", None, "Inclusion criterion 5"),
    ("inclusion", "I6.2", "I6.2", "Inclusion criterion 6.2"),
    ("exclusion", "E3", "E2", "Exclusion criterion 3 (was 2)"),
    ("unclassified", "U4", None, "Criterion 4"),
    ("inclusion", None, None, "Inclusion criterion"),
])
def test_a_criterion_is_named_by_its_number(section: str, ident: str | None, old: str | None,
                                            label: str) -> None:
    assert labels.criterion_label(section, ident, old) == label


# -- enum values in the registry's wording ------------------------------------------------------


def data_dictionary(reference: dict[str, str]) -> set[str]:
    """Every enum value reference/ctgov-api.md §5 lists, but who is masked (not kept in the
    normalized trial)."""
    section = reference["ctgov-api"].split("## 5.")[1].split("\n## ")[0]
    section = re.sub(r"WhoMasked:[^\n]*", "", section)
    return {value for line in section.splitlines() if ":" in line
            for value in re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*\b",
                                    line.split(":", 1)[1]) if value not in ("S", "D")}


def test_every_value_of_the_data_dictionary_has_its_wording(reference: dict[str, str]) -> None:
    listed = data_dictionary(reference)
    worded = {value for kind, table in labels.WORDING.items() if kind != "outcome_kind"
              for value in table}
    assert len(listed) >= 75 and listed <= worded, sorted(listed - worded)
    for kind, table in labels.WORDING.items():
        if kind != "outcome_kind":
            assert set(table) == terms.ENUMS[kind], kind
    assert set(labels.VALUES.values()) <= set(labels.WORDING)


@pytest.mark.parametrize(("kind", "value"), [(kind, value) for kind, table in
                                             labels.WORDING.items() if kind != "outcome_kind"
                                             for value in table])
def test_the_wording_reads_back_as_its_value(kind: str, value: str) -> None:
    assert terms.enum(kind, labels.WORDING[kind][value]) == value


#: legacy XML element → the kind of its value
XML_KINDS = {"overall_status": "status", "status": "status", "last_known_status": "status",
             "study_type": "study_type", "allocation": "allocation",
             "intervention_model": "intervention_model", "masking": "masking",
             "primary_purpose": "primary_purpose", "arm_group_type": "arm_type",
             "intervention_type": "intervention_type", "gender": "sex",
             "agency_class": "agency_class", "role": "role"}
_QUALIFIER = re.compile(r"\s*(\([^()]*\)|\[[^\[\]]*\])$")  # "Triple (Participant, …)"


def legacy_values() -> list[tuple[str, str, str]]:
    """(file, kind, text) of every enum a real legacy XML record spells."""
    found = set()
    for path in sorted((REALDATA / "legacy_xml").glob("*.xml")):
        root = etree.parse(str(path)).getroot()
        for element in root.iter(*XML_KINDS, "phase"):
            text = (element.text or "").strip()
            if element.tag == "phase":
                found.add((path.name, "phase", text))
            elif text and text != "N/A":  # "N/A" study type: not given
                found.add((path.name, XML_KINDS[element.tag], text))
    return sorted(found)


@pytest.mark.parametrize(("name", "kind", "text"), legacy_values())
def test_real_records_spell_values_as_the_wording_does(name: str, kind: str, text: str) -> None:
    if kind == "phase":
        values = terms.phases([text])
        assert labels.wording("phase", list(values)) == text
        return
    value = terms.enum(kind, text)
    kept = text if kind == "masking" and text.startswith("None") else _QUALIFIER.sub("", text)
    assert labels.wording(kind, value) == kept


def test_dates_and_enrollment_are_estimated_not_anticipated() -> None:
    # legacy records say "Anticipated" or "Estimate"; the modern registry "Estimated"
    assert terms.enum("date_type", "Anticipated") == "ESTIMATED"
    assert labels.wording("date_type", "ESTIMATED") == "Estimated"


@pytest.mark.parametrize(("path", "value", "shown"), [
    ("status.overall", "ACTIVE_NOT_RECRUITING", "Active, not recruiting"),
    ("design.phases", ["PHASE1", "PHASE2"], "Phase 1/Phase 2"),
    ("design.masking", "NONE", "None (Open Label)"),
    ("status.primary_completion.type", "ESTIMATED", "Estimated"),
    ("eligibility.std_ages", ["ADULT", "OLDER_ADULT"], "Adult, Older Adult"),
    ("status.overall", "A_VALUE_ADDED_LATER", "A value added later"),
    ("status.why_stopped", "SLOW ACCRUAL", "SLOW ACCRUAL"),  # free text stays as written
])
def test_a_value_reads_in_the_registry_s_wording(path: str, value: Any, shown: str) -> None:
    assert labels.wording(labels.value_kind(path), value) == shown


# -- the JSON keeps the machine fields and gains the label ------------------------------------


def test_a_stored_change_without_a_label_gets_one_and_reads_in_words() -> None:
    stored = {"path": "status.overall", "kind": "changed", "old": "RECRUITING",
              "new": "ACTIVE_NOT_RECRUITING", "category": "status", "severity": "major",
              "summary": "status.overall: RECRUITING → ACTIVE_NOT_RECRUITING", "flags": []}
    change = Change.from_dict(stored)
    assert change.label == "Overall Status"
    assert {key: change.to_dict()[key] for key in stored} == stored  # machine fields as stored
    change_set = ChangeSet(1, "NCT04083898", "T", 1, 2, 1, 2, None, None, "2024-01-01", (change,))
    assert "[MAJOR] Overall Status: Recruiting → Active, not recruiting" in render.text(change_set)


def test_a_stored_criterion_added_is_named_by_its_id() -> None:
    added = Criterion("E6", "Peripheral neuropathy of grade ≥ 2 at screening.").to_dict()
    change = Change.from_dict({"path": f"eligibility.exclusion[{added['text']}]",
                               "kind": "added", "old": None, "new": added,
                               "severity": "major"})
    assert change.label == "Exclusion criterion 6"


def test_a_label_given_is_kept() -> None:
    change = Change("eligibility.inclusion[x]", "changed", "a", "b", label="Inclusion criterion 5")
    assert Change.from_dict(json.loads(json.dumps(change.to_dict()))).label == (
        "Inclusion criterion 5")


def test_every_section_of_the_trial_is_reached() -> None:
    assert {p.split("[")[0].split(".")[0] for p in patterns()} == {f.name for f in fields(Trial)}
