"""API v2 study JSON → Trial: a single study, a list page, or a history-API version.

The history API (``/api/int/studies/…``) serves the same study layout with HTML markup and
entities in every text field, where API v2 serves CommonMark in its markup fields; both are
normalized by :mod:`ctwatch.markup`, so the same content gives the same trial.

The reader holds the published contract (``ctwatch schema``) at the boundary: an enum value
is kept as the registry spells it (upper-cased), also one ctwatch does not know yet, so a diff
shows a value the registry adds; an enum that is not such a word, a date that is not a real
ISO date (``2020-13-45``) or not text, and an enrollment that is not a whole number are a
ParseError naming the field. A text field of another type is read as absent.
"""

from __future__ import annotations

from typing import Any

from ctwatch import criteria
from ctwatch.errors import ParseError
from ctwatch.markup import Markup, inline, to_text
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

Json = dict[str, Any]


def studies(document: Any) -> list[tuple[Json, Markup]]:
    """The study objects a document holds, with the markup their text is written in."""
    if not isinstance(document, dict):
        raise ParseError("not a study record: expected a JSON object")
    if isinstance(document.get("studies"), list):
        return [(study, "markdown") for study in document["studies"]]
    if isinstance(document.get("study"), dict):
        return [(document["study"], "html")]
    return [(document, "markdown")]


def parse(document: Any) -> list[Trial]:
    """Every trial in an API v2 or history-API document."""
    return [parse_study(study, markup) for study, markup in studies(document)]


def parse_study(study: Any, markup: Markup = "markdown") -> Trial:
    """One study object (``{"protocolSection": …}``) as a normalized trial."""
    if not isinstance(study, dict) or not isinstance(study.get("protocolSection"), dict):
        raise ParseError("not a study record: no protocolSection")
    protocol = study["protocolSection"]
    nct_id = _nct_id(_get(protocol, "identificationModule", "nctId"))
    try:
        return _trial(protocol, study, nct_id, _Text(markup))
    except ParseError as error:
        raise ParseError(f"{nct_id}: {error}") from None
    except (TypeError, AttributeError) as error:
        raise ParseError(f"{nct_id}: malformed record ({error})") from None


class _Text:
    """Reads text fields in the markup of the document they come from."""

    def __init__(self, markup: Markup) -> None:
        self.markup = markup

    def line(self, value: Any) -> str | None:
        return inline(value, self.markup) if isinstance(value, str) else None

    def rich(self, value: Any) -> str | None:
        return to_text(value, self.markup) if isinstance(value, str) else None

    def lines(self, values: Any) -> tuple[str, ...]:
        return tuple(text for text in map(self.line, _items(values)) if text)


def _nct_id(value: Any) -> str:
    try:
        return terms.nct_id(value)
    except ParseError as error:
        raise ParseError(f"identificationModule.nctId: {error}") from None


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _items(values: Any) -> list[Any]:
    return values if isinstance(values, list) else []


def _dicts(values: Any) -> list[Json]:
    return [value for value in _items(values) if isinstance(value, dict)]


# The name of a field comes in parts ("startDateStruct", ".date"), joined only for an error:
# formatting it for every value cost more than checking the value (issue 13).
def _enum(value: Any, *where: str) -> str | None:
    """An enum value at ``where`` (named in the error), see :func:`terms.token`."""
    try:
        return terms.token(value)
    except ParseError as error:
        raise ParseError(f"{''.join(where)}: {error}") from None


def _iso(value: Any, *where: str) -> str | None:
    """A date at ``where``: a real ISO date at any precision, kept as written."""
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ParseError(f"expected a date (text), got {terms.json_type(value)}")
        return terms.iso_date(value.strip()) if value.strip() else None
    except ParseError as error:
        raise ParseError(f"{''.join(where)}: {error}") from None


