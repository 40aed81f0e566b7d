"""Reading and validating ``config.yaml`` (DESIGN.md §10).

Every problem is a :class:`~ctwatch.errors.ConfigError` naming the key, e.g.
``api.timeout_s: must be a positive number (got -1)``. Only ``api`` and ``trials`` are checked in
depth so far; ``schedule``, ``notify`` and ``rules`` are accepted as written and checked by the
modules that use them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ctwatch.errors import ConfigError, InvalidNctId
from ctwatch.fetch import MAX_PAGE_SIZE, ApiSettings
from ctwatch.model import parse_nct_id

DEFAULT_CONFIG_FILE = "config.yaml"
DEFAULT_STORE = "ctwatch.db"
DEFAULT_MAX_FAILURES = 3  # consecutive failed checks of a trial before a person is told
TOP_LEVEL_KEYS = ("store", "api", "trials", "schedule", "notify", "rules", "max_failures")
TRIAL_KEYS = ("id", "notify", "ignore")


@dataclass(frozen=True)
class TrialEntry:
    """One watched trial: ``NCT…`` or ``{id: NCT…, notify: [...], ignore: [...]}``."""

    nct_id: str
    notify: tuple[Any, ...] = ()
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    store: str = DEFAULT_STORE
    api: ApiSettings = field(default_factory=ApiSettings)
    trials: tuple[TrialEntry, ...] = ()
    schedule: Any = None  # checked by the scheduler
    notify: tuple[Any, ...] = ()  # checked by notify/
    rules: Mapping[str, Any] = field(default_factory=dict)  # checked by rules.py
    max_failures: int = DEFAULT_MAX_FAILURES


def load_config(path: str | Path = DEFAULT_CONFIG_FILE, *, required: bool = True) -> Config:
    """Read and check a config file; a missing file gives the defaults unless ``required``."""
    return parse_config(read_document(path, required=required))


def read_document(path: str | Path, *, required: bool = True) -> Any:
    """The YAML document of a config file (None for a missing file that is not required)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: no such configuration file") from None
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None)
        raise ConfigError(f"{path}: not valid YAML{where}" + (f": {problem}" if problem else "")) \
            from None
    return document


def problems(document: Any) -> list[ConfigError]:
    """Every problem of a config document this module checks, one per key (not just the
    first, as ``parse_config`` raises it)."""
    if document is None:
        return []
    if not isinstance(document, Mapping):
        return [ConfigError("the configuration must be a mapping of keys (store, api, trials, …)")]
    found = [ConfigError(f"unknown key (known: {', '.join(TOP_LEVEL_KEYS)})", key=str(key))
             for key in document if key not in TOP_LEVEL_KEYS]
    rest = {key: value for key, value in document.items() if key in TOP_LEVEL_KEYS}
    trials = rest.pop("trials", None)
    entries = trials if isinstance(trials, list) else []
    for index, item in enumerate(entries):
        found.extend(problem_of(lambda i=index, it=item: _trial(f"trials[{i}]", it)))
    if trials is not None and not isinstance(trials, list):
        found.append(ConfigError("must be a list of NCT ids", key="trials"))
    for key in rest:
        found.extend(problem_of(lambda k=key: parse_config({k: rest[k]})))
    return found


def problem_of(check: Callable[[], object]) -> list[ConfigError]:
    """[the ConfigError that ``check()`` raises], or [] when it raises none."""
    try:
        check()
    except ConfigError as error:
        return [error]
    return []


def parse_config(document: Any) -> Config:
    """A Config from the parsed YAML document (None for an empty file)."""
    if document is None:
        return Config()
    if not isinstance(document, Mapping):
        raise ConfigError("the configuration must be a mapping of keys (store, api, trials, …)")
    _reject_unknown(document, TOP_LEVEL_KEYS, prefix="")
    store = document.get("store", DEFAULT_STORE)
    if not isinstance(store, str) or not store:
        raise ConfigError("must be a file name or a database URL", key="store")
    notify = document.get("notify") or []
    if not isinstance(notify, list):
        raise ConfigError("must be a list of channels", key="notify")
    rules = document.get("rules") or {}
    if not isinstance(rules, Mapping):
        raise ConfigError("must be a mapping", key="rules")
    return Config(
        store=store,
        api=parse_api(document.get("api")),
        trials=parse_trials(document.get("trials")),
        schedule=document.get("schedule"),
        notify=tuple(notify),
        rules=dict(rules),
        max_failures=_at_least_one("max_failures",
                                   document.get("max_failures", DEFAULT_MAX_FAILURES)),
    )


