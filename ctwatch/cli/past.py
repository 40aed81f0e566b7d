"""Commands on a trial's past: fill it in (backfill, import, reparse), read it (history, diff,
report, feed)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from ctwatch import sources
from ctwatch.cli.common import (
    emit_document,
    fail,
    handle_errors,
    nct_ids,
    watcher_from,
)
from ctwatch.errors import EXIT_FAILED, CtwatchError, UsageError
from ctwatch.model import ChangeSet, SearchChangeSet, Trial, parse_nct_id
from ctwatch.notify import render
from ctwatch.notify.feed import DEFAULT_ENTRIES, atom
from ctwatch.searches import is_name

log = logging.getLogger("ctwatch")


@click.command()
@click.argument("ids", metavar="NCT...", nargs=-1, required=True)
@click.pass_context
@handle_errors
def backfill(ctx: click.Context, ids: tuple[str, ...]) -> None:
    """Import the registry's own version history of trials as snapshots (no alerts)."""
    failed = 0
    for done in watcher_from(ctx).backfill(nct_ids(ids)):
        if isinstance(done, CtwatchError):
            fail(done)
            failed += 1
            continue
        log.info("%s: %d registry versions, %d new snapshots, %d change sets", done.nct_id,
                 done.versions, done.snapshots, done.change_sets)
    if failed:
        sys.exit(EXIT_FAILED)


@click.command("import")
@click.argument("files", metavar="FILE...", nargs=-1, required=True)
@click.pass_context
@handle_errors
def import_records(ctx: click.Context, files: tuple[str, ...]) -> None:
    """Load saved records as snapshots of their trials, in registry-date order (no alerts).

    FILE is a saved record of any format ctwatch parses (API v2 JSON, legacy XML, a classic
    study page or its text) or - for standard input. A record already stored adds nothing;
    one older than its trial's latest snapshot is refused. Then check compares the registry
    with the newest imported record.
    """
    watcher = watcher_from(ctx)
    records, failures = [], []
    for source in files:
        try:
            records.append((sources.name(source), sources.load(source)))
        except CtwatchError as error:
            failures.append(error)
    done = watcher.import_records(records)
    for error in failures + done.failures:
        fail(error)
    log.info("%d records read, %d new snapshots, %d change sets", done.records, done.snapshots,
             done.change_sets)
    if failures or done.failures:
        sys.exit(EXIT_FAILED)


@click.command()
@click.argument("ids", metavar="[NCT...]", nargs=-1)
@click.option("--all", "every", is_flag=True,
              help="Re-parse every snapshot, not only those of an older parser.")
@click.pass_context
@handle_errors
def reparse(ctx: click.Context, ids: tuple[str, ...], every: bool) -> None:
    """Re-parse stored snapshots from their raw payloads with this version's parser."""
    log.info("re-parsed %d snapshots", watcher_from(ctx).reparse(nct_ids(ids), every=every))


@click.command()
@click.argument("nct_id", metavar="NCT | SEARCH")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
@handle_errors
def history(ctx: click.Context, nct_id: str, fmt: str) -> None:
    """List the stored snapshots of a trial, oldest first; or a watched search's changes
    (the trials that entered and left it), oldest first."""
    if is_name(nct_id):
        _search_history(watcher_from(ctx).search_change_sets(nct_id)[::-1], fmt)
        return
    entries = watcher_from(ctx).history(parse_nct_id(nct_id))
    if fmt == "json":
        click.echo(json.dumps([entry.to_dict() for entry in entries], indent=2))
        return
    click.echo(f"{'snapshot':>8}  {'version':>7}  {'registry date':<13}  {'fetched at':<20}  "
               f"{'source':<12}  {'changes':>7}")
    for entry in entries:
        row = entry.to_dict()
        version = "" if row["registry_version"] is None else f"v{row['registry_version']}"
        click.echo(f"{row['snapshot']:>8}  {version:>7}  {row['registry_date'] or '':<13}  "
                   f"{row['fetched_at']:<20}  {row['source']:<12}  {row['changes']:>7}")


