"""The normalized trial: frozen dataclasses whose ``to_dict()`` is the published JSON shape.

The shape is the analyst contract of DESIGN.md §3 and is described by ``trial.schema.json``
beside this module. Every key is always present; absent values are ``None`` or empty lists.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from enum import Enum, StrEnum
from importlib import resources
from typing import Any, get_args, get_origin, get_type_hints

from ctwatch import labels
from ctwatch.errors import InvalidNctId

#: The version of the published shape; 2 (issue 16) added ``oversight`` and the results and
#: certification dates of ``status``; 3 (issue 18) the measure code and normalized value and
#: unit of every threshold. ``Trial.from_dict`` reads an older object as this one, the fields
#: it lacks at their defaults (a stored snapshot is re-parsed before it is compared: see
#: ``sources.PARSER_VERSION``).
SCHEMA_VERSION = 3

# ASCII only: \d and re.IGNORECASE would also take full-width or Arabic-Indic digits.
_NCT_ID = re.compile(r"\s*[nN][cC][tT]([0-9]{8})\s*")


def parse_nct_id(value: str) -> str:
    """Validate an NCT id ("NCT" + 8 ASCII digits, any case) and return it upper-cased."""
    match = _NCT_ID.fullmatch(value or "")
    if not match:
        raise InvalidNctId(value)
    return "NCT" + match.group(1)


def _key(name: str) -> str:
    """The JSON key of a field: ``class_`` is published as ``class``."""
    return name.rstrip("_")


class Record:
    """Mixin for the domain dataclasses: conversion to and from the published JSON shape."""

    def to_dict(self) -> dict[str, Any]:
        keys, values = _layout(type(self))
        # zip's strict= costs a fifth of this line on Python 3.11; both come from fields(self).
        return {key: value if type(value) in _JSON_SCALARS else _dump(value)
                for key, value in zip(keys, values(self))}  # noqa: B905

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        hints = _hints(cls)
        # A key an older schema did not have keeps its field's default (a record, not None).
        return cls(**{f.name: _load(hints[f.name], data.get(_key(f.name))) for f in fields(cls)  # type: ignore[arg-type]
                      if _key(f.name) in data or not _has_default(f)})


def _has_default(f: Any) -> bool:
    return f.default is not MISSING or f.default_factory is not MISSING


_LAYOUTS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def _layout(cls: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """The JSON keys of a record class, and a function reading its field values in their
    order: ``fields()`` per object was half the cost of ``to_dict`` (issue 13)."""
    if cls not in _LAYOUTS:
        names = tuple(f.name for f in fields(cls))
        read = operator.attrgetter(*names)
        _LAYOUTS[cls] = (tuple(map(_key, names)),
                         read if len(names) > 1 else lambda record: (read(record),))
    return _LAYOUTS[cls]


# Most values are JSON already: a lookup by their exact type settles them (not subclasses:
# Severity is a str, published as its value).
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def _dump(value: Any) -> Any:
    if type(value) in _JSON_SCALARS:
        return value
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value  # the published shape holds plain strings
    if isinstance(value, tuple):
        return [item if type(item) in _JSON_SCALARS else _dump(item) for item in value]
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _load(hint: Any, value: Any) -> Any:
    """A JSON value as the field type ``hint`` says: tuples of records, optional records."""
    args = [arg for arg in get_args(hint) if arg is not type(None)]
    if get_origin(hint) is tuple:
        return tuple(_load(args[0], item) for item in value or ())
    target = args[0] if args else hint
    if is_dataclass(target) and isinstance(value, dict):
        return target.from_dict(value)  # type: ignore[union-attr]
    return value


@dataclass(frozen=True, slots=True)
class Party(Record):
    """An organisation: lead sponsor or collaborator."""

    name: str | None = None
    class_: str | None = None


@dataclass(frozen=True, slots=True)
class Sponsor(Record):
    lead: Party | None = None
    collaborators: tuple[Party, ...] = ()


@dataclass(frozen=True, slots=True)
class DatePoint(Record):
    """A registry date with its precision kept ("2023-10" stays "2023-10") and its type."""

    date: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True)
class Status(Record):
    overall: str | None = None
    why_stopped: str | None = None
    verified: str | None = None
    start: DatePoint = field(default_factory=DatePoint)
    primary_completion: DatePoint = field(default_factory=DatePoint)
    completion: DatePoint = field(default_factory=DatePoint)
    first_posted: str | None = None
    last_update_posted: str | None = None
    has_results: bool = False
    results_first_submitted: str | None = None
    results_first_posted: str | None = None
    # "Certification/Extension First Submitted": a certification that results may be delayed
    # or a request to extend their deadline (42 CFR 11.44(b), (e)); legacy XML "disposition"
    disposition_first_submitted: str | None = None
    disposition_first_posted: str | None = None


@dataclass(frozen=True, slots=True)
class Enrollment(Record):
    count: int | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True)
class Design(Record):
    study_type: str | None = None
    phases: tuple[str, ...] = ()
    allocation: str | None = None
    intervention_model: str | None = None
    masking: str | None = None
    primary_purpose: str | None = None
    enrollment: Enrollment = field(default_factory=Enrollment)


@dataclass(frozen=True, slots=True)
class Oversight(Record):
    """The record's answers on U.S. FDA oversight (FDAAA 801): Yes, No, or not given (None).
    Whether the trial holds an IND or IDE is not published."""

    is_fda_regulated_drug: bool | None = None
    is_fda_regulated_device: bool | None = None
    is_us_export: bool | None = None  # product manufactured in and exported from the U.S.


@dataclass(frozen=True, slots=True)
class Dose(Record):
    """One dosing instruction read from an arm description, best effort."""

    intervention: str
    dose: float | None = None
    unit: str | None = None
    days: tuple[int, ...] = ()
    cycle: str | None = None


@dataclass(frozen=True, slots=True)
class Arm(Record):
    label: str
    type: str | None = None
    description: str | None = None
    interventions: tuple[str, ...] = ()
    dosing: tuple[Dose, ...] = ()


@dataclass(frozen=True, slots=True)
class Intervention(Record):
    type: str | None
    name: str
    description: str | None = None
    other_names: tuple[str, ...] = ()
    arms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome(Record):
    kind: str  # primary | secondary | other
    measure: str
    description: str | None = None
    time_frame: str | None = None


@dataclass(frozen=True, slots=True)
class Threshold(Record):
    """A numeric bound in a criterion: ``measure comparator value unit``, as written, and what
    ctwatch.units reads in them for analysts: the measure's code (``anc``) and the value in
    one unit per measure (1500 "/mm3" → 1.5 "10*9/L"). Those three follow from the four
    written fields, so they never make a change of their own."""

    measure: str | None
    comparator: str  # one of > >= < <= =
    value: float | int
    unit: str | None = None
    measure_code: str | None = None  # one of ctwatch.measure_codes.CODES, else None
    value_si: float | None = None  # the value in unit_si, when the unit is known
    unit_si: str | None = None  # the UCUM spelling of the normalized unit


@dataclass(frozen=True, slots=True)
class Criterion(Record):
    id: str
    text: str
    children: tuple[Criterion, ...] = ()
    thresholds: tuple[Threshold, ...] = ()


@dataclass(frozen=True, slots=True)
class Eligibility(Record):
    sex: str | None = None
    minimum_age: str | None = None
    maximum_age: str | None = None
    std_ages: tuple[str, ...] = ()
    healthy_volunteers: bool | None = None
    inclusion: tuple[Criterion, ...] = ()
    exclusion: tuple[Criterion, ...] = ()
    unclassified: tuple[Criterion, ...] = ()
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Contact(Record):
    name: str | None = None
    role: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Official(Record):
    name: str | None = None
    affiliation: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class Location(Record):
    facility: str | None = None
    status: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    contacts: tuple[Contact, ...] = ()


@dataclass(frozen=True, slots=True)
class Trial(Record):
    """One study record, normalized: the same whatever format it was read from."""

    nct_id: str
    schema_version: int = SCHEMA_VERSION
    org_study_id: str | None = None
    brief_title: str | None = None
    official_title: str | None = None
    acronym: str | None = None
    brief_summary: str | None = None
    detailed_description: str | None = None
    sponsor: Sponsor = field(default_factory=Sponsor)
    conditions: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    status: Status = field(default_factory=Status)
    design: Design = field(default_factory=Design)
    oversight: Oversight = field(default_factory=Oversight)
    arms: tuple[Arm, ...] = ()
    interventions: tuple[Intervention, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    eligibility: Eligibility = field(default_factory=Eligibility)
    contacts: tuple[Contact, ...] = ()
    officials: tuple[Official, ...] = ()
    locations: tuple[Location, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = Record.to_dict(self)
        # schema_version leads the published object, as in DESIGN §3.
        return {"schema_version": data.pop("schema_version"), **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trial:
        """A trial from its published shape, also as an older schema version wrote it: read
        as this version's trial, what that version did not hold at its default."""
        trial: Trial = super(Trial, cls).from_dict(data)
        if trial.schema_version != SCHEMA_VERSION:
            trial = replace(trial, schema_version=SCHEMA_VERSION)
        return trial


