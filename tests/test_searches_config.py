"""``searches:`` in config.yaml (issue 17): the shape the README shows is read as written, and
every problem is one line naming its key — in ``ctwatch config check`` and in ``check`` alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ctwatch import config, validate
from ctwatch.errors import ConfigError
from ctwatch.rules import Rules
from ctwatch.searches import search_entries
from tests.helpers import ctwatch
from tests.test_docs import code_blocks

#: the README's example (issue 17's exact shape), and a channel its notify: names
README_SHAPE = next(block for block in code_blocks("yaml") if block.startswith("searches:"))
CHANNELS = "notify:\n  - {kind: stdout, name: email-ra}\n"


def test_the_issue_s_shape_is_read_as_written() -> None:
    document = yaml.safe_load(README_SHAPE + CHANNELS)
    found = config.parse_config(document)

    first, everything = found.searches
    assert first.name == "isatuximab-myeloma" and first.follow and first.notify == ("email-ra",)
    assert dict(first.query.params) == {
        "query.cond": "multiple myeloma", "query.intr": "isatuximab",
        "filter.overallStatus": "RECRUITING,NOT_YET_RECRUITING"}
    assert not first.whole_registry
    assert everything.whole_registry and everything.query.params == ()
    assert found.trials == ()  # searches alone are something to watch
    assert validate.problems_of(document) == []


def test_a_pasted_search_url_is_the_same_search_as_its_parameters() -> None:
    url, written = search_entries([
        {"name": "pasted", "url": "https://clinicaltrials.gov/search?cond=multiple%20myeloma"
                                  "&intr=isatuximab"},
        {"name": "written", "query": {"cond": "multiple myeloma", "intr": "isatuximab"}}])
    assert not isinstance(url, ConfigError) and not isinstance(written, ConfigError)
    assert url.query.key == written.query.key


@pytest.mark.parametrize(("entry", "key", "words"), [
    ("isatuximab", "searches[0]", "must be a mapping"),
    ({"query": {}}, "searches[0].name", "must be a name"),
    ({"name": "NCT04083898", "query": {}}, "searches[0].name", "not an NCT id"),
    ({"name": "has space", "query": {}}, "searches[0].name", "must be a name"),
    ({"name": "s"}, "searches[0].query", "missing"),
    ({"name": "s", "query": {}, "colour": "red"}, "searches[0].colour", "unknown key"),
    ({"name": "s", "query": {"drug": "x"}}, "searches[0].query.drug", "cond"),
    ({"name": "s", "query": {}, "filter": {"overallStatus": ["RECRUITNG"]}},
     "searches[0].filter.overallStatus", "RECRUITNG"),
    ({"name": "s", "query": "cond=x"}, "searches[0].query", "mapping"),
    ({"name": "s", "query": {}, "follow": "yes"}, "searches[0].follow", "true or false"),
    ({"name": "s", "query": {}, "notify": "stdout"}, "searches[0].notify", "list"),
    ({"name": "s", "query": {}, "url": "https://clinicaltrials.gov/search?cond=x"},
     "searches[0].url", "not both"),
    ({"name": "s", "url": "https://clinicaltrials.gov/search?cond=x&bogus=1"},
     "searches[0].url", "bogus"),
])
def test_each_problem_names_its_key(entry: Any, key: str, words: str) -> None:
    [problem] = list(search_entries([entry]))

    assert isinstance(problem, ConfigError)
    assert problem.key == key, str(problem)
    assert words in str(problem)


def test_a_second_search_of_one_name_is_refused() -> None:
    found = list(search_entries([{"name": "s", "query": {}}, {"name": "s", "query": {}}]))

    assert isinstance(found[1], ConfigError) and found[1].key == "searches[1].name"


def test_a_search_s_notify_must_name_a_channel(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "store": str(tmp_path / "ctwatch.db"), "notify": [{"kind": "stdout"}],
        "searches": [{"name": "s", "query": {"cond": "x"}, "notify": ["email-ra"]}]}))

    run = ctwatch(tmp_path, "--config", str(path), "config", "check")

    assert run.code == 2
    assert "searches[0].notify[0]" in run.stderr and "email-ra" in run.stderr


def test_rules_name_a_search_s_changes() -> None:
    rules = Rules.from_config({"severity": {"search.entered": "critical", "search.left": "info"}})

    assert rules.classify("search.entered[NCT04083898]") == ("search", "critical")
    assert rules.classify("search.left[NCT04083898]") == ("search", "info")
    assert Rules.default().classify("search.entered[NCT04083898]") == ("search", "major")
    with pytest.raises(ConfigError, match="'joined' is not one of entered, left"):
        Rules.from_config({"severity": {"search.joined": "minor"}})
