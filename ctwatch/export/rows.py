"""A trial's rows, table by table, from its published shape (``Trial.to_dict()``).

Rows are read from the shape rather than from :class:`~ctwatch.model.Trial` objects: the
store keeps that shape as JSON, and decoding it is a tenth of the cost of building the
dataclasses (issue 18's 10,000 trials). A key the stored object lacks (an older schema, a
Threshold field added since) reads as null. Each row is a dict keyed by the names of its
table's columns (:mod:`ctwatch.export.tables`), keyed as :mod:`ctwatch.export.keys` says.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ctwatch.export import keys
from ctwatch.export.tables import threshold_columns

Row = dict[str, Any]
Rows = dict[str, list[Row]]
SECTIONS = ("inclusion", "exclusion", "unclassified")
_BOUND = tuple(column.name for column in threshold_columns())  # the Threshold fields
_STD_AGES = {"child": "CHILD", "adult": "ADULT", "older_adult": "OLDER_ADULT"}


class _Numbering:
    """Keys of one trial's rows, counted table by table."""

    def __init__(self, nct_id: str) -> None:
        self.nct_id = nct_id
        self.trial = keys.trial_number(nct_id)
        self._first = keys.key(self.trial, 1, table="studies", owner=nct_id) - 1
        self._counts: dict[str, int] = {}

    def next(self, table: str) -> int:
        position = self._counts[table] = self._counts.get(table, 0) + 1
        return self._first + position

    def check(self) -> None:
        """Stop when a table took more positions than a key holds (checked once a trial, not
        at every row)."""
        for table, count in self._counts.items():
            keys.key(self.trial, count, table=table, owner=self.nct_id)


def trial_rows(trial: dict[str, Any], snapshot_id: int, fetched_at: str | None) -> Rows:
    """Every row of one trial (its latest version, stored as ``snapshot_id``), by table."""
    keyed = _Numbering(trial["nct_id"])
    arms = _arms(trial, keyed)
    interventions, other_names = _interventions(trial, keyed)
    criteria, thresholds = _criteria(trial, keyed)
    made = {
        "studies": [_study(trial, keyed, snapshot_id, fetched_at)],
        "eligibilities": [_eligibility(trial, keyed)],
        "conditions": _names(trial.get("conditions"), keyed, "conditions"),
        "keywords": _names(trial.get("keywords"), keyed, "keywords"),
        "design_groups": arms,
        "interventions": interventions,
        "intervention_other_names": other_names,
        "design_group_interventions": _links(trial, keyed, arms, interventions),
        "design_outcomes": [
            {"id": keyed.next("design_outcomes"), "nct_id": keyed.nct_id,
             "outcome_type": outcome.get("kind"), "measure": outcome.get("measure"),
             "time_frame": outcome.get("time_frame"), "description": outcome.get("description")}
            for outcome in trial.get("outcomes") or ()],
        "criteria": criteria,
        "thresholds": thresholds,
        "facilities": [
            {"id": keyed.next("facilities"), "nct_id": keyed.nct_id,
             "status": place.get("status"), "name": place.get("facility"),
             "city": place.get("city"), "state": place.get("state"), "zip": place.get("zip"),
             "country": place.get("country")}
            for place in trial.get("locations") or ()],
        "sponsors": _sponsors(trial, keyed),
    }
    keyed.check()
    return made


def _study(trial: dict[str, Any], keyed: _Numbering, snapshot_id: int,
           fetched_at: str | None) -> Row:
    status = trial.get("status") or {}
    design = trial.get("design") or {}
    oversight = trial.get("oversight") or {}
    enrollment = design.get("enrollment") or {}
    row = {"id": keyed.trial, "nct_id": keyed.nct_id, "snapshot_id": snapshot_id,
           "fetched_at": fetched_at, "org_study_id": trial.get("org_study_id"),
           "brief_title": trial.get("brief_title"), "official_title": trial.get("official_title"),
           "acronym": trial.get("acronym"), "overall_status": status.get("overall"),
           "why_stopped": status.get("why_stopped"), "verification_date": status.get("verified")}
    for moment in ("start", "primary_completion", "completion"):
        point = status.get(moment) or {}
        row[f"{moment}_date"], row[f"{moment}_date_type"] = point.get("date"), point.get("type")
    row |= {
        "study_first_posted_date": status.get("first_posted"),
        "last_update_posted_date": status.get("last_update_posted"),
        **{f"{name}_date": status.get(name) for name in (
            "results_first_submitted", "results_first_posted", "disposition_first_submitted",
            "disposition_first_posted")},
        "has_results": status.get("has_results"),
        "study_type": design.get("study_type"),
        "phase": "/".join(design.get("phases") or ()) or None,
        "enrollment": enrollment.get("count"), "enrollment_type": enrollment.get("type"),
        **{name: design.get(name) for name in ("allocation", "intervention_model", "masking",
                                               "primary_purpose")},
        **{name: oversight.get(name) for name in ("is_fda_regulated_drug",
                                                  "is_fda_regulated_device", "is_us_export")},
        "brief_summary": trial.get("brief_summary"),
        "detailed_description": trial.get("detailed_description"),
    }
    return row


