"""The one gate of config.yaml: every problem of a configuration, one per key.

:func:`problems_of` is the only validation: ``ctwatch config check`` prints what it finds, and
:func:`load`, which ``check``, ``run`` and ``notify`` read their configuration with, refuses a
configuration it finds anything in, so that ``config check`` says OK exactly when they accept
the file. It asks each part the same question the commands ask it later — the checks of
:mod:`ctwatch.config`, ``notify.routing``, ``Rules.from_config`` and ``Rules.with_ignore`` as
``watch.from_config`` calls them, ``parse_schedule`` — and does not stop at the first problem,
so an ops person fixes them all in one go. Every problem is one printable line of at most
MAX_MESSAGE characters, whichever part wrote it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctwatch import config, notify, urls
from ctwatch.config import Config, TrialEntry
from ctwatch.errors import ConfigError, ConfigProblems
from ctwatch.logs import QUOTED
from ctwatch.rules import Rules

if TYPE_CHECKING:
    from ctwatch.searches import SearchEntry

Trials = Sequence[TrialEntry | ConfigError]  # one per item of trials:, in its order
MAX_MESSAGE = QUOTED + 200  # characters of one problem; a longer one is cut


def load(path: str | Path, *, required: bool = True, daemon: bool = False) -> Config:
    """The configuration at ``path`` (a missing file gives the defaults unless ``required``),
    or ConfigProblems if :func:`problems_of` finds anything. ``daemon``: the command needs a
    schedule (run)."""
    document = config.read_document(path, required=required)
    trials = _trials(document)  # read once for both: a config may list 100,000 trials
    found = problems_of(document, daemon=daemon, trials=trials)
    if found:
        raise ConfigProblems(found)
    return config.parse_config(document, trials=[t for t in trials if isinstance(t, TrialEntry)])


def _trials(document: Any) -> Trials:
    section = document.get("trials") if isinstance(document, Mapping) else None
    return list(config.trial_entries(section))


def problems(path: str | Path) -> list[ConfigError]:
    """``ctwatch config check``: every problem of the configuration file at ``path``; []
    when ``check`` would accept it."""
    try:
        document = config.read_document(path)
    except ConfigError as error:
        return [error]
    return problems_of(document)


def problems_of(document: Any, *, daemon: bool = False,
                trials: Trials | None = None) -> list[ConfigError]:
    """Every problem of a parsed config document (None: an empty or missing file), section
    by section; [] when it is usable. ``daemon``: a missing schedule is one too; ``trials``:
    the ``trials:`` section read already."""
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        return [ConfigError(config.NOT_A_MAPPING)]
    found = config.unknown_keys(document, config.TOP_LEVEL_KEYS, prefix="")
    found += _store_problems(document.get("store", config.DEFAULT_STORE))
    if "store_password_env" in document:
        found += _store_password_problems(document["store_password_env"], document.get("store"))
    found += [item for item in config.api_values(document.get("api"))
              if isinstance(item, ConfigError)]
    trials = _trials(document) if trials is None else trials
    found += [item for item in trials if isinstance(item, ConfigError)]
    searches = _searches(document.get("searches"))
    found += [item for item in searches if isinstance(item, ConfigError)]
    if document.get("trials") in (None, []) and document.get("searches") in (None, []):
        found.append(ConfigError(config.NO_TRIALS, key="trials"))
    found += _problem(config.parse_max_failures,
                      document.get("max_failures", config.DEFAULT_MAX_FAILURES))
    found += _problem(config.parse_compliance_alerts, document.get("compliance_alerts", False))
    found += _channel_problems(document.get("notify"), trials, searches)
    found += _rule_problems(document.get("rules"), trials)
    if daemon or "schedule" in document:
        from ctwatch.schedule import parse_schedule  # APScheduler: only for a schedule

        found += _problem(parse_schedule, document.get("schedule"))
    return [_one_line(problem) for problem in found]


def _searches(section: Any) -> list[SearchEntry | ConfigError]:
    """One entry or problem per item of ``searches:`` (its module imported only for one)."""
    if section is None:
        return []
    from ctwatch.searches import search_entries

    return list(search_entries(section))


def _one_line(problem: ConfigError) -> ConfigError:
    """The problem, or a copy cut to MAX_MESSAGE characters with every control character
    escaped: a value that some check quotes in full must not flood or rewrite a terminal."""
    text = str(problem)
    if len(text) <= MAX_MESSAGE and text.isprintable():
        return problem
    text = text[:MAX_MESSAGE] + ("…" if len(text) > MAX_MESSAGE else "")
    short = ConfigError("".join(c if c.isprintable() else repr(c)[1:-1] for c in text))
    short.key = problem.key
    return short


def _problem(check: Callable[..., object], *args: Any, **kwargs: Any) -> list[ConfigError]:
    """[the ConfigError that ``check(...)`` raises], or [] when it raises none."""
    try:
        check(*args, **kwargs)
    except ConfigError as error:
        return [error]
    return []


def _channel_problems(entries: Any, trials: Trials,
                      searches: Sequence[SearchEntry | ConfigError] = ()) -> list[ConfigError]:
    """Each top-level channel on its own, then the routing ``watch.from_config`` builds: a
    second channel of one name, a trial's own ``notify:`` entries. Routing stops at its first
    problem, so a trial's entries are checked once the top-level channels are usable."""
    try:
        top = list(config.parse_notify(entries))
    except ConfigError as error:
        return [error]
    found = [problem for index, entry in enumerate(top)
             for problem in _problem(notify.check_entry, f"notify[{index}]", entry)]
    # a trial that is itself a problem stands in as one without notify:, so that the others
    # keep their index in the keys routing names
    own = [(item.nct_id, item.notify) if isinstance(item, TrialEntry) else ("", ())
           for item in trials]
    watched = [("", ()) if isinstance(item, ConfigError) else (item.name, item.notify)
               for item in searches]
    routed = _problem(notify.routing, top or list(config.DEFAULT_NOTIFY), own, searches=watched)
    return found + [problem for problem in routed if str(problem) not in map(str, found)]


