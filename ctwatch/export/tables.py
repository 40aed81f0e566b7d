"""The exported tables and their columns: the one place the export's schema is written down.

Every writer (CSV, SQLite, Parquet) and the data dictionary (``docs/data-dictionary.md``, by
:mod:`ctwatch.export.dictionary`) read :data:`TABLES`; each table and column carries its
meaning and, where AACT has the same concept, the AACT table or column it matches.

The columns of ``thresholds`` that describe the bound itself are made from the fields of
:class:`ctwatch.model.Threshold`, so a field added there is exported (and documented) without
an edit here; :data:`THRESHOLD_MEANINGS` gives each its words.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, fields
from typing import Any, Union, get_args, get_origin, get_type_hints

from ctwatch.model import Threshold

#: logical column types; each writer maps them to its own (``dictionary`` shows the mapping)
TYPES = ("integer", "real", "text", "boolean", "json")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # one of TYPES
    meaning: str
    aact: str | None = None  # "table.column" of AACT with the same concept
    references: str | None = None  # "table.column" this column's values are keys of
    key: bool = False  # the table's primary key
    unique: bool = False
    required: bool = False  # never null


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    meaning: str
    source: str  # where its rows come from: the trial's JSON, or the store
    columns: tuple[Column, ...]
    aact: str | None = None  # the AACT table of the same concept
    history: bool = False  # exported only with --history

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


def _id(meaning: str) -> Column:
    return Column("id", "integer", meaning, key=True, required=True)


def _nct(aact: str | None) -> Column:
    return Column("nct_id", "text", "The trial's NCT id (NCT followed by 8 digits).", aact,
                  references="studies.nct_id", required=True)


def _row_id(what: str) -> Column:
    return _id(f"The {what}'s key: the trial's NCT number × 1,000,000 + its position in the "
               "trial (from 1, in the order of the trial's JSON).")


def _text(name: str, meaning: str, aact: str | None = None) -> Column:
    return Column(name, "text", meaning, aact)


_DATE = "as the registry gives it, its precision kept (2023-10 stays 2023-10)"

STUDIES = Table("studies", "One row per trial: its latest stored version.",
                "the trial's own fields: titles, status, design, oversight, summaries",
                aact="studies", columns=(
    _id("The trial's key: its NCT number without the letters (NCT04083898 → 4083898)."),
    Column("nct_id", "text", "The trial's NCT id.", "studies.nct_id", unique=True,
           required=True),
    Column("snapshot_id", "integer", "The store's id of the snapshot the trial's rows come "
           "from (its latest; ctwatch history lists it, ctwatch diff --from takes it).",
           references="snapshots.id", required=True),
    _text("fetched_at", "When ctwatch read that version (ISO 8601, UTC)."),
    _text("org_study_id", "The sponsor's own id of the study.",
          "id_information.id_value (id_source org_study_id)"),
    _text("brief_title", "Brief title.", "studies.brief_title"),
    _text("official_title", "Official title.", "studies.official_title"),
    _text("acronym", "Acronym.", "studies.acronym"),
    _text("overall_status", "Overall recruitment status, as API v2 spells it (RECRUITING, "
          "ACTIVE_NOT_RECRUITING, TERMINATED…).", "studies.overall_status"),
    _text("why_stopped", "Why the study stopped, as written.", "studies.why_stopped"),
    _text("verification_date", f"Month the record was last verified, {_DATE}.",
          "studies.verification_date"),
    _text("start_date", f"Study start date, {_DATE}.", "studies.start_date"),
    _text("start_date_type", "ACTUAL or ESTIMATED.", "studies.start_date_type"),
    _text("primary_completion_date", f"Primary completion date, {_DATE}.",
          "studies.primary_completion_date"),
    _text("primary_completion_date_type", "ACTUAL or ESTIMATED.",
          "studies.primary_completion_date_type"),
    _text("completion_date", f"Study completion date, {_DATE}.", "studies.completion_date"),
    _text("completion_date_type", "ACTUAL or ESTIMATED.", "studies.completion_date_type"),
    _text("study_first_posted_date", "Date the record was first posted.",
          "studies.study_first_posted_date"),
    _text("last_update_posted_date", "Date the latest update was posted.",
          "studies.last_update_posted_date"),
    _text("results_first_submitted_date", "Date results were first submitted.",
          "studies.results_first_submitted_date"),
    _text("results_first_posted_date", "Date results were first posted.",
          "studies.results_first_posted_date"),
    _text("disposition_first_submitted_date", "Date a certification or an extension request "
          "(results delayed) was first submitted.", "studies.disposition_first_submitted_date"),
    _text("disposition_first_posted_date", "Date that certification or request was first "
          "posted.", "studies.disposition_first_posted_date"),
    Column("has_results", "boolean", "Whether results are posted.",
           "calculated_values.were_results_reported"),
    _text("study_type", "INTERVENTIONAL, OBSERVATIONAL or EXPANDED_ACCESS.", "studies.study_type"),
    _text("phase", "The phases joined by / (PHASE1/PHASE2), as AACT joins them; NA or null "
          "when none.", "studies.phase"),
    Column("enrollment", "integer", "Enrollment count.", "studies.enrollment"),
    _text("enrollment_type", "ACTUAL or ESTIMATED.", "studies.enrollment_type"),
    _text("allocation", "RANDOMIZED, NON_RANDOMIZED or NA.", "designs.allocation"),
    _text("intervention_model", "SINGLE_GROUP, PARALLEL, CROSSOVER, SEQUENTIAL, FACTORIAL…",
          "designs.intervention_model"),
    _text("masking", "NONE, SINGLE, DOUBLE, TRIPLE or QUADRUPLE.", "designs.masking"),
    _text("primary_purpose", "TREATMENT, PREVENTION, DIAGNOSTIC…", "designs.primary_purpose"),
    Column("is_fda_regulated_drug", "boolean", "Studies a U.S. FDA-regulated drug (null: not "
           "said).", "studies.is_fda_regulated_drug"),
    Column("is_fda_regulated_device", "boolean", "Studies a U.S. FDA-regulated device (null: "
           "not said).", "studies.is_fda_regulated_device"),
    Column("is_us_export", "boolean", "Product manufactured in and exported from the U.S. "
           "(null: not said).", "studies.is_us_export"),
    _text("brief_summary", "Brief summary, normalized plain text.",
          "brief_summaries.description"),
    _text("detailed_description", "Detailed description, normalized plain text.",
          "detailed_descriptions.description"),
))

ELIGIBILITIES = Table("eligibilities", "One row per trial: who may take part, besides the "
                      "criteria themselves (table criteria).",
                      "eligibility: sex, ages, std_ages, healthy_volunteers, text",
                      aact="eligibilities", columns=(
    _id("The trial's key, as in studies."),
    _nct("eligibilities.nct_id"),
    _text("gender", "Sex of the participants: ALL, FEMALE or MALE (API v2 sex).",
          "eligibilities.gender"),
    _text("minimum_age", "Minimum age as written (18 Years).", "eligibilities.minimum_age"),
    _text("maximum_age", "Maximum age as written.", "eligibilities.maximum_age"),
    Column("healthy_volunteers", "boolean", "Whether healthy volunteers are accepted.",
           "eligibilities.healthy_volunteers"),
    Column("child", "boolean", "Standard age group CHILD (birth-17) is eligible.",
           "eligibilities.child"),
    Column("adult", "boolean", "Standard age group ADULT (18-64) is eligible.",
           "eligibilities.adult"),
    Column("older_adult", "boolean", "Standard age group OLDER_ADULT (65+) is eligible.",
           "eligibilities.older_adult"),
    _text("criteria", "The eligibility criteria as normalized plain text (as one blob, as "
          "AACT keeps them; the tree is in criteria).", "eligibilities.criteria"),
))


def _names(name: str, what: str) -> Table:
    return Table(name, f"One row per {what} of a trial.", f"{name}[]", aact=name, columns=(
        _row_id(what), _nct(f"{name}.nct_id"),
        _text("name", f"The {what} as written.", f"{name}.name"),
        _text("downcase_name", f"The {what} in lower case.", f"{name}.downcase_name"),
    ))


CONDITIONS = _names("conditions", "condition")
KEYWORDS = _names("keywords", "keyword")

DESIGN_GROUPS = Table("design_groups", "One row per arm (arm group) of a trial.", "arms[]",
                      aact="design_groups", columns=(
    _row_id("arm"), _nct("design_groups.nct_id"),
    _text("group_type", "EXPERIMENTAL, ACTIVE_COMPARATOR, PLACEBO_COMPARATOR, "
          "SHAM_COMPARATOR, NO_INTERVENTION or OTHER.", "design_groups.group_type"),
    _text("title", "The arm's label.", "design_groups.title"),
    _text("description", "The arm's description.", "design_groups.description"),
))

INTERVENTIONS = Table("interventions", "One row per intervention of a trial.",
                      "interventions[]", aact="interventions", columns=(
    _row_id("intervention"), _nct("interventions.nct_id"),
    _text("intervention_type", "DRUG, BIOLOGICAL, DEVICE, PROCEDURE, RADIATION, BEHAVIORAL…",
          "interventions.intervention_type"),
    _text("name", "The intervention's name.", "interventions.name"),
    _text("description", "The intervention's description.", "interventions.description"),
))

INTERVENTION_OTHER_NAMES = Table(
    "intervention_other_names", "One row per other name of an intervention.",
    "interventions[].other_names[]", aact="intervention_other_names", columns=(
        _row_id("other name"), _nct("intervention_other_names.nct_id"),
        Column("intervention_id", "integer", "The intervention named.",
               "intervention_other_names.intervention_id", "interventions.id", required=True),
        _text("name", "The other name.", "intervention_other_names.name"),
    ))

DESIGN_GROUP_INTERVENTIONS = Table(
    "design_group_interventions", "One row per intervention given in an arm: the link by "
    "keys, read from the record's own links (an arm's intervention names and an "
    "intervention's arm labels, either side), so a renamed arm keeps its links.",
    "arms[].interventions[], interventions[].arms[]", aact="design_group_interventions",
    columns=(
        _row_id("link"), _nct("design_group_interventions.nct_id"),
        Column("design_group_id", "integer", "The arm.",
               "design_group_interventions.design_group_id", "design_groups.id",
               required=True),
        Column("intervention_id", "integer", "The intervention given in it.",
               "design_group_interventions.intervention_id", "interventions.id",
               required=True),
    ))

DESIGN_OUTCOMES = Table("design_outcomes", "One row per outcome measure a trial registered "
                        "(not results).", "outcomes[]", aact="design_outcomes", columns=(
    _row_id("outcome measure"), _nct("design_outcomes.nct_id"),
    _text("outcome_type", "primary, secondary or other.", "design_outcomes.outcome_type"),
    _text("measure", "The measure's title.", "design_outcomes.measure"),
    _text("time_frame", "Its time frame.", "design_outcomes.time_frame"),
    _text("description", "Its description.", "design_outcomes.description"),
))

CRITERIA = Table("criteria", "One row per eligibility criterion, as a tree: a criterion "
                 "heads the ones whose parent_id is its id. Ordered by id, the rows are in "
                 "the order of the record (inclusion, then exclusion, then unclassified; a "
                 "criterion before its children).",
                 "eligibility.inclusion / exclusion / unclassified (trees)", columns=(
    _row_id("criterion"), _nct(None),
    _text("positional_id", "The criterion's positional id in the trial, as ctwatch names it "
          "for people: I6.1 is the first criterion under the sixth inclusion criterion (E: "
          "exclusion, U: unclassified)."),
    Column("parent_id", "integer", "The criterion this one is under; null at the top of "
           "its section.", references="criteria.id"),
    Column("section", "text", "inclusion, exclusion or unclassified (the record has no "
           "section heading).", required=True),
    Column("depth", "integer", "1 at the top of a section, 2 under it, and so on.",
           required=True),
    _text("text", "The criterion's text, normalized (markup removed, whitespace collapsed)."),
))

#: the meaning of each field of ctwatch.model.Threshold, by its JSON key
THRESHOLD_MEANINGS = {
    "measure": "What the number bounds, as written, in lower case (absolute neutrophil "
               "count, age, ecog); null when the criterion does not say.",
    "comparator": "One of > >= < <= =: the measure must be (comparator) the value.",
    "value": "The number as written (1500 in ≥ 1500/mm3).",
    "unit": "The unit as written (/mm3, x ULN, years); null when none.",
    "measure_code": "The measure's code, for the common laboratory and clinical measures (anc "
                    "for absolute neutrophil count, platelets, hemoglobin, ecog, age…); null "
                    "when it is none of them.",
    "value_si": "The value in unit_si, where the unit is known.",
    "unit_si": "The unit value_si is in, spelled as UCUM (10*9/L, g/dL, mL/min); null when "
               "the unit is unknown.",
}

_LOGICAL = {str: "text", int: "integer", float: "real", bool: "boolean"}


def logical_type(hint: Any) -> str:
    """The column type of a dataclass field's type hint: ``float | int`` is real."""
    if get_origin(hint) in (Union, types.UnionType):
        found = {logical_type(arg) for arg in get_args(hint) if arg is not type(None)}
        return found.pop() if len(found) == 1 else "real" if found <= {"integer", "real"} \
            else "json"
    return _LOGICAL.get(hint, "json")