def _eligibility(trial: dict[str, Any], keyed: _Numbering) -> Row:
    eligibility = trial.get("eligibility") or {}
    ages = set(eligibility.get("std_ages") or ())
    return {"id": keyed.trial, "nct_id": keyed.nct_id, "gender": eligibility.get("sex"),
            "minimum_age": eligibility.get("minimum_age"),
            "maximum_age": eligibility.get("maximum_age"),
            "healthy_volunteers": eligibility.get("healthy_volunteers"),
            **{column: age in ages for column, age in _STD_AGES.items()},
            "criteria": eligibility.get("text")}


def _names(names: Iterable[str] | None, keyed: _Numbering, table: str) -> list[Row]:
    return [{"id": keyed.next(table), "nct_id": keyed.nct_id, "name": name,
             "downcase_name": name.lower() if name else name} for name in names or ()]


def _arms(trial: dict[str, Any], keyed: _Numbering) -> list[Row]:
    return [{"id": keyed.next("design_groups"), "nct_id": keyed.nct_id,
             "group_type": arm.get("type"), "title": arm.get("label"),
             "description": arm.get("description")} for arm in trial.get("arms") or ()]


def _interventions(trial: dict[str, Any], keyed: _Numbering) -> tuple[list[Row], list[Row]]:
    interventions, other_names = [], []
    for intervention in trial.get("interventions") or ():
        ident = keyed.next("interventions")
        interventions.append({"id": ident, "nct_id": keyed.nct_id,
                              "intervention_type": intervention.get("type"),
                              "name": intervention.get("name"),
                              "description": intervention.get("description")})
        other_names += [{"id": keyed.next("intervention_other_names"), "nct_id": keyed.nct_id,
                         "intervention_id": ident, "name": name}
                        for name in intervention.get("other_names") or ()]
    return interventions, other_names


def _links(trial: dict[str, Any], keyed: _Numbering, arms: list[Row],
           interventions: list[Row]) -> list[Row]:
    """Arm → intervention links by key, from both sides of the record's own links: an arm's
    intervention names and an intervention's arm labels. A name that is no intervention's
    (or a label no arm's) links nothing; a name two interventions share links both."""
    by_name: dict[str | None, list[int]] = {}
    for row in interventions:
        by_name.setdefault(row["name"], []).append(row["id"])
    by_label: dict[str | None, list[int]] = {}
    for row in arms:
        by_label.setdefault(row["title"], []).append(row["id"])
    pairs: dict[tuple[int, int], None] = {}  # ordered: arm by arm, as the record lists them
    for arm, row in zip(trial.get("arms") or (), arms, strict=True):
        for name in arm.get("interventions") or ():
            pairs.update(((row["id"], ident), None) for ident in by_name.get(name, ()))
    for intervention, row in zip(trial.get("interventions") or (), interventions, strict=True):
        for label in intervention.get("arms") or ():
            pairs.update(((ident, row["id"]), None) for ident in by_label.get(label, ()))
    return [{"id": keyed.next("design_group_interventions"), "nct_id": keyed.nct_id,
             "design_group_id": arm, "intervention_id": given}
            for arm, given in sorted(pairs)]


def _criteria(trial: dict[str, Any], keyed: _Numbering) -> tuple[list[Row], list[Row]]:
    """The criterion trees, flattened depth first, and the thresholds of each criterion."""
    criteria: list[Row] = []
    thresholds: list[Row] = []
    eligibility = trial.get("eligibility") or {}

    def walk(items: Iterable[dict[str, Any]], section: str, parent: int | None,
             depth: int) -> None:
        for item in items:
            ident = keyed.next("criteria")
            criteria.append({"id": ident, "nct_id": keyed.nct_id, "positional_id": item.get("id"),
                             "parent_id": parent, "section": section, "depth": depth,
                             "text": item.get("text")})
            for bound in item.get("thresholds") or ():
                thresholds.append({"id": keyed.next("thresholds"), "nct_id": keyed.nct_id,
                                   "criterion_id": ident, "section": section,
                                   "positional_id": item.get("id"),
                                   **{name: bound.get(name) for name in _BOUND}})
            walk(item.get("children") or (), section, ident, depth + 1)

    for section in SECTIONS:
        walk(eligibility.get(section) or (), section, None, 1)
    return criteria, thresholds


def _sponsors(trial: dict[str, Any], keyed: _Numbering) -> list[Row]:
    sponsor = trial.get("sponsor") or {}
    parties = [("lead", sponsor.get("lead"))] if sponsor.get("lead") else []
    parties += [("collaborator", party) for party in sponsor.get("collaborators") or ()]
    return [{"id": keyed.next("sponsors"), "nct_id": keyed.nct_id,
             "agency_class": party.get("class"), "lead_or_collaborator": role,
             "name": party.get("name")} for role, party in parties]
