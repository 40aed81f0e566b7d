"""Registry markup → normalized text and list trees.

API v2 serves CommonMark (``\\>`` escapes, ``*``/``-``/``1.`` bullets nested by indentation);
the history API serves HTML of the same content (``<p>``, nested ``<ul>``/``<ol>``, entities).
Both become the same tuple of :class:`Block` s: markdown is rendered to HTML by a CommonMark
parser first, so one tree builder serves both and they cannot drift apart. Legacy XML holds
plain text laid out by the old registry (``  -  `` bullets, wrapped lines indented under their
item, nesting by indentation, blank lines between paragraphs); :func:`plain_blocks` reads it by
CommonMark's list rules without its inline syntax, so the same content gives the same blocks.
Two readings go beyond CommonMark, the same in every format: lines marked as registry authors
mark them where CommonMark sees no list ("•", "○", "(1)", "a)", a number that cannot interrupt a
paragraph) are list items, nested by the order their styles first appear; and a list right after
a list whose last item ends in ":" ("1. Labs:" then "- ANC", not indented under the number's
text) is that item's. This is the only module that unescapes or strips markup.
"""

from __future__ import annotations

import functools
import re
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ctwatch.limits import MAX_NESTING

if TYPE_CHECKING:
    from lxml import etree
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

Markup = Literal["markdown", "html", "plain"]

_LIST_TAGS = frozenset({"ul", "ol"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "hr"}
)
# Text with no markdown syntax at all is paragraphs split by blank lines; reading it without
# the CommonMark parser gives the same blocks several times faster (most descriptions).
_MARKDOWN_INLINE = re.compile(r"[\\`*_\[\]<>&]")
# A line that starts with markdown syntax: the first, or one after a newline (a MULTILINE "^"
# would be tried at every position of the text).
_LINE_START = r"(?:[ \t]|[-+*>#=_`~]|\d{1,9}[.)])"
_FIRST_LINE_SYNTAX = re.compile(_LINE_START)
_LATER_LINE_SYNTAX = re.compile("\n" + _LINE_START)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_TAG = re.compile(r"<[^>]*>")
# A list marker as CommonMark reads one: "-", "*", "+", "1." or "1)", then spaces or the end.
_PLAIN_MARKER = re.compile(r"( *)([-*+]|(\d{1,9})[.)])( +|$)")
# A line of a paragraph marked as a list item: a bullet glyph (text may follow without a space),
# or "-", "*", "+", "1.", "1)", "(1)", "a.", "a)", "(a)" and a space. The first marker of a
# paragraph is searched for from its start, the others line by line.
_MARK = (r"[^\S\n]*(?:(?P<glyph>[•·○◦▪●■□‣⁃])[^\S\n]*|(?:(?P<bullet>[-*+])"
         r"|(?P<number>\(\d{1,3}\)|\d{1,3}[.)])|(?P<letter>\([A-Za-z]\)|[A-Za-z]\)|[a-z]\.))"
         r"[^\S\n]+(?=\S))")
_FIRST_MARK = re.compile(_MARK)
_NEXT_MARK = re.compile("\n" + _MARK)
_STYLE = str.maketrans("0123456789bcdefghijklmnopqrstuvwxyzBCDEFGHIJKLMNOPQRSTUVWXYZ",
                       "1" * 10 + "a" * 25 + "A" * 25)  # "(2)" is the style of "(1)"


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
    # Most text is collapsed already, and seeing so is cheaper than splitting it: every white
    # space character but " " is unprintable.
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text or None
    return " ".join(text.split()) or None  # str.split's whitespace is the same as \s


def inline(text: str | None, markup: Markup) -> str | None:
    """One line of text (a title, a measure, a condition) with its markup resolved."""
    if text is None or markup != "html":
        return clean(text)
    # A "<" with no ">" after it is text: searched for tags, each would be scanned to the end
    # of the text (quadratic), so only the text up to the last ">" is.
    end = text.rfind(">") + 1
    from html import unescape  # HTML markup only (history API versions)

    return clean(unescape(_TAG.sub("", text[:end]) + text[end:]))


def blocks(text: str | None, markup: Markup) -> tuple[Block, ...]:
    """The paragraph and list structure of a markup field."""
    if not text or text.isspace():
        return ()
    if markup == "markdown":
        if not (_MARKDOWN_INLINE.search(text) or _FIRST_LINE_SYNTAX.match(text)
                or _LATER_LINE_SYNTAX.search(text)):
            paragraphs = _BLANK_LINE.split(text)
            if len(paragraphs) == 1:  # most fields: the blocks of one paragraph alone
                return tuple(_paragraph_blocks(text))
            level = _Level()
            for paragraph in paragraphs:
                level.paragraph(paragraph)
            return tuple(level.blocks)
        simple = registry_markdown_blocks(text)
        return simple if simple is not None else markdown_blocks(text)
    if markup == "html":
        return html_blocks(text)
    return plain_blocks(text)


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


