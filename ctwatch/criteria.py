"""Eligibility text → sections → criterion tree → numeric thresholds (DESIGN.md §4).

The tree comes from the list structure that :mod:`ctwatch.markup` reads; this module adds
the meaning: which section a block belongs to, which prose line heads the bullets under it,
positional ids for people (``I6.1``), and the numbers each criterion bounds. Every word of
the source text ends up in some criterion, except the section headings themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ctwatch import thresholds
from ctwatch.markup import Block, Markup, blocks, render
from ctwatch.model import Criterion, Eligibility

SECTIONS = ("inclusion", "exclusion", "unclassified")
_PREFIX = {"inclusion": "I", "exclusion": "E", "unclassified": "U"}

# A section heading is a whole short line, or "Heading: text on its line": "Inclusion Criteria:",
# "Key Exclusion Criteria", "INCLUSION:", "Exclusion", "[Inclusion Criteria]", "Non-inclusion
# criteria:" (an exclusion), "Inclusions Criteria:" / "Exclusion Criteri" (a typo at the end of
# a word), "Inclusion and exclusion criteria" / "Inclusion/Exclusion Criteria" (combined: the
# criteria stay unclassified), "Inclusion Criteria for Cohort A:" / "Donor Inclusion Criteria:"
# (qualified: the line is kept as a criterion heading its own). A sentence that starts like one
# ("Exclusion of pregnancy by test", "Do not meet inclusion criteria") is not: without the word
# "criteria" only the kind itself may stand on the line, and words before the kind must be a
# capitalised name or end in ":".
_KIND = (r"(?:(?:non[-\s]?)?inclusi(?!ve)[a-z]{0,3}|exclusi(?!ve)[a-z]{0,3}"
         r"|eligibi[a-z]{0,5})")
_HEADING = re.compile(
    r"[\[(]?(?P<lead>(?:key|main|major|general|additional|primary)\s+)?"
    r"(?P<names>(?:(?!(?:non|not|no)\b)[^\s:;,.]{1,25}\s+){0,4}?)"
    rf"(?P<kind>{_KIND})(?:\s*(?:/|&|\band\b|\bor\b)\s*(?P<also>{_KIND}))?"
    r"(?P<criteria>\s+criter[a-z]{0,4})?"
    r"(?P<qual>[^:\n]{0,60}?)\s*[\])]?\s*(?P<colon>:\s*(?P<rest>.*)|$)",
    re.IGNORECASE | re.DOTALL,
)
_QUALIFIER = re.compile(r"[^.;!?]*", re.IGNORECASE)  # no sentence ends inside a qualifier
_CAPITALISED = re.compile(r"(?:[A-Z0-9][^\s]*\s+)+")
MAX_HEADING_WORDS = 12  # a line longer than this is a criterion, whatever its first words


@dataclass(frozen=True, slots=True)
class _Heading:
    kind: str  # inclusion | exclusion | eligibility | combined
    qualified: bool  # "Inclusion Criteria for Cohort A:": the line is kept as a criterion
    rest: str  # text after the colon


def parse(text: str | None, markup: Markup) -> tuple[dict[str, tuple[Criterion, ...]], str | None]:
    """Criteria per section, and the whole text normalized, from one markup field."""
    tree = blocks(text, markup)
    if not tree:
        return {name: () for name in SECTIONS}, None
    grouped = _sections(tree)
    criteria = {name: _number(grouped[name], _PREFIX[name]) for name in SECTIONS}
    return criteria, render(tree) or None


def eligibility_parts(text: str | None, markup: Markup) -> dict[str, object]:
    """The keyword arguments of :class:`Eligibility` that come from the criteria text."""
    criteria, normalized = parse(text, markup)
    return {**criteria, "text": normalized}


def is_heading(line: str) -> bool:
    """Whether a line of text is a plain section heading ("Key Inclusion Criteria:"), also as
    the normalized text writes an item ("- Inclusion Criteria:")."""
    line = line.strip()
    found = heading(Block(line[2:] if line.startswith("- ") else line))
    return found is not None and not found.qualified and not found.rest


def heading(block: Block) -> _Heading | None:
    """The section heading a block is, if it is one."""
    text = block.text
    if not (text[:1].isalpha() or text[:1] in "[("):
        return None
    # Most blocks are no heading, and have none of the letters that every kind has ("inclusi",
    # "exclusi": "clu"; "eligibi": "el"), lower-cased as the pattern's IGNORECASE reads them:
    # no other character matches c, l, u or e. Looked for before the pattern (issue 13).
    lower = text.lower()
    if ("clu" not in lower and "el" not in lower) or not (match := _HEADING.match(text)):
        return None
    if len(text[:match.start("colon")].split()) > MAX_HEADING_WORDS:
        return None
    names, qual, colon = match["names"], match["qual"].strip(), bool(match["colon"].strip())
    if not match["criteria"] and (qual or (names and (match["lead"] or not colon))):
        return None  # "Inclusion of women", "Exclusion of pregnancy by test"
    if qual and (not _QUALIFIER.fullmatch(qual) or (not colon and len(qual.split()) > 4)):
        return None  # "… exclusion criteria might apply."
    if names and not (colon or _CAPITALISED.fullmatch(names)):
        return None  # "Do not meet inclusion criteria", but "Parkinson's Disease exclusion …"
    return _Heading(_kind(match), bool(qual or names), (match["rest"] or "").strip())


def _kind(match: re.Match[str]) -> str:
    kinds = {_one_kind(match["kind"]), *([_one_kind(match["also"])] if match["also"] else [])}
    if len(kinds) > 1 or match["also"]:
        return "combined"
    return kinds.pop()


def _one_kind(word: str) -> str:
    word = word.lower()
    if word.startswith("non"):  # "Non-inclusion criteria" list who may not take part
        return "exclusion"
    return "inclusion" if word.startswith("inclu") else (
        "exclusion" if word.startswith("exclu") else "eligibility")


def _sections(tree: tuple[Block, ...]) -> dict[str, list[_Node]]:
    out: dict[str, list[_Node]] = {"inclusion": [], "exclusion": [], "unclassified": [],
                                   "eligibility": [], "combined": []}
    section = "unclassified"
    run: list[_Node] = []  # the blocks under one heading, outlined together
    for block in tree:
        found = heading(block)
        if found is None:
            run.append(_Node.of(block))
            continue
        out[section].extend(_outline(run))
        run = []
        section = found.kind
        if found.qualified:  # the line stays, as a heading of what follows it
            run.append(_Node(block.text, list(map(_Node.of, block.children)), False, _SECTION))
            continue
        if found.rest:
            run.append(_Node(found.rest))
        run.extend(map(_Node.of, block.children))
    out[section].extend(_outline(run))
    generic = out.pop("eligibility")
    # "Eligibility criteria:" followed later by "Exclusion criteria:" heads the inclusion list;
    # "Inclusion and exclusion criteria:" says nothing of which is which.
    target = "inclusion" if out["exclusion"] and not out["inclusion"] else "unclassified"
    out[target] = generic + out[target]
    out["unclassified"] += out.pop("combined")
    return out


_TEXT, _LEAD_IN, _SECTION = 0, 1, 2  # what a block heads: nothing, items, lead-ins too
_LABEL_WORDS = 6  # "Performance status:" over "ECOG 0-2": a label, its value the next line


class _Node:
    """A criterion while the tree is built: a block whose children may still grow."""

    __slots__ = ("children", "item", "rank", "text")

    def __init__(self, text: str, children: list[_Node] | None = None, item: bool = False,
                 rank: int = _TEXT) -> None:
        self.text, self.children, self.item, self.rank = text, children or [], item, rank

    @classmethod
    def of(cls, block: Block) -> _Node:
        rank = _TEXT
        if not block.item and block.text.endswith(":"):
            # "PATIENT CHARACTERISTICS:" heads "Age:" and the bullets under it
            rank = _SECTION if block.text.isupper() else _LEAD_IN
        children = _outline(list(map(cls.of, block.children))) if block.children else []
        return cls(block.text, children, block.item, rank)

    def takes(self, node: _Node) -> bool:
        """Whether ``node``, read right after this node's last child, is its next child."""
        if self.rank == _SECTION:
            return node.rank < _SECTION
        if self.rank == _LEAD_IN:
            return node.item or (node.rank == _TEXT and not self.children
                                 and len(self.text.split()) <= _LABEL_WORDS)
        return False