def _count(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParseError(f"{where}: expected a whole number, got {terms.quoted(value)}")
    return value


def _trial(protocol: Json, study: Json, nct_id: str, text: _Text) -> Trial:
    ident = protocol.get("identificationModule") or {}
    description = protocol.get("descriptionModule") or {}
    conditions = protocol.get("conditionsModule") or {}
    arms, interventions = _arms_and_interventions(protocol.get("armsInterventionsModule"), text)
    contacts = protocol.get("contactsLocationsModule") or {}
    return Trial(
        nct_id=nct_id,
        org_study_id=text.line(_get(ident, "orgStudyIdInfo", "id")),
        brief_title=text.line(ident.get("briefTitle")),
        official_title=text.line(ident.get("officialTitle")),
        acronym=text.line(ident.get("acronym")),
        brief_summary=text.rich(description.get("briefSummary")),
        detailed_description=text.rich(description.get("detailedDescription")),
        sponsor=_sponsor(protocol.get("sponsorCollaboratorsModule"), text),
        conditions=text.lines(conditions.get("conditions")),
        keywords=text.lines(conditions.get("keywords")),
        status=_status(protocol.get("statusModule") or {}, study, text),
        design=_design(protocol.get("designModule") or {}),
        oversight=_oversight(protocol.get("oversightModule") or {}),
        arms=arms,
        interventions=interventions,
        outcomes=_outcomes(protocol.get("outcomesModule") or {}, text),
        eligibility=_eligibility(protocol.get("eligibilityModule") or {}, text),
        contacts=tuple(_contact(c, text) for c in _dicts(contacts.get("centralContacts"))),
        officials=tuple(_official(o, text) for o in _dicts(contacts.get("overallOfficials"))),
        locations=tuple(_location(loc, text) for loc in _dicts(contacts.get("locations"))),
    )


def _sponsor(module: Any, text: _Text) -> Sponsor:
    def party(data: Json) -> Party:
        return Party(text.line(data.get("name")), _enum(data.get("class"), "sponsor class"))

    lead = _get(module, "leadSponsor")
    collaborators = _dicts(_get(module, "collaborators"))
    return Sponsor(party(lead) if isinstance(lead, dict) else None,
                   tuple(party(c) for c in collaborators))


_NO_DATE = DatePoint()


def _date(module: Json, key: str) -> DatePoint:
    data = module.get(key)
    if not isinstance(data, dict):
        return _NO_DATE
    return DatePoint(_iso(data.get("date"), key, ".date"), _enum(data.get("type"), key, ".type"))


def _status(module: Json, study: Json, text: _Text) -> Status:
    return Status(
        overall=_enum(module.get("overallStatus"), "overallStatus"),
        why_stopped=text.rich(module.get("whyStopped")),
        verified=_iso(module.get("statusVerifiedDate"), "statusVerifiedDate"),
        start=_date(module, "startDateStruct"),
        primary_completion=_date(module, "primaryCompletionDateStruct"),
        completion=_date(module, "completionDateStruct"),
        first_posted=_date(module, "studyFirstPostDateStruct").date,
        last_update_posted=_date(module, "lastUpdatePostDateStruct").date,
        has_results=study.get("hasResults") is True,
        results_first_submitted=_iso(module.get("resultsFirstSubmitDate"),
                                     "resultsFirstSubmitDate"),
        results_first_posted=_date(module, "resultsFirstPostDateStruct").date,
        disposition_first_submitted=_iso(module.get("dispFirstSubmitDate"),
                                         "dispFirstSubmitDate"),
        disposition_first_posted=_date(module, "dispFirstPostDateStruct").date,
    )


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _oversight(module: Json) -> Oversight:
    return Oversight(_flag(module.get("isFdaRegulatedDrug")),
                     _flag(module.get("isFdaRegulatedDevice")), _flag(module.get("isUsExport")))


def _design(module: Json) -> Design:
    info = module.get("designInfo") or {}
    enrollment = module.get("enrollmentInfo") or {}
    return Design(
        study_type=_enum(module.get("studyType"), "studyType"),
        phases=_enums(module.get("phases"), "phases"),
        allocation=_enum(info.get("allocation"), "allocation"),
        intervention_model=_enum(info.get("interventionModel"), "interventionModel"),
        masking=_enum(_get(info, "maskingInfo", "masking"), "masking"),
        primary_purpose=_enum(info.get("primaryPurpose"), "primaryPurpose"),
        enrollment=Enrollment(_count(enrollment.get("count"), "enrollmentInfo.count"),
                              _enum(enrollment.get("type"), "enrollmentInfo.type")),
    )


def _enums(values: Any, where: str) -> tuple[str, ...]:
    return tuple(filter(None, (_enum(value, where, "[]") for value in _items(values))))


def _outcomes(module: Json, text: _Text) -> tuple[Outcome, ...]:
    found = []
    for kind, key in (("primary", "primaryOutcomes"), ("secondary", "secondaryOutcomes"),
                      ("other", "otherOutcomes")):
        for data in _dicts(module.get(key)):
            found.append(Outcome(kind, text.line(data.get("measure")) or "",
                                 text.rich(data.get("description")),
                                 text.line(data.get("timeFrame"))))
    return tuple(found)


def _eligibility(module: Json, text: _Text) -> Eligibility:
    return Eligibility(
        sex=_enum(module.get("sex"), "sex"),
        minimum_age=text.line(module.get("minimumAge")),
        maximum_age=text.line(module.get("maximumAge")),
        std_ages=_enums(module.get("stdAges"), "stdAges"),
        healthy_volunteers=_flag(module.get("healthyVolunteers")),
        **criteria.eligibility_parts(module.get("eligibilityCriteria"), text.markup),
    )


def _contact(data: Json, text: _Text) -> Contact:
    return Contact(text.line(data.get("name")), _enum(data.get("role"), "contact role"),
                   text.line(data.get("phone")), text.line(data.get("email")))


def _official(data: Json, text: _Text) -> Official:
    return Official(text.line(data.get("name")), text.line(data.get("affiliation")),
                    _enum(data.get("role"), "overallOfficials[].role"))


def _location(data: Json, text: _Text) -> Location:
    return Location(
        facility=text.line(data.get("facility")),
        status=_enum(data.get("status"), "locations[].status"),
        city=text.line(data.get("city")),
        state=text.line(data.get("state")),
        zip=text.line(data.get("zip")),
        country=text.line(data.get("country")),
        contacts=tuple(_contact(c, text) for c in _dicts(data.get("contacts"))),
    )


def _arms_and_interventions(
    module: Any, text: _Text
) -> tuple[tuple[Arm, ...], tuple[Intervention, ...]]:
    """Arms and interventions, linked both ways from ``interventionNames`` and
    ``armGroupLabels`` (the registry keeps both, and they do not always agree)."""
    arms = [Arm(text.line(arm.get("label")) or "", _enum(arm.get("type"), "armGroups[].type"),
                text.rich(arm.get("description")), text.lines(arm.get("interventionNames")))
            for arm in _dicts(_get(module, "armGroups"))]
    interventions = [Intervention(_enum(item.get("type"), "interventions[].type"),
                                  text.line(item.get("name")) or "",
                                  text.rich(item.get("description")),
                                  text.lines(item.get("otherNames")),
                                  text.lines(item.get("armGroupLabels")))
                     for item in _dicts(_get(module, "interventions"))]
    return linking.link(arms, interventions)
