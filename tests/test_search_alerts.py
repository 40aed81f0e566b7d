"""How a search's alert reads (issue 17): in text, Markdown and HTML, alone and in a digest
with a trial's change set — each new trial with its facts and link, each trial that left with
why, and the search's own page on the registry."""

from __future__ import annotations

import lxml.html
from markdown_it import MarkdownIt

from ctwatch.fetch import Listed
from ctwatch.model import Change, ChangeSet, SearchChangeSet, Severity
from ctwatch.notify import render
from ctwatch.notify.channels import event, event_id
from ctwatch.notify.present import subject
from ctwatch.searches import entered, left

SEARCH_URL = "https://clinicaltrials.gov/search?cond=multiple%20myeloma&intr=isatuximab"
NEW = Listed("NCT05123456", "Isatuximab <b>and</b> dexamethasone", ("PHASE2",), "RECRUITING",
             "Sanofi", "2026-11-30", "2026-11-30")
GONE = Listed("NCT04083898", "Isatuximab, Bendamustine, and Prednisone", ("PHASE1", "PHASE2"),
              "WITHDRAWN", "Washington University School of Medicine", "2019-09-10",
              "2026-11-30")


def search_change_set(*changes: Change, number: int = 7) -> SearchChangeSet:
    return SearchChangeSet(id=number, nct_id="", title="Search isatuximab-myeloma",
                           from_snapshot=0, to_snapshot=0, from_version=None, to_version=None,
                           from_date=None, to_date=None, created_at="2026-12-01T07:00:00Z",
                           changes=changes, search="isatuximab-myeloma", search_url=SEARCH_URL)


BOTH = search_change_set(entered(NEW, Severity.MAJOR),
                         left(GONE.nct_id, GONE, None, "status now Withdrawn", Severity.MAJOR))


def test_the_text_names_each_trial_its_facts_and_link() -> None:
    text = render.message_text([BOTH])

    assert text.splitlines()[0] == "search isatuximab-myeloma — 1 new trial, 1 left"
    assert ("[MAJOR] New trial: NCT05123456 — Isatuximab <b>and</b> dexamethasone (Phase 2, "
            "Recruiting, Sanofi; first posted 2026-11-30)") in text
    assert ("[MAJOR] Left the search: NCT04083898 — Isatuximab, Bendamustine, and Prednisone "
            "(Phase 1/Phase 2, Withdrawn, Washington University School of Medicine; first "
            "posted 2019-09-10): status now Withdrawn") in text
    assert "      https://clinicaltrials.gov/study/NCT05123456" in text
    assert f"  search: {SEARCH_URL}" in text
    assert "compare:" not in text and "record:" not in text


def test_the_html_links_each_trial_and_escapes_registry_text() -> None:
    page = lxml.html.fromstring(render.message_html([BOTH]))

    links = {a.get("href") for a in page.iter("a")}
    assert {"https://clinicaltrials.gov/study/NCT05123456",
            "https://clinicaltrials.gov/study/NCT04083898", SEARCH_URL} <= links
    assert not page.xpath("//b[text()='and']")  # the title's markup is text, not markup
    assert "Isatuximab <b>and</b> dexamethasone" in page.text_content()


def test_the_markdown_links_each_trial() -> None:
    html = MarkdownIt().render(render.message_markdown([BOTH]))
    page = lxml.html.fromstring(html)

    hrefs = [a.get("href") for a in page.iter("a")]
    assert "https://clinicaltrials.gov/study/NCT05123456" in hrefs
    assert SEARCH_URL in hrefs


def test_a_digest_with_a_trial_s_change_set_names_both() -> None:
    trial = ChangeSet(id=3, nct_id="NCT04083898", title="A trial", from_snapshot=1,
                      to_snapshot=2, from_version=11, to_version=12, from_date="2026-11-01",
                      to_date="2026-11-30", created_at="2026-12-01T07:00:00Z",
                      changes=(Change("status.overall", "changed", "RECRUITING", "TERMINATED",
                                      "status", Severity.CRITICAL),))
    alone = search_change_set(entered(NEW, Severity.MAJOR))

    assert subject([alone]) == "[ctwatch] MAJOR search isatuximab-myeloma: New trial NCT05123456"
    assert subject([alone, trial]) == (
        "[ctwatch] CRITICAL NCT04083898: Overall Status → Terminated — and 1 more change set "
        "(search isatuximab-myeloma)")
    text = render.message_text([alone, trial])
    assert "search isatuximab-myeloma" in text and "NCT04083898" in text


def test_a_search_s_change_sets_have_distinct_identities() -> None:
    first, second = search_change_set(number=1), search_change_set(number=2)

    assert event_id(first) != event_id(second)
    line = event(BOTH)
    assert line["search"] == "isatuximab-myeloma" and line["search_url"] == SEARCH_URL
    assert line["changes"][0]["new"]["url"] == "https://clinicaltrials.gov/study/NCT05123456"
