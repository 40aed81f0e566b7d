"""The command line: each command parses options, calls the library, prints.

Exit codes (documented in README.md):
    0  success
    1  changes found (only with --exit-code)
    2  usage or configuration error
    3  some inputs or trials failed (fetch, parse, delivery); the others were processed
    4  another ctwatch run holds the store's lock
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ctwatch import __version__, model, sources, timeline, watch
from ctwatch.config import Config, load_config
from ctwatch.errors import ConfigError, CtwatchError, FetchError, StoreBusy
from ctwatch.fetch import Client, Result, save_raw
from ctwatch.model import Trial, parse_nct_id
from ctwatch.notify import render
from ctwatch.rules import Rules
from ctwatch.store import Store

EXIT_OK = 0
EXIT_CHANGES = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_BUSY = 4


def fail(error: CtwatchError) -> None:
    """Print one line for a person on stderr."""
    click.echo(f"ctwatch: error: {error}", err=True)


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected errors into one line on stderr and a fixed exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as error:
            fail(error)
            sys.exit(EXIT_USAGE)
        except StoreBusy as error:
            fail(error)
            sys.exit(EXIT_BUSY)
        except CtwatchError as error:
            fail(error)
            sys.exit(EXIT_FAILED)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ctwatch")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default="config.yaml",
              show_default=True, help="Configuration file.")
@click.option("-v", "--verbose", count=True, help="More log output on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.pass_context
def main(ctx: click.Context, config_path: str, verbose: int, quiet: bool) -> None:
    """Watch ClinicalTrials.gov records and report what changed."""
    ctx.obj = {"config_path": config_path, "verbosity": -1 if quiet else verbose}


def emit_trials(trials: list[Trial], fmt: str) -> None:
    """Trials on stdout: one JSON document (an object, or an array of several) or JSON lines."""
    if fmt == "jsonl":
        for trial in trials:
            click.echo(json.dumps(trial.to_dict(), ensure_ascii=False))
    elif trials:
        data = [t.to_dict() for t in trials] if len(trials) > 1 else trials[0].to_dict()
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@main.command()
@click.argument("inputs", metavar="SOURCE...", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl"]), default="json",
              show_default=True, help="json: one object (an array for several trials); "
              "jsonl: one object per line.")
@click.pass_context
@handle_errors
def parse(ctx: click.Context, inputs: tuple[str, ...], fmt: str) -> None:
    """Print records as normalized trial JSON.

    SOURCE is an NCT id (fetched from the registry), a saved record (API v2 JSON: a study, a
    list page or a history-API version) or - for standard input. A source that cannot be read
    is reported on stderr; the others are printed, in the order given.
    """
    remote = {s for s in inputs if s != "-" and not Path(s).exists() and is_nct(s)}
    found: dict[str, list[Trial] | CtwatchError] = {}
    if remote:
        with Client(config_from(ctx).api) as client:
            found.update(watch.fetch_trials(client, [parse_nct_id(s) for s in remote]))
    trials: list[Trial] = []
    failed = 0
    for source in inputs:
        result = found[parse_nct_id(source)] if source in remote else None
        try:
            trials.extend(result if isinstance(result, list) else _read(source, result))
        except CtwatchError as error:
            fail(error)
            failed += 1
    emit_trials(trials, fmt)
    if failed:
        sys.exit(EXIT_FAILED)


def _read(source: str, error: CtwatchError | None) -> list[Trial]:
    if error is not None:
        raise error
    return sources.read(source)


def is_nct(value: str) -> bool:
    """Whether a command-line value is an NCT id (any case)."""
    try:
        parse_nct_id(value)
    except ConfigError:
        return False
    return True


@main.command()
def schema() -> None:
    """Print the JSON Schema of the normalized trial."""
    click.echo(json.dumps(model.schema(), indent=2, ensure_ascii=False))


def config_from(ctx: click.Context) -> Config:
    """The configuration: ./config.yaml or the defaults, or the --config file, which must exist."""
    explicit = ctx.find_root().get_parameter_source("config_path") is not ParameterSource.DEFAULT
    return load_config(ctx.obj["config_path"], required=explicit)


def progress(
    ctx: click.Context, results: Iterable[Result], length: int
) -> AbstractContextManager[Iterable[Result]]:
    """A progress bar on stderr when many trials are fetched for a person at a terminal."""
    if length > 1 and ctx.obj["verbosity"] >= 0 and sys.stderr.isatty():
        return click.progressbar(results, length=length, label="fetching", file=sys.stderr)
    return nullcontext(results)


@main.command()
@click.argument("nct_ids", metavar="NCT...", nargs=-1, required=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write one DIR/NCT….json per trial instead of printing.")
@click.pass_context
@handle_errors
def fetch(ctx: click.Context, nct_ids: tuple[str, ...], out: Path | None) -> None:
    """Fetch raw registry records (API v2 JSON).

    One id: its record on stdout. Several: one record per line (JSON lines). With --out, one
    file per trial. A trial that cannot be fetched is reported on stderr; the others are kept.
    """
    config = config_from(ctx)
    ids = list(dict.fromkeys(parse_nct_id(value) for value in nct_ids))
    failures: list[FetchError] = []  # told after the progress bar is done, not through it
    with Client(config.api) as client, progress(ctx, client.fetch_studies(ids), len(ids)) as bar:
        for result in bar:
            if isinstance(result, FetchError):
                failures.append(result)
            elif out is not None:
                save_raw(result, out)
            elif len(ids) == 1:
                click.echo(result.raw.rstrip(b"\r\n"))
            else:
                click.echo(json.dumps(result.data, ensure_ascii=False, separators=(",", ":")))
    for failure in failures:
        fail(failure)
    if failures:
        sys.exit(EXIT_FAILED)


@main.command()
@click.option("--exit-code", "exit_code", is_flag=True,
              help="Exit 1 when changes were found (and nothing failed).")
@click.option("--wait", is_flag=True, help="Wait for a run in progress instead of exiting 4.")
@click.option("--force", is_flag=True,
              help="Check every trial even if the registry's data has not changed.")
@click.pass_context
@handle_errors
def check(ctx: click.Context, exit_code: bool, wait: bool, force: bool) -> None:
    """One monitoring pass over the configured trials (the cron job)."""
    config = config_from(ctx)
    setup = watch.from_config(config)
    with Store(config.store) as db, db.lock(wait=wait), Client(config.api) as client:
        report = watch.check(setup, client, db, force=force)
    tell(ctx, report)
    if report.failures or report.undelivered:
        sys.exit(EXIT_FAILED)
    if exit_code and report.change_sets:
        sys.exit(EXIT_CHANGES)


def tell(ctx: click.Context, report: watch.RunReport) -> None:
    """A run's outcome on stderr: every failure always, the summary unless -q."""
    for failure in report.failures:
        click.echo(f"ctwatch: error: {failure.error}", err=True)
        if failure.notice:
            click.echo(f"ctwatch: warning: {failure.nct_id} has failed {failure.consecutive} "
                       "checks in a row", err=True)
    for channel, error in report.undelivered:
        click.echo(f"ctwatch: error: alert not delivered on {channel} (kept for the next run): "
                   f"{error}", err=True)
    if ctx.obj["verbosity"] >= 0:
        click.echo(f"ctwatch: {summary(report)}", err=True)


