"""``ctwatch compliance``: FDAAA 801 / 42 CFR 11 findings for every watched trial."""

from __future__ import annotations

import csv
import io
import json
import re
import textwrap
from collections.abc import Sequence
from datetime import date

import click

from ctwatch.cli.common import handle_errors, nct_ids, watcher_from
from ctwatch.compliance import CSV_COLUMNS, Assessment
from ctwatch.errors import UsageError
from ctwatch.logs import visible


@click.command()
@click.argument("ids", metavar="[NCT...]", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text",
              show_default=True)
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD",
              help="Judge deadlines on this day (default: today).")
@click.pass_context
@handle_errors
def compliance(ctx: click.Context, ids: tuple[str, ...], fmt: str, as_of: str | None) -> None:
    """Probable applicability, results deadlines, verification and updates (FDAAA 801, 42 CFR
    11) of every trial in the store, or of the trials named, from their stored records."""
    today = day(as_of)
    found = watcher_from(ctx).compliance(nct_ids(ids), today)
    click.echo(FORMATS[fmt](found), nl=fmt != "csv")


def day(text: str | None) -> date:
    """The day ``--as-of`` names (YYYY-MM-DD); this machine's today when none is given."""
    if text is None:
        return date.today()
    if _DAY.fullmatch(text.strip()):
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            pass
    raise UsageError(f"{text!r} is not a date (YYYY-MM-DD)", option="--as-of")


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits; fromisoformat takes more


def _json(found: Sequence[Assessment]) -> str:
    return json.dumps([assessment.to_dict() for assessment in found], indent=2,
                      ensure_ascii=False)


def _csv(found: Sequence[Assessment]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(assessment.row() for assessment in found)
    return out.getvalue()


WIDTH = 100  # a finding's line is wrapped at this width
COLUMNS = ("NCT ID", "ACT", "PRIMARY COMPLETION", "RESULTS DUE", "DAYS", "VERIFIED", "FINDINGS")


def _text(found: Sequence[Assessment]) -> str:
    """A table, one line per trial, then each probable ACT's verdict and each trial's
    findings with their rule; registry text (titles, places) with its control characters
    escaped."""
    rows = [COLUMNS, *(_cells(assessment) for assessment in found)]
    widths = [max(len(row[n]) for row in rows) for n in range(len(COLUMNS) - 1)]
    lines = [f"as of {found[0].as_of}" if found else "no trials in the store", ""]
    lines += ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)),
                         row[-1]]).rstrip() for row in rows]
    for assessment in found:
        act = assessment.probable_act
        if assessment.findings or act.probable:
            lines += ["", f"{assessment.nct_id}  {assessment.title or ''}".rstrip()]
            lines.append(_wrapped(f"probable ACT ({act.kind}): {'; '.join(act.reasons)}"
                                  if act.probable else
                                  f"not a probable ACT: {'; '.join(act.unmet)}"))
            lines += [_wrapped(f"{f.summary} ({f.rule})", "- ") for f in assessment.findings]
    return visible("\n".join(lines))


def _wrapped(text: str, bullet: str = "") -> str:
    return textwrap.fill(text, WIDTH, initial_indent="  " + bullet,
                         subsequent_indent="  " + " " * len(bullet), break_on_hyphens=False)


def _cells(a: Assessment) -> tuple[str, ...]:
    results = a.results
    days = ""
    if results and results.days_overdue is not None:
        days = f"{results.days_overdue} " + ("late" if results.submitted else "overdue")
    elif results and results.days_left is not None:
        days = f"{results.days_left} left"
    elif results and results.state == "submitted":
        days = "submitted"
    kind = f" ({a.probable_act.kind})" if a.probable_act.kind else ""
    completion = " ".join(filter(None, (a.primary_completion,
                                        (a.primary_completion_type or "").lower())))
    return (a.nct_id, f"{'probable' if a.probable_act.probable else 'no'}{kind}",
            completion or "-", str(results.due) if results and results.due else "-",
            days or "-", a.verified or "-",
            ", ".join(f.code for f in a.findings) or "-")


FORMATS = {"text": _text, "json": _json, "csv": _csv}
