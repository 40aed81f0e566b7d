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
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ctwatch import (
    __version__,
    demo,
    logs,
    model,
    outbox,
    schedule,
    sources,
    timeline,
    validate,
    watch,
)
from ctwatch.config import Config, load_config
from ctwatch.errors import (
    ConfigError,
    CtwatchError,
    FetchError,
    Interrupted,
    StoreBusy,
    describe,
)
from ctwatch.fetch import Client, Result, save_raw
from ctwatch.files import write_atomic
from ctwatch.model import Trial, parse_nct_id
from ctwatch.notify import feed as atom_feed
from ctwatch.notify import render
from ctwatch.rules import Rules
from ctwatch.signals import stop_signals

EXIT_OK = 0
EXIT_CHANGES = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_BUSY = 4


log = logging.getLogger("ctwatch")


def fail(error: CtwatchError) -> None:
    """One line for a person on stderr."""
    log.error("%s", error)


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
        except Exception as error:  # a bug: still one line, the traceback only at -v
            log.error("%s (a bug in ctwatch; -v shows where)", describe(error),
                      exc_info=log.isEnabledFor(logging.DEBUG))
            sys.exit(EXIT_FAILED)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ctwatch")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default="config.yaml",
              show_default=True, help="Configuration file.")
@click.option("-v", "--verbose", count=True, help="More log output on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and warnings on stderr.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one JSON object per line, for log shippers.")
@click.pass_context
def main(ctx: click.Context, config_path: str, verbose: int, quiet: bool,
         log_format: str) -> None:
    """Watch ClinicalTrials.gov records and report what changed."""
    ctx.obj = {"config_path": config_path, "verbosity": -1 if quiet else verbose}
    logs.setup(ctx.obj["verbosity"], log_format)


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

    SOURCE is an NCT id (fetched from the registry), a saved record or - for standard input.
    A saved record is API v2 JSON (a study, a list page or a history-API version), legacy
    <clinical_study> XML, a saved classic study page (ct2/show/NCT…, HTML) or that page's text;
    the format is told from the content. A source that cannot be read is reported on stderr;
    the others are printed, in the order given.
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
@handle_errors
def schema() -> None:
    """Print the JSON Schema of the normalized trial."""
    click.echo(json.dumps(model.schema(), indent=2, ensure_ascii=False))


def config_from(ctx: click.Context, *, watching: bool = False, daemon: bool = False) -> Config:
    """The configuration: ./config.yaml or the defaults, or the --config file, which must exist.

    Commands that watch (check, run, notify) first run every check ``config check`` runs, so
    they refuse exactly what it reports; the others read only what they use."""
    explicit = ctx.find_root().get_parameter_source("config_path") is not ParameterSource.DEFAULT
    path = ctx.obj["config_path"]
    if watching or daemon:
        return validate.load(path, required=explicit, daemon=daemon)
    return load_config(path, required=explicit)


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
                click.echo(json_line(result.data))
    for failure in failures:
        fail(failure)
    if failures:
        sys.exit(EXIT_FAILED)


def json_line(data: Any) -> str:
    """Compact JSON on one line, in UTF-8 unless the record holds a lone surrogate escape,
    which only an ASCII escape can carry."""
    line = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    try:
        line.encode()
    except UnicodeEncodeError:
        return json.dumps(data, separators=(",", ":"))
    return line


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
    config = config_from(ctx, watching=True)
    setup = watch.from_config(config)
    stop = threading.Event()
    try:
        with watch.open_store(config) as db, db.lock(wait=wait), \
                Client(config.api) as client, stop_signals(stop.set):
            report = watch.check(setup, client, db, force=force, stop=stop.is_set)
    except Interrupted as stopped:  # the trial in hand did not end within the grace period
        log.error("%s", stopped)
        sys.exit(EXIT_FAILED)
    watch.tell(report)
    if report.went_wrong or report.interrupted:
        sys.exit(EXIT_FAILED)
    if exit_code and report.change_sets:
        sys.exit(EXIT_CHANGES)


@main.command()
@click.argument("nct_ids", metavar="NCT...", nargs=-1, required=True)
@click.pass_context
@handle_errors
def backfill(ctx: click.Context, nct_ids: tuple[str, ...]) -> None:
    """Import the registry's own version history of trials as snapshots (no alerts)."""
    config = config_from(ctx)
    rules = Rules.from_config(config.rules)
    with watch.open_store(config) as db, db.lock(), Client(config.api) as client:
        for nct_id in dict.fromkeys(parse_nct_id(value) for value in nct_ids):
            done = watch.backfill(client, db, nct_id, rules)
            log.info("%s: %d registry versions, %d new snapshots, %d change sets", nct_id,
                     done.versions, done.snapshots, done.change_sets)


