"""The one exception tree of ctwatch.

    CtwatchError                 anything ctwatch expects to go wrong
    ├── ConfigError              config.yaml, a command-line value or an NCT id is not usable
    │   ├── ConfigProblems       every problem of a config.yaml at once (ctwatch config check)
    │   └── InvalidNctId         not "NCT" + 8 digits; refused before any request
    ├── FetchError               the registry could not give us the record we asked for
    │   ├── TrialNotFound        the registry says the study does not exist (404)
    │   ├── RateLimited          still 429 after every retry
    │   └── BadResponse          not the record asked for (HTML, truncated, wrong id…)
    ├── ParseError               a saved or fetched record cannot be read as a study
    ├── StoreError               the snapshot store cannot be read or written
    │   └── StoreBusy            another run holds the store's lock
    └── NotifyError              an alert could not be delivered

    Interrupted (a BaseException)  SIGTERM/SIGINT abandoning what the main thread waits for

Every error names the thing it concerns (trial, URL, file or key) in its message, so the CLI
can print ``str(error)`` as the one line a person reads.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sequence

from ctwatch.limits import QUOTED


class CtwatchError(Exception):
    """Root of every error ctwatch raises on purpose."""


class ConfigError(CtwatchError):
    """A configuration key, option value or identifier is not usable."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class ConfigProblems(ConfigError):
    """Every problem of a configuration; reads as the first one and how many more there are."""

    def __init__(self, problems: Sequence[ConfigError]) -> None:
        more = len(problems) - 1
        super().__init__(str(problems[0])
                         + (f" (and {more} more; see ctwatch config check)" if more else ""))
        self.key = problems[0].key
        self.problems = list(problems)


class InvalidNctId(ConfigError):
    """An NCT id that is not "NCT" followed by 8 digits."""

    def __init__(self, value: str) -> None:
        super().__init__(f"{value!r} is not an NCT id (expected NCT followed by 8 digits)")
        self.value = value


class FetchError(CtwatchError):
    """The registry did not give us the record we asked for.

    ``reason`` is the message without the trial and URL, so that the errors of one failed
    request, one per trial, can be told once: group them by ``(url, reason)``.
    """

    def __init__(self, message: str, *, nct_id: str | None = None, url: str | None = None) -> None:
        where = " ".join(part for part in (nct_id, f"({url})" if url else None) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.nct_id = nct_id
        self.url = url
        self.reason = message


class TrialNotFound(FetchError):
    """The registry has no study with this id."""


class RateLimited(FetchError):
    """The registry kept answering 429 Too Many Requests."""


class BadResponse(FetchError):
    """A reply that is not the complete JSON record that was asked for."""


class ParseError(CtwatchError):
    """A record that cannot be read as a ClinicalTrials.gov study."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(f"{source}: {message}" if source else message)
        self.source = source


class StoreError(CtwatchError):
    """The snapshot store cannot be read or written."""


class StoreBusy(StoreError):
    """Another ctwatch run holds the store's lock."""


class NotifyError(CtwatchError):
    """An alert could not be delivered on a channel."""


class Interrupted(BaseException):
    """A stop by SIGTERM or SIGINT that the work in hand did not reach by itself within the
    grace period: raised in the main thread to abandon what it waits for.

    A BaseException, like KeyboardInterrupt, outside the CtwatchError tree, so that no ``except
    Exception`` of one trial takes it for that trial's failure: ``watch.check`` records the run
    as interrupted and lets it through; a database transaction it passes through is rolled
    back."""

    def __init__(self, signum: int) -> None:
        self.signal = signal.Signals(signum).name
        super().__init__(f"stopped by {self.signal}; the next run checks every trial again")


def describe(error: BaseException) -> str:
    """One line for a person about any error: ctwatch's own say what they are; anything else
    (a bug) is named by its type too."""
    if isinstance(error, CtwatchError):
        return printable(str(error))
    text = " ".join(str(error).split())[:QUOTED]
    return printable(f"unexpected {type(error).__name__}" + (f": {text}" if text else ""))


def printable(text: str) -> str:
    """Text that UTF-8 can hold: a record's lone surrogate escape ("\ud800") quoted in an
    error must not make the error itself unstorable or unprintable."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def chain_of(error: BaseException) -> Iterator[BaseException]:
    """The error, then the ones it was raised from or while handling, down the chain."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
