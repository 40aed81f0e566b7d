"""``ctwatch config``: work with config.yaml."""

from __future__ import annotations

import logging
import sys

import click

from ctwatch.cli.common import fail, handle_errors
from ctwatch.errors import EXIT_USAGE

log = logging.getLogger("ctwatch")


@click.group("config")
def config() -> None:
    """Work with config.yaml."""


@config.command("check")
@click.pass_context
@handle_errors
def config_check(ctx: click.Context) -> None:
    """Check config.yaml: one line per problem, naming the key; exit 2 if there is any."""
    from ctwatch import validate

    path = ctx.find_root().params["config_path"]
    found = validate.problems(path)
    for problem in found:
        fail(problem)
    if found:
        sys.exit(EXIT_USAGE)
    log.info("%s: OK", path)