@main.command()
@click.argument("nct_id", metavar="NCT")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
@handle_errors
def history(ctx: click.Context, nct_id: str, fmt: str) -> None:
    """List the stored snapshots of a trial, oldest first."""
    with watch.open_store(config_from(ctx)) as db:
        entries = timeline.history(db, parse_nct_id(nct_id))
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


DIFF_FORMATS = {
    "text": render.text,
    "json": lambda change_set: json.dumps(change_set.to_dict(), indent=2, ensure_ascii=False),
    "markdown": lambda change_set: render.message_markdown([change_set]),
    "html": render.diff_html,
}


@main.command()
@click.argument("records", metavar="NCT | OLD NEW", nargs=-1, required=True)
@click.option("--from", "old_ref", metavar="REF", help="Older snapshot (default: the one "
              "before --to, or the latest change).")
@click.option("--to", "new_ref", metavar="REF", help="Newer snapshot (default: latest).")
@click.option("--format", "fmt", type=click.Choice(list(DIFF_FORMATS)), default="text",
              show_default=True)
@click.pass_context
@handle_errors
def diff(ctx: click.Context, records: tuple[str, ...], old_ref: str | None,
         new_ref: str | None, fmt: str) -> None:
    """Show what changed: between two snapshots of a stored trial, or two saved records.

    OLD and NEW are saved records of any format ctwatch parses (API v2 JSON, legacy XML, a
    classic study page or its text), e.g. a 2019 archive against today's record.
    REF is latest, previous, a snapshot id (see ctwatch history), vN (the snapshot carrying
    registry version N) or a date YYYY[-MM[-DD]] (the newest snapshot on or before it).
    Without --from/--to: the latest change.
    """
    config = config_from(ctx)
    rules = Rules.from_config(config.rules)
    if len(records) == 2:
        changes = timeline.compare_records(*(_one_trial(r) for r in records), rules)
    elif len(records) == 1:
        with watch.open_store(config) as db:
            changes = timeline.compare(db, parse_nct_id(records[0]), old_ref, new_ref, rules)
    else:
        raise ConfigError("give one NCT id, or two saved records to compare")
    click.echo(DIFF_FORMATS[fmt](changes))


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
    with watch.open_store(config) as db, db.lock():
        count = timeline.reparse(db, [parse_nct_id(v) for v in nct_ids] or None, every=every)
    log.info("re-parsed %d snapshots", count)


@main.command("demo")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Keep the store in DIR (with a config.yaml) to try history and diff on it.")
@handle_errors
def demo_command(keep: Path | None) -> None:
    """The whole pipeline offline: a local server replays bundled versions of NCT04083898."""

    sys.exit(demo.run(sys.stdout, workdir=keep))


@main.command()
@click.option("--now", is_flag=True, help="Run one check at start, then follow the schedule.")
@click.pass_context
@handle_errors
def run(ctx: click.Context, now: bool) -> None:
    """Scheduler daemon: check on config.yaml's schedule until SIGTERM or SIGINT; SIGHUP
    re-reads config.yaml."""
    schedule.serve(config_from(ctx, daemon=True), now=now,
                   reload=lambda: config_from(ctx, daemon=True))


@main.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
@handle_errors
def status(ctx: click.Context, fmt: str) -> None:
    """Last run, next scheduled run, each trial's state and pending alerts."""
    with watch.open_store(config_from(ctx)) as db:
        state = watch.status(db, schedule.next_run(db))
    if fmt == "json":
        click.echo(json.dumps(state, indent=2))
    else:
        click.echo(watch.status_text(state))



# -- alerts: outbox, report, feed ---------------------------------------------------------------


@main.command("notify")
@click.option("--retry", is_flag=True, help="Deliver the pending alerts now.")
@click.option("--drop", metavar="CHANNEL",
              help="Give up the pending alerts of a channel no longer in the configuration.")
@click.option("--wait", is_flag=True, help="Wait for a run in progress instead of exiting 4.")
@click.pass_context
@handle_errors
def notify_command(ctx: click.Context, retry: bool, drop: str | None, wait: bool) -> None:
    """List the alerts waiting in the outbox; with --retry, deliver them now.

    Alerts a failed delivery left pending are also retried by every check."""
    if retry and drop is not None:
        raise click.UsageError("give --retry or --drop, not both")
    config = config_from(ctx, watching=True)
    channels = watch.from_config(config).channels
    with watch.open_store(config) as db, db.lock(wait=wait):
        if drop is not None:
            log.info("dropped %d alerts of %s", outbox.drop_alerts(db, drop, channels), drop)
            return
        before = len(db.pending_alerts())
        failed = outbox.deliver_pending(db, channels) if retry else []
        pending = db.pending_alerts()
    if not retry:
        configured = {channel.name for channel in channels}
        for alert in pending:
            click.echo(alert_line(alert, alert.channel in configured))
        return
    for channel, error in failed:
        log.error("alert not delivered on %s (kept for the next run): %s", channel, error)
    log.info("delivered %d alerts, %d pending", before - len(pending), len(pending))
    if failed:
        sys.exit(EXIT_FAILED)