def _search_history(change_sets: list[SearchChangeSet], fmt: str) -> None:
    rows = [{"change_set": c.id, "created_at": c.created_at,
             "entered": [change.new["nct_id"] for change in c.entered],
             "left": [change.old["nct_id"] for change in c.left]} for c in change_sets]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'change set':>10}  {'created at':<20}  {'entered':>7}  {'left':>4}  trials")
    for row in rows:
        ids = ", ".join([*row["entered"], *(f"-{i}" for i in row["left"])])
        click.echo(f"{row['change_set']:>10}  {row['created_at']:<20}  "
                   f"{len(row['entered']):>7}  {len(row['left']):>4}  {ids}")


def _json(change_set: ChangeSet) -> str:
    return json.dumps(change_set.to_dict(), indent=2, ensure_ascii=False)


DIFF_FORMATS = {
    "text": render.text,
    "json": _json,
    "markdown": lambda change_set: render.message_markdown([change_set]),
    "html": render.diff_html,
}


@click.command()
@click.argument("records", metavar="NCT | SEARCH | OLD NEW", nargs=-1, required=True)
@click.option("--from", "old_ref", metavar="REF", help="Older snapshot (default: the one "
              "before --to, or the latest change).")
@click.option("--to", "new_ref", metavar="REF", help="Newer snapshot (default: latest).")
@click.option("--format", "fmt", type=click.Choice(list(DIFF_FORMATS)), default="text",
              show_default=True)
@click.pass_context
@handle_errors
def diff(ctx: click.Context, records: tuple[str, ...], old_ref: str | None,
         new_ref: str | None, fmt: str) -> None:
    """Show what changed: between two snapshots of a stored trial, or two saved records, or
    the trials that entered and left a watched search (--to: a change set of ctwatch history
    SEARCH; default: its latest).

    OLD and NEW are saved records of any format ctwatch parses (API v2 JSON, legacy XML, a
    classic study page or its text), e.g. a 2019 archive against today's record.
    REF is latest, previous, a snapshot id (see ctwatch history), vN (the snapshot carrying
    registry version N) or a date YYYY[-MM[-DD]] (the newest snapshot on or before it).
    Without --from/--to: the latest change.
    """
    from ctwatch import timeline

    watcher = watcher_from(ctx)
    if len(records) == 2:
        old, new = (_one_trial(record) for record in records)
        changes = timeline.compare_records(old, new, watcher.rules)
    elif len(records) == 1 and is_name(records[0]) and not Path(records[0]).exists():
        changes = watcher.search_change(records[0], old_ref, new_ref)
        if fmt == "html":  # a search's change set is no trial's version: the alert's page
            click.echo(render.message_html([changes]))
            return
    elif len(records) == 1:
        changes = watcher.compare(parse_nct_id(records[0]), old_ref, new_ref)
    else:
        raise UsageError("give one NCT id, or two saved records to compare")
    click.echo(DIFF_FORMATS[fmt](changes))


def _one_trial(source: str) -> Trial:
    trials = sources.read(source)
    if len(trials) != 1:
        raise UsageError(f"{source}: holds {len(trials)} trials; diff compares one with one")
    return trials[0]


@click.command()
@click.argument("nct_id", metavar="NCT")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the page to this file (e.g. report.html) instead of stdout.")
@click.pass_context
@handle_errors
def report(ctx: click.Context, nct_id: str, out: Path | None) -> None:
    """A standalone HTML page of a trial's change history, for a browser or a printer."""
    nct = parse_nct_id(nct_id)
    watcher = watcher_from(ctx)
    snapshots = [entry.snapshot for entry in watcher.history(nct)]
    emit_document(render.report_html(nct, snapshots, watcher.change_sets(nct)), out)


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the feed to this file (e.g. changes.atom) instead of stdout.")
@click.option("--limit", type=click.IntRange(min=1), default=DEFAULT_ENTRIES,
              show_default=True, help="Entries: the most recent change sets.")
@click.option("--url", "self_url", metavar="URL", help="Where the feed will be published.")
@click.pass_context
@handle_errors
def feed(ctx: click.Context, out: Path | None, limit: int, self_url: str | None) -> None:
    """An Atom feed of recent change sets of trials and searches, newest first (for Outlook or
    a feed reader)."""
    watcher = watcher_from(ctx)
    change_sets = watcher.recent_changes(limit)
    emit_document(atom(change_sets, source=watcher.config.store, self_url=self_url), out)
