"""Reading ``config.yaml`` (DESIGN.md §10) into a :class:`Config`.

Every problem is a :class:`~ctwatch.errors.ConfigError` naming the key, e.g.
``api.timeout_s: must be a positive number (got -1)``. The ``api:`` and ``trials:`` sections are
read item by item, each item giving its value or its problem: :func:`parse_config` raises the
first problem, :func:`ctwatch.validate.problems_of` lists them all from the same checks. What
needs other modules or the machine — channels and their secrets, rules, the schedule, the
store's folder — is checked in :mod:`ctwatch.validate`.

The file is third-party input too (bounds in :mod:`ctwatch.limits`): at most MAX_CONFIG_BYTES
are read, YAML aliases (``*name``, the "billion laughs") are refused and so is nesting deeper
than MAX_CONFIG_DEPTH, and an error quotes at most QUOTED characters of a value.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from ctwatch import urls
from ctwatch.errors import ConfigError, InvalidNctId
from ctwatch.fetch import MAX_PAGE_SIZE, ApiSettings
from ctwatch.limits import (
    MAX_API_SECONDS,
    MAX_CONFIG_BYTES,
    MAX_CONFIG_DEPTH,
    MIN_REQUESTS_PER_SECOND,
)
from ctwatch.logs import key_name, quoted
from ctwatch.model import parse_nct_id

if TYPE_CHECKING:
    from ctwatch.searches import SearchEntry

T = TypeVar("T")

DEFAULT_CONFIG_FILE = "config.yaml"
DEFAULT_STORE = "ctwatch.db"
NO_TRIALS = "no trials to watch: list NCT ids under trials:, or a search under searches:"
DEFAULT_NOTIFY = ("stdout",)  # where alerts go when config.yaml names no channel
DEFAULT_MAX_FAILURES = 3  # consecutive failed checks of a trial before a person is told
TOP_LEVEL_KEYS = ("store", "api", "trials", "searches", "schedule", "notify", "rules",
                  "max_failures", "store_password_env", "compliance_alerts")
TRIAL_KEYS = ("id", "notify", "ignore")
NOT_A_MAPPING = "the configuration must be a mapping of keys (store, api, trials, …)"
# libyaml when PyYAML was built with it (the wheels are), else PyYAML's own parser
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
    searches: tuple[SearchEntry, ...] = ()  # watched registry searches (ctwatch.searches)
    schedule: Any = None  # checked by validate, with schedule.parse_schedule
    notify: tuple[Any, ...] = ()  # checked by validate, with notify.routing
    rules: Mapping[str, Any] = field(default_factory=dict)  # by validate, with rules.Rules
    max_failures: int = DEFAULT_MAX_FAILURES
    store_password_env: str | None = None  # the variable holding the store's password
    compliance_alerts: bool = False  # alert compliance milestones too (ctwatch.milestones)

    def store_password(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The store's database password, from the environment variable ``store_password_env``
        names (None without one), for ``Store(config.store, config.store_password())``; a
        ConfigError when that variable is not set."""
        if self.store_password_env is None:
            return None
        value = (os.environ if environ is None else environ).get(self.store_password_env)
        if not value:
            raise ConfigError(f"environment variable {self.store_password_env} is not set",
                              key="store_password_env")
        return value


def load_config(path: str | Path = DEFAULT_CONFIG_FILE, *, required: bool = True) -> Config:
    """Read a config file without the checks of :func:`ctwatch.validate.load` (channels,
    secrets, rules, schedule, the store's folder); a missing file gives the defaults unless
    ``required``."""
    return parse_config(read_document(path, required=required))