def parse_api(section: Any) -> ApiSettings:
    """ApiSettings from the ``api:`` mapping; any field of ApiSettings may be given."""
    if section is None:
        return ApiSettings()
    if not isinstance(section, Mapping):
        raise ConfigError("must be a mapping", key="api")
    _reject_unknown(section, tuple(_API_CHECKS), prefix="api.")
    values = {name: _API_CHECKS[name](f"api.{name}", value) for name, value in section.items()}
    return dataclasses.replace(ApiSettings(), **values)


def parse_trials(section: Any) -> tuple[TrialEntry, ...]:
    if section is None:
        return ()
    if not isinstance(section, list):
        raise ConfigError("must be a list of NCT ids", key="trials")
    entries = tuple(_trial(f"trials[{index}]", item) for index, item in enumerate(section))
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if entry.nct_id in seen:
            raise ConfigError(f"{entry.nct_id} is listed twice", key=f"trials[{index}]")
        seen.add(entry.nct_id)
    return entries


def _trial(key: str, item: Any) -> TrialEntry:
    if isinstance(item, Mapping):
        _reject_unknown(item, TRIAL_KEYS, prefix=f"{key}.")
        if "id" not in item:
            raise ConfigError("missing (the NCT id of the trial)", key=f"{key}.id")
        ignore = item.get("ignore") or []
        if not isinstance(ignore, list) or not all(isinstance(path, str) for path in ignore):
            raise ConfigError("must be a list of paths", key=f"{key}.ignore")
        notify = item.get("notify") or []
        if not isinstance(notify, list):
            raise ConfigError("must be a list of channels", key=f"{key}.notify")
        return TrialEntry(_nct_id(f"{key}.id", item["id"]), tuple(notify), tuple(ignore))
    return TrialEntry(_nct_id(key, item))


def _nct_id(key: str, value: Any) -> str:
    try:
        return parse_nct_id(value if isinstance(value, str) else "")
    except InvalidNctId:
        raise ConfigError(f"{value!r} is not an NCT id (NCT + 8 digits)", key=key) from None


def _reject_unknown(mapping: Mapping[Any, Any], known: tuple[str, ...], *, prefix: str) -> None:
    for key in mapping:
        if key not in known:
            raise ConfigError(f"unknown key (expected one of: {', '.join(known)})",
                              key=f"{prefix}{key}")


# -- value checks for the api: keys -----------------------------------------------------------


def _positive(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"must be a positive number (got {value!r})", key=key)
    if not math.isfinite(value):
        raise ConfigError(f"must be a finite number (got {value!r})", key=key)
    return float(value)


def _count(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"must be a whole number, 0 or more (got {value!r})", key=key)
    return value


def _at_least_one(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"must be a whole number, 1 or more (got {value!r})", key=key)
    return value


def _page_size(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise ConfigError(f"must be a whole number from 1 to {MAX_PAGE_SIZE} (got {value!r})",
                          key=key)
    return value


def _base_url(key: str, value: Any) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"must be an http(s) URL such as https://clinicaltrials.gov "
                          f"(got {value!r})", key=key)
    if parts.query or parts.fragment:
        raise ConfigError(f"must not have a query or fragment (got {value!r})", key=key)
    return value.rstrip("/")


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"must be a non-empty string (got {value!r})", key=key)
    return value


_API_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "base_url": _base_url,
    "timeout_s": _positive,
    "max_retries": _count,
    "requests_per_second": _positive,
    "backoff_s": _positive,
    "backoff_max_s": _positive,
    "deadline_s": _positive,
    "page_size": _page_size,
    "user_agent": _text,
}
