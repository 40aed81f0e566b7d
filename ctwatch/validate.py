"""``ctwatch config check``: every problem of a configuration file, one per key.

Loading a configuration stops at its first problem; this reads each part on its own so that
an ops person fixes them all in one go: unknown keys, bad NCT ids, bad cron expressions,
unknown channel kinds, secrets missing from the environment, bad rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ctwatch import config, notify
from ctwatch.errors import ConfigError
from ctwatch.rules import Rules
from ctwatch.schedule import parse_schedule


def problems(path: str | Path) -> list[ConfigError]:
    """Every problem of the configuration file at ``path``; [] when it is usable."""
    try:
        document = config.read_document(path)
    except ConfigError as error:
        return [error]
    found = config.problems(document)
    if not isinstance(document, Mapping):
        return found
    if "schedule" in document:
        found.extend(config.problem_of(lambda: parse_schedule(document["schedule"])))
    entries = document.get("notify")
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        key = f"notify[{index}]"
        found.extend(config.problem_of(lambda k=key, e=entry: notify.check_entry(k, e)))
    if isinstance(document.get("rules"), Mapping):
        found.extend(config.problem_of(lambda: Rules.from_config(document["rules"])))
    return found