@functools.cache
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt  # loaded only for markdown beyond the registry's own

    # Raw HTML inside registry markdown is third-party text, not markup: keep it as text.
    return MarkdownIt("commonmark", {"html": False})


def markdown_blocks(text: str) -> tuple[Block, ...]:
    """Blocks of CommonMark text, read off markdown-it's tokens: the blocks its HTML would
    give (:func:`html_blocks`), without writing and parsing that HTML (nor loading lxml)."""
    levels = [_Level()]
    lists: list[list[Block]] = []
    for token in _markdown().parse(text):
        if token.type in ("bullet_list_open", "ordered_list_open"):
            lists.append([])
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            levels[-1].items(lists.pop())
        elif token.type == "list_item_open":
            levels.append(_Level(item=True))
        elif token.type == "list_item_close":
            lists[-1].append(_list_item(levels.pop().blocks))
        elif token.type in ("inline", "code_block", "fence"):
            levels[-1].paragraph(_inline_text(token.children) if token.type == "inline"
                                 else token.content)
    return tuple(levels[0].blocks)


def _inline_text(children: list[Token] | None) -> str:
    """The text of a paragraph or heading, as its HTML element's text content: an image
    contributes nothing (an <img> has no text), a line break a newline."""
    parts = []
    for child in children or ():
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts)


