"""The crontab and systemd unit in docs/ run real ctwatch commands with real options, and git
ignores the files a store leaves next to it."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ctwatch.cli import main
from ctwatch.errors import EXIT_BUSY, EXIT_FAILED, EXIT_USAGE
from ctwatch.schedule import cron_trigger
from tests.helpers import ROOT

DOCS = ROOT / "docs"


def ctwatch_args(command_line: str) -> list[str]:
    """The arguments given to ctwatch in a shell command line."""
    words = shlex.split(command_line.split("&&")[-1])
    return words[1:]


def command_of(args: list[str]) -> str:
    """The ctwatch command the arguments run, once click has accepted every option."""
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[0].split()[2]


def cron_entries() -> list[tuple[str, str]]:
    entries = []
    for line in (DOCS / "crontab").read_text().splitlines():
        if not line.strip() or line.startswith("#") or re.match(r"^[A-Z_]+=", line):
            continue
        fields = line.split(None, 5)
        entries.append((" ".join(fields[:5]), fields[5]))
    return entries


def test_every_crontab_line_has_a_valid_schedule_and_command() -> None:
    entries = cron_entries()
    assert len(entries) >= 2
    for when, command in entries:
        cron_trigger(when, None, 0, "crontab")
        assert command_of(ctwatch_args(command)) in main.list_commands(click.Context(main))


def test_the_check_line_is_quiet_for_cron() -> None:
    [check] = [c for _, c in cron_entries() if re.search(r"\bcheck\b", c)]
    assert ctwatch_args(check)[:2] == ["-q", "check"]


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DOCS / "ctwatch.service")
    return parser


def test_the_systemd_unit_restarts_and_stops_cleanly() -> None:
    service = unit()["Service"]
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    args = shlex.split(service["ExecStart"])
    assert command_of(args[1:]) == "run"


def test_the_unit_does_not_restart_what_a_restart_cannot_fix() -> None:
    """A bad config.yaml (exit 2) or a second daemon on the store (exit 4) waits for a person
    instead of failing again every RestartSec."""
    prevented = set(unit()["Service"]["RestartPreventExitStatus"].split())
    assert {str(EXIT_USAGE), str(EXIT_BUSY)} <= prevented
    assert str(EXIT_FAILED) not in prevented  # a failed store or registry may come back


def test_systemctl_reload_sends_sighup_to_the_daemon() -> None:
    reload = shlex.split(unit()["Service"]["ExecReload"])
    assert Path(reload[0]).name == "kill"
    assert reload[1:] == ["-HUP", "$MAINPID"]


@pytest.mark.parametrize("name", ["ctwatch.db.lock", "ctwatch.db.daemon.lock",
                                  "ctwatch.db.outbox.lock", "ctwatch.db-wal", "ctwatch.db-shm",
                                  "ctwatch.db-journal", "data/ctwatch.db.lock"])
def test_git_ignores_the_store_and_its_side_files(name: str) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    # --no-index: the patterns alone decide, whatever the index holds; nothing is written
    ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "--no-index", "-q", name],
                             capture_output=True, text=True, timeout=60, check=False)
    assert ignored.returncode == 0, (name, ignored.stderr)


def test_git_still_sees_other_lock_files() -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    seen = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "--no-index", "-q", "uv.lock"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert seen.returncode == 1, seen.stderr  # a package manager's lock file is committed


def test_systemd_analyze_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the unit was still parsed above")
    executable = tmp_path / "ctwatch"
    executable.write_text(f"#!/bin/sh\nexec {sys.executable} -m ctwatch \"$@\"\n")
    executable.chmod(0o755)
    text = (DOCS / "ctwatch.service").read_text()
    copy = tmp_path / "ctwatch.service"
    copy.write_text(text.replace("/srv/ctwatch/venv/bin/ctwatch", str(executable)))
    result = subprocess.run([analyze, "verify", "--man=no", str(copy)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
