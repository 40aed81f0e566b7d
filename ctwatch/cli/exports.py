"""``ctwatch export``: relational tables of the stored trials for analysts."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ctwatch.cli.common import handle_errors, nct_ids, watcher_from

log = logging.getLogger("ctwatch")


@click.command()
@click.argument("ids", metavar="[NCT...]", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["csv", "sqlite", "parquet"]), required=True,
              help="csv: a folder of one .csv per table; sqlite: one file; parquet: a folder "
                   "of one .parquet per table (pip install 'ctwatch[parquet]').")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Where to write: a new path, or an empty folder (file for sqlite).")
@click.option("--history", is_flag=True,
              help="Also every snapshot, change set and change of the trials.")
@click.option("--force", is_flag=True,
              help="Replace an earlier export at --out (never anything else).")
@click.pass_context
@handle_errors
def export(ctx: click.Context, ids: tuple[str, ...], fmt: str, out: Path, history: bool,
           force: bool) -> None:
    """Tables of the latest stored version of every trial in the store, or of the trials
    named, with AACT's names where the concept is the same: studies, eligibilities,
    conditions, keywords, design_groups (arms), interventions, intervention_other_names,
    design_group_interventions, design_outcomes, criteria (the tree), thresholds, facilities
    (locations), sponsors; with --history also snapshots, change_sets and changes. Every
    table and column is described in docs/data-dictionary.md."""
    done = watcher_from(ctx).export(out, fmt, nct_ids(ids), history=history, force=force)
    log.info("exported %s to %s (%s): %d tables, %s rows",
             f"{done.trials:,} trial{'' if done.trials == 1 else 's'}", done.out, done.format,
             len(done.rows), f"{sum(done.rows.values()):,}")