def threshold_columns() -> tuple[Column, ...]:
    """A column per field of :class:`~ctwatch.model.Threshold`, named by its JSON key."""
    hints = get_type_hints(Threshold)
    made = []
    for field in fields(Threshold):
        name = field.name.rstrip("_")
        meaning = THRESHOLD_MEANINGS.get(name, f"The threshold's {name} "
                                                f"(ctwatch.model.Threshold.{field.name}).")
        optional = type(None) in get_args(hints[field.name])
        made.append(Column(name, logical_type(hints[field.name]), meaning, required=not optional))
    return tuple(made)


THRESHOLDS = Table("thresholds", "One row per numeric bound read in a criterion's text "
                   "(Absolute neutrophil count ≥ 1500/mm3 → anc >= 1500 /mm3).",
                   "thresholds[] of every criterion, at any depth", columns=(
    _row_id("threshold"), _nct(None),
    Column("criterion_id", "integer", "The criterion it is read from.",
           references="criteria.id", required=True),
    Column("section", "text", "The criterion's section: inclusion, exclusion or "
           "unclassified (as in criteria, for one-line queries).", required=True),
    _text("positional_id", "The criterion's positional id (as in criteria)."),
    *threshold_columns(),
))

FACILITIES = Table("facilities", "One row per location (site) of a trial.", "locations[]",
                   aact="facilities", columns=(
    _row_id("location"), _nct("facilities.nct_id"),
    _text("status", "The site's recruitment status (RECRUITING…).", "facilities.status"),
    _text("name", "The facility's name.", "facilities.name"),
    _text("city", "City.", "facilities.city"),
    _text("state", "State or region.", "facilities.state"),
    _text("zip", "Postal code.", "facilities.zip"),
    _text("country", "Country.", "facilities.country"),
))

