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

# "Inclusion Criteria:", "Key Exclusion Criteria:", "Eligibility criteria:", "INCLUSION CRITERIA",
# "Inclusion Criteria for Cohort A:", "Inclusion criteria: age over 18" (text on the heading line).
_HEADING = re.compile(
    r"(?P<kind>inclusion(?:\s+and\s+exclusion)?|exclusion|eligibility)\s+criteri(?:a|on)s?"
    r"(?P<qual>[^:]{0,60}?)\s*(?::\s*(?P<rest>.*)|$)",
    re.IGNORECASE | re.DOTALL,
)
_HEADING_LEAD = re.compile(r"(?:(?:key|main|major|general|additional)\s+)?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Heading:
    kind: str  # inclusion | exclusion | eligibility
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
    """Whether a line of text is a plain section heading ("Key Inclusion Criteria:")."""
    found = heading(Block(line))
    return found is not None and not found.qualified and not found.rest


def heading(block: Block) -> _Heading | None:
    """The section heading a block is, if it is one."""
    lead = _HEADING_LEAD.match(block.text)
    match = _HEADING.match(block.text, lead.end() if lead else 0)
    if not match:
        return None
    kind = match["kind"].lower()
    if " and " in kind:
        kind = "eligibility"
    return _Heading(kind, bool(match["qual"].strip()), (match["rest"] or "").strip())


def _sections(tree: tuple[Block, ...]) -> dict[str, list[Block]]:
    out: dict[str, list[Block]] = {"inclusion": [], "exclusion": [], "unclassified": [],
                                   "eligibility": []}
    section = "unclassified"
    nodes: list[tuple[str, Block]] = []
    for block in tree:
        found = heading(block)
        if found is None:
            nodes.append((section, block))
            continue
        section = found.kind
        if found.qualified:
            nodes.append((section, Block(block.text, block.children)))
            continue
        if found.rest:
            nodes.append((section, Block(found.rest)))
        nodes.extend((section, child) for child in block.children)
    for section, block in _attach_lead_ins(nodes):
        out[section].append(block)
    generic = out.pop("eligibility")
    # "Eligibility criteria:" followed later by "Exclusion criteria:" heads the inclusion list.
    target = "inclusion" if out["exclusion"] and not out["inclusion"] else "unclassified"
    out[target] = generic + out[target]
    return out


def _attach_lead_ins(nodes: list[tuple[str, Block]]) -> list[tuple[str, Block]]:
    """A prose line ending in ':' heads the bullets right after it ("For parent participants:")."""
    out: list[tuple[str, Block]] = []
    for section, block in nodes:
        if out and block.item and _is_lead_in(out[-1], section):
            head_section, head = out[-1]
            out[-1] = (head_section, Block(head.text, (*head.children, block)))
        else:
            out.append((section, block))
    return out


def _is_lead_in(previous: tuple[str, Block], section: str) -> bool:
    head_section, head = previous
    return head_section == section and not head.item and head.text.endswith(":")


def _number(nodes: list[Block], prefix: str) -> tuple[Criterion, ...]:
    return tuple(_criterion(node, f"{prefix}{n}") for n, node in enumerate(nodes, 1))


def _criterion(node: Block, ident: str) -> Criterion:
    children = tuple(_criterion(child, f"{ident}.{n}") for n, child in enumerate(node.children, 1))
    return Criterion(ident, node.text, children, thresholds.extract(node.text))


def criteria_words(eligibility: Eligibility) -> list[str]:
    """Every word held by the criterion trees, in order (for measuring what was kept)."""
    out: list[str] = []
    stack = [c for name in SECTIONS for c in reversed(getattr(eligibility, name))]
    while stack:
        criterion = stack.pop()
        out.extend(criterion.text.split())
        stack.extend(reversed(criterion.children))
    return out
