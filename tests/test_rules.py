"""Default severities (DESIGN §7), the user's ``rules:`` and the path patterns they use."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
import yaml

from ctwatch import sources
from ctwatch.config import parse_config
from ctwatch.diff import diff
from ctwatch.errors import ConfigError
from ctwatch.model import Severity, Trial
from ctwatch.rules import IGNORED, Rules, default_for, matches
from tests.helpers import MYELOMA

SITE = "locations[Washington University School of Medicine, Saint Louis]"
ANC = "eligibility.inclusion[Absolute neutrophil count ≥ 1500/mm3]"


@pytest.fixture(scope="module")
def trial() -> Trial:
    return sources.parse(MYELOMA.read_bytes())[0]


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("status.completion", "status.completion", True),
    ("status.completion", "status.completion.date", True),
    ("status.completion", "status.completion_date", False),
    ("status.completion", "status", False),
    ("locations[*].contacts", f"{SITE}.contacts[Ravi Vij, M.D.].phone", True),
    ("locations[*].contacts", f"{SITE}.status", False),
    ("locations[*].status", f"{SITE}.contacts[Ravi Vij, M.D.].status", False),
    ("outcomes[*].time_frame", "outcomes[primary: Overall response rate (ORR)].time_frame", True),
    ("outcomes[primary: *]", "outcomes[primary: Overall response rate (ORR)].measure", True),
    ("outcomes[primary: *]", "outcomes[secondary: Overall survival (OS)]", False),
    ("eligibility.inclusion[*]", ANC, True),
    ("eligibility.inclusion[Absolute neutrophil*]", ANC, True),
    ("eligibility.*", ANC, True),
    ("eligibility.exclusion", ANC, False),
    ("status.*", "status.overall", True),
    ("*", "brief_title", True),
    ("arms[*]", "arms[Phase II: Isatuximab + Bendamustine + Prednisone (e.g. 1.5 mg)].label", True),
    ("eligibility.inclusion[[18F]FDG*]", "eligibility.inclusion[[18F]FDG PET-avid disease]", True),
    ("conditions[Multiple Myeloma]", "conditions[Multiple Myeloma]", True),
    ("conditions[Multiple Myeloma]", "conditions[Multiple Myeloma, Refractory]", False),
])
def test_pattern_matching(pattern: str, path: str, expected: bool) -> None:
    assert matches(pattern, path) is expected


@pytest.mark.parametrize(("path", "old", "new", "expected"), [
    ("status.overall", "RECRUITING", "TERMINATED", ("status", "critical")),
    ("status.overall", "RECRUITING", "SUSPENDED", ("status", "critical")),
    ("status.overall", "RECRUITING", "WITHDRAWN", ("status", "critical")),
    ("status.overall", "TERMINATED", "RECRUITING", ("status", "major")),
    ("status.overall", "RECRUITING", "COMPLETED", ("status", "major")),
    ("status.last_update_posted", "2022-06-15", "2023-01-01", ("bookkeeping", "ignored")),
    ("status.verified", "2022-06", "2023-01", ("bookkeeping", "ignored")),
    ("schema_version", 1, 2, ("bookkeeping", "ignored")),
    ("status.primary_completion.type", "ESTIMATED", "ACTUAL", ("dates", "major")),
    ("status.completion.date", "2028-10-28", "2029", ("dates", "minor")),
    ("outcomes[secondary: Overall survival (OS)].kind", "secondary", "primary",
     ("primary_outcome", "critical")),
    ("outcomes[secondary: Overall survival (OS)].kind", "secondary", "other",
     ("secondary_outcome", "major")),
    ("outcomes[other: Quality of life].description", "a", "b", ("other_outcome", "minor")),
    (ANC, "a", "b", ("eligibility", "major")),
    ("eligibility.std_ages", ["ADULT"], ["CHILD", "ADULT"], ("eligibility", "ignored")),
    ("sponsor.collaborators[Sanofi]", None, {"name": "Sanofi"}, ("collaborators", "minor")),
    (f"{SITE}.contacts[Ravi Vij, M.D.].phone", "1", "2", ("contacts", "info")),
    (f"{SITE}.status", "RECRUITING", "COMPLETED", ("locations", "info")),
    # results posted, and a certification that delays them, are major (issue 16)
    ("status.results_first_posted", None, "2024-05-07", ("results", "major")),
    ("status.disposition_first_submitted", None, "2024-02-07", ("results", "major")),
    ("status.results_first_submitted", None, "2024-03-20", ("results", "minor")),
    ("status.disposition_first_posted", None, "2024-02-08", ("results", "minor")),
    ("oversight.is_fda_regulated_drug", None, True, ("oversight", "minor")),
    ("oversight.is_us_export", False, True, ("oversight", "minor")),
])
def test_default_severities(path: str, old: Any, new: Any, expected: tuple[str, str]) -> None:
    assert default_for(path, old, new) == expected
    assert Rules.default().classify(path, old, new) == expected


def test_user_severity_overrides_the_default_but_not_the_category() -> None:
    rules = Rules.from_config({"severity": {"status.completion": "major",
                                            "locations[*].status": "minor"}})
    assert rules.classify("status.completion.date", "2028", "2029") == ("dates", "major")
    assert rules.classify(f"{SITE}.status", "A", "B") == ("locations", "minor")
    assert rules.classify("status.start.date", "2020", "2021") == ("dates", "minor")


def test_the_most_specific_severity_pattern_wins_whatever_the_order() -> None:
    rules = Rules.from_config({"severity": {"locations[*].status": "major", "locations": "minor",
                                            "locations[*]": "critical"}})
    assert rules.classify(f"{SITE}.status")[1] == "major"
    assert rules.classify(f"{SITE}.zip")[1] == "critical"


def test_ignore_drops_everything_below_a_pattern() -> None:
    rules = Rules.from_config({"ignore": ["locations[*].contacts", "officials"]})
    assert rules.classify(f"{SITE}.contacts[Ravi Vij, M.D.].phone")[1] == "ignored"
    assert rules.classify("officials[Ravi Vij, M.D.]")[1] == "ignored"
    assert rules.classify(f"{SITE}.status")[1] == "info"


def test_ignore_beats_a_severity_and_severity_can_ignore() -> None:
    rules = Rules.from_config({"ignore": ["status.completion"],
                               "severity": {"status.completion.date": "critical",
                                            "conditions": "ignored"}})
    assert rules.classify("status.completion.date")[1] == "ignored"
    assert rules.classify("conditions[Plasma Cell Neoplasm]")[1] == "ignored"


def test_a_user_severity_can_bring_back_what_is_ignored_by_default() -> None:
    rules = Rules.from_config({"severity": {"status.verified": "info"}})
    assert rules.classify("status.verified", "2022-06", "2023-01") == ("bookkeeping", "info")


def test_a_trials_own_ignore_list_adds_to_the_rules() -> None:
    rules = Rules.from_config({"ignore": ["contacts"]}).with_ignore(["locations"],
                                                                     key="trials[0].ignore")
    assert rules.ignore == ("contacts", "locations")
    with pytest.raises(ConfigError, match=r"^trials\[0\]\.ignore\[0\]: 'location' names"):
        Rules.default().with_ignore(["location"], key="trials[0].ignore")


def test_rules_from_the_design_example_config(trial: Trial) -> None:
    document = yaml.safe_load("""
        trials: [NCT04083898]
        rules:
          ignore: ["locations[*].contacts"]
          severity: {"status.completion": major}
    """)
    rules = Rules.from_config(parse_config(document).rules)
    site = trial.locations[0]
    edited = replace(
        trial, status=replace(trial.status, completion=replace(trial.status.completion,
                                                               date="2029-10-28")),
        locations=(replace(site, status="COMPLETED", contacts=site.contacts[:1]),))
    changes = diff(trial, edited, rules, date(2024, 6, 1))
    assert [(c.path, c.severity) for c in changes] == [
        ("status.completion.date", "major"), (f"{SITE}.status", "info")]


@pytest.mark.parametrize("level", ["info", "minor", "major", "critical", "ignored"])
def test_a_level_from_config_is_an_ordered_severity_or_ignored(level: str) -> None:
    # A severity from config.yaml must order changes as the defaults do, not as a string.
    _, severity = Rules.from_config({"severity": {"contacts": level}}).classify("contacts[J]")
    assert (severity, type(severity)) == (level, str if level == IGNORED else Severity)


@pytest.mark.parametrize("mapping", [None, {}, {"ignore": [], "severity": {}},
                                     {"ignore": None, "severity": None}])
def test_empty_rules_are_the_defaults(mapping: Any) -> None:
    assert Rules.from_config(mapping) == Rules.default() == Rules()


@pytest.mark.parametrize(("mapping", "message"), [
    ({"severity": {"status.completion": "huge"}},
     "rules.severity.status.completion: 'huge' is not one of critical, major, minor, info, "
     "ignored"),
    ({"severity": {"status.completion": "Major"}},
     "rules.severity.status.completion: 'Major' is not one of critical, major, minor, info, "
     "ignored"),
    ({"severity": {"status.completion": None}},
     "rules.severity.status.completion: None is not one of critical, major, minor, info, "
     "ignored"),
    ({"ignores": ["contacts"]},
     "rules.ignores: unknown key (expected one of: ignore, severity)"),
    ({"ignore": "contacts"}, "rules.ignore: must be a list of path patterns"),
    ({"ignore": ["contacts", 3]},
     "rules.ignore[1]: a path pattern must be a non-empty string (got 3)"),
    ({"ignore": [""]}, "rules.ignore[0]: a path pattern must be a non-empty string (got '')"),
    ({"severity": ["status.completion"]},
     "rules.severity: must be a mapping of path pattern: severity"),
    ({"severity": {5: "major"}},
     "rules.severity.5: a path pattern must be a non-empty string (got 5)"),
    ({"ignore": ["locations[*"]},
     "rules.ignore[0]: 'locations[*' is not a path pattern such as locations[*].contacts"),
    ({"ignore": ["status..overall"]},
     "rules.ignore[0]: 'status..overall' is not a path pattern such as locations[*].contacts"),
    ({"ignore": ["stauts.overall"]},
     "rules.ignore[0]: 'stauts.overall' names no part of a trial: 'stauts' is not one of "
     "nct_id, schema_version, org_study_id, brief_title, official_title, acronym, "
     "brief_summary, detailed_description, sponsor, conditions, keywords, status, design, "
     "oversight, arms, interventions, outcomes, eligibility, contacts, officials, locations"),
    ({"ignore": ["locations.contacts"]},
     "rules.ignore[0]: 'locations.contacts' names no part of a trial: locations is a list: "
     "write locations[*].contacts"),
    ({"ignore": ["locations[*].contact"]},
     "rules.ignore[0]: 'locations[*].contact' names no part of a trial: 'contact' is not one "
     "of facility, status, city, state, zip, country, contacts"),
    ({"severity": {"eligibility.inclusion[*].text": "minor"}},
     "rules.severity.eligibility.inclusion[*].text: 'eligibility.inclusion[*].text' names no "
     "part of a trial: nothing is below eligibility.inclusion[*]"),
    ({"severity": {"status[*]": "minor"}},
     "rules.severity.status[*]: 'status[*]' names no part of a trial: status is not a list"),
    ("ignore everything", "rules: must be a mapping with ignore: and severity:"),
])
def test_config_errors_name_the_key(mapping: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Rules.from_config(mapping)
    assert str(raised.value) == message


@pytest.mark.parametrize("pattern", [
    "status.*", "*", "sponsor.lead.class", "arms[*].description", "eligibility.inclusion[*]",
    "conditions[Multiple Myeloma]", "locations[*].contacts[*].phone",
    "outcomes[primary: *].time_frame", "sponsor.collaborators[*].name", "design.enrollment",
    "interventions[*].other_names",
])
def test_valid_patterns_are_accepted(pattern: str) -> None:
    assert Rules.from_config({"ignore": [pattern]}).ignore == (pattern,)
