"""The shortcuts that make reading markup cheap (issue 13) read text as the general path does."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from ctwatch.markup import (
    Block,
    _dedent,
    blocks,
    clean,
    html_blocks,
    markdown_blocks,
    plain_blocks,
    registry_markdown_blocks,
)

# white space of every kind: line breaks other than "\n", and spaces that are no " "
_WHITE = [" ", "  ", "    ", "\n", "\n\n", "\u00a0", "\u3000", "\u2028", "\x0b", "\r", "\x85"]


@settings(max_examples=300)
@given(st.lists(st.sampled_from([*_WHITE, "a", "b c", "•", "\u200b"]), max_size=20).map("".join))
def test_text_seen_collapsed_is_what_splitting_it_gives(text: str) -> None:
    assert clean(text) == (" ".join(text.split()) or None)


@settings(max_examples=300)
@given(st.lists(st.sampled_from([*_WHITE, "x", "- y", "1. z"]), max_size=20).map("".join))
def test_lines_dedented_without_textwrap_are_textwraps(text: str) -> None:
    assert _dedent(text) == [line.rstrip() for line in textwrap.dedent(text).splitlines()]


# Text without markdown syntax, one paragraph or more: read without the CommonMark parser.
_PROSE = ["Age", " 18", " years", ".", ",", ":", " ", "\n", "\n\n", "\n  \n", "• ", "○ ", "(1) ",
          "a) ", "b. ", "2) ", "All patients", " must consent", "\u00a0", "\u200b"]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(_PROSE), max_size=25).map("".join))
def test_prose_read_without_the_parser_is_what_the_parser_reads(text: str) -> None:
    expected = html_blocks(MarkdownIt("commonmark", {"html": False}).render(text))
    assert blocks(text, "markdown") == expected


# Registry markdown with odd characters (NUL is U+FFFD to CommonMark, "\x1c" a line break to
# Python), unprintable ones that are not odd ("\u200b", "\xad") and a margin common to all
# lines ("  " first): the registry reader's shortcuts must agree with markdown-it, or leave the
# text to it.
_REGISTRY = ["* ", "- ", "1. ", "  ", "   ", "\n", "\n\n", "\n  ", "\\>", "text", "\u200b", "\xad",
             "\0", "\x1c", "\t", "ANC ≥ 1500", "a) ", "•"]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(_REGISTRY), max_size=25).map("".join))
def test_registry_markdown_with_odd_characters_reads_as_markdown_it(text: str) -> None:
    simple = registry_markdown_blocks(text)
    assert simple is None or simple == markdown_blocks(text)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["  ", "    ", "- ", "1. ", "x", "\n", "\n\n", "\u00a0"]),
                max_size=25).map("".join))
def test_plain_text_reads_the_same_indented_or_not(text: str) -> None:
    # a margin common to every line changes nothing (CommonMark reads lines relative to it)
    indented = "\n".join("   " + line for line in text.split("\n"))
    assert plain_blocks(indented) == plain_blocks(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("- b", (Block("b", item=True),)),
    ("- a) b", (Block("b", item=True),)),  # the marker of an item's first line numbers it
    ("- -", (Block("", (Block("", item=True),), item=True),)),  # an empty item in an item
    ("- 1234. x", (Block("", (Block("x", item=True),), item=True),)),  # up to nine digits
])
def test_items_of_one_line_read_as_commonmark_reads_them(text: str, expected: tuple) -> None:
    assert plain_blocks(text) == expected
    assert blocks(text, "markdown") == expected
