"""Where an export goes: written whole into a temporary sibling of ``--out``, then renamed.

A failure or an interruption at any point leaves ``--out`` as it was and no temporary file or
folder behind. ``--out`` may be new, or an empty folder (an empty file for SQLite); anything
else is refused, unless ``force``, which replaces an earlier export only: a SQLite file an
export wrote (its ``application_id``) or a folder holding nothing but ``.csv`` or
``.parquet`` files. Never anything else, so that a mistyped ``--out`` cannot take the
store, a home folder or a document with it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ctwatch.errors import OutputError
from ctwatch.export.writers import APPLICATION_ID

EXPORT_FILES = (".csv", ".parquet")  # what a folder an export wrote holds


@contextmanager
def staged(out: Path, *, folder: bool, force: bool) -> Iterator[Path]:
    """A new temporary file or folder beside ``out`` to write the export into; renamed to
    ``out`` when the block ends without an error, removed when it does not."""
    replaces = _refuse(out, folder=folder, force=force)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {out}: folder {parent} does not exist", option="--out")
    try:
        if folder:
            temporary = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
        else:
            handle, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent)
            os.close(handle)
            temporary = Path(name)
        os.chmod(temporary, 0o755 if folder else 0o644)  # mkdtemp and mkstemp: owner only
    except OSError as error:
        raise OutputError(f"cannot write {out}: {error.strerror or error}",
                          option="--out") from None
    try:
        yield temporary
        _put(temporary, out, replaces)
    except BaseException:
        _remove(temporary)
        raise


def _refuse(out: Path, *, folder: bool, force: bool) -> bool:
    """Whether ``out`` holds something the export replaces; an OutputError when it holds
    what the export must not replace."""
    if not out.exists() and not out.is_symlink():
        return False
    kind = "a folder of files" if folder else "one file"
    if out.is_dir() != folder or out.is_symlink():
        found = "a symbolic link" if out.is_symlink() else "a folder" if out.is_dir() \
            else "a file"
        raise OutputError(f"{out} is {found}, and this format writes {kind}; give another "
                          "path", option="--out")
    empty = not any(out.iterdir()) if folder else out.stat().st_size == 0
    if empty:
        return True
    if not force:
        raise OutputError(f"{out} exists and is not empty; give a new path, or --force to "
                          "replace an earlier export", option="--out")
    if not (_exported_folder(out) if folder else _exported_file(out)):
        raise OutputError(f"{out} is not an earlier export (--force replaces only a SQLite "
                          "file or a folder of .csv or .parquet files that ctwatch export "
                          "wrote); remove it yourself or give a new path", option="--out")
    return True


def _exported_folder(path: Path) -> bool:
    return all(entry.is_file() and entry.suffix in EXPORT_FILES for entry in path.iterdir())


def _exported_file(path: Path) -> bool:
    """Whether the file is a SQLite database marked as an export (header bytes 68-71)."""
    with open(path, "rb") as file:
        header = file.read(72)
    return (header.startswith(b"SQLite format 3\0")
            and int.from_bytes(header[68:72], "big") == APPLICATION_ID)


def _put(temporary: Path, out: Path, replaces: bool) -> None:
    """Rename the finished export to ``out``. A folder of files there is set aside first (a
    rename replaces a file or an empty folder, not a folder of files) and goes only once the
    new one is in place."""
    try:
        if not (replaces and temporary.is_dir() and any(out.iterdir())):
            os.replace(temporary, out)
            return
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, aside / out.name)
        try:
            os.replace(temporary, out)
        except OSError:
            os.replace(aside / out.name, out)
            raise
        shutil.rmtree(aside, ignore_errors=True)
    except OSError as error:
        raise OutputError(f"cannot write {out}: {error.strerror or error}",
                          option="--out") from None


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
