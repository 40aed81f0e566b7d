"""Registry markup → normalized text and list trees.

API v2 serves CommonMark (``\\>`` escapes, ``*``/``-``/``1.`` bullets nested by indentation);
the history API serves HTML of the same content (``<p>``, nested ``<ul>``/``<ol>``, entities).
Both become the same tuple of :class:`Block` s: markdown is rendered to HTML by a CommonMark
parser first, so one tree builder serves both and they cannot drift apart. This is the only
module that unescapes or strips markup.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from typing import Literal

import lxml.html
from lxml import etree
from markdown_it import MarkdownIt

Markup = Literal["markdown", "html", "plain"]

# Raw HTML inside registry markdown is third-party text, not markup: keep it as text.
_MARKDOWN = MarkdownIt("commonmark", {"html": False})
_LIST_TAGS = frozenset({"ul", "ol"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "hr"}
)
_SPACE = re.compile(r"\s+")
# Text with no markdown syntax at all is paragraphs split by blank lines; reading it without
# the CommonMark parser gives the same blocks several times faster (most descriptions).
_MARKDOWN_INLINE = re.compile(r"[\\`*_\[\]<>&]")
_MARKDOWN_LINE_START = re.compile(r"^(?:[ \t]|[-+*>#=_`~]|\d{1,9}[.)])", re.MULTILINE)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph, or a list item (``item``) with the blocks nested under it."""

    text: str
    children: tuple[Block, ...] = ()
    item: bool = False


def clean(text: str | None) -> str | None:
    """Collapse whitespace of plain text; ``None`` for nothing."""
    if text is None:
        return None
    text = _SPACE.sub(" ", text).strip()
    return text or None


def inline(text: str | None, markup: Markup) -> str | None:
    """One line of text (a title, a measure, a condition) with its markup resolved."""
    if text is None or markup != "html":
        return clean(text)
    return clean(html_lib.unescape(_TAG.sub("", text)))


def blocks(text: str | None, markup: Markup) -> tuple[Block, ...]:
    """The paragraph and list structure of a markup field."""
    if not text or not text.strip():
        return ()
    if markup == "markdown":
        if _MARKDOWN_INLINE.search(text) or _MARKDOWN_LINE_START.search(text):
            return html_blocks(_MARKDOWN.render(text))
        return tuple(Block(line) for line in map(clean, _BLANK_LINE.split(text)) if line)
    if markup == "html":
        return html_blocks(text)
    return tuple(Block(line) for line in (clean(part) for part in text.splitlines()) if line)


def to_text(text: str | None, markup: Markup) -> str | None:
    """A markup field as normalized plain text: one line per paragraph or list item."""
    return render(blocks(text, markup)) or None


def render(tree: tuple[Block, ...], depth: int = 0) -> str:
    """Blocks as plain text; list items as ``- text``, indented two spaces a level."""
    lines = []
    for block in tree:
        if block.text:
            prefix = "  " * depth + ("- " if block.item else "")
            lines.append(prefix + block.text)
        if block.children:
            lines.append(render(block.children, depth + 1))
    return "\n".join(lines)


def words(tree: tuple[Block, ...]) -> list[str]:
    """Every word of the tree, in order."""
    out: list[str] = []
    for block in tree:
        out.extend(block.text.split())
        out.extend(words(block.children))
    return out


def html_blocks(text: str) -> tuple[Block, ...]:
    """Blocks of an HTML fragment, as the history API or a CommonMark renderer writes it."""
    try:
        root = lxml.html.fragment_fromstring(text, create_parent="div")
    except (etree.ParserError, ValueError):
        return ()
    return tuple(_element_blocks(root))


def _element_blocks(element: etree._Element) -> list[Block]:
    out: list[Block] = []
    pending: list[str] = [element.text or ""]

    def flush() -> None:
        line = clean("".join(pending))
        if line:
            out.append(Block(line))
        pending.clear()

    for child in element:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag in _LIST_TAGS:
            flush()
            out.extend(_item(li) for li in child if li.tag == "li")
        elif tag in _BLOCK_TAGS or tag == "li":
            flush()
            out.extend(_element_blocks(child))
        elif tag == "br":
            pending.append("\n")
        elif tag:
            pending.append(child.text_content())
        pending.append(child.tail or "")
    flush()
    return out


def _item(li: etree._Element) -> Block:
    """A list item: its leading paragraphs are its text, what follows nests under it."""
    inner = _element_blocks(li)
    lead = 0
    while lead < len(inner) and not inner[lead].item and not inner[lead].children:
        lead += 1
    text = " ".join(block.text for block in inner[:lead])
    return Block(text, tuple(inner[lead:]), item=True)
