"""The classic study page (ct2/show/NCT…): the fixture built from the seed gives the trial the
API v2 record of the same content gives, in either generation of class names; its text
rendering gives it too, best effort; other pages are refused with a clear error."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
from bs4 import BeautifulSoup

from ctwatch import sources
from ctwatch.diff import diff
from ctwatch.errors import ParseError
from ctwatch.model import Outcome, Trial, schema
from tests.helpers import FIXTURES, MYELOMA, REALDATA, ctwatch

PAGE = FIXTURES / "NCT04083898" / "classic_page.html"
SEED = FIXTURES / "NCT04083898" / "classic_page.txt"
RESULTS_TABS = sorted((REALDATA / "classic_html").glob("*.html"))


def parse_one(raw: bytes, source: str = "-") -> Trial:
    [trial] = sources.parse(raw, source)
    return trial


@pytest.fixture(scope="module")
def api() -> Trial:
    return parse_one(MYELOMA.read_bytes())


@pytest.fixture(scope="module")
def page() -> Trial:
    return parse_one(PAGE.read_bytes(), str(PAGE))


def older_generation(html: bytes) -> bytes:
    """The page with the class names of the older classic site (indent2, body3, …)."""
    def strip(match: re.Match[bytes]) -> bytes:
        return b'class="' + re.sub(rb"\b(?:tr|ct)-", b"", match.group(1)) + b'"'
    return re.sub(rb'class="([^"]*)"', strip, html)


def test_the_page_and_the_api_record_give_the_same_trial_parts(api: Trial, page: Trial) -> None:
    assert sources.detect(PAGE.read_bytes()) == "classic_page"
    assert page.arms == api.arms  # labels, types, descriptions, links, dosing
    assert page.interventions == api.interventions
    assert page.outcomes == api.outcomes  # measure, description, time frame (and kind)
    assert page.eligibility == api.eligibility  # the criteria tree, its text, ages, sex
    assert page.design == api.design


def test_only_what_the_page_does_not_show_differs(api: Trial, page: Trial) -> None:
    # The page names the sponsor but not its agency class.
    assert [change.path for change in diff(api, page)] == ["sponsor.lead.class"]
    assert [e.message for e in jsonschema.Draft202012Validator(schema()).iter_errors(
        page.to_dict())] == []


def test_the_older_class_names_read_the_same(page: Trial) -> None:
    old = older_generation(PAGE.read_bytes())
    assert b"tr-indent2" not in old and b'class="indent2"' in old
    assert parse_one(old) == page


def test_the_text_rendering_is_read_best_effort(api: Trial) -> None:
    raw = SEED.read_bytes()
    assert sources.detect(raw) == "classic_text"
    text = parse_one(raw, str(SEED))
    assert (text.arms, text.interventions) == (api.arms, api.interventions)
    assert text.eligibility == api.eligibility  # nesting recovered from counting words
    assert (text.design, text.status) == (api.design, api.status)
    assert (text.locations, text.contacts, text.officials) == (
        api.locations, api.contacts, api.officials)
    # The text lost the outcome headings: every outcome is read as primary.
    assert [Outcome("primary", o.measure, o.description, o.time_frame)
            for o in api.outcomes] == list(text.outcomes)
    assert {c.path.rsplit(".", 1)[-1] for c in diff(api, text)} == {"kind", "lead"}


@pytest.mark.parametrize("path", RESULTS_TABS, ids=lambda p: p.name)
def test_a_results_tab_is_not_a_study_details_page(path: Path) -> None:
    with pytest.raises(ParseError, match=r"NCT\d{8}: not the Study Details tab of a classic "
                                         r"study page"):
        sources.parse(path.read_bytes(), str(path))


def test_a_page_that_is_not_a_study_page_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "saved.html"
    path.write_text("<!DOCTYPE html><html><head><title>Search results</title></head>"
                    "<body><h1>Find a study</h1></body></html>")
    result = ctwatch(tmp_path, "parse", str(path))
    assert result.code == 3 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"ctwatch: error: {path}: not a ClinicalTrials.gov study page (no NCT id found)"]


# -- the fixture itself --------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Nesting(HTMLParser):
    """Checks that every element is closed, in order, and that ids are unique."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.ids: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids += [value for name, value in attrs if name == "id" and value]
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids += [value for name, value in attrs if name == "id" and value]

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.errors.append(f"</{tag}> at line {self.getpos()[0]}")


def test_the_fixture_is_well_formed_html() -> None:
    checker = Nesting()
    checker.feed(PAGE.read_text(encoding="utf-8"))
    assert checker.errors == [] and checker.open == []
    assert len(checker.ids) == len(set(checker.ids))


# Words the fixture shows that the seed text does not: headings, captions and navigation,
# which the text rendering drops (reference/classic-page.md §11).
STRUCTURE = {
    "accessibility", "act", "additional", "additonal", "affiliation", "arms", "brief",
    "collaborators", "content", "copyright", "description", "design", "detail", "eligibility",
    "freedom", "glossary", "home", "interventions", "layout", "location", "locations", "main",
    "measures", "mesh", "name", "outcome", "privacy", "relevant", "role", "search", "skip",
    "sponsors", "summary", "table", "terms", "top",
}


def words(text: str) -> set[str]:
    return {w.strip(".,:;()[]|").lower() for w in text.split()} - {""}


def test_every_value_of_the_fixture_comes_from_the_seed() -> None:
    body = BeautifulSoup(PAGE.read_bytes(), "lxml").body
    assert body is not None
    assert words(body.get_text(" ")) - words(SEED.read_text(encoding="utf-8")) <= STRUCTURE
