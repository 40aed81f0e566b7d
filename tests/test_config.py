"""config.yaml: the documented keys load, and every mistake is a ConfigError naming its key."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from ctwatch import validate
from ctwatch.config import TOP_LEVEL_KEYS, Config, TrialEntry, load_config, parse_config
from ctwatch.errors import ConfigError
from ctwatch.fetch import ApiSettings

# DESIGN.md §10, with the e-mail channel's smtp mapping shortened to fit a line.
DESIGN_EXAMPLE = """\
store: ctwatch.db                       # or postgresql://user@host/db
api: {base_url: https://clinicaltrials.gov, timeout_s: 30, max_retries: 5, requests_per_second: 1}
trials: [NCT04083898]                   # or {id: NCT…, notify: [...], ignore: [...]}
searches:                               # watch a registry search: entered / left trials
  - {name: isatuximab-myeloma, query: {cond: multiple myeloma, intr: isatuximab}, follow: true}
  - {name: everything, query: {}, follow: true}     # the whole registry, incrementally
schedule: "0 7 * * 1-5"                 # cron expression for `ctwatch run`, or {every: 6h}
notify:
  - {kind: stdout}
  - {kind: file, path: alerts.jsonl}
  - {kind: email, to: [...], smtp: {host: ..., port: 587}, min_severity: major}
  - {kind: apprise, url_env: CTWATCH_TEAMS_URL, min_severity: critical}
rules:
  ignore: ["locations[*].contacts"]
  severity: {"status.completion": major}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_design_example_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, DESIGN_EXAMPLE))
    assert config.store == "ctwatch.db"
    assert config.api == ApiSettings(base_url="https://clinicaltrials.gov", timeout_s=30,
                                     max_retries=5, requests_per_second=1)
    assert config.trials == (TrialEntry("NCT04083898"),)
    assert [(s.name, s.follow, s.whole_registry) for s in config.searches] == [
        ("isatuximab-myeloma", True, False), ("everything", True, True)]
    assert config.schedule == "0 7 * * 1-5"
    assert [channel["kind"] for channel in config.notify] == ["stdout", "file", "email", "apprise"]
    assert config.rules["ignore"] == ["locations[*].contacts"]
    assert set(yaml.safe_load(DESIGN_EXAMPLE)) == set(TOP_LEVEL_KEYS) - {
        "max_failures", "store_password_env", "compliance_alerts"}
    assert config.max_failures == 3


def test_a_missing_file_gives_the_defaults_unless_required(tmp_path: Path) -> None:
    assert load_config(tmp_path / "config.yaml", required=False) == Config()
    with pytest.raises(ConfigError, match=r"config.yaml: no such configuration file"):
        load_config(tmp_path / "config.yaml")


@pytest.mark.parametrize("text", ["", "# nothing yet\n"])
def test_an_empty_file_gives_the_defaults(tmp_path: Path, text: str) -> None:
    assert load_config(write(tmp_path, text)) == Config()


def test_every_api_setting_is_a_config_key() -> None:
    values = {"base_url": "http://127.0.0.1:8080/", "timeout_s": 2.5, "max_retries": 0,
              "requests_per_second": 20, "backoff_s": 0.1, "backoff_max_s": 1,
              "deadline_s": 9, "page_size": 10, "user_agent": "ctwatch-test",
              "max_reply_mb": 8, "full_sweep_days": 0}
    assert set(values) == {f.name for f in dataclasses.fields(ApiSettings)}
    api = parse_config({"api": values}).api
    assert api.base_url == "http://127.0.0.1:8080"
    assert (api.timeout_s, api.max_retries, api.page_size) == (2.5, 0, 10)
    assert api.full_sweep_days == 0


@pytest.mark.parametrize("days", [-1, 367, "7", True, None])
def test_a_sweep_outside_a_year_is_refused(days: object) -> None:
    with pytest.raises(ConfigError, match=r"^api.full_sweep_days: must be a number of days "
                                          r"from 0 .* to 366"):
        parse_config({"api": {"full_sweep_days": days}})


def test_yaml_syntax_errors_name_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config.yaml: not valid YAML at line 3: expected ','"):
        load_config(write(tmp_path, "api:\n  timeout_s: [1\n"))


