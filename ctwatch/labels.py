"""The registry's words for ctwatch's paths and values: the one table of labels and wording.

A change keeps its machine ``path`` (``status.overall``) and values (``ACTIVE_NOT_RECRUITING``);
people read the registry's own label for the field ("Overall Status") and its wording for the
value ("Active, not recruiting"), in every alert format (DESIGN §7).

:data:`FIELDS` names every field of the normalized trial by the path the differ writes, with
element keys written ``[]``; each row says where its label comes from, which the tests check
against the references (reference/classic-page.md, reference/ctgov-api.md and real records):

    classic        the classic study page shows the label as written ("Primary Completion Date")
    api:KEY        API v2's field KEY in words (``whyStopped`` → "Why Stopped"; a list's
                   element in the singular: ``otherNames`` → "Other Name")
    xml:TAG        the legacy XML element TAG in words (``results_first_posted`` → "Results
                   First Posted"), where neither the page nor API v2 has a better name
    ctwatch        ctwatch's own, made of the registry's words ("Enrollment Type",
                   "Inclusion criterion"): the registry has no label of its own there
    rule:KEY       a compliance finding (``compliance.results_overdue``), in the words of the
                   rule it comes from (``ctwatch.compliance.RULES[KEY]``): not a field at all

:data:`WORDING` holds the registry's display text of each API v2 enum value: the classic page's
and legacy XML's spelling ("Active, not recruiting", "Phase 2", "None (Open Label)"), with
"Estimated" for the date and enrollment type the modern site shows (legacy: "Anticipated").
This module is data and small functions; it imports nothing of ctwatch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

#: path with element keys as [] → (label, where the label comes from)
FIELDS: dict[str, tuple[str, str]] = {
    "schema_version": ("Schema Version", "ctwatch"),
    "nct_id": ("ClinicalTrials.gov Identifier", "classic"),
    "org_study_id": ("Other Study ID Numbers", "classic"),
    "brief_title": ("Brief Title", "api:briefTitle"),
    "official_title": ("Official Title", "classic"),
    "acronym": ("Acronym", "api:acronym"),
    "brief_summary": ("Brief Summary", "classic"),
    "detailed_description": ("Detailed Description", "classic"),
    "sponsor": ("Sponsor", "classic"),
    "sponsor.lead": ("Sponsor", "classic"),
    "sponsor.lead.name": ("Sponsor", "classic"),
    "sponsor.lead.class": ("Sponsor Class", "ctwatch"),
    "sponsor.collaborators[]": ("Collaborator", "classic"),
    "sponsor.collaborators[].name": ("Name", "api:name"),
    "sponsor.collaborators[].class": ("Class", "api:class"),
    "conditions[]": ("Condition", "classic"),
    "keywords[]": ("Keyword", "api:keywords"),
    "status.overall": ("Overall Status", "api:overallStatus"),
    "status.why_stopped": ("Why Stopped", "api:whyStopped"),
    "status.verified": ("Last Verified", "classic"),
    "status.start": ("Study Start Date", "classic"),
    "status.start.date": ("Study Start Date", "classic"),
    "status.start.type": ("Study Start Date Type", "ctwatch"),
    "status.primary_completion": ("Primary Completion Date", "classic"),
    "status.primary_completion.date": ("Primary Completion Date", "classic"),
    "status.primary_completion.type": ("Primary Completion Date Type", "ctwatch"),
    "status.completion": ("Study Completion Date", "classic"),
    "status.completion.date": ("Study Completion Date", "classic"),
    "status.completion.type": ("Study Completion Date Type", "ctwatch"),
    "status.first_posted": ("First Posted", "classic"),
    "status.last_update_posted": ("Last Update Posted", "classic"),
    "status.has_results": ("Has Results", "api:hasResults"),
    "status.results_first_submitted": ("Results First Submitted", "xml:results_first_submitted"),
    "status.results_first_posted": ("Results First Posted", "xml:results_first_posted"),
    # a certification that results may be delayed, or a request to extend their deadline
    "status.disposition_first_submitted": ("Disposition First Submitted",
                                           "xml:disposition_first_submitted"),
    "status.disposition_first_posted": ("Disposition First Posted",
                                        "xml:disposition_first_posted"),
    "design.study_type": ("Study Type", "classic"),
    "design.phases": ("Phase", "classic"),
    "design.allocation": ("Allocation", "classic"),
    "design.intervention_model": ("Intervention Model", "classic"),
    "design.masking": ("Masking", "classic"),
    "design.primary_purpose": ("Primary Purpose", "classic"),
    "design.enrollment": ("Enrollment", "classic"),
    "design.enrollment.count": ("Enrollment", "classic"),
    "design.enrollment.type": ("Enrollment Type", "ctwatch"),
    "oversight.is_fda_regulated_drug": ("Studies a U.S. FDA-regulated Drug Product", "classic"),
    "oversight.is_fda_regulated_device": ("Studies a U.S. FDA-regulated Device Product",
                                          "classic"),
    "oversight.is_us_export": ("Product Manufactured in and Exported from the U.S.", "classic"),
    "arms[]": ("Arm", "classic"),
    "arms[].label": ("Label", "api:label"),
    "arms[].type": ("Type", "api:type"),
    "arms[].description": ("Description", "api:description"),
    "arms[].interventions[]": ("Intervention/treatment", "classic"),
    "interventions[]": ("Intervention", "api:interventions"),
    "interventions[].type": ("Type", "api:type"),
    "interventions[].name": ("Name", "api:name"),
    "interventions[].description": ("Description", "api:description"),
    "interventions[].other_names[]": ("Other Name", "api:otherNames"),
    "interventions[].arms[]": ("Arm", "classic"),
    "outcomes[primary]": ("Primary Outcome Measure", "classic"),
    "outcomes[secondary]": ("Secondary Outcome Measure", "classic"),
    "outcomes[other]": ("Other Outcome Measure", "classic"),
    "outcomes[].kind": ("Type", "api:type"),
    "outcomes[].measure": ("Measure", "api:measure"),
    "outcomes[].description": ("Description", "api:description"),
    "outcomes[].time_frame": ("Time Frame", "classic"),
    "eligibility.sex": ("Sexes Eligible for Study", "classic"),
    "eligibility.minimum_age": ("Minimum Age", "api:minimumAge"),
    "eligibility.maximum_age": ("Maximum Age", "api:maximumAge"),
    "eligibility.std_ages": ("Ages Eligible for Study", "classic"),
    "eligibility.healthy_volunteers": ("Accepts Healthy Volunteers", "classic"),
    "eligibility.inclusion[]": ("Inclusion criterion", "ctwatch"),
    "eligibility.exclusion[]": ("Exclusion criterion", "ctwatch"),
    "eligibility.unclassified[]": ("Criterion", "ctwatch"),
    "eligibility.text": ("Eligibility Criteria", "api:eligibilityCriteria"),
    "contacts[]": ("Central Contact", "api:centralContacts"),
    "officials[]": ("Investigator", "classic"),
    "officials[].affiliation": ("Affiliation", "api:affiliation"),
    "locations[]": ("Location", "classic"),
    "locations[].facility": ("Facility", "api:facility"),
    "locations[].status": ("Recruitment Status", "classic"),
    "locations[].city": ("City", "api:city"),
    "locations[].state": ("State", "api:state"),
    "locations[].zip": ("Zip", "api:zip"),
    "locations[].country": ("Country", "api:country"),
    "locations[].contacts[]": ("Contact", "classic"),
    # compliance milestones (ctwatch.milestones): findings of ctwatch compliance, named as the
    # rule they come from says them (rule:KEY, ctwatch.compliance.RULES)
    "compliance.results_due_soon": ("Results due within 30 days", "rule:results"),
    "compliance.results_overdue": ("Results overdue", "rule:results"),
    "compliance.verification_lapsed": ("Verification lapsed", "rule:verification"),
    # a person's fields, wherever the person is listed
    "*.name": ("Name", "api:name"),
    "*.role": ("Role", "api:role"),
    "*.phone": ("Phone", "api:phone"),
    "*.email": ("Email", "api:email"),
}

#: API v2 value → the registry's display text, per kind of value (reference/ctgov-api.md §5)
WORDING: dict[str, dict[str, str]] = {
    "status": {
        "ACTIVE_NOT_RECRUITING": "Active, not recruiting", "COMPLETED": "Completed",
        "ENROLLING_BY_INVITATION": "Enrolling by invitation",
        "NOT_YET_RECRUITING": "Not yet recruiting", "RECRUITING": "Recruiting",
        "SUSPENDED": "Suspended", "TERMINATED": "Terminated", "WITHDRAWN": "Withdrawn",
        "AVAILABLE": "Available", "NO_LONGER_AVAILABLE": "No longer available",
        "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
        "APPROVED_FOR_MARKETING": "Approved for marketing", "WITHHELD": "Withheld",
        "UNKNOWN": "Unknown status",
    },
    "study_type": {"EXPANDED_ACCESS": "Expanded Access", "INTERVENTIONAL": "Interventional",
                   "OBSERVATIONAL": "Observational"},
    "phase": {"NA": "N/A", "EARLY_PHASE1": "Early Phase 1", "PHASE1": "Phase 1",
              "PHASE2": "Phase 2", "PHASE3": "Phase 3", "PHASE4": "Phase 4"},
    "allocation": {"RANDOMIZED": "Randomized", "NON_RANDOMIZED": "Non-Randomized", "NA": "N/A"},
    "intervention_model": {
        "SINGLE_GROUP": "Single Group Assignment", "PARALLEL": "Parallel Assignment",
        "CROSSOVER": "Crossover Assignment", "FACTORIAL": "Factorial Assignment",
        "SEQUENTIAL": "Sequential Assignment",
    },
    "masking": {"NONE": "None (Open Label)", "SINGLE": "Single", "DOUBLE": "Double",
                "TRIPLE": "Triple", "QUADRUPLE": "Quadruple"},
    "primary_purpose": {
        "TREATMENT": "Treatment", "PREVENTION": "Prevention", "DIAGNOSTIC": "Diagnostic",
        "ECT": "Educational/Counseling/Training", "SUPPORTIVE_CARE": "Supportive Care",
        "SCREENING": "Screening", "HEALTH_SERVICES_RESEARCH": "Health Services Research",
        "BASIC_SCIENCE": "Basic Science", "DEVICE_FEASIBILITY": "Device Feasibility",
        "OTHER": "Other",
    },
    "arm_type": {
        "EXPERIMENTAL": "Experimental", "ACTIVE_COMPARATOR": "Active Comparator",
        "PLACEBO_COMPARATOR": "Placebo Comparator", "SHAM_COMPARATOR": "Sham Comparator",
        "NO_INTERVENTION": "No Intervention", "OTHER": "Other",
    },
    "intervention_type": {
        "BEHAVIORAL": "Behavioral", "BIOLOGICAL": "Biological",
        "COMBINATION_PRODUCT": "Combination Product", "DEVICE": "Device",
        "DIAGNOSTIC_TEST": "Diagnostic Test", "DIETARY_SUPPLEMENT": "Dietary Supplement",
        "DRUG": "Drug", "GENETIC": "Genetic", "PROCEDURE": "Procedure",
        "RADIATION": "Radiation", "OTHER": "Other",
    },
    "sex": {"FEMALE": "Female", "MALE": "Male", "ALL": "All"},
    "std_age": {"CHILD": "Child", "ADULT": "Adult", "OLDER_ADULT": "Older Adult"},
    "agency_class": {"NIH": "NIH", "FED": "U.S. Fed", "OTHER_GOV": "Other Gov",
                     "INDIV": "Indiv", "INDUSTRY": "Industry", "NETWORK": "Network",
                     "AMBIG": "Ambig", "OTHER": "Other", "UNKNOWN": "Unknown"},
    "role": {"STUDY_CHAIR": "Study Chair", "STUDY_DIRECTOR": "Study Director",
             "PRINCIPAL_INVESTIGATOR": "Principal Investigator",
             "SUB_INVESTIGATOR": "Sub-Investigator", "CONTACT": "Contact"},
    "date_type": {"ACTUAL": "Actual", "ESTIMATED": "Estimated"},
    # ctwatch's own field (DESIGN §3): which list of outcome measures an outcome is in
    "outcome_kind": {"primary": "Primary", "secondary": "Secondary", "other": "Other"},
}

#: path with element keys as [] → the kind of its value in WORDING
VALUES: dict[str, str] = {
    "status.overall": "status", "locations[].status": "status",
    "status.start.type": "date_type", "status.primary_completion.type": "date_type",
    "status.completion.type": "date_type", "design.enrollment.type": "date_type",
    "design.study_type": "study_type", "design.phases": "phase",
    "design.allocation": "allocation", "design.intervention_model": "intervention_model",
    "design.masking": "masking", "design.primary_purpose": "primary_purpose",
    "arms[].type": "arm_type", "interventions[].type": "intervention_type",
    "eligibility.sex": "sex", "eligibility.std_ages": "std_age",
    "sponsor.lead.class": "agency_class", "sponsor.collaborators[].class": "agency_class",
    "contacts[].role": "role", "officials[].role": "role", "locations[].contacts[].role": "role",
    "outcomes[].kind": "outcome_kind",
}

#: element keys → what their lists join: "Phase 1/Phase 2" as the registry writes a phase pair
JOINERS = {"phase": "/"}
CRITERIA = {"inclusion": "I", "exclusion": "E", "unclassified": "U"}  # section → id prefix
SEPARATOR = " — "  # between an element ("Arm: A") and its field ("Description")


# -- paths ------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def tokens(path: str) -> tuple[str, ...]:
    """``a.b[key].c`` → ``("a", "b", "[key]", "c")``; brackets may nest inside a key."""
    found: list[str] = []
    start = depth = 0
    for index, char in enumerate(path):
        if depth == 0 and char in "[.":
            if index > start:
                found.append(path[start:index])
            start = index + (char == ".")
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
            if depth == 0:
                found.append(path[start:index + 1])
                start = index + 1
    if start < len(path):
        found.append(path[start:])
    return tuple(found)


def pattern(path: str) -> str:
    """The path with every element key written ``[]``: the key of :data:`FIELDS`."""
    return "".join("[]" if t.startswith("[") else f".{t}" for t in tokens(path)).lstrip(".")


def criterion_section(path: str) -> str | None:
    """``inclusion``, ``exclusion`` or ``unclassified`` for a criterion's path, else None."""
    parts = tokens(path)
    if len(parts) == 3 and parts[0] == "eligibility" and parts[2].startswith("["):
        return parts[1] if parts[1] in CRITERIA else None
    return None


