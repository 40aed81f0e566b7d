"""The classic study page (``ct2/show/NCT…``, retired June 2024) as it displayed a study,
→ Trial.

Both readers of the page — :mod:`~ctwatch.sources.classic_page` for the saved HTML and
:mod:`~ctwatch.sources.classic_text` for its text rendering — fill a :class:`Page` with the
registry's display wording ("Estimated Enrollment": "37 participants", "Masking": "None (Open
Label)"); :func:`trial` maps it to the normalized trial, with rich text as HTML read by
:mod:`ctwatch.markup`, so both give the same trial for the same content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ctwatch import criteria
from ctwatch.errors import ParseError
from ctwatch.markup import clean, inline, to_text
from ctwatch.model import (
    Arm,
    Contact,
    DatePoint,
    Design,
    Eligibility,
    Enrollment,
    Intervention,
    Location,
    Official,
    Outcome,
    Oversight,
    Party,
    Sponsor,
    Status,
    Trial,
)
from ctwatch.sources import linking, terms

# "Measure [ Time Frame: 6 months ] description". Linear on any text: a group takes a run of
# white space whole (possessively) or not at all, and the frame stops at any bracket, so no
# run or frame is scanned again from each position.
TIME_FRAME = re.compile(r"^(?P<measure>(?:\S|\s++(?=\S))*?)\s*+\[\s*+Time Frame:\s*+"
                        r"(?P<frame>(?:[^\[\]\s]|\s++(?=[^\[\]\s]))*+)\s*+\]\s*+(?P<rest>.*)$",
                        re.S)
HEADER = {
    "status": re.compile(r"Recruitment Status\s*:\s*(.+?)(?=\s+(?:Verified|First Posted|"
                         r"Last Update Posted|Recruitment status was)\b|\s*\||$)", re.I),
    "first_posted": re.compile(r"First Posted\s*:\s*([A-Z][a-z]+\.? \d{1,2},? \d{4})"),
    "last_update_posted": re.compile(r"Last Update Posted\s*:\s*([A-Z][a-z]+\.? \d{1,2},? "
                                     r"\d{4})"),
}
_DATE_TYPE = re.compile(r"^(Actual|Estimated|Anticipated)\s+", re.IGNORECASE)


def header(text: str) -> dict[str, str]:
    """Status, first posted and last update posted from the text of the page's header."""
    text = " ".join(text.split())  # HEADER's lookaheads would scan long white space per position
    return {key: match.group(1) for key, pattern in HEADER.items()
            if (match := pattern.search(text))}


@dataclass
class Page:
    """What a classic study page shows, in the registry's display wording."""

    nct_id: str
    title: str | None = None
    header: dict[str, str] = field(default_factory=dict)  # status, first/last posted
    sponsor: str | None = None
    collaborators: list[str] = field(default_factory=list)
    summary: str | None = None  # HTML, as every rich text of a Page
    description: str | None = None
    conditions: list[str] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    design: dict[str, str] = field(default_factory=dict)  # row label → value (lines)
    # Arms labelled "Experimental: Label", linked by "Type: Name" references; interventions
    # typed by display term ("Biological"); descriptions as HTML.
    arms: list[Arm] = field(default_factory=list)
    interventions: list[Intervention] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    eligibility: dict[str, str] = field(default_factory=dict)
    criteria: str | None = None  # HTML
    contacts: list[Contact] = field(default_factory=list)
    officials: list[Official] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)
    more: dict[str, str] = field(default_factory=dict)  # More Information rows
    has_results: bool = False


_PERSON = re.compile(r"^(Principal Investigator|Sub-Investigator|Study Chair|Study Director)"
                     r"\s*:\s*(.+)$")
_CONTACT_CHARS = 300  # longer rows are not read as a site contact (the pattern backtracks)
_SITE_CONTACT = re.compile(r"^Contact:\s*(?P<name>.+?)(?:\s+(?P<phone>\+?\d[\d\s().-]{5,}\d"
                           r"(?:\s*(?:ext\.?|x)\s*\d+)?))?(?:\s+(?P<email>\S+@\S+))?$")


@dataclass
class _Site:
    facility: str
    status: str | None
    place: str | None = None
    people: list[Contact] = field(default_factory=list)

    def location(self) -> Location:
        """The site; its place row reads "City, State, Country, ZIP" (state, ZIP optional)."""
        parts = [clean(part) for part in (self.place or "").split(",")]
        zip_code = parts.pop() if len(parts) > 2 and any(c.isdigit() for c in parts[-1] or "") \
            else None
        city = parts[0] if parts else None
        country = parts[-1] if len(parts) > 1 else None
        state = parts[1] if len(parts) > 2 else None
        return Location(self.facility, terms.enum("status", self.status), city, state,
                        zip_code, country, tuple(self.people))


def site_rows(rows: list[tuple[bool, list[str]]]) -> list[Location]:
    """Locations from the rows of the location table, each (whether it is a site's facility +
    status row, its cells as text): a country/state group row, then per site a facility row,
    a place row, contact and investigator rows."""
    sites: list[_Site] = []
    for facility, row in rows:
        cells = [cell for cell in row if cell]
        if not cells:
            continue
        text = cells[0]
        if facility:
            sites.append(_Site(text, cells[1] if len(cells) > 1 else None))
        elif sites and (person := _PERSON.match(text)):
            sites[-1].people.append(Contact(person[2], terms.enum("role", person[1])))
        elif sites and len(text) <= _CONTACT_CHARS and (contact := _SITE_CONTACT.match(text)):
            sites[-1].people.append(Contact(contact["name"], "CONTACT", contact["phone"],
                                            contact["email"]))
        elif sites and sites[-1].place is None:
            sites[-1].place = text
    return [site.location() for site in sites]


