"""Alert rendering: text, Markdown and HTML from the shipped templates, over real changes of
NCT04083898 — and hostile registry text made harmless in every format."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from dataclasses import replace
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import lxml.html
import pytest
from lxml import etree
from markdown_it import MarkdownIt

from ctwatch.model import ChangeSet, Outcome, Trial
from ctwatch.notify import feed, present, render
from ctwatch.store import Store
from tests.helpers import ROOT
from tests.test_notify_support import (
    HOSTILE,
    TRIAL,
    myeloma,
    save_change,
    with_exclusion,
    with_status,
    with_title,
)

E7 = "Receiving any other investigational agents within 14 days prior to enrollment."
COMPARE = f"https://clinicaltrials.gov/study/{TRIAL}?tab=history&a=13&b=14"


def by_class(tree: lxml.html.HtmlElement, name: str, tag: str = "*") -> list[
        lxml.html.HtmlElement]:
    """The elements under ``tree`` having the CSS class ``name``."""
    return tree.xpath(f".//{tag}[contains(concat(' ', normalize-space(@class), ' '), "
                      f"' {name} ')]")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    with Store(str(tmp_path / "ctwatch.db")) as store:
        yield store


def amended(trial: Trial) -> Trial:
    """Status (major), a longer criterion text (major), a primary outcome's time frame
    (critical, after the start) and the title (minor)."""
    exclusion = tuple(replace(c, text=c.text.replace("14 days", "28 days")) if c.text == E7
                      else c for c in trial.eligibility.exclusion)
    outcomes = tuple(replace(o, time_frame="12 months") if o.kind == "primary" and
                     o.time_frame == "6 months" else o for o in trial.outcomes)
    trial = replace(trial, outcomes=outcomes,
                    eligibility=replace(trial.eligibility, exclusion=exclusion))
    return with_title(with_status(trial, "ACTIVE_NOT_RECRUITING"), trial.brief_title + " (IBP)")


@pytest.fixture
def change_set(db: Store) -> ChangeSet:
    trial = myeloma()
    return save_change(db, trial, amended(trial))


@pytest.fixture
def hostile(db: Store) -> ChangeSet:
    trial = myeloma()
    return save_change(db, trial, with_exclusion(with_title(trial, HOSTILE), HOSTILE))


def test_text_shows_each_change_old_to_new_with_versions_and_links(change_set: ChangeSet) -> None:
    text = render.message_text([change_set])
    assert text.startswith(f"{TRIAL} — Isatuximab, Bendamustine, and Prednisone")
    assert "registry v12 of 2022-06-15 → v13 of 2022-06-15" in text
    assert "[MAJOR] status.overall: RECRUITING → ACTIVE_NOT_RECRUITING" in text
    assert "«within 14 days» → «within 28 days»" in text
    assert f"record: https://clinicaltrials.gov/study/{TRIAL}" in text
    assert f"compare: {COMPARE}" in text


def test_changes_are_grouped_by_severity_most_severe_first(change_set: ChangeSet) -> None:
    page = lxml.html.fromstring(render.message_html([change_set]))
    groups = [h.text_content().split(" (")[0] for h in by_class(page, "group", "h4")]
    assert groups == ["Critical", "Major", "Minor"]
    markdown = render.message_markdown([change_set])
    heads = [line for line in markdown.splitlines() if line in ("**Critical**", "**Major**",
                                                                "**Minor**", "**Info**")]
    assert heads == ["**Critical**", "**Major**", "**Minor**"]


def test_html_shows_old_and_new_and_links_to_the_comparison_view(change_set: ChangeSet) -> None:
    page = lxml.html.fromstring(render.message_html([change_set]))
    status = next(li for li in by_class(page, "change", "li")
                  if by_class(li, "path")[0].text_content() == "status.overall")
    assert [status.xpath(f".//{tag}")[0].text_content() for tag in ("del", "ins")] == [
        "RECRUITING", "ACTIVE_NOT_RECRUITING"]
    assert COMPARE in page.xpath("//a/@href")
    assert "v12 of 2022-06-15 → v13 of 2022-06-15" in page.text_content()


def test_a_long_text_is_shown_word_by_word(change_set: ChangeSet) -> None:
    page = lxml.html.fromstring(render.message_html([change_set]))
    [words] = [by_class(li, "values")[0] for li in by_class(page, "change", "li")
               if by_class(li, "path")[0].text_content().startswith("eligibility.exclusion")]
    assert [(el.tag, el.text) for el in words.xpath(".//del | .//ins")] == [("del", "14"),
                                                                           ("ins", "28")]
    assert " ".join(words.text_content().split()) == (
        "Receiving any other investigational agents within 14 28 days prior to enrollment.")
    assert "within ~~14~~ **28** days" in render.message_markdown([change_set])


def test_outcome_changed_after_start_is_spelled_out(change_set: ChangeSet) -> None:
    sentence = "Outcome changed after study start"
    assert sentence in render.message_text([change_set])
    assert sentence in render.message_markdown([change_set])
    page = lxml.html.fromstring(render.message_html([change_set]))
    assert any(sentence in flag.text_content() for flag in by_class(page, "flag"))


def test_subject_names_the_trials_and_the_top_severity(db: Store,
                                                       change_set: ChangeSet) -> None:
    assert render.subject([change_set]) == (
        f"[ctwatch] CRITICAL: {TRIAL} changed — Isatuximab, Bendamustine, and Prednisone in "
        "Refractory Multiple Myeloma (IBP)")
    other = replace(change_set, nct_id="NCT00184067", changes=change_set.changes[-1:])
    assert render.subject([other, change_set]) == (
        f"[ctwatch] CRITICAL: 2 changes in 2 trials: NCT00184067, {TRIAL}")


def test_unknown_registry_versions_link_to_the_history_tab(change_set: ChangeSet) -> None:
    dated = replace(change_set, from_version=None, to_version=None)
    text = render.message_text([dated])
    assert "registry 2022-06-15 → 2022-06-15" in text
    assert f"history: https://clinicaltrials.gov/study/{TRIAL}?tab=history\n" in text + "\n"


def test_outcome_elements_read_as_measure_and_time_frame() -> None:
    outcome = Outcome("primary", "Overall response rate", None, "6 months").to_dict()
    assert present.shown(outcome) == "Overall response rate (time frame: 6 months)"


# -- hostile registry text ----------------------------------------------------------------------


def _report(change_set: ChangeSet, db: Store) -> str:
    return render.report_html(TRIAL, db.snapshots(TRIAL), db.change_sets(TRIAL))


def _feed_content(change_set: ChangeSet, db: Store) -> str:
    document = etree.fromstring(feed.atom([change_set]))
    return document.find("{http://www.w3.org/2005/Atom}entry/"
                         "{http://www.w3.org/2005/Atom}content").text


HTML_RENDERINGS: dict[str, Callable[[ChangeSet, Store], str]] = {
    "e-mail": lambda change_set, db: render.message_html([change_set]),
    "fragment": lambda change_set, db: render.html_fragment(change_set),
    "diff page": lambda change_set, db: render.diff_html(change_set),
    "report page": _report,
    "feed entry": _feed_content,
}


@pytest.mark.parametrize("name", HTML_RENDERINGS)
def test_hostile_text_is_escaped_in_every_html_rendering(hostile: ChangeSet, db: Store,
                                                         name: str) -> None:
    html = HTML_RENDERINGS[name](hostile, db)
    assert "<script" not in html and "<img" not in html
    tree = lxml.html.fromstring(html)
    assert tree.xpath("//script | //img | //*[@onerror]") == []
    assert not [a for a in tree.xpath("//a/@href") if a.startswith("javascript")]
    text = tree.text_content()
    assert "<script>alert('x')</script>" in text  # shown, as text
    assert "{{ 7*7 }}" in text and "49" not in text.replace("2024", "")


def test_hostile_text_is_inert_in_markdown(hostile: ChangeSet) -> None:
    markdown = render.message_markdown([hostile])
    html = MarkdownIt("commonmark").render(markdown)  # raw HTML allowed, as most renderers do
    tree = lxml.html.fromstring(f"<div>{html}</div>")
    assert tree.xpath("//script | //img | //*[@onerror]") == []
    assert [a for a in tree.xpath("//a/@href") if not a.startswith("https://clinicaltrials.gov")
            ] == []
    assert "<script>alert('x')</script>" in tree.text_content()
    assert "{{ 7*7 }}" in tree.text_content()


def test_hostile_text_stays_one_harmless_subject_line(hostile: ChangeSet) -> None:
    subject = render.subject([hostile])
    assert "\n" not in subject and "{{ 7*7 }}" in subject


def test_templates_are_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["ctwatch"]
    templates = resources.files("ctwatch") / "notify" / "templates"
    names = [f"notify/templates/{entry.name}" for entry in templates.iterdir()]
    assert names and all(any(fnmatch(name, glob) for glob in globs) for name in names)
