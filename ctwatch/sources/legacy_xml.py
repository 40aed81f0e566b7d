"""Legacy ``<clinical_study>`` XML → Trial: the registry's old bulk download and the
``/api/legacy/public-xml/{nct}`` record, as kept in archives.

Values are the registry's display wording ("Active, not recruiting", "Phase 1/Phase 2",
"March 30, 2018"), mapped to API v2 spellings by :mod:`ctwatch.sources.terms`; text blocks
are plain text laid out by the old registry, read by :mod:`ctwatch.markup`, so the same
content gives the same trial as API v2. The XML is third-party input: it is parsed without
loading a DTD, expanding entities or touching the network, and a record that declares a
DOCTYPE (the registry's never do) is refused.
"""

from __future__ import annotations

import re

from lxml import etree

from ctwatch import criteria
from ctwatch.errors import ParseError
from ctwatch.markup import inline, to_text
from ctwatch.model import (
    Arm,
    Contact,
    DatePoint,
    Design,
    Eligibility,
    Enrollment,
    Intervention,
    Location,
    Official,
    Outcome,
    Oversight,
    Party,
    Sponsor,
    Status,
    Trial,
)
from ctwatch.sources import linking, terms

Element = etree._Element
OUTCOME_KINDS = ("primary", "secondary", "other")


def parse(raw: bytes) -> list[Trial]:
    """The trial in a legacy XML record."""
    study = _root(raw)
    try:
        nct = terms.nct_id(_text(study, "id_info/nct_id"))
    except ParseError as error:
        raise ParseError(f"<nct_id>: {error}") from None
    try:
        return [_trial(study, nct)]
    except ParseError as error:
        raise ParseError(f"{nct}: {error}") from None


def _root(raw: bytes) -> Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as error:
        raise ParseError(f"invalid XML: {error}") from None
    if root.getroottree().docinfo.doctype:
        raise ParseError("legacy XML with a DOCTYPE is refused: registry records declare none, "
                         "and a DTD can hold entity tricks (XXE, billion laughs)")
    if root.tag != "clinical_study":
        raise ParseError(f"not a legacy ClinicalTrials.gov record: root element <{root.tag}>, "
                         "expected <clinical_study>")
    return root


def _text(element: Element | None, path: str) -> str | None:
    """The text of the first element at ``path``, whitespace collapsed; None for none."""
    found = element.find(path) if element is not None else None
    return inline(found.text, "plain") if found is not None and found.text else None


def _texts(element: Element, path: str) -> tuple[str, ...]:
    return tuple(text for text in (inline(e.text, "plain") for e in element.iterfind(path))
                 if text)


def _block(element: Element, path: str) -> str | None:
    """A ``<textblock>`` (or other plain-text field) as normalized text."""
    found = element.find(path)
    return to_text(found.text, "plain") if found is not None else None


def _term(kind: str, element: Element | None, path: str) -> str | None:
    try:
        return terms.enum(kind, _text(element, path))
    except ParseError as error:
        raise ParseError(f"<{path}>: {error}") from None


def _date(element: Element, path: str) -> str | None:
    try:
        return terms.date(_text(element, path))
    except ParseError as error:
        raise ParseError(f"<{path}>: {error}") from None


def _trial(study: Element, nct_id: str) -> Trial:
    arms, interventions = linking.link(_arms(study), _interventions(study))
    return Trial(
        nct_id=nct_id,
        org_study_id=_text(study, "id_info/org_study_id"),
        brief_title=_text(study, "brief_title"),
        official_title=_text(study, "official_title"),
        acronym=_text(study, "acronym"),
        brief_summary=_block(study, "brief_summary/textblock"),
        detailed_description=_block(study, "detailed_description/textblock"),
        sponsor=_sponsor(study.find("sponsors")),
        conditions=_texts(study, "condition"),
        keywords=_texts(study, "keyword"),
        status=_status(study),
        design=_design(study),
        oversight=_oversight(study.find("oversight_info")),
        arms=arms,
        interventions=interventions,
        outcomes=_outcomes(study),
        eligibility=_eligibility(study.find("eligibility")),
        contacts=tuple(_contact(c) for c in study.iterfind("overall_contact")) + tuple(
            _contact(c) for c in study.iterfind("overall_contact_backup")),
        officials=tuple(_official(o) for o in study.iterfind("overall_official")),
        locations=tuple(_location(loc) for loc in study.iterfind("location")),
    )