def trial(page: Page) -> Trial:
    """The normalized trial a page shows; a display term outside the registry's vocabulary
    is a ParseError naming the page's trial."""
    try:
        return _trial(page)
    except ParseError as error:
        raise ParseError(f"{page.nct_id}: {error}") from None


def _trial(page: Page) -> Trial:
    arms, interventions = linking.link(
        [_arm(arm) for arm in page.arms], [_intervention(item) for item in page.interventions])
    return Trial(
        nct_id=page.nct_id,
        org_study_id=(page.more.get("Other Study ID Numbers") or "").split("\n")[0] or None,
        brief_title=page.title,
        official_title=clean(page.design.get("Official Title")),
        brief_summary=to_text(page.summary, "html"),
        detailed_description=to_text(page.description, "html"),
        sponsor=Sponsor(Party(page.sponsor) if page.sponsor else None,
                        tuple(Party(name) for name in page.collaborators)),
        conditions=tuple(page.conditions),
        keywords=tuple(_keywords(page.more)),
        status=_status(page),
        design=_design(page),
        oversight=Oversight(*(terms.yes_no(page.more.get(label)) for label in _OVERSIGHT)),
        arms=arms,
        interventions=interventions,
        outcomes=tuple(Outcome(o.kind, inline(o.measure, "plain") or "",
                               to_text(o.description, "html"),
                               inline(o.time_frame, "plain")) for o in page.outcomes),
        eligibility=_eligibility(page),
        contacts=tuple(page.contacts),
        officials=tuple(page.officials),
        locations=tuple(page.locations),
    )


#: the More Information rows of Oversight (reference/classic-page.md), in Oversight's order
_OVERSIGHT = ("Studies a U.S. FDA-regulated Drug Product",
              "Studies a U.S. FDA-regulated Device Product",
              "Product Manufactured in and Exported from the U.S.")


def _keywords(more: dict[str, str]) -> list[str]:
    rows = [value for label, value in more.items() if label.startswith("Keywords provided by")]
    return [kw for value in rows for kw in (clean(line) for line in value.split("\n")) if kw]


def _arm(arm: Arm) -> Arm:
    kind, _, label = arm.label.partition(": ")
    try:
        arm_type = terms.enum("arm_type", kind) if label else None
    except ParseError:  # an observational group: its label may hold a colon of its own
        arm_type, label = None, arm.label
    return Arm(clean(label or arm.label) or "", arm_type, to_text(arm.description, "html"),
               arm.interventions)


def _intervention(item: Intervention) -> Intervention:
    return Intervention(terms.enum("intervention_type", item.type), item.name,
                        to_text(item.description, "html"), item.other_names, item.arms)


def _dated_rows(rows: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    """Rows whose label starts with a type word: "Actual Study Start Date" →
    {"Study Start Date": (value, "ACTUAL")}."""
    out: dict[str, tuple[str, str | None]] = {}
    for label, value in rows.items():
        match = _DATE_TYPE.match(label)
        kind = terms.enum("date_type", match.group(1)) if match else None
        out[label[match.end():] if match else label] = (value, kind)
    return out


def _status(page: Page) -> Status:
    dated = _dated_rows(page.design)

    def point(label: str) -> DatePoint:
        value, kind = dated.get(label, ("", None))
        return DatePoint(terms.date(value), kind if value else None)

    return Status(
        overall=terms.enum("status", page.header.get("status")),
        verified=terms.date(page.more.get("Last Verified")),
        start=point("Study Start Date"),
        primary_completion=point("Primary Completion Date"),
        completion=point("Study Completion Date"),
        first_posted=terms.date(page.header.get("first_posted")),
        last_update_posted=terms.date(page.header.get("last_update_posted")),
        has_results=page.has_results,
    )


def _design(page: Page) -> Design:
    rows = page.design
    text, kind = _dated_rows(rows).get("Enrollment", ("", None))
    count = terms.count(text, "Enrollment")
    return Design(
        study_type=terms.enum("study_type", rows.get("Study Type")),
        phases=terms.phases(page.phases),
        allocation=terms.enum("allocation", rows.get("Allocation")),
        intervention_model=terms.enum("intervention_model", rows.get("Intervention Model")),
        masking=terms.enum("masking", rows.get("Masking")),
        primary_purpose=terms.enum("primary_purpose", rows.get("Primary Purpose")),
        enrollment=Enrollment(count, kind if count is not None else None),
    )


_AGES = re.compile(r"^(?:(?P<min>\d+ \w+) (?:to (?P<max>\d+ \w+)|and older)|up to "
                   r"(?P<upto>\d+ \w+))?\s*(?:\((?P<groups>[^)]*)\)|(?P<bare>[A-Za-z ,]+))?$")


def _eligibility(page: Page) -> Eligibility:
    rows = page.eligibility
    ages = _AGES.match(clean(rows.get("Ages Eligible for Study")) or "")
    groups = (ages.group("groups") or ages.group("bare") or "") if ages else ""
    minimum = terms.age(ages.group("min")) if ages else None
    maximum = terms.age(ages.group("max") or ages.group("upto")) if ages else None
    std_ages = tuple(filter(None, (terms.enum("std_age", g) for g in groups.split(","))))
    sex = rows.get("Sexes Eligible for Study") or rows.get("Genders Eligible for Study")
    return Eligibility(
        sex=terms.enum("sex", sex),
        minimum_age=minimum,
        maximum_age=maximum,
        std_ages=std_ages or (terms.std_ages(minimum, maximum) if ages else ()),
        healthy_volunteers=terms.yes_no(rows.get("Accepts Healthy Volunteers")),
        **criteria.eligibility_parts(page.criteria, "html"),
    )
