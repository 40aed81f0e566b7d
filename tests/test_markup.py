"""Markdown as API v2 serves it and HTML as the history API serves it: one normalized tree."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from ctwatch.markup import (
    MAX_NESTING,
    Block,
    blocks,
    clean,
    html_blocks,
    inline,
    markdown_blocks,
    registry_markdown_blocks,
    render,
    to_text,
    words,
)
from tests.helpers import load_json, realdata_files

# (name, API v2 markdown, history-API HTML, expected plain text)
SAME_CONTENT = [
    ("escapes", r"Creatinine \> 30 ml/min, ANC \>= 1500, 1\. not a list, \[ref\] \*star",
     "<p>Creatinine &gt; 30 ml&#x2F;min, ANC &gt;= 1500, 1. not a list, [ref] *star</p>",
     "Creatinine > 30 ml/min, ANC >= 1500, 1. not a list, [ref] *star"),
    ("star bullets", "* one\n* two", "<ul><li>one</li><li>two</li></ul>", "- one\n- two"),
    ("dash bullets", "- one\n- two", "<ul><li>one</li><li>two</li></ul>", "- one\n- two"),
    ("numbered", "1. one\n2. two", "<ol><li>one</li><li>two</li></ol>", "- one\n- two"),
    ("nested by two spaces after a blank line",
     "* Labs:\n\n  * ANC \\>= 1500\n  * Platelets\n* Consent",
     "<ul><li><p>Labs:</p><ul><li>ANC &gt;= 1500</li><li>Platelets</li></ul></li>"
     "<li>Consent</li></ul>",
     "- Labs:\n  - ANC >= 1500\n  - Platelets\n- Consent"),
    ("nested by four spaces under a number",
     "1. Labs:\n\n    1. Bilirubin ≤ 1.5 x ULN\n2. Consent",
     "<ol><li><p>Labs:</p><ol><li>Bilirubin ≤ 1.5 x ULN</li></ol></li><li>Consent</li></ol>",
     "- Labs:\n  - Bilirubin ≤ 1.5 x ULN\n- Consent"),
    ("prose between bullets", "Intro line:\n\n* a\n\nMiddle prose.\n\n* b",
     "<p>Intro line:</p><ul><li>a</li></ul><p>Middle prose.</p><ul><li>b</li></ul>",
     "Intro line:\n- a\nMiddle prose.\n- b"),
    ("wrapped lines", "* a long criterion\n  wrapped onto two lines",
     "<ul><li>a long criterion\nwrapped onto two lines</li></ul>",
     "- a long criterion wrapped onto two lines"),
    ("entities and tags", "Age 18 – 65 years & older",
     "<p>Age 18 &#x2013; 65 <strong>years</strong> &amp; older</p>", "Age 18 – 65 years & older"),
]


@pytest.mark.parametrize(("markdown", "html", "text"), [case[1:] for case in SAME_CONTENT],
                         ids=[case[0] for case in SAME_CONTENT])
def test_markdown_and_html_give_the_same_tree(markdown: str, html: str, text: str) -> None:
    assert blocks(markdown, "markdown") == blocks(html, "html")
    assert to_text(markdown, "markdown") == text
    assert to_text(html, "html") == text


def test_tree_structure() -> None:
    tree = blocks("Heading:\n\n* a\n\n  * a.1\n* b", "markdown")
    assert tree == (
        Block("Heading:"),
        Block("a", (Block("a.1", item=True),), item=True),
        Block("b", item=True),
    )
    assert render(tree) == "Heading:\n- a\n  - a.1\n- b"


def test_raw_html_in_markdown_stays_text() -> None:
    assert to_text("Dose <b>5 mg</b> & <script>x</script>", "markdown") == (
        "Dose <b>5 mg</b> & <script>x</script>")


def test_inline_text() -> None:
    assert inline("Prostate Cancer (<mark class=\"hl-term\">CRPC</mark>)", "html") == (
        "Prostate Cancer (CRPC)")
    assert inline("  two\n  lines ", "markdown") == "two lines"
    assert inline("   ", "markdown") is None


@pytest.mark.parametrize("empty", [None, "", "  \n "])
def test_empty_fields(empty: str | None) -> None:
    assert blocks(empty, "markdown") == ()
    assert to_text(empty, "html") is None


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def test_plain_text_shortcut_agrees_with_the_commonmark_parser() -> None:
    """Text without markdown syntax skips the parser; on every string of the real records the
    result must be what the parser gives."""
    texts = {text for path in realdata_files("api_v2", "api_v2_list", "api_v2_fields_subset")
             for text in _strings(load_json(path))}
    assert len(texts) > 5000
    for text in texts:
        assert blocks(text, "markdown") == html_blocks(MarkdownIt("commonmark", {"html": False})
                                                       .render(text)), text


@pytest.mark.parametrize("text", ["a < b <i>c</i> x < y", "<b>x</b> < 3 and > 2 <", "1 < 2",
                                  "x >", "<<a>> <", "<i>only</i>"])
def test_tags_are_stripped_as_the_tag_pattern_strips_them(text: str) -> None:
    assert inline(text, "html") == clean(html.unescape(re.sub(r"<[^>]*>", "", text)))


def test_plain_lists_nested_deeper_than_the_limit_are_text() -> None:
    levels = MAX_NESTING + 3
    tree = blocks("".join("  " * level + f"- w{level}\n" for level in range(levels)), "plain")
    depth, block = 0, tree[0]
    while block.children:
        depth, block = depth + 1, block.children[0]
    assert depth == MAX_NESTING - 1
    assert block.text == f"w{MAX_NESTING - 1} - w{MAX_NESTING} - w{MAX_NESTING + 1} - w{levels - 1}"
    assert [word for word in words(tree) if word != "-"] == [f"w{n}" for n in range(levels)]


# Registry markdown is read off markdown-it's tokens; its HTML, read as HTML, is the yardstick.
_PIECES = ["* ", "- ", "1. ", "2) ", "  ", "    ", "\n", "\n\n", "> ", "# ", "```\n", "---\n",
           "\\>", "\\*", "**", "_", "`", "[a](b)", "![alt](x)", "<b>", "&amp;", "&#x2F;",
           "\\\n", "text", "Creatinine ≥ 1.5", "\u00a0", "\t"]


@given(st.lists(st.sampled_from(_PIECES), max_size=40).map("".join))
def test_markdown_read_off_tokens_is_what_its_html_says(text: str) -> None:
    renderer = MarkdownIt("commonmark", {"html": False})
    assert markdown_blocks(text) == html_blocks(renderer.render(text))


_REGISTRY_PIECES = ["* ", "- ", "+ ", "1. ", "2) ", "10. ", " ", "  ", "   ", "    ", "\n",
                    "\n\n", "\\>", "\\<", "\\^", "\\*", "\\\\", "\\", "-x", "1\\.", "text",
                    "ANC ≥ 1500", "a > b", "\u00a0", "#", "=", "---", "***"]


@settings(max_examples=400)
@given(st.lists(st.sampled_from(_REGISTRY_PIECES), max_size=30).map("".join))
def test_registry_markdown_read_without_markdown_it_is_what_markdown_it_reads(text: str) -> None:
    simple = registry_markdown_blocks(text)
    if simple is not None:
        assert simple == markdown_blocks(text)


def test_most_registry_markdown_is_read_without_markdown_it() -> None:
    """What makes `ctwatch parse FILE` start fast; that the blocks are the same is
    test_plain_text_shortcut_agrees_with_the_commonmark_parser's, on the same texts."""
    texts = {text for path in realdata_files("api_v2", "api_v2_list", "api_v2_fields_subset")
             for text in _strings(load_json(path)) if "* " in text or "\\" in text}
    simple = [text for text in texts if registry_markdown_blocks(text) is not None]
    assert len(texts) > 40 and len(simple) > 0.6 * len(texts)