def _outline(nodes: list[_Node]) -> list[_Node]:
    """Siblings as headed: a line ending in ':' heads the items after it ("For parent
    participants:"), a short label the line of its value ("Age:" / "18 and over"), an upper-case
    or qualified heading the labels and items after it, until a heading of its rank."""
    out: list[_Node] = []
    heads: list[_Node] = []  # the heads still open, outermost first
    for node in nodes:
        while heads and not heads[-1].takes(node):
            heads.pop()
        (heads[-1].children if heads else out).append(node)
        if node.rank > _TEXT:
            heads.append(node)
    return out


def _number(nodes: list[_Node], prefix: str, context: str | None = None,
            ) -> tuple[Criterion, ...]:
    return tuple(_criterion(node, f"{prefix}{n}", context) for n, node in enumerate(nodes, 1))


def _criterion(node: _Node, ident: str, context: str | None) -> Criterion:
    # the heading criterion's label measures a bound whose own text names none ("Age:")
    children = _number(node.children, f"{ident}.", node.text) if node.children else ()
    return Criterion(ident, node.text, children, thresholds.extract(node.text, context))


def criteria_words(eligibility: Eligibility) -> list[str]:
    """Every word held by the criterion trees, in order (for measuring what was kept)."""
    out: list[str] = []
    stack = [c for name in SECTIONS for c in reversed(getattr(eligibility, name))]
    while stack:
        criterion = stack.pop()
        out.extend(criterion.text.split())
        stack.extend(reversed(criterion.children))
    return out
