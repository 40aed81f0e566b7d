"""FDAAA 801 and 42 CFR Part 11: what a trial's record, and its stored history, say about its
duties, as findings that give their reasons and the rule they come from.

:func:`assess` is pure: a trial, its stored versions and the day to judge on give an
:class:`Assessment`. Only the public record is read, so applicability is a *probable* verdict:
the registry publishes neither a trial's IND or IDE nor the responsible party's assessment.

- **probable applicable clinical trial** (42 CFR 11.10(a), 11.22(b)), as the FDAAA
  TrialsTracker reads the record (ebmdatalab/clinicaltrials-act-tracker, ``view.sql``:
  ``act_flag``, ``included_pact_flag``): interventional; an FDA-regulated drug or device by
  the oversight answers (a record older than those questions: an intervention of a kind the
  FDA regulates); not a phase 1 drug trial; not device feasibility; not withdrawn; a U.S.
  site or a U.S. export; started on or after 2017-01-18, or completing on or after it;
- **results due** (42 CFR 11.44): 365 days after the primary completion date (else the
  completion date), or 3 years after it with a certification or extension request submitted
  in time; an estimated date counts once passed (42 U.S.C. 282(j)(3)(E)(i)); submitted results
  stop the clock; overdue after the tracker's 30-day grace, in days from the due date;
- **record verified** at least every 12 months while the trial is open, and **updated** within
  30 days of the primary completion date (42 CFR 11.64(a)(1)), now or in a stored version.

A month-only date counts to its last day, as the tracker reads it. Findings that call for an
alert carry a ``milestone``, a key that stays the same for the same deadline
(``results-overdue:2024-10-27``): each is sent once, a moved deadline anew.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from ctwatch.errors import NoSuchSnapshot
from ctwatch.labels import wording
from ctwatch.model import Snapshot, Trial

if TYPE_CHECKING:
    from ctwatch.store import Store

#: the Final Rule's effective date (81 FR 64982; the tracker's view.sql)
EFFECTIVE_DATE = date(2017, 1, 18)
RESULTS_DAYS = 365  # the tracker's calculated_due_date: completion + 365 days
CERTIFIED_YEARS = 3  # with a certification: completion + 3 years (42 CFR 11.44(b), (e))
GRACE_DAYS = 30  # the tracker's GRACE_PERIOD: overdue once this many days past due
NOTICE_DAYS = 30  # a milestone when results are due within this many days
UPDATE_DAYS = 30  # status and primary completion date updated within (42 CFR 11.64(a)(1)(ii))
VERIFY_YEARS = 1  # the record verified at least this often (42 CFR 11.64(a)(1))

#: the U.S. and its territories, as the tracker's view.sql names them
US_PLACES = ("United States", "American Samoa", "Guam", "Northern Mariana Islands",
             "Puerto Rico", "Virgin Islands (U.S.)")
#: intervention types the tracker takes for an FDA-regulated product when the record predates
#: the oversight questions
PRODUCT_TYPES = ("DRUG", "BIOLOGICAL", "DEVICE", "GENETIC", "RADIATION", "COMBINATION_PRODUCT",
                 "DIAGNOSTIC_TEST")
PHASE_ONE = frozenset({"EARLY_PHASE1", "PHASE1"})
RECRUITING = ("NOT_YET_RECRUITING", "RECRUITING", "ENROLLING_BY_INVITATION")
CLOSED = ("COMPLETED", "TERMINATED", "WITHDRAWN")

#: what a finding can be
CODES = ("results-due-soon", "results-in-grace", "results-overdue", "results-submitted-late",
         "certification-late", "verification-lapsed", "record-not-updated", "record-updated-late")
#: finding code → the rule it comes from
RULES = {
    "probable-act": "42 CFR 11.10(a), 11.22(b); FDAAA TrialsTracker (view.sql act_flag, "
                    "included_pact_flag)",
    "results": "42 CFR 11.44(a); 42 U.S.C. 282(j)(3)(E)(i); FDAAA TrialsTracker "
               "(calculated_due_date: 365 days; 30-day grace)",
    "certification": "42 CFR 11.44(b), (e); FDAAA TrialsTracker (a certificate: 3 years)",
    "verification": "42 CFR 11.64(a)(1): verified at least every 12 months",
    "updates": "42 CFR 11.64(a)(1)(ii): overall status and primary completion date updated "
               "within 30 days",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """Something the record says about a duty. ``days``: overdue, left, late or past, as the
    summary says; ``milestone``: the key an alert is sent once for, None when none is."""

    code: str  # one of CODES
    summary: str
    reasons: tuple[str, ...]
    rule: str
    milestone: str | None = None
    days: int | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the trial is probably an applicable clinical trial, and why (every criterion)."""

    probable: bool
    kind: str | None  # ACT: started on or after 2017-01-18; pACT: before, completing after
    reasons: tuple[str, ...]  # every criterion, met or not, in order
    unmet: tuple[str, ...] = ()  # those not met
    rule: str = RULES["probable-act"]


