"""``ctwatch searches``: the watched searches, their size, last check and last change."""

from __future__ import annotations

import json

import click

from ctwatch.cli.common import handle_errors, watcher_from


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
@handle_errors
def searches(ctx: click.Context, fmt: str) -> None:
    """The watched searches: members at the last check, baseline, last check, last change.

    Searches the store holds that config.yaml no longer names are listed last. A search's
    history and changes: ctwatch history NAME, ctwatch diff NAME."""
    found = watcher_from(ctx).searches()
    if fmt == "json":
        click.echo(json.dumps([listing.to_dict() for listing in found], indent=2))
        return
    click.echo(f"{'search':<24}  {'follow':<6}  {'trials':>7}  {'baseline':<11}  "
               f"{'last check':<20}  {'last change':<20}")
    for listing in found:
        name = listing.name if listing.configured else f"{listing.name} (not in config)"
        size = "" if listing.size is None else str(listing.size)
        click.echo(f"{name:<24}  {'yes' if listing.follow else 'no':<6}  {size:>7}  "
                   f"{listing.baseline:<11}  {listing.last_checked or 'never':<20}  "
                   f"{listing.last_changed or 'never':<20}")
