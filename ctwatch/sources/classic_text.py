"""The text rendering of a classic study page → Trial, best effort.

What a browser's "save as text" or a copy-paste of the page gives (``../shared/seed/`` holds
one): table rows as cells joined by ``" | "``, list items as ``"- "`` lines, headings and
captions gone. It is read into the same :class:`~ctwatch.sources.classic.Page` as the HTML,
with what the text lost left out or inferred:

- outcome headings are gone, so every outcome is read as ``primary`` (never understated);
- intervention names are told from their descriptions by the condition/intervention summary
  row ("Biological: Isatuximab Drug: Bendamustine …"); "Other Names:" lost the names;
- nested criteria lost their nesting: a bare ``-`` line followed by text is a parent, and its
  sub-items run for as many items as a counting word says ("both of the following" → 2),
  otherwise while they state a bound (≥, <, …);
- the sponsor block, summaries, the MeSH terms and location groups are not read.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from html import escape

from ctwatch.errors import ParseError
from ctwatch.markup import clean
from ctwatch.model import Arm, Contact, Intervention, Official, Outcome, Trial, parse_nct_id
from ctwatch.sources import NCT_ID, terms
from ctwatch.sources.classic import TIME_FRAME, Page, header, site_rows, trial

_TYPES = sorted(terms.ENUMS["intervention_type"])
_TYPE_NAMES = "|".join(word.replace("_", " ").title() for word in _TYPES)
_TYPED = re.compile(rf"(?:^|\s)((?:{_TYPE_NAMES}): )", re.IGNORECASE)
_PHASE = re.compile(r"Early Phase 1|Phase \d|Not Applicable|N/A")
_COUNTS = {"both": 2, "either": 2, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
# "both of the following": a counting word, then "following" or "criteria" in the same
# sentence; read sentence by sentence (see _count).
_COUNT_WORD = re.compile(rf"\b({'|'.join(_COUNTS)})\b", re.I)
_COUNTED = re.compile(r"(?:following|criteria)\b", re.I)
_SENTENCE = re.compile(r"[.:]")
_SPACE = re.compile(r"\s")
_WORD = re.compile(r"\S+")
_BOUND = re.compile(r"[≥≤<>=]")
_ROLE = re.compile(r"^(Principal Investigator|Sub-Investigator|Study Chair|Study Director):$")


def parse(raw: bytes) -> list[Trial]:
    """The trial in the text rendering of a classic study page."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ParseError(f"not UTF-8 text (byte {error.start})") from None
    return [trial(read_text([line.rstrip() for line in text.splitlines()]))]


def cells(line: str) -> list[str] | None:
    """The cells of a table row line ("a | b |"); None for a line that is not one."""
    if not line.endswith("|"):
        return None
    return [clean(cell) or "" for cell in line[:-1].split("|")]


def _find(lines: list[str], start: int, wanted: str | re.Pattern[str]) -> int:
    """The index of the first line from ``start`` that starts with ``wanted`` (or matches
    it); ``len(lines)`` for none."""
    for index in range(start, len(lines)):
        line = lines[index]
        if line.startswith(wanted) if isinstance(wanted, str) else wanted.search(line):
            return index
    return len(lines)


def read_text(lines: list[str]) -> Page:
    found = NCT_ID.search("\n".join(lines))
    if not found:
        raise ParseError("not a ClinicalTrials.gov study page (no NCT id found)")
    page = Page(parse_nct_id(found.group(1)), title=next((clean(x) for x in lines if x), None))
    summary = _find(lines, 0, "Condition or disease |")
    arms_at = min(_find(lines, summary, "Arm |"), _find(lines, summary, "Group/Cohort |"))
    outcomes_at = _find(lines, arms_at, TIME_FRAME)
    ages_at = _find(lines, outcomes_at, "Ages Eligible for Study:")
    contacts_at = _find(lines, ages_at, "To learn more about this study")
    if summary == len(lines) or ages_at == len(lines):
        raise ParseError(f"{page.nct_id}: not the Study Details text of a classic study page "
                         "(no condition summary or eligibility rows)")
    page.header = header(" ".join(lines[:summary]))
    names = _summary(lines[summary + 2] if summary + 2 < len(lines) else "", page)
    page.design = _rows(lines[summary + 3:arms_at])
    _arms(lines[arms_at + 2:outcomes_at], names, page)
    page.outcomes = [_outcome(line) for line in lines[outcomes_at:ages_at] if line.startswith("- ")]
    criteria_at = next((i for i in range(ages_at, contacts_at) if cells(lines[i]) is None),
                       contacts_at)
    page.eligibility = _rows(lines[ages_at:criteria_at])
    page.criteria = _criteria(lines[criteria_at:contacts_at])
    _contacts(lines[contacts_at:], page)
    return page


