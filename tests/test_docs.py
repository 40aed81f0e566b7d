"""The README tells the truth: its commands, options and configuration exist and work."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sqlite3
from pathlib import Path

import click
import pytest
import yaml

from ctwatch.checks import plan_from
from ctwatch.cli import main
from ctwatch.config import parse_config
from tests.helpers import ROOT, ctwatch

README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str = "", text: str = README) -> list[str]:
    """The fenced blocks of the README (or of a part of it, ``text``) with that info string
    ("" for plain ones)."""
    blocks: list[str] = []
    info: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if not line.startswith("```"):
            lines.append(line)
        elif info is None:
            info, lines = line[3:].strip(), []
        else:
            if info == language:
                blocks.append("\n".join(lines) + "\n")
            info = None
    return blocks


def commands_block() -> str:
    return next(block for block in code_blocks() if block.startswith("ctwatch [--config FILE]"))


def commands() -> dict[str, click.Command]:
    """Every command of the command line, imported (they load lazily)."""
    context = click.Context(main)
    found = {name: main.get_command(context, name) for name in main.list_commands(context)}
    return {name: command for name, command in found.items() if command is not None}


def test_every_documented_command_exists_and_every_command_is_documented() -> None:
    documented = re.findall(r"^  ([a-z]+) ", commands_block(), flags=re.MULTILINE)
    assert set(documented) == set(commands())


PERFORMANCE = README.split("\n## Performance\n", 1)[1].split("\n## ", 1)[0]
OPTION = r"(?<![\w-])(--[a-z][a-z0-9-]+)"


@pytest.mark.parametrize("option", sorted(set(re.findall(OPTION, README.replace(PERFORMANCE, "")))))
def test_every_documented_option_exists(option: str) -> None:
    every = [main, *commands().values()]
    every += [sub for group in every if isinstance(group, click.Group)
              for sub in group.commands.values()]  # store copy, config check
    known = {opt for command in every for param in command.params
             if isinstance(param, click.Option) for opt in param.opts}
    assert option in known | {"--help", "--version"}


@pytest.mark.parametrize("option", sorted(set(re.findall(OPTION, PERFORMANCE))))
def test_every_benchmark_option_documented_exists(option: str) -> None:
    scripts = (ROOT / "benchmarks").glob("*.py")
    assert any(f'"{option}"' in script.read_text() for script in scripts)


def test_the_configuration_example_loads() -> None:
    [example] = [block for block in code_blocks("yaml") if block.startswith("store:")]
    config = parse_config(yaml.safe_load(example))
    setup = plan_from(config)
    assert setup.trials == ("NCT04083898", "NCT02513394")
    assert [channel.name for channel in setup.channels] == ["stdout", "file:alerts.jsonl"]


def test_config_yaml_in_the_repository_loads() -> None:
    config = parse_config(yaml.safe_load((ROOT / "config.yaml").read_text()))
    assert plan_from(config).trials == ("NCT04083898",)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"{ci}\n" in code_blocks()


ANALYSTS = README.split("\n### export: tables for analysts\n", 1)[1].split("\n#", 1)[0]


@pytest.fixture(scope="module")
def analysts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's store exported as the README's commands export it."""
    folder = tmp_path_factory.mktemp("analysts")
    assert ctwatch(folder, "demo", "--keep", ".").code == 0
    commands = [line for block in code_blocks(text=ANALYSTS) for line in block.splitlines()
                if line.startswith("ctwatch export --format ") and "|" not in line]
    assert len(commands) == 2
    for line in commands:
        run = ctwatch(folder, *shlex.split(line)[1:])
        assert run.code == 0, run.stderr
    return folder


def test_the_analysts_sql_example_runs(analysts: Path) -> None:
    [block] = code_blocks("sh", ANALYSTS)
    program, database, query = shlex.split(block)
    assert program == "sqlite3"
    with sqlite3.connect(analysts / database) as db:  # the sqlite3 shell may not be installed
        assert db.execute(query).fetchall() == [("NCT04083898",)]


def test_the_analysts_pandas_example_runs(analysts: Path) -> None:
    [block] = code_blocks("python", ANALYSTS)
    printed = io.StringIO()
    with contextlib.chdir(analysts), contextlib.redirect_stdout(printed):
        exec(block, {})
    assert printed.getvalue() == "['NCT04083898']\n"