@pytest.mark.parametrize(("document", "message"), [
    (["api"], "the configuration must be a mapping"),
    ({"apis": {}}, "apis: unknown key (expected one of: store, api, trials"),
    ({"store": 3}, "store: must be a file name or a database URL"),
    ({"notify": {"kind": "stdout"}}, "notify: must be a list of channels"),
    ({"rules": ["x"]}, "rules: must be a mapping"),
    ({"api": [1]}, "api: must be a mapping"),
    ({"api": {"timeout": 3}}, "api.timeout: unknown key"),
    ({"api": {"timeout_s": -1}}, "api.timeout_s: must be a positive number (got -1)"),
    ({"api": {"timeout_s": 0}}, "api.timeout_s: must be a positive number (got 0)"),
    ({"api": {"timeout_s": "30"}}, "api.timeout_s: must be a positive number (got '30')"),
    ({"api": {"timeout_s": True}}, "api.timeout_s: must be a positive number (got True)"),
    ({"api": {"timeout_s": float("inf")}}, "api.timeout_s: must be a finite number"),
    ({"api": {"max_retries": -1}}, "api.max_retries: must be a whole number, 0 or more"),
    ({"api": {"max_retries": 1.5}}, "api.max_retries: must be a whole number, 0 or more"),
    ({"api": {"requests_per_second": 0}}, "api.requests_per_second: must be a positive number"),
    ({"api": {"deadline_s": None}}, "api.deadline_s: must be a positive number (got None)"),
    ({"api": {"page_size": 5000}}, "api.page_size: must be a whole number from 1 to 1000"),
    ({"api": {"base_url": "clinicaltrials.gov"}}, "api.base_url: must be an http(s) URL"),
    ({"api": {"base_url": "ftp://clinicaltrials.gov"}}, "api.base_url: must be an http(s) URL"),
    ({"api": {"base_url": "https://x.org/?a=1"}}, "api.base_url: must not have a query"),
    ({"api": {"base_url": "https://x.org:99999"}}, "api.base_url: has a port that is not a"),
    ({"api": {"base_url": "https://x.org:0"}}, "api.base_url: has a port that is not a"),
    ({"api": {"base_url": "https://x.org:https"}}, "api.base_url: has a port that is not a"),
    ({"api": {"base_url": "https://[::1"}}, "api.base_url: must be an http(s) URL"),
    ({"api": {"base_url": "https://x .org"}}, "api.base_url: must not contain spaces"),
    ({"api": {"base_url": "https://x.org/v2\n"}}, "api.base_url: must not contain spaces"),
    ({"api": {"base_url": "https://me:pw@x.org"}},
     "api.base_url: must not hold a user name or password: they would be printed in every"),
    ({"api": {"base_url": "https://token@x.org"}}, "api.base_url: must not hold a user name"),
    ({"api": {"user_agent": " "}}, "api.user_agent: must be a non-empty string"),
    ({"trials": "NCT04083898"}, "trials: must be a list of NCT ids"),
    ({"trials": ["NCT04083898", "NCT123"]}, "trials[1]: 'NCT123' is not an NCT id"),
    ({"trials": [4083898]}, "trials[0]: 4083898 is not an NCT id"),
    ({"trials": [{"nct": "NCT04083898"}]}, "trials[0].nct: unknown key (expected one of: id,"),
    ({"trials": [{"notify": []}]}, "trials[0].id: missing"),
    ({"trials": [{"id": "NCT0408389"}]}, "trials[0].id: 'NCT0408389' is not an NCT id"),
    ({"trials": [{"id": "NCT04083898", "ignore": "x"}]}, "trials[0].ignore: must be a list"),
    ({"trials": ["NCT04083898", "nct04083898"]}, "trials[1]: NCT04083898 is listed twice"),
])
def test_mistakes_are_config_errors_naming_the_key(document: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(document)
    assert str(raised.value).startswith(message)
    # the same problem, word for word, is one of those `ctwatch config check` lists
    assert str(raised.value) in map(str, validate.problems_of(document))


def test_a_password_in_the_base_url_is_not_repeated() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"api": {"base_url": "ftp://me:s3cret@x.org"}})
    assert "s3cret" not in str(raised.value)


def test_trials_accept_ids_and_mappings_and_upper_case_them() -> None:
    config = parse_config({"trials": [
        "nct04083898", {"id": "NCT00184067", "notify": [{"kind": "stdout"}], "ignore": ["x"]}]})
    assert config.trials == (
        TrialEntry("NCT04083898"),
        TrialEntry("NCT00184067", ({"kind": "stdout"},), ("x",)),
    )


@pytest.mark.parametrize("value", [0, -1, "3", True])
def test_max_failures_must_be_a_whole_number_from_one(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError, match=r"^max_failures: must be a whole number, 1 or more"):
        parse_config({"max_failures": value})