# -- labels -----------------------------------------------------------------------------------


def label(path: str, old: Any = None, new: Any = None) -> str:
    """The label of a change at ``path``: "Overall Status", "Arm: A — Description",
    "Inclusion criterion 5" (the number from a whole criterion's ``id`` in ``new`` or ``old``
    when there is one: the path names a criterion by its text)."""
    section = criterion_section(path)
    if section is not None:
        element = new if isinstance(new, Mapping) else old
        ident = element.get("id") if isinstance(element, Mapping) else None
        return criterion_label(section, ident if isinstance(ident, str) else None)
    parts: list[str] = []
    norm = ""
    names = tokens(path)
    for index, token in enumerate(names):
        if token.startswith("["):
            parts.append(_element(norm, token[1:-1]))
            norm += "[]"
        else:
            norm = f"{norm}.{token}" if norm else token
            if index == len(names) - 1:
                parts.append(_field(norm, token))
    return SEPARATOR.join(parts) or path


def criterion_label(section: str, ident: str | None, old_ident: str | None = None) -> str:
    """"Inclusion criterion 6.2" for I6.2 (and "(was 5.2)" when it moved from I5.2)."""
    noun = FIELDS[f"eligibility.{section}[]"][0]
    number = _number(section, ident)
    if not number:
        return noun
    moved = _number(section, old_ident)
    return f"{noun} {number}" + (f" (was {moved})" if moved and moved != number else "")