def _summary(line: str, page: Page) -> list[str]:
    """Conditions and phases from the summary row; the "Type: Name" of its interventions."""
    row = cells(line) or []
    if len(row) >= 1 and row[0]:
        page.conditions = [row[0]]  # several conditions would be run together: kept as one
    page.phases = _PHASE.findall(row[2]) if len(row) > 2 else []
    listed = _TYPED.split(row[1]) if len(row) > 1 else []
    return [f"{kind}{name.strip()}" for kind, name in zip(listed[1::2], listed[2::2],
                                                            strict=True)]


def _rows(lines: list[str]) -> dict[str, str]:
    """Label | value rows; a value alone on the next line belongs to the label before it."""
    rows: dict[str, str] = {}
    label = None
    for line in lines:
        row = cells(line)
        if row is None:
            continue
        if (len(row) >= 2 and row[0]) or (len(row) == 1 and row[0].endswith(":")):
            label = row[0].rstrip(": ")
            rows[label] = row[1] if len(row) >= 2 else ""
        elif len(row) == 1 and label is not None and not rows[label]:
            rows[label] = row[0]
    return rows


def _arms(lines: list[str], names: list[str], page: Page) -> None:
    """Arm rows: the arm cell's lines, a "|" line, the interventions cell's lines, "|"."""
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line.strip() == "|":
            blocks.append([])
        elif line.strip():
            blocks[-1].append(line)
    seen: dict[str, Intervention] = {}
    index = _Names.of(names) if names else None
    for arm_cell, items_cell in zip(blocks[0::2], blocks[1::2], strict=False):
        if not arm_cell:
            continue
        items = _interventions(" ".join(items_cell), index)
        description = "".join(f"<p>{escape(line)}</p>" for line in arm_cell[1:])
        page.arms.append(Arm(arm_cell[0], None, description or None,
                             tuple(f"{i.type}: {i.name}" for i in items)))
        for item in items:
            seen.setdefault(f"{item.type}: {item.name}", item)
    page.interventions = list(seen.values())


def _interventions(text: str, names: _Names | None) -> list[Intervention]:
    """"Type: Name description Other Names: … Type: Name …", split at the names the summary
    row lists (else at "Type: " and the first word after it)."""
    if names is not None:
        parts = names.split(text)
    else:
        parts = re.split(rf"(?:^|\s)((?:{_TYPE_NAMES}): \S+)", text, flags=re.IGNORECASE)
    items = []
    for head, body in zip(parts[1::2], parts[2::2], strict=True):
        kind, _, name = head.partition(": ")
        description = clean(re.sub(r"\bOther Names?:", " ", body))
        items.append(Intervention(kind, name, escape(description) if description else None))
    return items


@dataclass(frozen=True, slots=True)
class _Names:
    """The "Type: Name" of the summary row, and each of them cut at each of its spaces."""

    whole: frozenset[str]
    prefixes: frozenset[str]

    @classmethod
    def of(cls, names: list[str]) -> _Names:
        return cls(frozenset(names), frozenset(name[:end] for name in names
                                               for end in _spaces(name)))

    def split(self, text: str) -> list[str]:
        r"""What ``re.split(r"(?:^|\s)(name|…)(?=\s|$)", text)`` gives, longer names first,
        for names that start with a word. That alternation tries every name after every space
        (arms × names × words); here a word only starts a walk along the names it begins.
        A many-string search library (Aho-Corasick) would do it too; a set of prefixes is
        enough for a page's names and needs no dependency."""
        spaces = _spaces(text)
        parts, kept = [], 0  # kept: the start of the text after the last name found
        for word in _WORD.finditer(text):
            start = word.start()
            if 0 < start <= kept:
                continue  # inside the name found last: a name is found after a space
            found = None
            for end in (spaces[n] for n in range(bisect.bisect_right(spaces, start),
                                                 len(spaces))):
                if text[start:end] not in self.prefixes:
                    break
                if text[start:end] in self.whole:
                    found = end  # the longest name wins, as it is tried first
            if found is not None:
                parts += [text[kept:max(start - 1, 0)], text[start:found]]
                kept = found
        return [*parts, text[kept:]]


