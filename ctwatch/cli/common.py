"""What every command shares: errors as one line and an exit code, the configuration, output."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from ctwatch.errors import (
    EXIT_FAILED,
    CtwatchError,
    Interrupted,
    OutputError,
    UsageError,
    describe,
)
from ctwatch.model import parse_nct_id

if TYPE_CHECKING:
    from ctwatch.config import Config
    from ctwatch.watch import Watcher

log = logging.getLogger("ctwatch")


def fail(error: BaseException) -> None:
    """One line for a person on stderr."""
    log.error("%s", error)


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected errors into one line on stderr and their exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CtwatchError as error:
            fail(error)
            sys.exit(error.exit_code)
        except Interrupted as stopped:  # the trial in hand did not end within the grace period
            fail(stopped)
            sys.exit(EXIT_FAILED)
        except Exception as error:  # a bug: still one line, the traceback only at -v
            log.error("%s (a bug in ctwatch; -v shows where)", describe(error),
                      exc_info=log.isEnabledFor(logging.DEBUG))
            sys.exit(EXIT_FAILED)

    return wrapper


def config_from(ctx: click.Context, *, watching: bool = False, daemon: bool = False) -> Config:
    """The configuration: ./config.yaml or the defaults, or the --config file, which must exist.

    Commands that watch (check, run, notify) first run every check ``config check`` runs, so
    they refuse exactly what it reports; the others read only what they use."""
    from ctwatch import config, validate

    root = ctx.find_root()
    explicit = root.get_parameter_source("config_path") is not ParameterSource.DEFAULT
    path = root.params["config_path"]
    if watching or daemon:
        return validate.load(path, required=explicit, daemon=daemon)
    return config.load_config(path, required=explicit)


def watcher_from(ctx: click.Context, *, watching: bool = False) -> Watcher:
    """The application service over the command's configuration."""
    from ctwatch.watch import Watcher

    return Watcher(config_from(ctx, watching=watching))


def nct_ids(values: tuple[str, ...]) -> list[str]:
    """NCT ids from the command line, normalized, each once, in the order given."""
    return list(dict.fromkeys(parse_nct_id(value) for value in values))


def is_nct(value: str) -> bool:
    """Whether a command-line value is an NCT id (any case)."""
    try:
        parse_nct_id(value)
    except UsageError:
        return False
    return True


def emit_document(document: str | bytes, out: Path | None) -> None:
    """A whole document on stdout, or written atomically to ``out``."""
    from ctwatch.files import write_atomic

    data = document.encode() if isinstance(document, str) else document
    if out is None:
        sys.stdout.buffer.write(data if data.endswith(b"\n") else data + b"\n")
        sys.stdout.buffer.flush()
        return
    try:
        write_atomic(out, data)
    except OSError as error:
        raise OutputError(f"cannot write {out}: {error.strerror or error}",
                          option="--out") from None
