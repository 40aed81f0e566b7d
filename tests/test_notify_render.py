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
    with_nct_id,
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
    assert "[MAJOR] Overall Status: Recruiting → Active, not recruiting" in text
    # an edited criterion: named by its number, shown whole, old and new, changed words marked
    assert ("  [MAJOR] Exclusion criterion 7 changed\n"
            "      was: Receiving any other investigational agents within «14» days prior to "
            "enrollment.\n"
            "      now: Receiving any other investigational agents within «28» days prior to "
            "enrollment.\n") in text
    assert "status.overall" not in text and "ACTIVE_NOT_RECRUITING" not in text
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
                  if li.get("data-path") == "status.overall")
    assert by_class(status, "what")[0].text_content() == "Overall Status"
    assert [status.xpath(f".//{tag}")[0].text_content() for tag in ("del", "ins")] == [
        "Recruiting", "Active, not recruiting"]
    assert COMPARE in page.xpath("//a/@href")
    assert "v12 of 2022-06-15 → v13 of 2022-06-15" in page.text_content()


def test_an_edited_criterion_is_shown_whole_with_its_changed_words_marked(
        change_set: ChangeSet) -> None:
    page = lxml.html.fromstring(render.message_html([change_set]))
    [item] = [li for li in by_class(page, "change", "li")
              if li.get("data-path", "").startswith("eligibility.exclusion")]
    assert by_class(item, "what")[0].text_content() == "Exclusion criterion 7 changed"
    [was], [now] = by_class(item, "was"), by_class(item, "now")
    assert [(el.tag, el.text) for el in was.xpath(".//del | .//ins")] == [("del", "14")]
    assert [(el.tag, el.text) for el in now.xpath(".//del | .//ins")] == [("ins", "28")]
    assert " ".join(was.text_content().split()) == f"was {E7}"
    assert " ".join(now.text_content().split()) == f"now {E7.replace('14', '28')}"
    markdown = render.message_markdown([change_set])
    assert ("- **Exclusion criterion 7** changed\n"
            "  - was: Receiving any other investigational agents within ~~14~~ days prior to "
            "enrollment.\n"
            "  - now: Receiving any other investigational agents within **28** days prior to "
            "enrollment.\n") in markdown


def test_a_long_description_is_shown_word_by_word(db: Store) -> None:
    summary = " ".join(f"Visit {n} checks the response." for n in range(1, 30))
    assert len(summary) > present.WHOLE_TEXT
    trial = replace(myeloma(), brief_summary=summary)
    edited = replace(trial, brief_summary=summary.replace("9 checks the", "9 checks THE", 1))
    change_set = save_change(db, trial, edited)
    [view] = present.alert(change_set).changes
    assert view.label == "Brief Summary" and not (view.was or view.now)
    assert [(w.op, w.text) for w in view.words if w.op in ("del", "ins")] == [
        ("del", "the"), ("ins", "THE")]
    assert ("[MINOR] Brief Summary: … «checks the response.» → «checks THE response.» …"
            in render.message_text([change_set]))
    assert "~~the~~ **THE**" in render.message_markdown([change_set])


def test_outcome_changed_after_start_is_spelled_out(change_set: ChangeSet) -> None:
    sentence = "Outcome changed after study start"
    assert sentence in render.message_text([change_set])
    assert sentence in render.message_markdown([change_set])
    page = lxml.html.fromstring(render.message_html([change_set]))
    assert any(sentence in flag.text_content() for flag in by_class(page, "flag"))


def test_the_subject_says_what_changed(db: Store, change_set: ChangeSet) -> None:
    assert render.subject([change_set]) == (
        f"[ctwatch] CRITICAL {TRIAL}: Primary Outcome Measure: Overall response rate (ORR) "
        "(Phase II only) — Time Frame → 12 months and 3 more changes")
    other = replace(change_set, nct_id="NCT00184067", changes=change_set.changes[-1:])
    # a digest names its most severe change set first, whatever the order given
    assert render.subject([other, change_set]) == (
        f"[ctwatch] CRITICAL {TRIAL}: Primary Outcome Measure: Overall response rate (ORR) "
        "(Phase II only) — Time Frame → 12 months — and 1 more change set (NCT00184067)")


def test_results_posted_are_a_major_change_with_a_link_to_them(db: Store) -> None:
    trial = myeloma()
    change_set = save_change(db, trial, replace(trial, status=replace(trial.status,
                                                                      has_results=True)))
    [change] = change_set.changes
    assert (change.path, change.old, change.new) == ("status.has_results", False, True)
    assert (change.severity, change.category, change.label) == ("major", "results",
                                                                "Has Results")
    results = f"https://clinicaltrials.gov/study/{TRIAL}?tab=results"
    assert render.subject([change_set]) == f"[ctwatch] MAJOR {TRIAL}: Results posted"
    text = render.message_text([change_set])
    assert "[MAJOR] Has Results: No → Yes (results posted)" in text
    assert f"  results: {results}\n" in text
    assert f"[Posted results]({results})" in render.message_markdown([change_set])
    page = lxml.html.fromstring(render.message_html([change_set]))
    assert page.xpath(f"//a[@href='{results}']/text()") == [
        "Posted results on ClinicalTrials.gov", "Posted results"]