def _spaces(text: str) -> list[int]:
    """Where the text may end a name: at each white space character, and at its end."""
    return [space.start() for space in _SPACE.finditer(text)] + [len(text)]


def _outcome(line: str) -> Outcome:
    match = TIME_FRAME.match(line[2:])
    if not match:
        return Outcome("primary", clean(line[2:]) or "")
    rest = match["rest"]
    return Outcome("primary", match["measure"], escape(rest) if rest else None, match["frame"])


def _criteria(lines: list[str]) -> str | None:
    """Criteria lines as the HTML lists they were rendered from."""
    out: list[str] = []
    nested: list[str] = []
    expected: int | None = None  # sub-items still to come under an open parent, if counted
    parent: str | None = None
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if not line:
            continue
        if line == "-" and index < len(lines):  # a parent item: its text on the next line
            out.append(_close(parent, nested))
            parent, nested = lines[index].strip(), []
            expected = _count(parent)
            index += 1
        elif line.startswith("- ") and parent is not None and (
                expected > 0 if expected is not None else bool(_BOUND.search(line))):
            nested.append(line[2:])
            expected = expected - 1 if expected is not None else None
        elif line.startswith("- "):
            out.append(_close(parent, nested))
            parent, nested = None, []
            out.append(f"<li>{escape(line[2:])}</li>")
        else:
            out.append(_close(parent, nested) + f"</ul><p>{escape(line)}</p><ul>")
            parent, nested = None, []
    out.append(_close(parent, nested))
    html = "<ul>" + "".join(out) + "</ul>"
    return html.replace("<ul></ul>", "") or None


def _count(parent: str) -> int | None:
    r"""How many sub-items a parent announces ("both of the following" → 2), if it counts them.
    The first counting word with "following" or "criteria" after it in its sentence, found
    sentence by sentence: ``\b(both|…)\b[^.:]*following`` would scan the rest of the
    sentence from every counting word in it (quadratic in a long unpunctuated text)."""
    for sentence in _SENTENCE.split(parent):
        word = _COUNT_WORD.search(sentence)
        if word and _COUNTED.search(sentence, word.end()):
            return _COUNTS[word.group(1).lower()]
    return None


def _close(parent: str | None, nested: list[str]) -> str:
    if parent is None:
        return ""
    items = "".join(f"<li>{escape(item)}</li>" for item in nested)
    return f"<li><p>{escape(parent)}</p><ul>{items}</ul></li>" if items else \
        f"<li>{escape(parent)}</li>"


def _contacts(lines: list[str], page: Page) -> None:
    """Central contacts, then location rows, then investigators and More Information rows."""
    rows = [row for row in map(cells, lines) if row is not None]
    officials_at = next((i for i, row in enumerate(rows) if _ROLE.match(row[0])), len(rows))
    central = [row for row in rows[:officials_at] if row[0].startswith("Contact:")
               and len(row) >= 3 and row[1]]
    page.contacts = [Contact(row[0].split(":", 1)[1].strip(), "CONTACT", row[1] or None,
                             row[2] or None) for row in central]
    sites = [row for row in rows[:officials_at] if row not in central]
    page.locations = site_rows([(_is_site(row), row) for row in sites])
    officials = [row for row in rows[officials_at:] if _ROLE.match(row[0]) and len(row) >= 2]
    page.officials = [Official(row[1] or None, row[2] if len(row) > 2 else None,
                               terms.enum("role", row[0].rstrip(":"))) for row in officials]
    page.more = _rows(lines[_find(lines, 0, "Responsible Party:"):])


def _is_site(row: list[str]) -> bool:
    """A facility | status row: its second cell is a recruitment status."""
    if len(row) < 2 or not row[1]:
        return False
    try:
        return terms.enum("status", row[1]) is not None
    except ParseError:
        return False