SPONSORS = Table("sponsors", "One row per organisation behind a trial: its lead sponsor, "
                 "then its collaborators.", "sponsor.lead, sponsor.collaborators[]",
                 aact="sponsors", columns=(
    _row_id("sponsor"), _nct("sponsors.nct_id"),
    _text("agency_class", "INDUSTRY, NIH, FED, OTHER_GOV, NETWORK, INDIV, OTHER or UNKNOWN.",
          "sponsors.agency_class"),
    _text("lead_or_collaborator", "lead or collaborator.", "sponsors.lead_or_collaborator"),
    _text("name", "The organisation's name.", "sponsors.name"),
))

SNAPSHOTS = Table("snapshots", "With --history: one row per stored version of a trial, "
                  "oldest first.", "the store's snapshots", history=True, columns=(
    _id("The store's id of the snapshot (ctwatch history lists it, ctwatch diff --from "
        "takes it)."),
    _nct(None),
    Column("registry_version", "integer", "The registry's version number (0: the first "
           "registration); null when ctwatch never learnt it."),
    _text("registry_date", "The registry's date of that version."),
    Column("fetched_at", "text", "When ctwatch read it (ISO 8601, UTC).", required=True),
    Column("source", "text", "How it was read: api_v2, history, import…", required=True),
    _text("url", "Where it was read from."),
    Column("parser_version", "integer", "The version of ctwatch's parser that stored it.",
           required=True),
    Column("content_hash", "text", "SHA-256 of the normalized trial: equal content, equal "
           "hash.", required=True),
))

