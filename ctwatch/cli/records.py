"""Commands on records, without a store: parse, schema, fetch."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ctwatch import model
from ctwatch.cli.common import config_from, fail, handle_errors, is_nct, nct_ids
from ctwatch.errors import EXIT_FAILED, CtwatchError
from ctwatch.model import Trial, parse_nct_id

if TYPE_CHECKING:
    from ctwatch.fetch import Result


def emit_trials(trials: list[Trial], fmt: str) -> None:
    """Trials on stdout: one JSON document (an object, or an array of several) or JSON lines."""
    if fmt == "jsonl":
        for trial in trials:
            click.echo(json.dumps(trial.to_dict(), ensure_ascii=False))
    elif trials:
        data = [t.to_dict() for t in trials] if len(trials) > 1 else trials[0].to_dict()
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.command()
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
    found = _fetched(ctx, [parse_nct_id(s) for s in remote]) if remote else {}
    trials: list[Trial] = []
    failed = 0
    for source in inputs:
        try:
            trials.extend(_read(source, found[parse_nct_id(source)] if source in remote else None))
        except CtwatchError as error:
            fail(error)
            failed += 1
    emit_trials(trials, fmt)
    if failed:
        sys.exit(EXIT_FAILED)


def _fetched(ctx: click.Context, ids: list[str]) -> dict[str, list[Trial] | CtwatchError]:
    from ctwatch.fetch import Client
    from ctwatch.record import fetch_trials

    with Client(config_from(ctx).api) as client:
        return dict(fetch_trials(client, ids))


def _read(source: str, fetched: list[Trial] | CtwatchError | None) -> list[Trial]:
    from ctwatch import sources

    if isinstance(fetched, CtwatchError):
        raise fetched
    return fetched if fetched is not None else sources.read(source)


@click.command()
@handle_errors
def schema() -> None:
    """Print the JSON Schema of the normalized trial."""
    click.echo(json.dumps(model.schema(), indent=2, ensure_ascii=False))


def progress(ctx: click.Context, results: Iterable[Result], length: int
             ) -> AbstractContextManager[Iterable[Result]]:
    """A progress bar on stderr when many trials are fetched for a person at a terminal."""
    if length > 1 and ctx.obj["verbosity"] >= 0 and sys.stderr.isatty():
        return click.progressbar(results, length=length, label="fetching", file=sys.stderr)
    return nullcontext(results)


@click.command()
@click.argument("ids", metavar="NCT...", nargs=-1, required=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write one DIR/NCT….json per trial instead of printing.")
@click.pass_context
@handle_errors
def fetch(ctx: click.Context, ids: tuple[str, ...], out: Path | None) -> None:
    """Fetch raw registry records (API v2 JSON).

    One id: its record on stdout. Several: one record per line (JSON lines). With --out, one
    file per trial. A trial that cannot be fetched is reported on stderr; the others are kept.
    """
    from ctwatch.errors import FetchError
    from ctwatch.fetch import Client, save_raw

    config = config_from(ctx)
    wanted = nct_ids(ids)
    failures: list[FetchError] = []  # told after the progress bar is done, not through it
    with Client(config.api) as client, \
            progress(ctx, client.fetch_studies(wanted), len(wanted)) as bar:
        for result in bar:
            if isinstance(result, FetchError):
                failures.append(result)
            elif out is not None:
                save_raw(result, out)
            elif len(wanted) == 1:
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