def _sponsor(sponsors: Element | None) -> Sponsor:
    if sponsors is None:
        return Sponsor()

    def party(element: Element) -> Party:
        return Party(_text(element, "agency"), _term("agency_class", element, "agency_class"))

    lead = sponsors.find("lead_sponsor")
    return Sponsor(party(lead) if lead is not None else None,
                   tuple(party(c) for c in sponsors.iterfind("collaborator")))


def _point(study: Element, path: str) -> DatePoint:
    found = study.find(path)
    if found is None:
        return DatePoint()
    try:
        kind = terms.enum("date_type", found.get("type"))
    except ParseError as error:
        raise ParseError(f"<{path} type>: {error}") from None
    return DatePoint(_date(study, path), kind)


def _status(study: Element) -> Status:
    return Status(
        overall=_term("status", study, "overall_status"),
        why_stopped=_block(study, "why_stopped"),
        verified=_date(study, "verification_date"),
        start=_point(study, "start_date"),
        primary_completion=_point(study, "primary_completion_date"),
        completion=_point(study, "completion_date"),
        first_posted=_date(study, "study_first_posted"),
        # Before 2017 the last update was "lastchanged_date"; "firstreceived_date" was the
        # submission date, not the posting date, so it is not read as first_posted.
        last_update_posted=_date(study, "last_update_posted") or _date(study, "lastchanged_date"),
        has_results=study.find("clinical_results") is not None,
        # Before 2017 "firstreceived_results_date" and "firstreceived_results_disposition_date"
        # (the header comment of records of that time names the new tags)
        results_first_submitted=_date(study, "results_first_submitted")
        or _date(study, "firstreceived_results_date"),
        results_first_posted=_date(study, "results_first_posted"),
        disposition_first_submitted=_date(study, "disposition_first_submitted")
        or _date(study, "firstreceived_results_disposition_date"),
        disposition_first_posted=_date(study, "disposition_first_posted"),
    )


def _yes_no(element: Element, path: str) -> bool | None:
    try:
        return terms.yes_no(_text(element, path))
    except ParseError as error:
        raise ParseError(f"<{path}>: {error}") from None


def _oversight(info: Element | None) -> Oversight:
    if info is None:
        return Oversight()
    return Oversight(_yes_no(info, "is_fda_regulated_drug"),
                     _yes_no(info, "is_fda_regulated_device"), _yes_no(info, "is_us_export"))


# Records downloaded before 2017 write the design as one line ("Allocation: Randomized,
# Endpoint Classification: Efficacy Study, Intervention Model: Parallel Assignment, Masking:
# Double Blind (Subject, Investigator), Primary Purpose: Treatment"), not <study_design_info>.
_DESIGN_LABEL = re.compile(r"(Allocation|Endpoint Classification|Intervention Model|"
                           r"Observational Model|Time Perspective|Masking|Primary Purpose):\s*")
_DESIGN_FIELDS = ("allocation", "intervention_model", "masking", "primary_purpose")


def _design_terms(study: Element) -> dict[str, str | None]:
    """The design's display terms by field, from either layout."""
    info = study.find("study_design_info")
    if info is not None:
        return {name: _text(info, name) for name in _DESIGN_FIELDS}
    parts = _DESIGN_LABEL.split(_text(study, "study_design") or "")
    found = {label.lower().replace(" ", "_"): value.strip(" ,")
             for label, value in zip(parts[1::2], parts[2::2], strict=True)}
    return {name: found.get(name) or None for name in _DESIGN_FIELDS}