@dataclass(frozen=True, slots=True)
class Results:
    """The results deadline of a probable ACT and where the trial stands against it."""

    counted_from: str | None  # the date as the record gives it ("2023-10" stays)
    counted_from_field: str | None  # primary_completion | completion
    counted_from_type: str | None  # ACTUAL | ESTIMATED
    due: date | None
    state: str | None  # not-due due-soon in-grace overdue submitted submitted-late unknown
    days_overdue: int | None = None  # after the due date (submitted late: days late)
    days_left: int | None = None
    submitted: str | None = None
    certification: str | None = None  # disposition first submitted
    certified: bool = False  # the certification moved the deadline


_NO_RESULTS = Results(None, None, None, None, None)
#: the columns of ``ctwatch compliance --format csv`` (:meth:`Assessment.row`)
CSV_COLUMNS = ("nct_id", "as_of", "probable_act", "act_kind", "overall_status",
               "primary_completion_date", "primary_completion_type", "results_due_date",
               "results_state", "days_overdue", "days_left", "results_first_submitted",
               "certification_submitted", "verified", "findings", "milestones")


@dataclass(frozen=True, slots=True)
class Assessment:
    """FDAAA 801 / 42 CFR 11 for one trial on one day; ``to_dict()`` is what ``ctwatch
    compliance --format json`` prints for it, ``row()`` its CSV row."""

    nct_id: str
    title: str | None
    as_of: date
    overall_status: str | None
    primary_completion: str | None
    primary_completion_type: str | None
    verified: str | None
    probable_act: Verdict
    results: Results | None  # None unless a probable ACT
    findings: tuple[Finding, ...]

    @property
    def milestones(self) -> tuple[str, ...]:
        return tuple(f.milestone for f in self.findings if f.milestone)

    def to_dict(self) -> dict[str, Any]:
        return {**_plain(self), "milestones": list(self.milestones)}

    def row(self) -> dict[str, Any]:
        results = self.results or _NO_RESULTS
        return {
            "nct_id": self.nct_id, "as_of": self.as_of.isoformat(),
            "probable_act": self.probable_act.probable, "act_kind": self.probable_act.kind,
            "overall_status": self.overall_status,
            "primary_completion_date": self.primary_completion,
            "primary_completion_type": self.primary_completion_type,
            "results_due_date": _plain(results.due), "results_state": results.state,
            "days_overdue": results.days_overdue, "days_left": results.days_left,
            "results_first_submitted": results.submitted,
            "certification_submitted": results.certification, "verified": self.verified,
            "findings": ";".join(f.code for f in self.findings),
            "milestones": ";".join(self.milestones),
        }


def _plain(value: Any) -> Any:
    """A value as JSON holds it: records as objects, tuples as lists, days as ISO dates."""
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value.isoformat() if isinstance(value, date) else value


class Version(NamedTuple):
    """A stored version of the record: the day the registry posted it, and the trial."""

    day: date
    trial: Trial


# -- the assessment ------------------------------------------------------------------------------


def assess(trial: Trial, today: date, history: Sequence[Version] = ()) -> Assessment:
    """FDAAA 801 / 42 CFR 11 for ``trial`` on ``today``; ``history``: its earlier stored
    versions, oldest first (the current one may be among them)."""
    verdict = applicability(trial)
    findings: list[Finding] = []
    results = None
    if verdict.probable:
        results, found = deadline(trial, today)
        findings += found
    kept = verification(trial, today) + updates(trial, today, history)
    if not verdict.probable:  # say so: the rules bind applicable clinical trials
        kept = [replace(f, reasons=(*f.reasons, _NOT_ACT)) for f in kept]
    findings += kept
    pcd = trial.status.primary_completion
    return Assessment(trial.nct_id, trial.brief_title, today, trial.status.overall, pcd.date,
                      pcd.type, trial.status.verified, verdict, results, tuple(findings))