def test_results_first_posted_is_a_major_change_with_a_link_to_them(db: Store) -> None:
    # A record whose results appear: "Has Results" and the dates they were submitted and
    # posted (issue 16); the posting leads, linked to the results.
    trial = myeloma()
    posted = replace(trial, status=replace(trial.status, has_results=True,
                                           results_first_submitted="2024-03-20",
                                           results_first_posted="2024-05-07"))
    change_set = save_change(db, trial, posted)
    assert [(c.path, c.severity, c.label) for c in change_set.changes] == [
        ("status.has_results", "major", "Has Results"),
        ("status.results_first_posted", "major", "Results First Posted"),
        ("status.results_first_submitted", "minor", "Results First Submitted")]
    results = f"https://clinicaltrials.gov/study/{TRIAL}?tab=results"
    assert render.subject([change_set]) == (
        f"[ctwatch] MAJOR {TRIAL}: Results posted and 2 more changes")
    text = render.message_text([change_set])
    assert "[MAJOR] Results First Posted: (none) → 2024-05-07 (results posted)" in text
    assert f"  results: {results}\n" in text
    # a record that said "Has Results" without a posting date, then gives one
    other = with_nct_id(posted, "NCT00000002")
    undated = replace(other, status=replace(other.status, results_first_posted=None))
    alone = save_change(db, undated, other)
    assert [(c.path, c.severity) for c in alone.changes] == [
        ("status.results_first_posted", "major")]
    assert render.subject([alone]) == "[ctwatch] MAJOR NCT00000002: Results posted"
    moved = save_change(db, posted, replace(posted, status=replace(
        posted.status, results_first_posted="2024-05-08")))
    assert render.subject([moved]) == (
        f"[ctwatch] MAJOR {TRIAL}: Results First Posted → 2024-05-08")


def test_a_digest_opens_with_an_overview_most_severe_first(db: Store,
                                                           change_set: ChangeSet) -> None:
    other = save_change(db, with_nct_id(myeloma(), "NCT00000002"),
                        with_status(with_nct_id(myeloma(), "NCT00000002"), "COMPLETED"))
    minor = replace(change_set, id=99, nct_id="NCT00000003", changes=change_set.changes[-1:])
    given = [minor, other, change_set]  # as the outbox gave them: not by severity
    text = render.message_text(given)
    overview = text.split("\n\n")[1].splitlines()
    assert [row.split()[:3] for row in overview] == [
        ["severity", "trial", "changes"], ["CRITICAL", TRIAL, "4"],
        ["MAJOR", "NCT00000002", "1"], ["MINOR", "NCT00000003", "1"]]
    assert overview[1].endswith("Primary Outcome Measure: Overall response rate (ORR) (Phase II "
                                "only) — Time Frame → 12 months")
    assert overview[2].endswith("Overall Status → Completed")
    blocks = [text.index(f"{nct} — ") for nct in (TRIAL, "NCT00000002", "NCT00000003")]
    assert blocks == sorted(blocks)  # the change sets follow in the overview's order
    page = lxml.html.fromstring(render.message_html(given))
    [table] = page.xpath("//table[@class='overview']")
    assert [row.xpath("string(td[2])") for row in table.xpath(".//tbody/tr")] == [
        TRIAL, "NCT00000002", "NCT00000003"]
    assert table.xpath(".//a/@href")[0] == f"#change-set-{change_set.id}"
    assert page.xpath(f"//section[@id='change-set-{change_set.id}']")
    markdown = render.message_markdown(given)
    assert "| Severity | Trial | Changes | Most severe change |" in markdown
    assert markdown.index(f"| CRITICAL | {TRIAL} |") < markdown.index("| MAJOR | NCT00000002 |")


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


def test_hostile_text_stays_one_harmless_subject_line(db: Store) -> None:
    trial = myeloma()
    stopped = replace(trial, status=replace(trial.status, overall="TERMINATED",
                                            why_stopped=f"{HOSTILE}\nBcc: x@example.org"))
    subject = render.subject([save_change(db, trial, stopped)])
    assert subject.startswith(f"[ctwatch] CRITICAL {TRIAL}: Overall Status → Terminated (<script>")
    assert "\n" not in subject and "{{ 7*7 }}" in subject


def test_templates_are_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["ctwatch"]
    templates = resources.files("ctwatch") / "notify" / "templates"
    names = [f"notify/templates/{entry.name}" for entry in templates.iterdir()]
    assert names and all(any(fnmatch(name, glob) for glob in globs) for name in names)