def _design(study: Element) -> Design:
    count = terms.count(_text(study, "enrollment"), "<enrollment>")
    enrollment = study.find("enrollment")
    try:
        kind = terms.enum("date_type", enrollment.get("type") if enrollment is not None else None)
        phases = terms.phases(list(_texts(study, "phase")))
        values = {name: terms.enum(name, term) for name, term in _design_terms(study).items()}
    except ParseError as error:
        raise ParseError(f"<study_design_info>, <enrollment> or <phase>: {error}") from None
    study_type = _term("study_type", study, "study_type")
    if study_type != "INTERVENTIONAL" and phases == ("NA",):
        phases = ()  # older records say "N/A" where API v2 gives observational studies none
    return Design(study_type=study_type, phases=phases, **values,
                  enrollment=Enrollment(count, kind))


def _arms(study: Element) -> list[Arm]:
    # Legacy arms do not name their interventions: the links come from the interventions.
    return [Arm(_text(arm, "arm_group_label") or "", _term("arm_type", arm, "arm_group_type"),
                _block(arm, "description"))
            for arm in study.iterfind("arm_group")]


def _interventions(study: Element) -> list[Intervention]:
    return [Intervention(_term("intervention_type", item, "intervention_type"),
                         _text(item, "intervention_name") or "", _block(item, "description"),
                         _texts(item, "other_name"), _texts(item, "arm_group_label"))
            for item in study.iterfind("intervention")]


def _outcomes(study: Element) -> tuple[Outcome, ...]:
    return tuple(Outcome(kind, _text(item, "measure") or "", _block(item, "description"),
                         _text(item, "time_frame"))
                 for kind in OUTCOME_KINDS for item in study.iterfind(f"{kind}_outcome"))


def _eligibility(element: Element | None) -> Eligibility:
    if element is None:
        return Eligibility()
    minimum = terms.age(_text(element, "minimum_age"))
    maximum = terms.age(_text(element, "maximum_age"))
    try:
        healthy = terms.yes_no(_text(element, "healthy_volunteers"))
    except ParseError as error:
        raise ParseError(f"<healthy_volunteers>: {error}") from None
    criteria_block = element.find("criteria/textblock")
    text = criteria_block.text if criteria_block is not None else None
    return Eligibility(
        sex=_term("sex", element, "gender"),
        minimum_age=minimum,
        maximum_age=maximum,
        std_ages=terms.std_ages(minimum, maximum),
        healthy_volunteers=healthy,
        **criteria.eligibility_parts(text, "plain"),
    )


def _name(person: Element) -> str | None:
    """A person's name as API v2 writes it: "First Middle Last, Degrees"."""
    parts = [_text(person, part) for part in ("first_name", "middle_name", "last_name")]
    name = " ".join(part for part in parts if part)
    degrees = _text(person, "degrees")
    return ", ".join(part for part in (name, degrees) if part) or None


def _contact(element: Element, role: str | None = "CONTACT") -> Contact:
    return Contact(_name(element), role, _text(element, "phone"), _text(element, "email"))


def _official(element: Element) -> Official:
    return Official(_name(element), _text(element, "affiliation"),
                    _term("role", element, "role"))


def _location(element: Element) -> Location:
    address = element.find("facility/address")
    people = [_contact(c) for c in element.iterfind("contact")]
    people += [_contact(c) for c in element.iterfind("contact_backup")]
    people += [_contact(i, _term("role", i, "role")) for i in element.iterfind("investigator")]
    return Location(
        facility=_text(element, "facility/name"),
        status=_term("status", element, "status"),
        city=_text(address, "city"),
        state=_text(address, "state"),
        zip=_text(address, "zip"),
        country=_text(address, "country"),
        contacts=tuple(people),
    )
