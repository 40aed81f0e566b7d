"""A saved classic study page (``ct2/show/NCT…``, the Study Details tab) → Trial.

Saved copies of either generation of the page's class names (``tr-indent2``/``ct-body3`` or
the older ``indent2``/``body3``) are read by what the page says rather than by position or
class: tables by their captions or column headings, rows by their labels, blocks by the label
before them (see reference/classic-page.md). What the page shows becomes a
:class:`~ctwatch.sources.classic.Page`, mapped to the trial by :mod:`ctwatch.sources.classic`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bs4 import BeautifulSoup, Comment, Tag

from ctwatch.errors import ParseError
from ctwatch.markup import clean
from ctwatch.model import (
    Arm,
    Contact,
    Intervention,
    Location,
    Official,
    Outcome,
    Trial,
)
from ctwatch.sources import NCT_ID, terms
from ctwatch.sources.classic import TIME_FRAME, Page, header, site_rows, trial

_OUTCOME_LABEL = re.compile(r"(Primary|Secondary|Other)(?:\s+Pre-specified)?\s+Outcome", re.I)


def parse(raw: bytes) -> list[Trial]:
    """The trial on a saved classic study page (its Study Details tab)."""
    soup = BeautifulSoup(raw, "lxml")
    return [trial(read_page(soup))]


def read_page(soup: BeautifulSoup) -> Page:
    nct = _nct_id(soup)
    design = _caption_table(soup, "study information")
    if design is None:
        raise ParseError(f"{nct}: not the Study Details tab of a classic study page (no study "
                         "design table); save the page ct2/show/NCT… shows first")
    page = Page(nct, title=_text(soup.select_one("#main-content h1") or soup.find("h1")))
    page.header = _header(soup)
    page.sponsor = _text(soup.find(id="sponsor"))
    page.collaborators = [t for t in (_text(tag) for tag in soup.find_all(id=_SPONSOR_N)) if t]
    page.summary = _labelled(soup, "Brief Summary")
    page.description = _labelled(soup, "Detailed Description")
    page.design = _rows(design)
    page.eligibility = _rows(_caption_table(soup, "eligibility information"))
    page.more = _rows(_caption_table(soup, "additonal information")
                      or _caption_table(soup, "additional information"))
    page.criteria = _labelled(soup, "Criteria")
    _summary_table(soup, page)
    _arms_table(soup, page)
    page.outcomes = list(_outcomes(soup))
    page.contacts = _central_contacts(_caption_table(soup, "location contacts"))
    page.locations = _locations(_caption_table(soup, "location information"))
    page.officials = _officials(_caption_table(soup, "investigator information"))
    results = _text(soup.find(id="results")) or ""
    page.has_results = "study results" in results.lower()
    return page


_SPONSOR_N = re.compile(r"^sponsor\d+$")


def _nct_id(soup: BeautifulSoup) -> str:
    found = NCT_ID.search(soup.get_text(" "))
    meta = soup.find("meta", attrs={"name": "ncbi_pcid"})
    value = found.group(1) if found else meta.get("content") if isinstance(meta, Tag) else None
    if not value:
        raise ParseError("not a ClinicalTrials.gov study page (no NCT id found)")
    try:
        return terms.nct_id(str(value))
    except ParseError as error:
        raise ParseError(f"not a ClinicalTrials.gov study page ({error})") from None


def _text(tag: Tag | None, separator: str = " ") -> str | None:
    return clean(tag.get_text(separator)) if isinstance(tag, Tag) else None


def _inner(tag: Tag | None) -> str | None:
    """A tag's content as an HTML fragment."""
    return tag.decode_contents() if isinstance(tag, Tag) else None


def _header(soup: BeautifulSoup) -> dict[str, str]:
    identifier = soup.find(string=lambda s: not isinstance(s, Comment) and NCT_ID.search(s))
    table = identifier.find_parent("table") if identifier else None
    return header(_text(table) or "")


def _caption_table(soup: BeautifulSoup, words: str) -> Tag | None:
    """The table captioned "Layout table for <words>" (older pages: its summary attribute)."""
    for table in soup.find_all("table"):
        caption = _text(table.find("caption")) or str(table.get("summary") or "")
        if words in caption.lower():
            return table
    return None


def _cells(row: Tag) -> list[Tag]:
    return row.find_all(["td", "th"], recursive=False)


def _rows(table: Tag | None) -> dict[str, str]:
    """A two-column layout table as label → value; labels lose their colon ("Allocation")
    but keep a type word before them ("Estimated Enrollment")."""
    rows: dict[str, str] = {}
    for row in table.find_all("tr") if table else []:
        cells = [cell for cell in _cells(row) if cell.name == "td"]
        if len(cells) >= 2:
            label = (_text(cells[0]) or "").rstrip(": ")
            rows[label] = "\n".join(_lines(cells[1]))
    return rows


def _labelled(soup: BeautifulSoup, label: str) -> str | None:
    """The HTML of the block after a label block ("Brief Summary:" then its text)."""
    pattern = re.compile(rf"^\s*{label}\s*:?\s*$")
    for string in soup.find_all(string=pattern):
        block = string.find_parent("div")
        if block is not None and (_text(block) or "").rstrip(": ") == label:
            return _inner(block.find_next_sibling("div"))
    return None