def read_document(path: str | Path, *, required: bool = True) -> Any:
    """The YAML document of a config file (None for a missing file that is not required)."""
    path = Path(path)
    text = _read(path, required)
    if text is None:
        return None
    try:
        return _parse_yaml(text)
    except _Refused as error:
        raise ConfigError(f"{path}: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None)
        raise ConfigError(f"{path}: not valid YAML{where}" + (f": {problem}" if problem else "")) \
            from None


def _read(path: Path, required: bool) -> str | None:
    """The text of the file, at most MAX_CONFIG_BYTES of it (None: missing, not required)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)  # /dev/zero or a pipe has no size
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: no such configuration file") from None
        return None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 2**20} MB, the limit")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None


def _parse_yaml(text: str) -> Any:
    # A 100,000-trial file took PyYAML's own parser seconds to minutes. libyaml parses it
    # several times faster, and then the cyclic garbage collector, run again and again over
    # the growing tree of nodes, costs more than the parsing, to find nothing: every node
    # is alive until the document is built (benchmarks/config.py).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return yaml.load(text, Loader=_FastLoader)
    except yaml.YAMLError:
        if _FAST_LOADER is yaml.SafeLoader:
            raise
        # PyYAML's own parser names what it found ("found character '\t'") where libyaml
        # does not; its verdict, error or document, is the one ctwatch always gave
        return yaml.load(text, Loader=_SafeLoader)
    finally:
        if enabled:
            gc.enable()


class _Refused(Exception):
    """YAML that ctwatch does not read: an alias, nesting too deep, a value out of range."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(f"line {mark.line + 1}: {problem}")


class _Composer:
    """PyYAML's composition, without aliases and recursion, for both of its loaders.

    An alias shares a node: nine lines of nine aliases each make a document of 9⁹ values
    ("billion laughs") that every later step walks or quotes in full. libyaml composes
    nodes recursively in C, so 50,000 nested brackets crashed the process."""

    def get_single_node(self) -> yaml.Node | None:
        return _compose(self)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)  # type: ignore[misc]
        except yaml.YAMLError:
            raise
        except Exception as error:  # 2020-13-45, an int of 5,000 digits, !!bool maybe
            raise _Refused(f"cannot read the value {quoted(node.value)}: "
                           f"{str(error).split(':')[0]}",
                           node.start_mark) from None


class _FastLoader(_Composer, _FAST_LOADER):  # type: ignore[misc, valid-type]
    pass


class _SafeLoader(_Composer, yaml.SafeLoader):
    pass


_COLLECTIONS = {yaml.SequenceStartEvent: yaml.SequenceNode,
                yaml.MappingStartEvent: yaml.MappingNode}


def _compose(loader: Any) -> yaml.Node | None:
    """The node of the stream's one document (None: an empty stream), built event by event."""
    # bound once: the loop runs once per event, a million of them in a 100,000-trial file
    get, resolve, scalar = loader.get_event, loader.resolve, yaml.ScalarNode
    get()  # the stream's start
    if loader.check_event(yaml.StreamEndEvent):
        return None
    get()  # the document's start
    top: list[yaml.Node] = []
    opened: list[yaml.Node] = []  # the collections being read, outermost first
    into = top  # where the next node goes
    while (kind := type(event := get())) is not yaml.DocumentEndEvent:
        if kind is yaml.ScalarEvent:
            tag = event.tag
            if tag is None or tag == "!":
                tag = resolve(scalar, event.value, event.implicit)
            into.append(scalar(tag, event.value, event.start_mark, event.end_mark, event.style))
        elif kind in _COLLECTIONS:
            node = _opened(loader, _COLLECTIONS[kind], event)
            into.append(node)
            opened.append(node)
            into = node.value
            if len(opened) > MAX_CONFIG_DEPTH:
                raise _Refused(f"nested more than {MAX_CONFIG_DEPTH} levels deep", event.start_mark)
        elif kind is yaml.AliasEvent:
            raise _Refused(f"YAML aliases (*{event.anchor}) are not accepted; write the value "
                           "out", event.start_mark)
        else:  # the end of a sequence or a mapping
            _close(opened.pop(), event)
            into = opened[-1].value if opened else top
    _single(loader, top[0])
    return top[0]


def _opened(loader: Any, kind: type[yaml.Node], event: Any) -> yaml.Node:
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(kind, None, event.implicit)
    return kind(tag, [], event.start_mark, None, event.flow_style)


def _close(node: yaml.Node, event: Any) -> None:
    node.end_mark = event.end_mark
    if isinstance(node, yaml.MappingNode):  # its keys and values, alternating, in pairs
        node.value = list(zip(node.value[::2], node.value[1::2], strict=True))


def _single(loader: Any, node: yaml.Node) -> None:
    if not loader.check_event(yaml.StreamEndEvent):
        raise yaml.composer.ComposerError("expected a single document in the stream",
                                          node.start_mark, "but found another document",
                                          loader.get_event().start_mark)
    loader.get_event()