def alert_line(alert: Any, configured: bool) -> str:
    """One pending alert for people: channel, trial, change set, attempts, last error."""
    change_set = alert.change_set
    return (f"{alert.channel}\t{change_set.nct_id}\tchange set {change_set.id}\t"
            f"{change_set.top_severity}\tattempts {alert.attempts}"
            + ("" if configured else "\t(channel no longer configured: notify --drop "
                                     f"{alert.channel})")
            + ("\t(maybe sent: a run stopped while sending it)" if alert.maybe_sent else "")
            + (f"\tlast error: {alert.last_error}" if alert.last_error else ""))


@main.command()
@click.argument("nct_id", metavar="NCT")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the page to this file (e.g. report.html) instead of stdout.")
@click.pass_context
@handle_errors
def report(ctx: click.Context, nct_id: str, out: Path | None) -> None:
    """A standalone HTML page of a trial's change history, for a browser or a printer."""
    nct = parse_nct_id(nct_id)
    with watch.open_store(config_from(ctx)) as db:
        snapshots = [entry.snapshot for entry in timeline.history(db, nct)]
        change_sets = db.change_sets(nct)
    emit_document(render.report_html(nct, snapshots, change_sets), out)


@main.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the feed to this file (e.g. changes.atom) instead of stdout.")
@click.option("--limit", type=click.IntRange(min=1), default=atom_feed.DEFAULT_ENTRIES,
              show_default=True, help="Entries: the most recent change sets.")
@click.option("--url", "self_url", metavar="URL", help="Where the feed will be published.")
@click.pass_context
@handle_errors
def feed(ctx: click.Context, out: Path | None, limit: int, self_url: str | None) -> None:
    """An Atom feed of recent change sets, newest first (for Outlook or a feed reader)."""
    config = config_from(ctx)
    with watch.open_store(config) as db:
        change_sets = db.change_sets(limit=limit)
    emit_document(atom_feed.atom(change_sets, source=config.store, self_url=self_url), out)


def emit_document(document: str | bytes, out: Path | None) -> None:
    """A whole document on stdout, or written atomically to ``out``."""
    data = document.encode() if isinstance(document, str) else document
    if out is None:
        sys.stdout.buffer.write(data if data.endswith(b"\n") else data + b"\n")
        sys.stdout.buffer.flush()
        return
    try:
        write_atomic(out, data)
    except OSError as error:
        raise ConfigError(f"cannot write {out}: {error.strerror or error}", key="--out") \
            from None


@main.command("import")
@click.argument("files", metavar="FILE...", nargs=-1, required=True)
@click.pass_context
@handle_errors
def import_command(ctx: click.Context, files: tuple[str, ...]) -> None:
    """Load saved records as snapshots of their trials, in registry-date order (no alerts).

    FILE is a saved record of any format ctwatch parses (API v2 JSON, legacy XML, a classic
    study page or its text) or - for standard input. A record already stored adds nothing;
    one older than its trial's latest snapshot is refused. Then check compares the registry
    with the newest imported record.
    """
    config = config_from(ctx)
    records, failures = [], []
    for source in files:
        try:
            records.append((sources.name(source), sources.load(source)))
        except CtwatchError as error:
            failures.append(error)
    with watch.open_store(config) as db, db.lock():
        done = watch.import_records(db, records, Rules.from_config(config.rules))
    for error in failures + done.failures:
        fail(error)
    log.info("%d records read, %d new snapshots, %d change sets", done.records, done.snapshots,
             done.change_sets)
    if failures or done.failures:
        sys.exit(EXIT_FAILED)


@main.group("config")
def config_group() -> None:
    """Work with config.yaml."""


@config_group.command("check")
@click.pass_context
@handle_errors
def config_check(ctx: click.Context) -> None:
    """Check config.yaml: one line per problem, naming the key; exit 2 if there is any."""
    path = ctx.find_root().params["config_path"]
    found = validate.problems(path)
    for problem in found:
        fail(problem)
    if found:
        sys.exit(EXIT_USAGE)
    log.info("%s: OK", path)