def _column_table(soup: BeautifulSoup, *heading: str) -> tuple[list[str], list[list[Tag]]]:
    """The data table with a column headed by one of ``heading``: its column headings and
    its rows of cells."""
    for table in soup.find_all("table"):
        headings = [_text(th) or "" for th in table.find_all("th")]
        if set(heading) & set(headings):
            rows = [_cells(row) for row in table.find_all("tr")]
            return headings, [cells for cells in rows if cells and cells[0].name == "td"]
    return [], []


def _summary_table(soup: BeautifulSoup, page: Page) -> None:
    headings, rows = _column_table(soup, "Condition or disease")
    if not rows:
        return
    values = dict(zip(headings, rows[0], strict=False))
    page.conditions = _items(values.get("Condition or disease"))
    page.phases = _items(values.get("Phase"))


def _items(cell: Tag | None) -> list[str]:
    """The items a cell lists: one per span, else one per line."""
    spans = cell.find_all("span", recursive=False) if cell is not None else []
    return [t for t in map(_text, spans) if t] if spans else _lines(cell)


def _lines(cell: Tag | None) -> list[str]:
    if cell is None:
        return []
    return [line for line in (clean(part) for part in cell.get_text("\n").split("\n")) if line]


def _arms_table(soup: BeautifulSoup, page: Page) -> None:
    _, rows = _column_table(soup, "Arm", "Group/Cohort")
    seen: dict[str, Intervention] = {}
    for cells in rows:
        if len(cells) < 2:
            continue
        label, description = _arm_cell(cells[0])
        items = list(_intervention_cell(cells[1]))
        page.arms.append(Arm(label, None, description, tuple(f"{i.type}: {i.name}" for i in items)))
        for item in items:
            seen.setdefault(f"{item.type}: {item.name}", item)
    page.interventions = list(seen.values())


def _arm_cell(cell: Tag) -> tuple[str, str | None]:
    """("Experimental: Label", description HTML) of an arm cell."""
    return clean(" ".join(_leading_text(cell))) or "", _inner(cell.find("div"))


def _leading_text(cell: Tag) -> Iterator[str]:
    for child in cell.children:
        if isinstance(child, Tag) and child.name in ("div", "ul", "ol", "p", "table"):
            return
        yield child.get_text(" ") if isinstance(child, Tag) else str(child)


_INLINE = frozenset({"span", "b", "strong", "i", "em", "a"})


def _intervention_cell(cell: Tag) -> Iterator[Intervention]:
    """Interventions of an arm row: "Type: Name", a description block, then "Other Names:"
    and a list of names (inside the description block or after it)."""
    items: list[tuple[str, list[Tag]]] = []  # ("Type: Name", the blocks after it)
    joinable = False  # the head in hand may continue in the next inline piece
    for child in cell.children:
        if isinstance(child, Tag) and child.name not in _INLINE:
            if child.name != "br" and items:
                items[-1][1].append(child)
            joinable = False
            continue
        text = clean(child.get_text(" ") if isinstance(child, Tag) else str(child))
        if not text or text.startswith("Other Name"):
            continue
        if joinable:
            items[-1] = (f"{items[-1][0]} {text}", items[-1][1])
        else:
            items.append((text, []))
        joinable = True
    for head, blocks in items:
        kind, _, name = head.partition(": ")
        item = Intervention(kind, clean(name) or kind)
        for block in blocks:
            item = _intervention_block(item, block)
        yield item


def _intervention_block(item: Intervention, block: Tag) -> Intervention:
    names = tuple(name for li in block.find_all("li") if (name := _text(li)))
    if block.name in ("ul", "ol"):
        return Intervention(item.type, item.name, item.description, item.other_names + names)
    for tag in block.find_all(["ul", "ol"]):
        tag.extract()
    for label in block.find_all(string=re.compile(r"Other Names?:")):
        label.extract()
    return Intervention(item.type, item.name, _inner(block), item.other_names + names)


def _outcomes(soup: BeautifulSoup) -> Iterator[Outcome]:
    for ol in soup.find_all("ol"):
        label = _OUTCOME_LABEL.search(" ".join(_leading_text(ol.parent)) if ol.parent else "")
        if label is None:
            continue
        for li in ol.find_all("li", recursive=False):
            block = li.find("div")
            description = _inner(block.extract()) if block else None
            match = TIME_FRAME.match(_text(li) or "")
            measure, frame = (match["measure"], match["frame"]) if match else (_text(li), None)
            yield Outcome(label.group(1).lower(), measure or "", description, frame)


def _central_contacts(table: Tag | None) -> list[Contact]:
    contacts = []
    for row in table.find_all("tr") if table else []:
        cells = {" ".join(cell.get("headers") or ()): _text(cell) for cell in row.find_all("td")}
        name = cells.get("contactName")
        if name:
            contacts.append(Contact(_after_label(name), "CONTACT", cells.get("contactPhone"),
                                    cells.get("contactEmail")))
    return contacts


def _after_label(text: str) -> str:
    return clean(text.split(":", 1)[1]) or "" if ":" in text else text


def _locations(table: Tag | None) -> list[Location]:
    rows = [(row.find("td", headers="locStatus") is not None,
             [_text(cell) or "" for cell in _cells(row)])
            for row in (table.find_all("tr") if table else [])]
    return site_rows(rows)


def _officials(table: Tag | None) -> list[Official]:
    officials = []
    for row in table.find_all("tr") if table else []:
        cells = [_text(cell) or "" for cell in row.find_all("td")]
        if len(cells) >= 2:
            role = terms.enum("role", cells[0].rstrip(": "))
            officials.append(Official(cells[1] or None, cells[2] if len(cells) > 2 else None, role))
    return officials