def parse_config(document: Any, *, trials: Sequence[TrialEntry] | None = None) -> Config:
    """A Config from the parsed YAML document (None for an empty file); raises the first
    problem. :func:`ctwatch.validate.problems_of` lists every one, from the same checks.
    ``trials``: the entries of the ``trials:`` section, read and checked already."""
    if document is None:
        return Config()
    if not isinstance(document, Mapping):
        raise ConfigError(NOT_A_MAPPING)
    for problem in unknown_keys(document, TOP_LEVEL_KEYS, prefix=""):
        raise problem
    store = parse_store(document.get("store", DEFAULT_STORE))
    api = _valid(api_values(document.get("api")))
    return Config(
        store=store,
        api=dataclasses.replace(ApiSettings(), **dict(api)),
        trials=tuple(_valid(trial_entries(document.get("trials"))) if trials is None
                     else trials),
        searches=parse_searches(document.get("searches")),
        schedule=document.get("schedule"),
        notify=parse_notify(document.get("notify")),
        rules=parse_rules(document.get("rules")),
        max_failures=parse_max_failures(document.get("max_failures", DEFAULT_MAX_FAILURES)),
        store_password_env=parse_store_password_env(document.get("store_password_env")),
        compliance_alerts=parse_compliance_alerts(document.get("compliance_alerts", False)),
    )


def parse_searches(section: Any) -> tuple[SearchEntry, ...]:
    """The ``searches:`` entries (:mod:`ctwatch.searches`, imported only when there are)."""
    if section is None:
        return ()
    from ctwatch.searches import search_entries

    return tuple(_valid(search_entries(section)))


def _valid(items: Iterable[T | ConfigError]) -> list[T]:
    """The items of a section, or its first problem raised."""
    values = list(items)
    for item in values:
        if isinstance(item, ConfigError):
            raise item
    return [item for item in values if not isinstance(item, ConfigError)]


def unknown_keys(mapping: Mapping[Any, Any], known: tuple[str, ...], *,
                 prefix: str) -> list[ConfigError]:
    """A problem for each key of ``mapping`` that is not one of ``known``."""
    return [_unknown(f"{prefix}{key_name(key)}", known) for key in mapping if key not in known]


def _unknown(key: str, known: Iterable[str]) -> ConfigError:
    return ConfigError(f"unknown key (expected one of: {', '.join(known)})", key=key)


