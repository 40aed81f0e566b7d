"""Paths, loaders and the command line, shared by the tests."""

from __future__ import annotations

import contextlib
import html
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from ctwatch import logs
from ctwatch.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
REALDATA = FIXTURES / "realdata"
MYELOMA = FIXTURES / "NCT04083898" / "NCT04083898.json"
MYELOMA_HISTORY = FIXTURES / "NCT04083898" / "history_v12.json"
MYELOMA_EXPECTED = FIXTURES / "NCT04083898" / "expected.json"


def realdata_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (REALDATA / folder).glob("*.json"))


def load_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def letters(text: str) -> str:
    """The letters and digits of a text, lower-cased: to find a quoted text in a record."""
    return "".join(char for char in text.lower() if char.isalnum())


def record_letters(path: Path) -> str:
    """The letters and digits of a record's text: every string of a JSON record, the text of
    an XML record, entities unescaped; and again with HTML tags dropped ("<p>")."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        strings: list[str] = []
        stack = [json.loads(raw)]
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
            elif isinstance(value, str):
                strings.append(value)
        raw = "\n".join(strings)
    return letters(html.unescape(raw)) + "|" + letters(html.unescape(_TAG.sub(" ", raw)))


_TAG = re.compile(r"<[^<>]*>")


def assert_quoted(path: Path, rows: list[tuple[str, str | None, str | None]]) -> None:
    """Every (NCT id, text, context) of a table test is in the record it cites (``path``):
    the id in its text or its file name, the text and its context among its words."""
    record = record_letters(path)
    for nct_id, text, context in rows:
        assert nct_id.lower() in record or nct_id in path.name, nct_id
        for quoted in (text, context):
            assert quoted is None or letters(quoted) in record, quoted


def wait_for(condition: Callable[[], object], seconds: float = 10) -> bool:
    """Whether ``condition`` became true within ``seconds`` (polled): wait for what is to
    happen, never a fixed time."""
    ends = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > ends:
            return False
        time.sleep(0.01)
    return True


def signal_when(condition: Callable[[], object], signum: int,
                then: Callable[[], object] | None = None) -> threading.Thread:
    """Send this process ``signum`` (to its main thread) once ``condition`` holds; with
    ``then``, a second one once that holds too (two at once would merge into one)."""
    def send() -> None:
        for ready in (condition, then) if then else (condition,):
            if not wait_for(ready):
                return
            os.kill(os.getpid(), signum)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    return sender


# -- the command line ---------------------------------------------------------------------------


@dataclass
class Run:
    """What ``ctwatch ARGS`` did: its exit code, stdout and stderr (and stdout's bytes)."""

    code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes = b""


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without proxies (the registry is on 127.0.0.1), with ``extra``
    and PYTHONPATH at the checkout: what a real ``python -m ctwatch`` process gets."""
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def ctwatch(folder: Path | None, *args: str, env: Mapping[str, str] | None = None,
            stdin: bytes | None = None, process: bool = False, timeout: float = 60) -> Run:
    """``ctwatch ARGS`` run from ``folder`` (None: where the tests run) with the environment
    ``env`` (None: :func:`environment`).

    By default in this process, through click's CliRunner: the same entry point, exit code,
    stdout and stderr, without a second of imports per run. ``process``: a real
    ``python -m ctwatch`` (smoke tests: what only a process shows), killed after ``timeout``.
    """
    env = environment() if env is None else dict(env)
    if process:
        result = subprocess.run([sys.executable, "-m", "ctwatch", *args], cwd=folder, env=env,
                                input=stdin or b"", capture_output=True, timeout=timeout,
                                check=False)
        return Run(result.returncode, result.stdout.decode(), result.stderr.decode(),
                   result.stdout)
    return invoke(folder, *args, env=env, stdin=stdin)


def invoke(folder: Path | None, *args: str, env: Mapping[str, str] | None = None,
           stdin: bytes | None = None) -> Run:
    """``ctwatch ARGS`` in this process, from ``folder``; ``env`` is the whole environment the
    command sees (None: this process's). It leaves the loggers and the registered secrets as
    it found them, as an ending process does; a crash reads as it would from a process: exit
    code 1 and the traceback on stderr."""
    overrides: dict[str, str | None] = {}
    if env is not None:
        overrides = {key: value for key, value in env.items() if os.environ.get(key) != value}
        overrides.update({key: None for key in os.environ if key not in env})
    with kept_logging(), kept_secrets(), contextlib.chdir(folder or Path.cwd()):
        result = CliRunner().invoke(main, list(args), input=stdin, env=overrides,
                                    prog_name="ctwatch")
    stderr = result.stderr
    crash = result.exception
    if crash is not None and not isinstance(crash, SystemExit):
        stderr += "".join(traceback.format_exception(crash))
    return Run(result.exit_code, result.stdout, stderr, result.stdout_bytes)


# -- logging: commands run in this process set up ctwatch's loggers --------------------------------

LoggerState = list[tuple[logging.Logger, list[logging.Handler], bool, int]]


def logger_state() -> LoggerState:
    """ctwatch's and APScheduler's loggers as they are (logs.setup changes them)."""
    loggers = [logging.getLogger(name) for name in ("ctwatch", "apscheduler")]
    return [(logger, logger.handlers[:], logger.propagate, logger.level) for logger in loggers]


def restore(state: LoggerState) -> None:
    for logger, handlers, propagate, level in state:
        logger.handlers[:], logger.propagate = handlers, propagate
        logger.setLevel(level)


@contextlib.contextmanager
def kept_logging() -> Iterator[None]:
    """Put ctwatch's and APScheduler's loggers back as they were."""
    saved = logger_state()
    try:
        yield
    finally:
        restore(saved)


@contextlib.contextmanager
def kept_secrets() -> Iterator[None]:
    """Forget the secrets a command registered (the passwords and webhook URLs of its
    configuration): a process forgets them when it ends; masking them in a later test's output
    could hide, or fake, what that test looks for."""
    saved = set(logs._SECRETS)
    try:
        yield
    finally:
        logs._SECRETS.clear()
        logs._SECRETS.update(saved)