def applicability(trial: Trial) -> Verdict:
    """Whether the trial is probably an applicable clinical trial: every criterion's reason,
    met or not, in order."""
    checks = [_interventional(trial), _regulated(trial), _phase(trial), _purpose(trial),
              _not_withdrawn(trial), _us_nexus(trial)]
    dated, kind = _dates(trial)
    checks.append(dated)
    unmet = tuple(reason for met, reason in checks if not met)
    return Verdict(not unmet, None if unmet else kind, tuple(reason for _, reason in checks),
                   unmet)


Check = tuple[bool, str]
_NOT_ACT = "42 CFR 11 binds applicable clinical trials; this one is not a probable ACT"


def _interventional(trial: Trial) -> Check:
    kind = trial.design.study_type
    if kind == "INTERVENTIONAL":
        return True, "interventional study"
    return False, f"not an interventional study ({wording('study_type', kind) or 'not given'})"


def _regulated(trial: Trial) -> Check:
    oversight = trial.oversight
    products = [name for flag, name in ((oversight.is_fda_regulated_drug, "drug"),
                                        (oversight.is_fda_regulated_device, "device")) if flag]
    if products:
        return True, f"studies a U.S. FDA-regulated {' and '.join(products)} product"
    if False in (oversight.is_fda_regulated_drug, oversight.is_fda_regulated_device):
        return False, "the record says it studies no U.S. FDA-regulated drug or device product"
    types = sorted({i.type for i in trial.interventions if i.type in PRODUCT_TYPES})
    start = _day(trial.status.start.date)
    if types and start is not None and start < EFFECTIVE_DATE:
        return True, (f"the record predates the FDA-regulation questions; its interventions "
                      f"({', '.join(wording('intervention_type', t) for t in types)}) are of a "
                      "kind the FDA regulates")
    return False, "the record does not say that it studies a U.S. FDA-regulated product"


def _phase(trial: Trial) -> Check:
    phases = trial.design.phases
    if not phases:
        return True, "no phase given"
    shown = wording("phase", list(phases))
    shown = shown if shown.startswith(("Phase", "Early")) else f"Phase {shown}"
    # the phase matters for drugs; a device trial is judged by its purpose (below)
    drug = trial.oversight.is_fda_regulated_drug or not trial.oversight.is_fda_regulated_device
    if set(phases) <= PHASE_ONE and drug:
        return False, f"{shown}: a phase 1 drug trial is not applicable"
    return True, f"{shown}: not phase 1 alone"


def _purpose(trial: Trial) -> Check:
    if trial.design.primary_purpose == "DEVICE_FEASIBILITY":
        return False, "a device feasibility study is not applicable"
    return True, "not a device feasibility study"


def _not_withdrawn(trial: Trial) -> Check:
    if trial.status.overall == "WITHDRAWN":
        return False, "withdrawn before enrolling anyone"
    return True, "not withdrawn"


def _us_nexus(trial: Trial) -> Check:
    sites = [loc for loc in trial.locations if (loc.country or "") in US_PLACES]
    found = []
    if sites:
        where = ", ".join(part for part in (sites[0].city, sites[0].state, sites[0].country)
                          if part)
        more = f" and {len(sites) - 1} more" if len(sites) > 1 else ""
        found.append(f"a U.S. site ({where}{more})")
    if trial.oversight.is_us_export:
        found.append("a product manufactured in and exported from the U.S.")
    if found:
        return True, "; ".join(found)
    return False, ("no site in the U.S. or its territories and no U.S. export (an IND or IDE "
                   "would also make it applicable; the record does not publish it)")


def _dates(trial: Trial) -> tuple[Check, str | None]:
    start, end = trial.status.start.date, _counted_from(trial)[1]
    start_day, end_day = _day(start), _day(end)
    effective = EFFECTIVE_DATE.isoformat()
    if start_day is not None and start_day >= EFFECTIVE_DATE:
        return (True, f"started {start}, on or after the Final Rule's effective date "
                      f"({effective})"), "ACT"
    if end_day is not None and end_day >= EFFECTIVE_DATE:
        began = f"started {start}, before" if start else "no start date given; not known after"
        return (True, f"{began} the Final Rule's effective date ({effective}), completing "
                      f"{end}, after it"), "pACT"
    if end_day is None:
        return (False, f"started {start or 'on no date given'} and no completion date: "
                       f"not known to run past {effective}"), None
    return (False, f"completed ({end}) before the Final Rule's effective date "
                   f"({effective})"), None