def _rule_problems(section: Any, trials: Trials) -> list[ConfigError]:
    """The ``rules:`` mapping, and each trial's own ``ignore:`` list added to it."""
    try:
        rules, found = Rules.from_config(config.parse_rules(section)), []
    except ConfigError as error:
        rules, found = Rules.default(), [error]
    # with_ignore follows each pattern through the model's type hints (~0.3 ms): a list many
    # trials share is checked once; one with a problem again per trial, to name its key
    usable: set[tuple[str, ...]] = set()
    for index, item in enumerate(trials):
        if not isinstance(item, TrialEntry) or not item.ignore or item.ignore in usable:
            continue
        problem = _problem(rules.with_ignore, item.ignore, key=f"trials[{index}].ignore")
        found += problem
        if not problem:
            usable.add(item.ignore)
    return found


def _store_problems(value: Any) -> list[ConfigError]:
    """What ``Store(config.store)`` would refuse before touching any data."""
    try:
        target = config.parse_store(value)
    except ConfigError as error:
        return [error]
    if "://" not in target:
        return _folder_problems(Path(target).expanduser())
    return _url_problems(target)


def _url_problems(target: str) -> list[ConfigError]:
    # SQLAlchemy is imported only for a store given as a URL: most commands never need it
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(urls.database_url(target))  # ValueError: a port that is not a number
        dialect = url.get_dialect()
    except (ArgumentError, ValueError):  # their messages hold the URL, and any password in it
        return [ConfigError("not a database URL such as postgresql://user@host/db or "
                            "sqlite:///ctwatch.db", key="store")]
    if url.port is not None and not 1 <= url.port <= 65535:
        return [ConfigError(f"port {url.port} is not a number from 1 to 65535", key="store")]
    if url.get_backend_name() == "sqlite":
        if url.username or url.password or url.host or url.port:
            return [ConfigError("a SQLite URL takes no user name, password or host",
                                key="store")]
        database = url.database
        return _folder_problems(Path(database)) if database and database != ":memory:" else []
    try:
        dialect.import_dbapi()  # create_engine would fail with a traceback, not a StoreError
    except ImportError as error:
        return [ConfigError(f"the {url.get_backend_name()} driver {error.name or error} is not "
                            "installed", key="store")]
    return []


def _folder_problems(database: Path) -> list[ConfigError]:
    if database.parent.is_dir():
        return []
    return [ConfigError(f"folder {database.parent} does not exist", key="store")]


def _store_password_problems(value: Any, store: Any) -> list[ConfigError]:
    """``store_password_env``: a variable that is set, for a store that takes a password."""
    key = "store_password_env"
    try:
        name = config.parse_store_password_env(value)
    except ConfigError as error:
        return [error]
    if not isinstance(store, str) or "://" not in store or store.startswith("sqlite"):
        return [ConfigError("the store is a SQLite file, which takes no password", key=key)]
    if _url_password(store):
        return [ConfigError("the store: URL holds a password already; remove it from the file",
                            key=key)]
    return _problem(config.Config(store_password_env=name).store_password)


def _url_password(target: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(target).password
    except (ArgumentError, ValueError):  # store: says so
        return None
