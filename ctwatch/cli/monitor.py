"""Commands that watch: check (the cron job), run (the daemon), status, notify, demo."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ctwatch.checks import tell
from ctwatch.cli.common import config_from, handle_errors, watcher_from
from ctwatch.errors import EXIT_CHANGES, EXIT_FAILED, UsageError

if TYPE_CHECKING:
    from ctwatch.store import Alert
    from ctwatch.watch import Watcher

log = logging.getLogger("ctwatch")
PROGRESS_FROM = 50  # trials read in full: fewer take too little time to need a bar


@click.command()
@click.option("--exit-code", "exit_code", is_flag=True,
              help="Exit 1 when changes were found (and nothing failed).")
@click.option("--wait", is_flag=True, help="Wait for a run in progress instead of exiting 4.")
@click.option("--force", is_flag=True,
              help="Check every trial even if the registry's data has not changed.")
@click.option("--full", is_flag=True,
              help="Read every trial's whole record, not only those the registry says moved.")
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Show the alerts a check would send now, and where; store and send nothing.")
@click.pass_context
@handle_errors
def check(ctx: click.Context, exit_code: bool, wait: bool, force: bool, full: bool,
          dry_run: bool) -> None:
    """One monitoring pass over the configured trials (the cron job)."""
    if dry_run:
        rehearse(watcher_from(ctx, watching=True), exit_code=exit_code, force=force, full=full)
        return
    with progress_bar(ctx) as progress:
        report = watcher_from(ctx, watching=True).check(force=force, full=full, wait=wait,
                                                        progress=progress)
    tell(report)
    if report.went_wrong or report.interrupted:
        sys.exit(EXIT_FAILED)
    if exit_code and report.change_sets:
        sys.exit(EXIT_CHANGES)


def rehearse(watcher: Watcher, *, exit_code: bool, force: bool, full: bool) -> None:
    """``check --dry-run``: the alerts on stdout as the stdout channel shows them, each with
    its channels; failures and a summary on stderr; the exit codes of a check."""
    found = watcher.dry_run(force=force, full=full)
    if found.alerts or found.milestones:
        click.echo(found.text())
    for line in found.failures:
        log.error("%s", line)
    log.info("%s", found.summary())
    if found.failures or found.interrupted:
        sys.exit(EXIT_FAILED)
    if exit_code and found.alerts:
        sys.exit(EXIT_CHANGES)


@contextmanager
def progress_bar(ctx: click.Context) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr for a person at a terminal (never in cron, nor with -q),
    shown once a check reads more than a few trials in full."""
    if ctx.obj["verbosity"] < 0 or not sys.stderr.isatty():
        yield None
        return
    bar: Any = None

    def advance(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and total >= PROGRESS_FROM:
            bar = click.progressbar(length=total, label="reading", file=sys.stderr)
            bar.__enter__()
        if bar is not None:
            bar.update(done - bar.pos)

    try:
        yield advance
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


@click.command()
@click.option("--now", is_flag=True, help="Run one check at start, then follow the schedule.")
@click.pass_context
@handle_errors
def run(ctx: click.Context, now: bool) -> None:
    """Scheduler daemon: check on config.yaml's schedule until SIGTERM or SIGINT; SIGHUP
    re-reads config.yaml."""
    from ctwatch import schedule

    schedule.serve(config_from(ctx, daemon=True), now=now,
                   reload=lambda: config_from(ctx, daemon=True))


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
@handle_errors
def status(ctx: click.Context, fmt: str) -> None:
    """Last run, next scheduled run, each trial's state and pending alerts."""
    state = watcher_from(ctx).status()
    click.echo(json.dumps(state.to_dict(), indent=2) if fmt == "json" else state.text())


@click.command("notify")
@click.option("--retry", is_flag=True, help="Deliver the pending alerts now.")
@click.option("--drop", metavar="CHANNEL",
              help="Give up the pending alerts of a channel no longer in the configuration.")
@click.option("--wait", is_flag=True,
              help="With --drop: wait for a run in progress instead of exiting 4.")
@click.option("--test", "test", is_flag=False, flag_value="", default=None, metavar="[CHANNEL]",
              help="Send a sample alert through every channel (or the one named) and say, a "
                   "line each, whether it arrived; nothing is stored.")
@click.pass_context
@handle_errors
def notify(ctx: click.Context, retry: bool, drop: str | None, wait: bool,
           test: str | None) -> None:
    """List the alerts waiting in the outbox; with --retry, deliver them now; with --test,
    send a sample alert through the channels.

    Alerts a failed delivery left pending are also retried by every check."""
    if sum((retry, drop is not None, test is not None)) > 1:
        raise UsageError("give one of --retry, --drop and --test")
    watcher = watcher_from(ctx, watching=True)
    if test is not None:
        tried = watcher.test_channels(test or None)
        for one in tried:
            click.echo(one.line)
        if any(one.error for one in tried):
            sys.exit(EXIT_FAILED)
        return
    if drop is not None:
        log.info("dropped %d alerts of %s", watcher.drop_alerts(drop, wait=wait), drop)
        return
    if not retry:
        configured = {channel.name for channel in watcher.plan.channels}
        for alert in watcher.pending_alerts():
            click.echo(alert_line(alert, alert.channel in configured))
        return
    done = watcher.deliver()
    for channel, error in done.failed:
        log.error("alert not delivered on %s (kept for the next run): %s", channel, error)
    log.info("delivered %d alerts, %d pending", done.delivered, done.pending)
    if done.failed:
        sys.exit(EXIT_FAILED)


def alert_line(alert: Alert, configured: bool) -> str:
    """One pending alert for people: channel, trial, change set, attempts, last error."""
    change_set = alert.change_set
    about = (f"milestone {change_set.milestone}" if change_set.milestone
             else f"change set {change_set.id}")
    return (f"{alert.channel}\t{change_set.nct_id}\t{about}\t"
            f"{change_set.top_severity}\tattempts {alert.attempts}"
            + ("" if configured else "\t(channel no longer configured: notify --drop "
                                     f"{alert.channel})")
            + ("\t(maybe sent: a run stopped while sending it)" if alert.maybe_sent else "")
            + (f"\tlast error: {alert.last_error}" if alert.last_error else ""))


@click.command("demo")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Keep the store in DIR (with a config.yaml) to try history and diff on it.")
@handle_errors
def demo(keep: Path | None) -> None:
    """The whole pipeline offline: a local server replays bundled versions of NCT04083898."""
    from ctwatch import demo as replayed

    sys.exit(replayed.run(sys.stdout, workdir=keep))

