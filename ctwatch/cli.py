"""The command line: each command parses options, calls the library, prints.

Exit codes (documented in README.md):
    0  success
    1  changes found (only with --exit-code)
    2  usage or configuration error
    3  some inputs or trials failed (fetch, parse); the others were processed
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ctwatch import __version__, model, sources
from ctwatch.errors import ConfigError, CtwatchError
from ctwatch.model import Trial, parse_nct_id

EXIT_OK = 0
EXIT_CHANGES = 1
EXIT_USAGE = 2
EXIT_FAILED = 3


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
@handle_errors
def parse(inputs: tuple[str, ...], fmt: str) -> None:
    """Print saved records as normalized trial JSON.

    SOURCE is a file (API v2 JSON: a study, a list page or a history-API version) or - for
    standard input. A source that cannot be read is reported on stderr; the others are printed.
    """
    trials: list[Trial] = []
    failed = 0
    for source in inputs:
        try:
            trials.extend(read_source(source))
        except CtwatchError as error:
            fail(error)
            failed += 1
    emit_trials(trials, fmt)
    if failed:
        sys.exit(EXIT_FAILED)


def read_source(source: str) -> list[Trial]:
    """Trials from a file or stdin; an NCT id needs the fetcher."""
    if source != "-" and not Path(source).exists() and looks_like_nct_id(source):
        raise ConfigError(f"{source}: fetching by NCT id is not available yet; save the record "
                          "and pass the file")
    return sources.read(source)


def looks_like_nct_id(value: str) -> bool:
    try:
        parse_nct_id(value)
    except ConfigError:
        return False
    return True


@main.command()
def schema() -> None:
    """Print the JSON Schema of the normalized trial."""
    click.echo(json.dumps(model.schema(), indent=2, ensure_ascii=False))