def schema() -> dict[str, Any]:
    """The JSON Schema of ``Trial.to_dict()``, shipped as ``trial.schema.json``."""
    text = resources.files("ctwatch").joinpath("trial.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _by_rank(compare: Callable[[int, int], bool]) -> Callable[[Severity, object], bool]:
    """A comparison of severities by rank; a plain string is read as its severity."""
    def method(self: Severity, other: object) -> bool:
        if not isinstance(other, str):
            return NotImplemented
        return compare(_RANK[self], _RANK[Severity(other)])
    return method


class Severity(StrEnum):
    """How much a change matters (DESIGN §7), least first. Members compare by that rank, not
    as strings, so ``max``, ``>=`` and ``sorted`` order them; their values are the strings
    published in JSON and written in config.yaml (``Severity("major") is Severity.MAJOR``)."""

    INFO = "info"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"

    __lt__ = _by_rank(operator.lt)
    __le__ = _by_rank(operator.le)
    __gt__ = _by_rank(operator.gt)
    __ge__ = _by_rank(operator.ge)


_RANK = {severity: rank for rank, severity in enumerate(Severity)}


@dataclass(frozen=True, slots=True)
class BoundChange(Record):
    """A numeric bound of an edited criterion compared by meaning (DESIGN §7): ``verdict``
    says what the edit does to eligibility, ``stricter`` (fewer people eligible), ``looser``,
    or ``changed`` (a unit or an exact value: not comparable). ``old`` is None for a bound the
    edit added, ``new`` None for one it removed."""

    measure: str | None
    verdict: str  # stricter | looser | changed
    old: Threshold | None = None
    new: Threshold | None = None


@dataclass(frozen=True, slots=True)
class Change(Record):
    """One difference between two versions of a trial (DESIGN §7).

    ``path`` is machine-readable and stable (``outcomes[primary: Overall response rate
    (ORR)].time_frame``, ``eligibility.inclusion[<text>]``); ``old``/``new`` are JSON values,
    the whole element for an added or removed list element. ``label`` names the field in the
    registry's words ("Primary Outcome Measure: Overall response rate (ORR) — Time Frame",
    "Inclusion criterion 5"); a change stored before labels existed gets one from its path.
    ``bounds`` compares the numeric bounds of an edited criterion.
    """

    path: str
    kind: str  # added | removed | changed
    old: Any = None
    new: Any = None
    category: str = ""
    severity: Severity = Severity.INFO
    summary: str = ""
    flags: tuple[str, ...] = ()  # e.g. "outcome_changed_after_start"
    label: str = ""
    bounds: tuple[BoundChange, ...] = ()

    def __post_init__(self) -> None:
        # A string (stored JSON, a rule, a caller) becomes the ordered member here, once.
        object.__setattr__(self, "severity", Severity(self.severity))
        if not self.label:
            object.__setattr__(self, "label", labels.label(self.path, self.old, self.new))


def top_severity(changes: Iterable[Change]) -> Severity | None:
    """The most severe severity among changes; None for none."""
    return max((change.severity for change in changes), default=None)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One stored version of a trial, and where it came from (never part of the diff)."""

    id: int | None  # None until stored
    nct_id: str
    fetched_at: str  # ISO 8601, UTC
    source: str  # api_v2 | history | …
    url: str | None
    registry_version: int | None  # the registry's version number, 0 = first registration
    registry_date: str | None  # the registry's date of this version
    parser_version: int
    content_hash: str
    trial: Trial


@dataclass(frozen=True, slots=True)
class ChangeSet(Record):
    """The changes between two snapshots of one trial: what an alert is about.

    ``to_dict()`` is the line the ``file`` channel writes and webhooks post."""

    id: int
    nct_id: str
    title: str | None
    from_snapshot: int
    to_snapshot: int
    from_version: int | None
    to_version: int | None
    from_date: str | None
    to_date: str | None
    created_at: str
    changes: tuple[Change, ...] = ()

    @property
    def top_severity(self) -> Severity:
        return top_severity(self.changes) or Severity.INFO

    @property
    def milestone(self) -> str | None:
        """The key of the compliance milestone this alert is about (:mod:`ctwatch.milestones`:
        from and to one snapshot, its one change the finding); None for a change set."""
        for change in self.changes:
            if change.category == "compliance" and isinstance(change.new, dict):
                return change.new.get("milestone")
        return None

    def to_dict(self) -> dict[str, Any]:
        return {**Record.to_dict(self), "top_severity": self.top_severity.value}


@dataclass(frozen=True, slots=True)
class SearchChangeSet(ChangeSet):
    """The trials that entered and left a watched search (:mod:`ctwatch.searches`) since its
    last check: an alert about a search, not a trial (``nct_id`` is empty, no snapshot)."""

    search: str = ""
    search_url: str = ""  # the search on the registry's site

    @property
    def entered(self) -> list[Change]:
        return [change for change in self.changes if change.kind == "added"]

    @property
    def left(self) -> list[Change]:
        return [change for change in self.changes if change.kind == "removed"]