# -- results ---------------------------------------------------------------------------------


def _counted_from(trial: Trial) -> tuple[str | None, str | None, str | None]:
    """(field, date, type) the results deadline counts from: the primary completion date,
    else the completion date (the tracker's ``available_completion_date``)."""
    for name, point in (("primary_completion", trial.status.primary_completion),
                        ("completion", trial.status.completion)):
        if point.date:
            return name, point.date, point.type
    return None, None, None


def deadline(trial: Trial, today: date) -> tuple[Results, list[Finding]]:
    """The results deadline of a probable ACT, where the trial stands, and its findings."""
    field, given, kind = _counted_from(trial)
    start = _day(given)
    if start is None:
        return Results(None, None, None, None, "unknown"), []
    status = trial.status
    standard = start + timedelta(days=RESULTS_DAYS)
    certification = status.disposition_first_submitted
    certified_on = _day(certification)
    certified = certified_on is not None and certified_on <= standard
    due = _add_years(start, CERTIFIED_YEARS) if certified else standard
    basis = [_basis(field, given, kind, today)]
    if certified:
        basis.append(f"a certification or extension request was submitted on {certification}, "
                     f"by the deadline {standard}: results due {CERTIFIED_YEARS} years after "
                     f"{given} (the full two more years assumed, as the tracker does)")
    findings = [] if certified_on is None or certified else [_late_certification(
        certification or "", standard)]
    submitted = status.results_first_submitted or status.results_first_posted
    common = {"counted_from": given, "counted_from_field": field, "counted_from_type": kind,
              "due": due, "submitted": submitted, "certification": certification,
              "certified": certified}
    if status.has_results and not submitted:  # posted, on no date the record gives
        return Results(**common, state="submitted"), findings
    if submitted:
        late = (date.fromisoformat(submitted) - due).days
        if late > 0:
            findings.append(Finding(
                "results-submitted-late", f"results submitted {submitted}, {late} days after "
                f"they were due ({due})", (*basis, _submission(status)), RULES["results"],
                days=late))
            return Results(**common, state="submitted-late", days_overdue=late), findings
        return Results(**common, state="submitted"), findings
    return _unsubmitted(common, today, tuple(basis), findings)


def _unsubmitted(common: dict[str, Any], today: date, basis: tuple[str, ...],
                 findings: list[Finding]) -> tuple[Results, list[Finding]]:
    due: date = common["due"]
    past = (today - due).days
    rule = RULES["results"]
    if past <= 0:
        left = -past
        if left <= NOTICE_DAYS:
            findings.append(Finding("results-due-soon", f"results due {due}, in {left} days",
                                    basis, rule, f"results-due-30d:{due}", left))
            return Results(**common, state="due-soon", days_left=left), findings
        return Results(**common, state="not-due", days_left=left), findings
    if past <= GRACE_DAYS:
        findings.append(Finding(
            "results-in-grace", f"results were due {due}, {past} days ago: within the "
            f"{GRACE_DAYS}-day grace before they count as overdue", basis, rule, days=past))
        return Results(**common, state="in-grace", days_overdue=past), findings
    grace = f"the {GRACE_DAYS}-day grace ended {due + timedelta(days=GRACE_DAYS)}"
    findings.append(Finding("results-overdue", f"results overdue: due {due}, {past} days ago, "
                            "none submitted", (*basis, grace), rule, f"results-overdue:{due}",
                            past))
    return Results(**common, state="overdue", days_overdue=past), findings


def _basis(field: str | None, given: str | None, kind: str | None, today: date) -> str:
    name = "primary completion date" if field == "primary_completion" else (
        "completion date (no primary completion date given)")
    read = _day(given)
    text = f"counted from the {wording('date_type', kind).lower() or 'undated'} {name} {given}"
    if given and len(given) < 10:
        text += f" (read as {read}, the end of its month or year)"
    if kind == "ESTIMATED" and read is not None and read < today:
        text += (": it has passed and the record still says Estimated; the deadline counts "
                 "from the earlier of the estimated and actual dates")
    return text


def _submission(status: Any) -> str:
    if status.results_first_submitted:
        return f"results first submitted {status.results_first_submitted}"
    return f"no submission date given: the posting date {status.results_first_posted} is used"


def _late_certification(certification: str, standard: date) -> Finding:
    return Finding("certification-late", f"certification or extension request submitted "
                   f"{certification}, after results were due ({standard}): it does not move the "
                   "deadline", (f"results were due {standard} without it",),
                   RULES["certification"])