_FROM_TO = (
    Column("from_version", "integer", "Registry version number of the older snapshot."),
    Column("to_version", "integer", "Registry version number of the newer snapshot."),
    _text("from_date", "Registry date of the older snapshot."),
    _text("to_date", "Registry date of the newer snapshot."),
)

CHANGE_SETS = Table("change_sets", "With --history: one row per change set, the changes "
                    "ctwatch found between two consecutive snapshots of a trial (what an "
                    "alert is about).", "the store's change sets", history=True, columns=(
    _id("The store's id of the change set."),
    _nct(None),
    Column("from_snapshot_id", "integer", "The older snapshot.", references="snapshots.id",
           required=True),
    Column("to_snapshot_id", "integer", "The newer snapshot.", references="snapshots.id",
           required=True),
    *_FROM_TO,
    Column("created_at", "text", "When ctwatch found the changes (ISO 8601, UTC).",
           required=True),
    Column("top_severity", "text", "The most severe of its changes: critical, major, minor "
           "or info.", required=True),
    Column("change_count", "integer", "How many changes it holds (rows in changes).",
           required=True),
))

CHANGES = Table("changes", "With --history: one row per change of a change set, as stored "
                "when it was found.", "the store's change sets (changes[])", history=True,
                columns=(
    _id("The change's key: its change set's id × 1,000,000 + its position in it (from 1)."),
    _nct(None),
    Column("change_set_id", "integer", "The change set it belongs to.",
           references="change_sets.id", required=True),
    Column("position", "integer", "Its place in the change set, from 1.", required=True),
    Column("path", "text", "The field, machine-readable and stable "
           "(status.overall, eligibility.inclusion[<text>]).", required=True),
    _text("label", "The field in the registry's words (Overall Status, Inclusion criterion "
          "5)."),
    Column("kind", "text", "added, removed or changed.", required=True),
    _text("category", "The kind of field (status, eligibility, outcomes…)."),
    Column("severity", "text", "critical, major, minor or info.", required=True),
    _text("summary", "One line on what changed."),
    Column("old", "json", "The value before, as JSON text (the whole element for a removed "
           "one); null when there was none."),
    Column("new", "json", "The value after, as JSON text; null when there is none."),
    Column("flags", "json", "A JSON list of flags (outcome_changed_after_start)."),
    Column("bounds", "json", "A JSON list comparing the numeric bounds of an edited "
           "criterion: measure, verdict (stricter, looser, changed), old, new."),
    *_FROM_TO,
))

#: every table, in the order they are written and documented
TABLES: tuple[Table, ...] = (
    STUDIES, ELIGIBILITIES, CONDITIONS, KEYWORDS, DESIGN_GROUPS, INTERVENTIONS,
    INTERVENTION_OTHER_NAMES, DESIGN_GROUP_INTERVENTIONS, DESIGN_OUTCOMES, CRITERIA,
    THRESHOLDS, FACILITIES, SPONSORS, SNAPSHOTS, CHANGE_SETS, CHANGES,
)
BY_NAME = {table.name: table for table in TABLES}


def chosen(history: bool) -> tuple[Table, ...]:
    """The tables of an export, with or without the history tables."""
    return tuple(table for table in TABLES if history or not table.history)
