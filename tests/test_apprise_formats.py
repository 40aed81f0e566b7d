"""The apprise channel writes each target's own format (issue 16): one change set sent through
apprise's real plugins to receivers on 127.0.0.1 — a Markdown target (Rocket.Chat's webhook),
an HTML target (e-mail, to an aiosmtpd server), a text target (ntfy), and json:// asked for
each format with ``?format=`` — reads right in each: Markdown where Markdown is rendered, HTML
where HTML is, and no markup at all where text is shown as it comes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from markdown_it import MarkdownIt

from ctwatch import sources
from ctwatch.model import ChangeSet
from ctwatch.notify import render
from ctwatch.notify.chat import AppriseChannel
from ctwatch.store import Store
from tests.helpers import MYELOMA
from tests.test_notify_support import (
    HOSTILE,
    TRIAL,
    Hook,
    Mailbox,
    free_port,
    http_endpoint,
    save_change,
    smtp_server,
)

ANC = "Absolute neutrophil count ≥ 1500/mm3"
SUBJECT = (f"[ctwatch] CRITICAL {TRIAL}: Overall Status → Terminated (Slow accrual) and 2 more "
           "changes")
#: Markdown that must never reach a target that shows text or renders HTML
MARKDOWN_MARKS = ("~~", "**", "\\[", "](http")


def amended(why: str = "Slow accrual") -> tuple[Any, Any]:
    """The trial, and a version of it terminated for ``why`` whose neutrophil threshold is
    lowered (parsed from the record's own text, so the thresholds are the parser's)."""
    raw = MYELOMA.read_bytes()
    old = sources.parse(raw)[0]
    new = sources.parse(raw.replace(ANC.encode(), ANC.replace("1500", "1000").encode()))[0]
    status = replace(new.status, overall="TERMINATED", why_stopped=why)
    return old, replace(new, status=status)


@pytest.fixture
def change_set(tmp_path: Path) -> ChangeSet:
    with Store(str(tmp_path / "ctwatch.db")) as db:
        return save_change(db, *amended())


@pytest.fixture
def hook() -> Iterator[Hook]:
    with http_endpoint(Hook()) as endpoint:
        yield endpoint


def loopback(hook: Hook) -> str:
    return hook.url.removeprefix("http://")


def sent(hook: Hook, change_set: ChangeSet, url: str) -> dict[str, Any]:
    """What the receiver got from the channel for ``url``: the posted JSON object."""
    AppriseChannel("chat", url).send([change_set])
    [(_, _, body)] = hook.requests
    return json.loads(body)


def words(element: lxml.html.HtmlElement) -> str:
    return " ".join(element.text_content().split())


def rendered_markdown(text: str) -> lxml.html.HtmlElement:
    html = MarkdownIt("commonmark").enable("strikethrough").render(text)
    return lxml.html.fromstring(f"<div>{html}</div>")


def assert_markdown_reads_right(text: str) -> None:
    assert "- **Overall Status**: ~~Recruiting~~ → **Terminated**" in text
    assert ("- **Inclusion criterion 6.1**: Absolute neutrophil count ≥ 1500/mm3 → ≥ 1000/mm3 "
            "(looser)") in text
    tree = rendered_markdown(text)
    item = next(li for li in tree.iter("li") if words(li).startswith("Overall Status"))
    assert [(el.tag, el.text_content()) for el in item.iter("s", "strong")] == [
        ("strong", "Overall Status"), ("s", "Recruiting"), ("strong", "Terminated")]
    criterion = next(li for li in tree.iter("li")
                     if words(li).startswith("Inclusion criterion 6.1"))
    assert ("was: Absolute neutrophil count ≥ 1500/mm3" in words(criterion)
            and [s.text for s in criterion.iter("s")] == ["1500/mm3"])
    assert [b.text for b in criterion.iter("strong")][-1] == "1000/mm3"


def assert_html_reads_right(html: str) -> None:
    page = lxml.html.fromstring(html)
    status = page.xpath("//li[@data-path='status.overall']")[0]
    assert status.xpath("string(.//*[@class='what'])") == "Overall Status"
    assert [status.xpath(f"string(.//{tag})") for tag in ("del", "ins")] == [
        "Recruiting", "Terminated"]
    [criterion] = page.xpath("//li[starts-with(@data-path, 'eligibility.inclusion')]")
    assert criterion.xpath("string(.//*[@class='bound'])") == (
        "Absolute neutrophil count ≥ 1500/mm3 → ≥ 1000/mm3 (looser)")
    assert criterion.xpath(".//*[@class='was']//del/text()") == ["1500/mm3"]
    assert criterion.xpath(".//*[@class='now']//ins/text()") == ["1000/mm3"]
    visible = page.text_content()
    assert not [mark for mark in MARKDOWN_MARKS if mark in visible]


def assert_text_reads_right(text: str) -> None:
    assert "[CRITICAL] Overall Status: Recruiting → Terminated" in text
    assert "[MAJOR] Why Stopped: (none) → Slow accrual" in text
    assert ("[MAJOR] Inclusion criterion 6.1: Absolute neutrophil count ≥ 1500/mm3 → ≥ 1000/mm3 "
            "(looser)\n      was: Absolute neutrophil count ≥ «1500/mm3»\n"
            "      now: Absolute neutrophil count ≥ «1000/mm3»") in text
    assert not [mark for mark in (*MARKDOWN_MARKS, "<del>", "<li") if mark in text]


def test_a_markdown_target_gets_markdown(hook: Hook, change_set: ChangeSet) -> None:
    # Rocket.Chat's plugin takes Markdown only; in webhook mode it posts {"text": …} to
    # /hooks/<token>, the title written above the body as a heading
    posted = sent(hook, change_set, f"rocket://abc/def@{loopback(hook)}")
    [(path, _, _)] = hook.requests
    assert path == "/hooks/abc/def"
    head, _, body = posted["text"].partition("\n")
    assert head == "# " + render.markdown_escape(SUBJECT)
    assert_markdown_reads_right(body)


def test_an_html_target_gets_html(change_set: ChangeSet) -> None:
    # apprise's e-mail plugin takes HTML (then text): the HTML part is ctwatch's page
    port, mailbox = free_port(), Mailbox()
    url = (f"mailto://127.0.0.1:{port}?from=ctwatch@example.org&to=ra@example.org"
           "&mode=insecure")
    with smtp_server(port, mailbox):
        AppriseChannel("mail", url).send([change_set])
    [message] = mailbox.messages
    assert message["Subject"] == SUBJECT
    html = message.get_body(("html",)).get_content()
    assert_html_reads_right(html)
    plain = message.get_body(("plain",)).get_content()  # apprise's own text of the HTML
    assert "Overall Status" in plain and not [m for m in MARKDOWN_MARKS if m in plain]


def test_a_text_target_gets_plain_text(hook: Hook, change_set: ChangeSet) -> None:
    # ntfy's plugin takes text only
    posted = sent(hook, change_set, f"ntfy://{loopback(hook)}/alerts")
    assert (posted["topic"], posted["title"]) == ("alerts", SUBJECT)
    assert_text_reads_right(posted["message"])


@pytest.mark.parametrize(("query", "check"), [
    ("", assert_text_reads_right),  # json://'s own format: text
    ("?format=text", assert_text_reads_right),
    ("?format=markdown", assert_markdown_reads_right),
    ("?format=html", assert_html_reads_right),
])
def test_a_target_of_several_formats_gets_the_one_its_url_asks_for(
        hook: Hook, change_set: ChangeSet, query: str, check: Any) -> None:
    posted = sent(hook, change_set, f"json://{loopback(hook)}/chat{query}")
    assert posted["title"] == SUBJECT  # json:// keeps the title apart: as it is
    check(posted["message"])


def test_registry_text_in_a_title_written_into_markdown_is_inert(hook: Hook,
                                                                 tmp_path: Path) -> None:
    with Store(str(tmp_path / "hostile.db")) as db:
        change_set = save_change(db, *amended(why=HOSTILE))
    posted = sent(hook, change_set, f"rocket://abc/def@{loopback(hook)}")
    head = posted["text"].partition("\n")[0]
    assert "\\<script\\>" in head
    tree = rendered_markdown(posted["text"])
    assert tree.xpath("//script | //img | //a[starts-with(@href, 'javascript')]") == []
    assert "<script>alert('x')</script>" in tree.text_content()