def summary(report: watch.RunReport) -> str:
    if report.skipped:
        return (f"registry data unchanged since the last run ({report.data_timestamp}); "
                "nothing to check")
    counts = report.counts()
    return (f"checked {counts['checked']} trials: {counts['change_sets']} with changes, "
            f"{counts['new_snapshots']} new snapshots, {counts['failed']} failed")


@main.command()
@click.argument("nct_ids", metavar="NCT...", nargs=-1, required=True)
@click.pass_context
@handle_errors
def backfill(ctx: click.Context, nct_ids: tuple[str, ...]) -> None:
    """Import the registry's own version history of trials as snapshots (no alerts)."""
    config = config_from(ctx)
    rules = Rules.from_config(config.rules)
    with Store(config.store) as db, db.lock(), Client(config.api) as client:
        for nct_id in dict.fromkeys(parse_nct_id(value) for value in nct_ids):
            done = watch.backfill(client, db, nct_id, rules)
            if ctx.obj["verbosity"] >= 0:
                click.echo(f"ctwatch: {nct_id}: {done.versions} registry versions, "
                           f"{done.snapshots} new snapshots, {done.change_sets} change sets",
                           err=True)


@main.command()
@click.argument("nct_id", metavar="NCT")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
@handle_errors
def history(ctx: click.Context, nct_id: str, fmt: str) -> None:
    """List the stored snapshots of a trial, oldest first."""
    with Store(config_from(ctx).store) as db:
        entries = timeline.history(db, parse_nct_id(nct_id))
    if fmt == "json":
        click.echo(json.dumps([entry.to_dict() for entry in entries], indent=2))
        return
    click.echo(f"{'snapshot':>8}  {'version':>7}  {'registry date':<13}  {'fetched at':<20}  "
               f"{'source':<8}  {'changes':>7}")
    for entry in entries:
        row = entry.to_dict()
        version = "" if row["registry_version"] is None else f"v{row['registry_version']}"
        click.echo(f"{row['snapshot']:>8}  {version:>7}  {row['registry_date'] or '':<13}  "
                   f"{row['fetched_at']:<20}  {row['source']:<8}  {row['changes']:>7}")


