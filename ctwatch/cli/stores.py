"""``ctwatch store``: work with a store as a whole."""

from __future__ import annotations

import logging
import os

import click

from ctwatch.cli.common import config_from, handle_errors

log = logging.getLogger("ctwatch")


@click.group("store")
def store() -> None:
    """Work with a store as a whole."""


@store.command("copy")
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@click.option("--src-password-env", metavar="VAR",
              help="Environment variable holding SRC's password (default: config.yaml's "
                   "store_password_env when SRC is its store:).")
@click.option("--dst-password-env", metavar="VAR",
              help="Environment variable holding DST's password (default: config.yaml's "
                   "store_password_env when DST is its store:).")
@click.option("--replace", is_flag=True,
              help="Delete the history DST holds first (default: refuse a DST that holds one).")
@click.option("--wait", is_flag=True,
              help="Wait for a check in progress on either store instead of exiting 4.")
@click.pass_context
@handle_errors
def copy(ctx: click.Context, source: str, destination: str, src_password_env: str | None,
         dst_password_env: str | None, replace: bool, wait: bool) -> None:
    """Copy every snapshot, change set, alert, run and trial state of the store SRC into
    the store DST, ids kept, and verify each table's rows and hash.

    SRC and DST are store: values: a SQLite file or a database URL such as
    postgresql://user@host/db. DST is left as it was if anything fails.
    """
    from ctwatch.store.copy import copy_store, open_store, password_for, rows_text

    config = config_from(ctx)
    src_password = password_for(source, src_password_env, option="--src-password-env",
                                config=config, environ=os.environ)
    dst_password = password_for(destination, dst_password_env, option="--dst-password-env",
                                config=config, environ=os.environ)
    with open_store(source, src_password, existing=True) as src, \
            open_store(destination, dst_password) as dst:
        copied = copy_store(src, dst, replace=replace, wait=wait)
    for table in copied:
        click.echo(f"{table.table}: {rows_text(table.rows)}, sha256 {table.sha256[:16]}, "
                   "equal in both stores")
    log.info("copied %s to %s; counts and hashes verified", src.target, dst.target)
