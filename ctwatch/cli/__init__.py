"""The command line: each command parses options, calls the library, prints.

Commands live in the modules of this package by what they work on and are imported only when
one of them runs (``COMMANDS``), so that ``ctwatch --version``, ``ctwatch schema`` or
``ctwatch parse FILE`` never pay for the store, the notifiers or the scheduler. Errors end a
command with one line on stderr and their ``exit_code`` (:mod:`ctwatch.errors`, README
"Exit codes"): 0 success, 1 changes found (check --exit-code), 2 usage or configuration
error, 3 some inputs, trials or alerts failed, 4 another run holds the store's lock.
"""

from __future__ import annotations

import importlib

import click

from ctwatch import __version__, logs

#: command name → "module:function" under ctwatch.cli, imported when the command is used
COMMANDS = {
    "parse": "records:parse",
    "schema": "records:schema",
    "fetch": "records:fetch",
    "check": "monitor:check",
    "run": "monitor:run",
    "status": "monitor:status",
    "notify": "monitor:notify",
    "demo": "monitor:demo",
    "backfill": "past:backfill",
    "import": "past:import_records",
    "reparse": "past:reparse",
    "history": "past:history",
    "diff": "past:diff",
    "report": "past:report",
    "feed": "past:feed",
    "config": "settings:config",
    "compliance": "compliance:compliance",
    "export": "exports:export",
    "store": "stores:store",
    "searches": "watched:searches",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, name = target.split(":")
        command: click.Command = getattr(importlib.import_module(f"ctwatch.cli.{module}"), name)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
