"""The registry's names for the fields of a study, and what a list query selects by them.

ClinicalTrials.gov names a field of a study by its piece name (``LastUpdatePostDate``), by the
piece name of a module or section (``StatusModule``, ``ProtocolSection``) or by its dotted path
(``protocolSection.statusModule.lastUpdatePostDateStruct.date``); ``fields=`` takes a comma or
pipe list of them and keeps the nesting of what it selects, a branch with its whole subtree
(reference/ctgov-api.md §2; the spec's ``fields``: "If a piece or a field is a branch node, all
descendant fields will be included"). ``query.*`` and ``filter.advanced`` select studies by
Essie expressions (``multiple myeloma``, ``AREA[LastUpdatePostDate]RANGE[2024-01-15,MAX]``):
``query.cond`` searches the pieces of its search area, ``AREA[…]`` those of any area or one
piece, and what a search reads of a piece is its :func:`words`. The local registry
(:mod:`ctwatch.replay`, :mod:`ctwatch.replay_query`) answers all of it with what is here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

# Piece name → dotted path, as the API's Data Structure page and /studies/metadata give them
# (the part ctwatch and its tests use; the registry knows ~450). A piece names one node: the
# date pieces name the ``date`` of their struct, so ``LastUpdatePostDate`` selects
# ``{"lastUpdatePostDateStruct": {"date": …}}``, without ``type``, and ``…Struct`` the whole
# struct (cyanheads/clinicaltrialsgov-mcp-server docs/api-reference.md §13, compiled from the
# live API: LastUpdatePostDate → protocolSection.statusModule.lastUpdatePostDateStruct.date;
# the Data Structure page types it NormalizedDate, a date, not a struct).
PIECES: dict[str, str] = {
    "ProtocolSection": "protocolSection",
    "ResultsSection": "resultsSection",
    "AnnotationSection": "annotationSection",
    "DocumentSection": "documentSection",
    "DerivedSection": "derivedSection",
    "HasResults": "hasResults",
    "IdentificationModule": "protocolSection.identificationModule",
    "StatusModule": "protocolSection.statusModule",
    "SponsorCollaboratorsModule": "protocolSection.sponsorCollaboratorsModule",
    "OversightModule": "protocolSection.oversightModule",
    "DescriptionModule": "protocolSection.descriptionModule",
    "ConditionsModule": "protocolSection.conditionsModule",
    "DesignModule": "protocolSection.designModule",
    "ArmsInterventionsModule": "protocolSection.armsInterventionsModule",
    "OutcomesModule": "protocolSection.outcomesModule",
    "EligibilityModule": "protocolSection.eligibilityModule",
    "ContactsLocationsModule": "protocolSection.contactsLocationsModule",
    "ReferencesModule": "protocolSection.referencesModule",
    "IPDSharingStatementModule": "protocolSection.ipdSharingStatementModule",
    "ParticipantFlowModule": "resultsSection.participantFlowModule",
    "BaselineCharacteristicsModule": "resultsSection.baselineCharacteristicsModule",
    "OutcomeMeasuresModule": "resultsSection.outcomeMeasuresModule",
    "AdverseEventsModule": "resultsSection.adverseEventsModule",
    "MoreInfoModule": "resultsSection.moreInfoModule",
    "AnnotationModule": "annotationSection.annotationModule",
    "LargeDocumentModule": "documentSection.largeDocumentModule",
    "MiscInfoModule": "derivedSection.miscInfoModule",
    "ConditionBrowseModule": "derivedSection.conditionBrowseModule",
    "InterventionBrowseModule": "derivedSection.interventionBrowseModule",
    # identificationModule
    "NCTId": "protocolSection.identificationModule.nctId",
    "NCTIdAlias": "protocolSection.identificationModule.nctIdAliases",
    "OrgStudyIdInfo": "protocolSection.identificationModule.orgStudyIdInfo",
    "OrgStudyId": "protocolSection.identificationModule.orgStudyIdInfo.id",
    "OrgStudyIdType": "protocolSection.identificationModule.orgStudyIdInfo.type",
    "SecondaryIdInfo": "protocolSection.identificationModule.secondaryIdInfos",
    "SecondaryId": "protocolSection.identificationModule.secondaryIdInfos.id",
    "SecondaryIdType": "protocolSection.identificationModule.secondaryIdInfos.type",
    "Organization": "protocolSection.identificationModule.organization",
    "OrgFullName": "protocolSection.identificationModule.organization.fullName",
    "OrgClass": "protocolSection.identificationModule.organization.class",
    "BriefTitle": "protocolSection.identificationModule.briefTitle",
    "OfficialTitle": "protocolSection.identificationModule.officialTitle",
    "Acronym": "protocolSection.identificationModule.acronym",
    # statusModule
    "StatusVerifiedDate": "protocolSection.statusModule.statusVerifiedDate",
    "OverallStatus": "protocolSection.statusModule.overallStatus",
    "LastKnownStatus": "protocolSection.statusModule.lastKnownStatus",
    "WhyStopped": "protocolSection.statusModule.whyStopped",
    "StartDateStruct": "protocolSection.statusModule.startDateStruct",
    "StartDate": "protocolSection.statusModule.startDateStruct.date",
    "StartDateType": "protocolSection.statusModule.startDateStruct.type",
    "PrimaryCompletionDateStruct": "protocolSection.statusModule.primaryCompletionDateStruct",
    "PrimaryCompletionDate": "protocolSection.statusModule.primaryCompletionDateStruct.date",
    "PrimaryCompletionDateType": "protocolSection.statusModule.primaryCompletionDateStruct.type",
    "CompletionDateStruct": "protocolSection.statusModule.completionDateStruct",
    "CompletionDate": "protocolSection.statusModule.completionDateStruct.date",
    "CompletionDateType": "protocolSection.statusModule.completionDateStruct.type",
    "StudyFirstSubmitDate": "protocolSection.statusModule.studyFirstSubmitDate",
    "StudyFirstPostDateStruct": "protocolSection.statusModule.studyFirstPostDateStruct",
    "StudyFirstPostDate": "protocolSection.statusModule.studyFirstPostDateStruct.date",
    "StudyFirstPostDateType": "protocolSection.statusModule.studyFirstPostDateStruct.type",
    "ResultsFirstPostDateStruct": "protocolSection.statusModule.resultsFirstPostDateStruct",
    "ResultsFirstPostDate": "protocolSection.statusModule.resultsFirstPostDateStruct.date",
    "LastUpdateSubmitDate": "protocolSection.statusModule.lastUpdateSubmitDate",
    "LastUpdatePostDateStruct": "protocolSection.statusModule.lastUpdatePostDateStruct",
    "LastUpdatePostDate": "protocolSection.statusModule.lastUpdatePostDateStruct.date",
    "LastUpdatePostDateType": "protocolSection.statusModule.lastUpdatePostDateStruct.type",
    # sponsorCollaboratorsModule, descriptionModule, conditionsModule
    "LeadSponsor": "protocolSection.sponsorCollaboratorsModule.leadSponsor",
    "LeadSponsorName": "protocolSection.sponsorCollaboratorsModule.leadSponsor.name",
    "LeadSponsorClass": "protocolSection.sponsorCollaboratorsModule.leadSponsor.class",
    "Collaborator": "protocolSection.sponsorCollaboratorsModule.collaborators",
    "CollaboratorName": "protocolSection.sponsorCollaboratorsModule.collaborators.name",
    "CollaboratorClass": "protocolSection.sponsorCollaboratorsModule.collaborators.class",
    "ResponsibleParty": "protocolSection.sponsorCollaboratorsModule.responsibleParty",
    "ResponsiblePartyInvestigatorFullName":
        "protocolSection.sponsorCollaboratorsModule.responsibleParty.investigatorFullName",
    "ResponsiblePartyInvestigatorTitle":
        "protocolSection.sponsorCollaboratorsModule.responsibleParty.investigatorTitle",
    "ResponsiblePartyInvestigatorAffiliation":
        "protocolSection.sponsorCollaboratorsModule.responsibleParty.investigatorAffiliation",
    "ResponsiblePartyOldNameTitle":
        "protocolSection.sponsorCollaboratorsModule.responsibleParty.oldNameTitle",
    "ResponsiblePartyOldOrganization":
        "protocolSection.sponsorCollaboratorsModule.responsibleParty.oldOrganization",
    "BriefSummary": "protocolSection.descriptionModule.briefSummary",
    "DetailedDescription": "protocolSection.descriptionModule.detailedDescription",
    "Condition": "protocolSection.conditionsModule.conditions",
    "Keyword": "protocolSection.conditionsModule.keywords",
    # designModule
    "StudyType": "protocolSection.designModule.studyType",
    "Phase": "protocolSection.designModule.phases",
    "DesignInfo": "protocolSection.designModule.designInfo",
    "DesignAllocation": "protocolSection.designModule.designInfo.allocation",
    "DesignInterventionModel": "protocolSection.designModule.designInfo.interventionModel",
    "DesignPrimaryPurpose": "protocolSection.designModule.designInfo.primaryPurpose",
    "DesignMasking": "protocolSection.designModule.designInfo.maskingInfo.masking",
    "DesignWhoMasked": "protocolSection.designModule.designInfo.maskingInfo.whoMasked",
    "DesignObservationalModel": "protocolSection.designModule.designInfo.observationalModel",
    "DesignTimePerspective": "protocolSection.designModule.designInfo.timePerspective",
    "BioSpecDescription": "protocolSection.designModule.bioSpec.description",
    "EnrollmentInfo": "protocolSection.designModule.enrollmentInfo",
    "EnrollmentCount": "protocolSection.designModule.enrollmentInfo.count",
    "EnrollmentType": "protocolSection.designModule.enrollmentInfo.type",
    # armsInterventionsModule, outcomesModule: a piece under a list selects it in every item
    "ArmGroup": "protocolSection.armsInterventionsModule.armGroups",
    "ArmGroupLabel": "protocolSection.armsInterventionsModule.armGroups.label",
    "ArmGroupType": "protocolSection.armsInterventionsModule.armGroups.type",
    "ArmGroupDescription": "protocolSection.armsInterventionsModule.armGroups.description",
    "ArmGroupInterventionName":
        "protocolSection.armsInterventionsModule.armGroups.interventionNames",
    "Intervention": "protocolSection.armsInterventionsModule.interventions",
    "InterventionType": "protocolSection.armsInterventionsModule.interventions.type",
    "InterventionName": "protocolSection.armsInterventionsModule.interventions.name",
    "InterventionOtherName": "protocolSection.armsInterventionsModule.interventions.otherNames",
    "InterventionDescription":
        "protocolSection.armsInterventionsModule.interventions.description",
    "PrimaryOutcome": "protocolSection.outcomesModule.primaryOutcomes",
    "PrimaryOutcomeMeasure": "protocolSection.outcomesModule.primaryOutcomes.measure",
    "PrimaryOutcomeDescription": "protocolSection.outcomesModule.primaryOutcomes.description",
    "PrimaryOutcomeTimeFrame": "protocolSection.outcomesModule.primaryOutcomes.timeFrame",
    "SecondaryOutcome": "protocolSection.outcomesModule.secondaryOutcomes",
    "SecondaryOutcomeMeasure": "protocolSection.outcomesModule.secondaryOutcomes.measure",
    "SecondaryOutcomeDescription":
        "protocolSection.outcomesModule.secondaryOutcomes.description",
    "OtherOutcome": "protocolSection.outcomesModule.otherOutcomes",
    "OtherOutcomeMeasure": "protocolSection.outcomesModule.otherOutcomes.measure",
    "OtherOutcomeDescription": "protocolSection.outcomesModule.otherOutcomes.description",
    "OutcomeMeasure": "resultsSection.outcomeMeasuresModule.outcomeMeasures",
    "OutcomeMeasureTitle": "resultsSection.outcomeMeasuresModule.outcomeMeasures.title",
    "OutcomeMeasureDescription":
        "resultsSection.outcomeMeasuresModule.outcomeMeasures.description",
    "OutcomeMeasurePopulationDescription":
        "resultsSection.outcomeMeasuresModule.outcomeMeasures.populationDescription",
    # eligibilityModule, contactsLocationsModule, derivedSection
    "EligibilityCriteria": "protocolSection.eligibilityModule.eligibilityCriteria",
    "HealthyVolunteers": "protocolSection.eligibilityModule.healthyVolunteers",
    "Sex": "protocolSection.eligibilityModule.sex",
    "MinimumAge": "protocolSection.eligibilityModule.minimumAge",
    "MaximumAge": "protocolSection.eligibilityModule.maximumAge",
    "StdAge": "protocolSection.eligibilityModule.stdAges",
    "StudyPopulation": "protocolSection.eligibilityModule.studyPopulation",
    "CentralContact": "protocolSection.contactsLocationsModule.centralContacts",
    "CentralContactName": "protocolSection.contactsLocationsModule.centralContacts.name",
    "OverallOfficial": "protocolSection.contactsLocationsModule.overallOfficials",
    "OverallOfficialName": "protocolSection.contactsLocationsModule.overallOfficials.name",
    "OverallOfficialAffiliation":
        "protocolSection.contactsLocationsModule.overallOfficials.affiliation",
    "OverallOfficialRole": "protocolSection.contactsLocationsModule.overallOfficials.role",
    "Location": "protocolSection.contactsLocationsModule.locations",
    "LocationFacility": "protocolSection.contactsLocationsModule.locations.facility",
    "LocationStatus": "protocolSection.contactsLocationsModule.locations.status",
    "LocationCity": "protocolSection.contactsLocationsModule.locations.city",
    "LocationState": "protocolSection.contactsLocationsModule.locations.state",
    "LocationZip": "protocolSection.contactsLocationsModule.locations.zip",
    "LocationCountry": "protocolSection.contactsLocationsModule.locations.country",
    "LocationContactName": "protocolSection.contactsLocationsModule.locations.contacts.name",
    "LocationGeoPoint": "protocolSection.contactsLocationsModule.locations.geoPoint",
    "VersionHolder": "derivedSection.miscInfoModule.versionHolder",
    "ConditionMeshTerm": "derivedSection.conditionBrowseModule.meshes.term",
    "ConditionAncestorTerm": "derivedSection.conditionBrowseModule.ancestors.term",
    "InterventionMeshTerm": "derivedSection.interventionBrowseModule.meshes.term",
    "InterventionAncestorTerm": "derivedSection.interventionBrowseModule.ancestors.term",
}

# The dotted paths the table knows: its paths and every branch above them. A deeper path the
# registry knows (a results field, say) is refused here: the table would have to grow first.
PATHS = frozenset(".".join(path.split(".")[:depth]) for path in PIECES.values()
                  for depth in range(1, path.count(".") + 2))

# What each search area searches: the pieces the registry's GET /api/v2/studies/search-areas
# lists for it (as of API 2.0.5; a copy: github.com/metamonk/clinical-trials-api,
# search-areas.md), weights dropped as this registry does not rank. ``query.<param>``
# searches the area of PARAM_AREAS; ``AREA[name]`` any area or piece.
_BASIC = (
    "NCTId Acronym BriefTitle OfficialTitle Condition InterventionName InterventionOtherName "
    "Phase StdAge PrimaryOutcomeMeasure Keyword BriefSummary ArmGroupLabel "
    "SecondaryOutcomeMeasure InterventionDescription ArmGroupDescription "
    "PrimaryOutcomeDescription LeadSponsorName OrgStudyId SecondaryId NCTIdAlias "
    "InterventionType ArmGroupType SecondaryOutcomeDescription LocationFacility LocationState "
    "LocationCountry LocationCity LocationStatus BioSpecDescription "
    "ResponsiblePartyInvestigatorFullName ResponsiblePartyInvestigatorTitle "
    "ResponsiblePartyInvestigatorAffiliation ResponsiblePartyOldNameTitle "
    "ResponsiblePartyOldOrganization OverallOfficialAffiliation OverallOfficialRole "
    "OverallOfficialName CentralContactName ConditionMeshTerm InterventionMeshTerm "
    "DesignAllocation DesignInterventionModel DesignMasking DesignWhoMasked "
    "DesignObservationalModel DesignPrimaryPurpose DesignTimePerspective StudyType "
    "ConditionAncestorTerm InterventionAncestorTerm CollaboratorName OtherOutcomeMeasure "
    "OutcomeMeasureTitle OtherOutcomeDescription OutcomeMeasureDescription LocationContactName")
SEARCH_AREAS: dict[str, tuple[str, ...]] = {name: tuple(pieces.split()) for name, pieces in {
    "BasicSearch": _BASIC,
    "ConditionSearch": "Condition BriefTitle OfficialTitle ConditionMeshTerm "
                       "ConditionAncestorTerm Keyword NCTId",
    # ArmGroupInterventionName ("Drug: X") besides the registry's list: it repeats an
    # intervention's type and name, both in the area already.
    "InterventionSearch": "InterventionName InterventionType ArmGroupType InterventionOtherName "
                          "BriefTitle OfficialTitle ArmGroupLabel InterventionMeshTerm Keyword "
                          "InterventionAncestorTerm InterventionDescription ArmGroupDescription "
                          "ArmGroupInterventionName",
    "InterventionNameSearch": "InterventionName InterventionOtherName",
    "ObsoleteConditionSearch": "Condition ConditionMeshTerm ConditionAncestorTerm Keyword",
    "ExternalIdsSearch": "OrgStudyId SecondaryId",
    "ExternalIdTypesSearch": "OrgStudyIdType SecondaryIdType",
    "EligibilitySearch": "EligibilityCriteria StudyPopulation",
    "OutcomeSearch": "PrimaryOutcomeMeasure SecondaryOutcomeMeasure PrimaryOutcomeDescription "
                     "SecondaryOutcomeDescription OtherOutcomeMeasure OutcomeMeasureTitle "
                     "OtherOutcomeDescription OutcomeMeasureDescription "
                     "OutcomeMeasurePopulationDescription",
    "OutcomeNameSearch": "PrimaryOutcomeMeasure SecondaryOutcomeMeasure OtherOutcomeMeasure "
                         "OutcomeMeasureTitle",
    "TitleSearch": "Acronym BriefTitle OfficialTitle",
    "LocationSearch": "LocationCity LocationState LocationCountry LocationFacility LocationZip",
    "ContactSearch": "OverallOfficialName CentralContactName OverallOfficialAffiliation "
                     "LocationContactName",
    "NCTIdSearch": "NCTId NCTIdAlias",
    "IdSearch": "NCTId NCTIdAlias Acronym OrgStudyId SecondaryId",
    "SponsorSearch": "LeadSponsorName CollaboratorName OrgFullName",
    "FunderTypeSearch": "LeadSponsorClass CollaboratorClass",
    "ResponsiblePartySearch": "ResponsiblePartyInvestigatorFullName ResponsiblePartyOldNameTitle "
                              "ResponsiblePartyInvestigatorAffiliation "
                              "ResponsiblePartyOldOrganization ResponsiblePartyInvestigatorTitle",
    "PatientSearch": "Acronym Condition BriefTitle OfficialTitle ConditionMeshTerm "
                     "ConditionAncestorTerm BriefSummary Keyword InterventionName "
                     "InterventionOtherName PrimaryOutcomeMeasure StdAge ArmGroupLabel "
                     "SecondaryOutcomeMeasure InterventionDescription ArmGroupDescription "
                     "PrimaryOutcomeDescription LeadSponsorName OrgStudyId SecondaryId "
                     "NCTIdAlias SecondaryOutcomeDescription LocationFacility LocationState "
                     "LocationCountry LocationCity BioSpecDescription "
                     "ResponsiblePartyInvestigatorFullName ResponsiblePartyInvestigatorTitle "
                     "ResponsiblePartyInvestigatorAffiliation ResponsiblePartyOldNameTitle "
                     "ResponsiblePartyOldOrganization OverallOfficialAffiliation "
                     "OverallOfficialName CentralContactName DesignInterventionModel "
                     "DesignMasking DesignWhoMasked DesignObservationalModel "
                     "DesignPrimaryPurpose DesignTimePerspective InterventionMeshTerm "
                     "InterventionAncestorTerm CollaboratorName OtherOutcomeMeasure "
                     "OtherOutcomeDescription LocationContactName",
}.items()}
# query.<param> → the area it searches (query.lead: the LeadSponsorName piece, spec's words).
PARAM_AREAS = {"term": "BasicSearch", "cond": "ConditionSearch", "intr": "InterventionSearch",
               "titles": "TitleSearch", "outc": "OutcomeSearch", "spons": "SponsorSearch",
               "lead": "LeadSponsorName", "id": "IdSearch", "locn": "LocationSearch",
               "patient": "PatientSearch"}


def area_pieces(name: str) -> tuple[str, ...] | None:
    """The pieces ``AREA[name]`` searches: a search area's, or a piece itself; None if the
    registry knows no such area."""
    return SEARCH_AREAS.get(name) or ((name,) if name in PIECES else None)


def texts(study: Any, path: str) -> list[str]:
    """Every text at a dotted path of a study, through the lists on the way (a number as
    written; anything else, a malformed record's, is no text)."""
    found = [study]
    for key in path.split("."):
        found = [item.get(key) for value in found for item in _items(value)
                 if isinstance(item, dict)]
    return [item if isinstance(item, str) else str(item) for value in found
            for item in _items(value)
            if isinstance(item, str) or (isinstance(item, int | float) and
                                         not isinstance(item, bool))]


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_WORD = re.compile(r"\w+")
_POSSESSIVE = re.compile(r"['’]s\b")


def words(text: str) -> list[str]:
    """The words of a text as this registry indexes and searches them: case folded, accents
    dropped, split at anything but letters, digits and ``_`` (an enum value is one word),
    possessives and plurals reduced ("Crohn's" → crohn, "tumors" → tumor, "therapies" →
    therapy): roughly the registry's "Term" expansion."""
    if not text.isascii():
        text = "".join(char for char in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(char))
    return [_singular(word) for word in _WORD.findall(_POSSESSIVE.sub("", text.casefold()))]


def _singular(word: str) -> str:
    if len(word) > 3 and word[-1] == "s":
        if word.endswith("ies"):
            return word[:-3] + "y"
        if not word.endswith(("ss", "us", "is")):
            return word[:-1]
    return word


# RANGE here reads the pieces whose values are whole days (yyyy-MM-dd, reference §6), which
# compare as text. Partial dates ("2023-10") would need the registry's rule for a month
# against a day, which no source gives: such an area is refused, not guessed.
DAY_AREAS = ("LastUpdatePostDate", "StudyFirstPostDate", "ResultsFirstPostDate",
             "LastUpdateSubmitDate", "StudyFirstSubmitDate")

Selection = dict[str, "Selection | None"]  # key → what is kept under it; None: all of it
_NOTHING: Any = object()  # a projection that kept nothing: its key is left out


class UnknownField(ValueError):
    """A ``fields`` item the registry does not know; str() is the registry's 400 text."""

    def __init__(self, name: str) -> None:
        # The registry's words (cyanheads/clinicaltrialsgov-mcp-server#17 quotes its 400 body).
        super().__init__(f"Parameter 'fields' contains invalid field name: '{name}'")


class QueryError(ValueError):
    """An Essie expression (``filter.advanced``, ``query.*``) this registry does not read;
    str() is its 400 text."""

    def __init__(self, reason: str, param: str = "filter.advanced") -> None:
        super().__init__(f"Error parsing query in {param}: {reason}")
        self.reason = reason


def selection(value: str) -> Selection:
    """The keys a ``fields`` value selects, as a tree (a branch above a leaf keeps it all)."""
    tree: Selection = {}
    for name in (item.strip() for item in re.split(r"[,|]", value)):
        path = PIECES.get(name) or (name if name in PATHS else None)
        if path is None:
            raise UnknownField(name)
        _add(tree, path.split("."))
    return tree


def _add(tree: Selection, keys: list[str]) -> None:
    for key in keys[:-1]:
        if key in tree and tree[key] is None:
            return  # an ancestor is selected whole already
        tree = tree.setdefault(key, {})  # type: ignore[assignment]
    tree[keys[-1]] = None


def project(study: Any, tree: Selection) -> dict[str, Any]:
    """What ``fields`` keeps of a study: the selected keys at their place, nothing else.

    Any JSON is taken (the registry has served malformed records): a scalar where the
    selection goes deeper keeps nothing; list items keep what is selected in each, and an item
    that keeps nothing is left out, as is a key that keeps nothing (inferred: no source shows
    the registry's projection of a record lacking a field)."""
    kept = _kept(study, tree)
    return {} if kept is _NOTHING else kept


def _kept(value: Any, tree: Selection) -> Any:
    if isinstance(value, list):
        items = [kept for kept in (_kept(item, tree) for item in value) if kept is not _NOTHING]
        return items or _NOTHING
    if not isinstance(value, dict):
        return _NOTHING
    kept = {}
    for key, inner in value.items():  # in the record's order, as the registry keeps it
        below = tree.get(key, _NOTHING)
        if below is not _NOTHING:
            inner = inner if below is None else _kept(inner, below)
            if inner is not _NOTHING:
                kept[key] = inner
    return kept or _NOTHING


def value_at(study: Any, path: str) -> Any:
    """The value at a dotted path of a study, or None (no list is walked through)."""
    for key in path.split("."):
        if not isinstance(study, dict):
            return None
        study = study.get(key)
    return study


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class DayRange:
    """``AREA[piece]RANGE[low,high]`` over a whole-day piece, both ends included."""

    path: str
    low: str | None  # None: MIN
    high: str | None  # None: MAX

    def holds(self, day: Any) -> bool:
        """Whether a study whose value is ``day`` matches (no value: no match)."""
        if not isinstance(day, str) or not day:
            return False
        return (self.low is None or day >= self.low) and (self.high is None or day <= self.high)


def day_range(area: str, low: str, high: str) -> DayRange:
    """``AREA[area]RANGE[low,high]`` as this registry reads it, or QueryError saying why not."""
    if area not in DAY_AREAS:
        raise QueryError(f"RANGE is read here on whole-day pieces only ({', '.join(DAY_AREAS)})")
    return DayRange(PIECES[area], _end(low.strip(), "MIN"), _end(high.strip(), "MAX"))


def _end(value: str, open_end: str) -> str | None:
    if value == open_end:
        return None
    if not _DAY.fullmatch(value):
        raise QueryError(f"`{value}` is neither a date (yyyy-MM-dd) nor {open_end}")
    return value