# -- keeping the record up to date -------------------------------------------------------------


def verification(trial: Trial, today: date) -> list[Finding]:
    """The record not verified for more than 12 months (while the trial is open)."""
    verified = trial.status.verified
    last = _day(verified)
    if last is None or trial.status.overall in CLOSED:
        return []
    lapsed = _add_years(last, VERIFY_YEARS)
    if today <= lapsed:
        return []
    days = (today - lapsed).days
    status = wording("status", trial.status.overall) or "not given"
    return [Finding("verification-lapsed", f"record last verified {verified}: not verified for "
                    f"more than a year (due again by {lapsed}, {days} days ago)",
                    (f"overall status {status}: the record is still open",),
                    RULES["verification"],
                    f"verification-lapsed:{verified}", days)]


def updates(trial: Trial, today: date, history: Sequence[Version] = ()) -> list[Finding]:
    """The record not updated within 30 days of its primary completion date: now, or in a
    stored version when it has since been put right."""
    point = trial.status.primary_completion
    reached = _day(point.date)
    if reached is None or today <= reached + timedelta(days=UPDATE_DAYS):
        return []
    stale = _stale(trial, "is still")
    if stale:
        days = (today - reached).days
        return [Finding("record-not-updated", f"primary completion date {point.date} passed "
                        f"{days} days ago and the record was not updated within "
                        f"{UPDATE_DAYS} days", stale, RULES["updates"], days=days)]
    if point.type != "ACTUAL":
        return []
    # A version is in force until the next one: the record was late if the first version
    # after the last stale one came more than 30 days after the primary completion date.
    stale = [v for v in history if _stale(v.trial, "was")]
    fixed = next((v.day for v in history if stale and v.day > stale[-1].day
                  and not _stale(v.trial, "was")), None)
    if fixed is None or fixed <= reached + timedelta(days=UPDATE_DAYS):
        return []
    days = (fixed - reached).days
    return [Finding("record-updated-late", f"the record was brought up to date only in the "
                    f"version of {fixed}, {days} days after the actual primary completion "
                    f"date {point.date}",
                    (f"in the version of {stale[-1].day}, "
                     f"{'; '.join(_stale(stale[-1].trial, 'was'))}",), RULES["updates"],
                    days=days)]


def _stale(trial: Trial, verb: str) -> tuple[str, ...]:
    """What a version says that a trial past its primary completion date should not say."""
    found = []
    point = trial.status.primary_completion
    if point.type == "ESTIMATED":
        found.append(f"the primary completion date {point.date} {verb} Estimated")
    if trial.status.overall in RECRUITING:
        found.append(f"the overall status {verb} "
                     f"{wording('status', trial.status.overall)}")
    return tuple(found)


# -- the store ---------------------------------------------------------------------------------


def versions(snapshots: Iterable[Snapshot]) -> list[Version]:
    """Stored snapshots as versions, on the day the registry posted each (else the day it was
    read)."""
    found = []
    for snapshot in snapshots:
        posted = snapshot.registry_date or snapshot.trial.status.last_update_posted
        day = _day((posted or snapshot.fetched_at)[:10])
        if day is not None:
            found.append(Version(day, snapshot.trial))
    return found


def from_store(db: Store, nct_ids: Sequence[str], today: date) -> list[Assessment]:
    """The assessment of each trial named (none named: every trial in the store), from its
    latest snapshot as this version's parser reads it and its stored history."""
    from ctwatch import timeline  # the store's query side; the rest of this module is pure

    found = []
    for nct_id in nct_ids or db.trial_ids():
        snapshots = db.snapshots(nct_id)
        if not snapshots:
            raise NoSuchSnapshot(f"{nct_id}: no snapshots in the store {db.target}; run "
                                 "ctwatch check first")
        latest = timeline.current(db, snapshots[-1]).trial
        found.append(assess(latest, today, versions(snapshots)))
    return found


# -- dates -------------------------------------------------------------------------------------


def _day(text: str | None) -> date | None:
    """A registry date as a day: a month or a year counts to its last day (as the tracker
    reads month-only dates); None for none."""
    if not text:
        return None
    parts = [int(part) for part in text[:10].split("-")]
    year, month = parts[0], parts[1] if len(parts) > 1 else 12
    last = calendar.monthrange(year, month)[1]
    return date(year, month, parts[2] if len(parts) > 2 else last)


def _add_years(day: date, years: int) -> date:
    """The same day ``years`` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