# Most registry markdown is paragraphs, "* " lists nested by two spaces and backslash escapes
# ("\\>", "\\^"): CommonMark's block rules for paragraphs and lists, which plain_blocks
# implements for legacy text, read it, and removing the escapes is all its inline syntax does.
# Text with anything more (emphasis, code, links, entities, HTML, headings, quotes, rules,
# code blocks, tabs) goes to markdown-it, the authority; tests/test_markup.py holds the two
# to the same blocks. It saves loading and running markdown-it for most records.
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_INLINE_SYNTAX = re.compile(r"[*_`\[\]<&\\]")  # once escapes are gone
_BLOCK_START = re.compile(r" {0,3}(?:[#>=]|```|~~~|(?:[-*_] *){3,}$|-+ *$)")
# tabs, and what Python splits lines at or CommonMark reads otherwise (NUL is U+FFFD to it)
_ODD_CHARACTER = re.compile(r"[\0\t\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def registry_markdown_blocks(text: str) -> tuple[Block, ...] | None:
    """The blocks of markdown written with the registry's few constructs; None for any
    other markdown."""
    if _ODD_CHARACTER.search(text):
        return None
    lines = text.split("\n")
    if not all(map(_simple_line, lines)):
        return None
    return tuple(_plain_sequence(_dedented(lines), 0, unescape=True))


def _simple_line(line: str) -> bool:
    stripped = line.lstrip(" ")
    if not stripped or stripped.isspace():  # blank to Python, to CommonMark if all spaces
        return not stripped
    indent = len(line) - len(stripped)
    if indent >= 4 or _BLOCK_START.match(line):
        return False
    marker = _PLAIN_MARKER.match(line)
    if marker:
        content = line[marker.end():]
        if len(marker.group(4)) > 4 or _PLAIN_MARKER.match(content) or _BLOCK_START.match(content):
            return False  # code, or a list or a block opened on the line of an item
    else:
        content = stripped
    return not _INLINE_SYNTAX.search(_unescape(content, ""))


def html_blocks(text: str) -> tuple[Block, ...]:
    """Blocks of an HTML fragment, as the history API or a CommonMark renderer writes it."""
    import lxml.html  # only HTML markup needs it: registry markdown is read without it
    from lxml import etree

    try:
        root = lxml.html.fragment_fromstring(text, create_parent="div")
    except (etree.ParserError, ValueError):
        return ()
    level = _Level()
    _element_blocks(root, level)
    return tuple(level.blocks)


def _element_blocks(element: etree._Element, level: _Level) -> None:
    """The blocks of an element, added to ``level``: its block children add theirs there too."""
    pending: list[str] = [element.text or ""]

    def flush() -> None:
        level.paragraph("".join(pending))
        pending.clear()

    for child in element:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag in _LIST_TAGS:
            flush()
            level.items([_item(li) for li in child if li.tag == "li"])
        elif tag in _BLOCK_TAGS or tag == "li":
            flush()
            _element_blocks(child, level)
        elif tag == "br":
            pending.append("\n")
        elif tag:
            pending.append(child.text_content())
        pending.append(child.tail or "")
    flush()


def _item(li: etree._Element) -> Block:
    """A list item of HTML (see :func:`_list_item`)."""
    inner = _Level(item=True)
    _element_blocks(li, inner)
    return _list_item(inner.blocks)


# -- plain text (legacy XML) ----------------------------------------------------------------


def plain_blocks(text: str) -> tuple[Block, ...]:
    """Blocks of plain text as the legacy registry laid it out, read by CommonMark's block
    rules for paragraphs and lists (no inline syntax: ``*``, ``\\`` and ``<`` are text)."""
    return tuple(_plain_sequence(_dedent(text.expandtabs(4)), 0))


# what str.splitlines splits lines at besides "\n"
_LINE_BREAK = re.compile(r"[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def _dedent(text: str) -> list[str]:
    """The lines of ``textwrap.dedent(text)``, as ``splitlines`` splits them, right-stripped,
    for text without tabs: most without textwrap, whose patterns try a MULTILINE "^" at every
    position of the text (an eighth of the time of reading registry markdown, issue 13)."""
    if _LINE_BREAK.search(text):
        return [line.rstrip() for line in textwrap.dedent(text).splitlines()]
    return _dedented(text.split("\n"))


def _dedented(lines: list[str]) -> list[str]:
    """:func:`_dedent` of the text of ``lines``, which holds no line break but "\\n"."""
    # textwrap's margin: the indent common to the lines that are not all spaces
    margin = min((len(line) - len(line.lstrip(" ")) for line in lines if line.strip(" ")),
                 default=0)
    if not lines[-1].strip(" "):
        lines = lines[:-1]  # textwrap empties it, and splitlines drops an empty last line
    return [line[margin:].rstrip() for line in lines]


def _plain_sequence(lines: list[str], depth: int, *, unescape: bool = False) -> list[Block]:
    """The blocks of ``lines`` (those of a list item below the top, ``depth`` > 0);
    ``unescape``: registry markdown, whose backslash escapes are removed from each paragraph
    before its lines are read for markers, as markdown-it does."""
    marks = depth < MAX_NESTING
    if len(lines) == 1 and not (marks and _PLAIN_MARKER.match(lines[0])):  # most items
        raw = _unescape(lines[0]) if unescape else lines[0]
        return _Level.read(raw, marks, first_in_item=depth > 0)
    level = _Level(marks=marks, item=depth > 0)
    paragraph: list[str] = []
    items: list[Block] = []  # the list being read
    kind = ""  # its marker ("-", "*", "+", "." or ")"): another one starts another list
    index = 0
    while index < len(lines):
        line = lines[index]
        marker = _PLAIN_MARKER.match(line) if marks else None
        if marker and (not paragraph or _interrupts(marker)):
            if paragraph:
                kind = _flush(level, items, paragraph, unescape)
            if marker.group(2)[-1] != kind:
                level.items(items)
                items = []
                kind = marker.group(2)[-1]
            body, index = _plain_item(lines, index, marker)
            items.append(_plain_list_item(body, depth + 1, unescape))
            continue
        if line.strip():
            paragraph.append(line)
        elif paragraph:
            kind = _flush(level, items, paragraph, unescape)
            items = []
        index += 1
    if paragraph:
        _flush(level, items, paragraph, unescape)
    else:
        level.items(items)
    return level.blocks


def _flush(level: _Level, items: list[Block], paragraph: list[str], unescape: bool) -> str:
    """The list being read, then the paragraph after it, added to ``level``; both emptied."""
    level.items(items[:])
    items.clear()
    raw = "\n".join(paragraph)
    paragraph.clear()
    level.paragraph(_unescape(raw) if unescape else raw)
    return ""


def _unescape(raw: str, keep: str = r"\1") -> str:
    """Markdown's backslash escapes resolved (``keep``: what each becomes)."""
    return _ESCAPE.sub(keep, raw) if "\\" in raw else raw


def _interrupts(marker: re.Match[str]) -> bool:
    """Whether a list item may start inside a paragraph: CommonMark lets a bullet with text,
    or a numbered item starting at 1, interrupt one."""
    has_text = bool(marker.group(4))
    return has_text and marker.group(3) in (None, "1")


def _plain_item(lines: list[str], start: int, marker: re.Match[str]) -> tuple[list[str], int]:
    """The lines of the list item starting at ``start``, relative to its content column, and
    the index of the first line after it."""
    spaces = len(marker.group(4))
    column = marker.end(2) + (spaces if 0 < spaces <= 4 else 1)
    body = [lines[start][marker.end():]]
    index = start + 1
    while index < len(lines):
        line = lines[index]
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() and indent < column:
            lazy = bool(body[-1].strip()) and not _PLAIN_MARKER.match(line)
            if not lazy:
                break
            body.append(line.strip())  # a wrapped line not indented under its item
        else:
            body.append(line[column:])
        index += 1
    return body, index


def _plain_list_item(lines: list[str], depth: int, unescape: bool) -> Block:
    """The list item of ``lines`` (see :func:`_plain_item`), at ``depth`` > 0."""
    if len(lines) == 1:  # most items: one line of text, read here as the general path would
        marks = depth < MAX_NESTING
        raw = _unescape(lines[0]) if unescape else lines[0]
        if not marks or not (_PLAIN_MARKER.match(lines[0]) or _FIRST_MARK.match(raw)):
            return Block(clean(raw) or "", item=True)
    return _list_item(_plain_sequence(lines, depth, unescape=unescape))


def _list_item(inner: list[Block]) -> Block:
    """A list item: its leading paragraphs are its text, what follows nests under it."""
    lead = 0
    while lead < len(inner) and not inner[lead].item and not inner[lead].children:
        lead += 1
    return Block(" ".join([block.text for block in inner[:lead]]), tuple(inner[lead:]), item=True)


# -- what every format shares -----------------------------------------------------------------


class _Level:
    """The blocks of one level of a tree (the top, or inside one list item), as they are read:
    paragraphs, and lists given whole."""

    __slots__ = ("_after_list", "_item", "_marks", "blocks")

    def __init__(self, *, marks: bool = True, item: bool = False) -> None:
        self.blocks: list[Block] = []
        self._marks = marks  # False: lines marked as items are text (nested too deep)
        self._item = item  # the level inside a list item: see read
        self._after_list = False  # the last blocks read were a list's items

    @staticmethod
    def read(raw: str, marks: bool, first_in_item: bool = False) -> list[Block]:
        """The blocks of one paragraph alone. The marker opening an item's first paragraph
        ("* a) Cohort 1: …") numbers that item: it is dropped, not another level."""
        if not marks:
            text = clean(raw)
            return [Block(text)] if text else []
        found = _paragraph_blocks(raw)
        if first_in_item and found and found[0].item:
            first = found[0]
            return [*([Block(first.text)] if first.text else []), *first.children, *found[1:]]
        return found

    def paragraph(self, raw: str) -> None:
        """A paragraph's text, line breaks and all: lines marked as items are a list."""
        found = self.read(raw, self._marks, self._item and not self.blocks)
        run = 0
        while run < len(found) and found[run].item:
            run += 1
        self.items(found[:run])
        if run < len(found):
            self.blocks.extend(found[run:])
            self._after_list = found[-1].item

    def items(self, items: list[Block]) -> None:
        """A list: under the item before it if that item ends a list and ends in ":"."""
        if not items:
            return
        head = self.blocks[-1] if self._after_list else None
        if head is not None and head.item and not head.children and head.text.endswith(":"):
            self.blocks[-1] = Block(head.text, tuple(items), item=True)
        else:
            self.blocks.extend(items)
        self._after_list = True


# A marked line's item ends at a sentence's end followed by a line that starts as a sentence:
# "(3) BVO with macular edema and reduced vision." / "All patients must have …" (a paragraph).
_SENTENCE_BREAK = re.compile(r"[.!?][^\S\n]*\n[^\S\n]*(?=[A-Z])")


def _paragraph_blocks(raw: str) -> list[Block]:
    """A paragraph: its text before the first marked line, then the marked lines as items,
    nested by style: the first style is the outer level, a new style one level in, a style
    seen before the level it was at ("•" items with "○" items under them)."""
    first = _FIRST_MARK.match(raw)
    if first is None and "\n" in raw:
        first = _NEXT_MARK.search(raw)
    if first is None:
        text = clean(raw)
        return [Block(text)] if text else []
    lead = clean(raw[:first.start()])
    out: list[Block] = [Block(lead)] if lead else []
    marks = [first, *_NEXT_MARK.finditer(raw, first.end())]
    styles: list[str] = []
    open_items: list[tuple[str, list[Block]]] = []  # (text, children) of each level
    for mark, after in zip(marks, [*marks[1:], None], strict=True):
        style = mark.group(mark.lastgroup or "glyph").strip().translate(_STYLE)
        if style in styles:
            depth = styles.index(style)
            del styles[depth + 1:]
        else:
            styles.append(style)
            depth = len(styles) - 1
        while len(open_items) > depth:
            _close(open_items, out)
        end = after.start() if after else len(raw)
        tail = _SENTENCE_BREAK.search(raw, mark.end(), end)
        open_items.append((clean(raw[mark.end():tail.start() + 1 if tail else end]) or "", []))
        if tail:  # a paragraph after the items: the next marked line starts another list
            while open_items:
                _close(open_items, out)
            out.append(Block(clean(raw[tail.end():end]) or ""))
            styles.clear()
    while open_items:
        _close(open_items, out)
    return out


def _close(open_items: list[tuple[str, list[Block]]], out: list[Block]) -> None:
    text, children = open_items.pop()
    block = Block(text, tuple(children), item=True)
    (open_items[-1][1] if open_items else out).append(block)