@main.command()
@click.argument("records", metavar="NCT | OLD NEW", nargs=-1, required=True)
@click.option("--from", "old_ref", metavar="REF", help="Older snapshot (default: the one "
              "before --to, or the latest change).")
@click.option("--to", "new_ref", metavar="REF", help="Newer snapshot (default: latest).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
@handle_errors
def diff(ctx: click.Context, records: tuple[str, ...], old_ref: str | None,
         new_ref: str | None, fmt: str) -> None:
    """Show what changed: between two snapshots of a stored trial, or two saved records.

    REF is latest, previous, a snapshot id (see ctwatch history), vN (registry version N) or
    a date (the newest snapshot on or before it). Without --from/--to: the latest change.
    """
    config = config_from(ctx)
    rules = Rules.from_config(config.rules)
    if len(records) == 2:
        changes = timeline.compare_records(*(_one_trial(r) for r in records), rules)
    elif len(records) == 1:
        with Store(config.store) as db:
            changes = timeline.compare(db, parse_nct_id(records[0]), old_ref, new_ref, rules)
    else:
        raise ConfigError("give one NCT id, or two saved records to compare")
    click.echo(json.dumps(changes.to_dict(), indent=2, ensure_ascii=False) if fmt == "json"
               else render.text(changes))


def _one_trial(source: str) -> Trial:
    trials = sources.read(source)
    if len(trials) != 1:
        raise ConfigError(f"{source}: holds {len(trials)} trials; diff compares one with one")
    return trials[0]


@main.command()
@click.argument("nct_ids", metavar="[NCT...]", nargs=-1)
@click.option("--all", "every", is_flag=True,
              help="Re-parse every snapshot, not only those of an older parser.")
@click.pass_context
@handle_errors
def reparse(ctx: click.Context, nct_ids: tuple[str, ...], every: bool) -> None:
    """Re-parse stored snapshots from their raw payloads with this version's parser."""
    config = config_from(ctx)
    with Store(config.store) as db, db.lock():
        count = timeline.reparse(db, [parse_nct_id(v) for v in nct_ids] or None, every=every)
    if ctx.obj["verbosity"] >= 0:
        click.echo(f"ctwatch: re-parsed {count} snapshots", err=True)


@main.command("demo")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Keep the store in DIR (with a config.yaml) to try history and diff on it.")
@handle_errors
def demo_command(keep: Path | None) -> None:
    """The whole pipeline offline: a local server replays bundled versions of NCT04083898."""
    from ctwatch import demo  # imported here, not at the top: only this command needs it

    sys.exit(demo.run(sys.stdout, workdir=keep))