def parse_store(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError("must be a file name or a database URL", key="store")
    return value


def parse_store_password_env(value: Any) -> str | None:
    """The name of the environment variable holding the store's database password."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "=" in value or "\0" in value:
        raise ConfigError(f"must be the name of an environment variable (got {quoted(value)})",
                          key="store_password_env")
    return value


def parse_notify(value: Any) -> tuple[Any, ...]:
    """The ``notify:`` entries, each checked by :mod:`ctwatch.notify`."""
    if not isinstance(value, list | None):
        raise ConfigError("must be a list of channels", key="notify")
    return tuple(value or ())


def parse_rules(value: Any) -> dict[str, Any]:
    """The ``rules:`` mapping, checked by :mod:`ctwatch.rules`."""
    if not isinstance(value, Mapping | None):
        raise ConfigError("must be a mapping", key="rules")
    return dict(value or {})


def parse_compliance_alerts(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"must be true or false (got {quoted(value)})", key="compliance_alerts")
    return value


def parse_max_failures(value: Any) -> int:
    return _at_least_one("max_failures", value)


def api_values(section: Any) -> Iterator[tuple[str, Any] | ConfigError]:
    """(name, value) for each key of the ``api:`` mapping (any field of ApiSettings), or the
    problem of that key."""
    if section is None:
        return
    if not isinstance(section, Mapping):
        yield ConfigError("must be a mapping", key="api")
        return
    for name, value in section.items():
        check = _API_CHECKS.get(name) if isinstance(name, str) else None
        if check is None:
            yield _unknown(f"api.{key_name(name)}", _API_CHECKS)
            continue
        try:
            yield name, check(f"api.{name}", value)
        except ConfigError as error:
            yield error


def trial_entries(section: Any) -> Iterator[TrialEntry | ConfigError]:
    """One TrialEntry or problem per item of the ``trials:`` list, in its order (so the n-th
    item is ``trials[n]``); a second listing of a trial is a problem."""
    if section is None:
        return
    if not isinstance(section, list):
        yield ConfigError("must be a list of NCT ids", key="trials")
        return
    seen: set[str] = set()
    for index, item in enumerate(section):
        # most items are an NCT id as the registry writes it: no key, no parsing (a config
        # may list 100,000 of them, read at every check)
        plain = type(item) is str and _CANONICAL_ID.fullmatch(item) is not None
        try:
            entry = TrialEntry(item) if plain else _trial(f"trials[{index}]", item)
        except ConfigError as error:
            yield error
            continue
        if entry.nct_id in seen:
            yield ConfigError(f"{entry.nct_id} is listed twice", key=f"trials[{index}]")
            continue
        seen.add(entry.nct_id)
        yield entry


_CANONICAL_ID = re.compile(r"NCT[0-9]{8}")  # what model.parse_nct_id gives back unchanged


def _trial(key: str, item: Any) -> TrialEntry:
    if not isinstance(item, Mapping):
        return TrialEntry(_nct_id(key, item))
    for problem in unknown_keys(item, TRIAL_KEYS, prefix=f"{key}."):
        raise problem
    if "id" not in item:
        raise ConfigError("missing (the NCT id of the trial)", key=f"{key}.id")
    ignore = item.get("ignore") or []
    if not isinstance(ignore, list) or not all(isinstance(path, str) for path in ignore):
        raise ConfigError("must be a list of paths", key=f"{key}.ignore")
    notify = item.get("notify") or []
    if not isinstance(notify, list):
        raise ConfigError("must be a list of channels", key=f"{key}.notify")
    return TrialEntry(_nct_id(f"{key}.id", item["id"]), tuple(notify), tuple(ignore))


def _nct_id(key: str, value: Any) -> str:
    try:
        return parse_nct_id(value if isinstance(value, str) else "")
    except InvalidNctId:
        raise ConfigError(f"{quoted(value)} is not an NCT id (NCT + 8 digits)", key=key) \
            from None


# -- value checks for the api: keys -----------------------------------------------------------


def _positive(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"must be a positive number (got {quoted(value)})", key=key)
    if not math.isfinite(value):
        raise ConfigError(f"must be a finite number (got {quoted(value)})", key=key)
    return float(value)


def _pace(key: str, value: Any) -> float:
    rate = _positive(key, value)
    if rate < MIN_REQUESTS_PER_SECOND:  # a slower pace holds the store's lock for days
        raise ConfigError(f"must be at least {MIN_REQUESTS_PER_SECOND:g}, one request an hour "
                          f"(got {quoted(value)})", key=key)
    return rate


def _seconds(key: str, value: Any) -> float:
    seconds = _positive(key, value)
    if seconds > MAX_API_SECONDS:
        raise ConfigError(f"must be at most {MAX_API_SECONDS} seconds, a day (got {quoted(value)})",
                          key=key)
    return seconds


def _sweep_days(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 366:
        raise ConfigError(f"must be a number of days from 0 (every check reads every trial in "
                          f"full) to 366 (got {quoted(value)})", key=key)
    return float(value)


def _count(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"must be a whole number, 0 or more (got {quoted(value)})", key=key)
    return value


def _at_least_one(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"must be a whole number, 1 or more (got {quoted(value)})", key=key)
    return value


def _page_size(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise ConfigError(f"must be a whole number from 1 to {MAX_PAGE_SIZE} "
                          f"(got {quoted(value)})", key=key)
    return value


def _base_url(key: str, value: Any) -> str:
    parts = urls.split(value)
    if parts is not None and "@" in parts.netloc:
        # not echoed: the value holds the very secret this keeps out of the logs
        raise ConfigError("must not hold a user name or password: they would be printed in "
                          "every error line", key=key)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"must be an http(s) URL such as https://clinicaltrials.gov "
                          f"(got {quoted(value)})", key=key)
    if any(char.isspace() for char in value):
        raise ConfigError(f"must not contain spaces or line breaks (got {quoted(value)})",
                          key=key)
    if not urls.port_ok(parts):
        raise ConfigError(f"has a port that is not a number from 1 to 65535 "
                          f"(got {quoted(value)})", key=key)
    if parts.query or parts.fragment:
        raise ConfigError(f"must not have a query or fragment (got {quoted(value)})", key=key)
    return value.rstrip("/")


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"must be a non-empty string (got {quoted(value)})", key=key)
    return value


_API_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "base_url": _base_url,
    "timeout_s": _seconds,
    "max_retries": _count,
    "requests_per_second": _pace,
    "backoff_s": _seconds,
    "backoff_max_s": _seconds,
    "deadline_s": _seconds,
    "page_size": _page_size,
    "user_agent": _text,
    "max_reply_mb": _positive,
    "full_sweep_days": _sweep_days,
}