def _number(section: str, ident: str | None) -> str | None:
    prefix = CRITERIA[section]
    if not ident:
        return None
    return ident[len(prefix):] if ident.startswith(prefix) else ident


def _element(norm: str, key: str) -> str:
    if norm == "outcomes":
        kind, _, measure = key.partition(": ")
        noun = FIELDS.get(f"outcomes[{kind}]", ("Outcome Measure", ""))[0]
        return f"{noun}: {measure or kind}"
    noun = FIELDS.get(f"{norm}[]", (humanize(norm.rpartition(".")[2]), ""))[0]
    return f"{noun}: {key}"


def _field(norm: str, name: str) -> str:
    found = FIELDS.get(norm) or FIELDS.get(f"*.{name}")
    return found[0] if found else humanize(name)


def humanize(name: str) -> str:
    """A field or value that the table does not know, in words: ``time_frame`` → "Time frame",
    ``NEW_VALUE`` → "New value"."""
    words = name.replace("_", " ").strip().lower()
    return words[:1].upper() + words[1:]


# -- values -----------------------------------------------------------------------------------


def value_kind(path: str) -> str | None:
    """The kind of value at ``path`` (a key of :data:`WORDING`), or None for free text."""
    return VALUES.get(pattern(path))


def wording(kind: str | None, value: Any) -> str:
    """The registry's display text of an enum value ("ACTIVE_NOT_RECRUITING" → "Active, not
    recruiting"); a list as the registry joins it ("Phase 1/Phase 2"); a value the table does
    not know (one the registry added since) in plain words; anything else as text."""
    if isinstance(value, list | tuple):
        items = [wording(kind, item) for item in value]
        return JOINERS.get(kind or "", ", ").join(item for item in items if item)
    if value is None:
        return ""
    if kind is None or not isinstance(value, str):
        return str(value)
    known = WORDING.get(kind, {})
    if value in known:
        return known[value]
    return humanize(value) if re.fullmatch(r"[A-Z0-9_]+", value) else value
