"""The one exception tree of ctwatch, and the exit codes its errors end a command with.

    CtwatchError                 anything ctwatch expects to go wrong               exit 3
    ├── UsageError               a command-line value that cannot be used           exit 2
    │   ├── InvalidNctId         not "NCT" + 8 digits; refused before any request
    │   ├── NoSuchSnapshot       a snapshot reference that names none in the store
    │   └── OutputError          an output file (--out, --keep) that cannot be written
    ├── ConfigError              a config.yaml key (or a setting given in code)     exit 2
    │   └── ConfigProblems       every problem of a config.yaml at once (ctwatch config check)
    ├── Refused                  the store keeps an input out as it stands (an import older
    │                            than the latest snapshot, a backfill after checks)
    ├── FetchError               the registry could not give us the record we asked for
    │   ├── TrialNotFound        the registry says the study does not exist (404)
    │   ├── RateLimited          still 429 after every retry
    │   └── BadResponse          not the record asked for (HTML, truncated, wrong id…)
    ├── ParseError               a saved or fetched record cannot be read as a study
    ├── StoreError               the snapshot store cannot be read or written
    │   └── StoreBusy            another run holds the store's lock                 exit 4
    └── NotifyError              an alert could not be delivered

    Interrupted (a BaseException)  SIGTERM/SIGINT abandoning what the main thread waits for

Every error names the thing it concerns (trial, URL, file or key) in its message, so the CLI
can print ``str(error)`` as the one line a person reads, and exits with its ``exit_code``: the
code is a property of what went wrong, not of where in the tree the error sits.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sequence

from ctwatch.limits import QUOTED

#: The exit codes of every command (README "Exit codes").
EXIT_OK = 0
EXIT_CHANGES = 1  # only with check --exit-code
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_BUSY = 4


class CtwatchError(Exception):
    """Root of every error ctwatch raises on purpose."""

    exit_code = EXIT_FAILED  # some input, trial, alert or the run failed; the rest was done


class UsageError(CtwatchError):
    """A command-line value that cannot be used as given; ``option``: the one it was given to."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(f"{option}: {message}" if option else message)
        self.option = option


class InvalidNctId(UsageError):
    """An NCT id that is not "NCT" followed by 8 digits."""

    def __init__(self, value: str) -> None:
        super().__init__(f"{value!r} is not an NCT id (expected NCT followed by 8 digits)")
        self.value = value


class NoSuchSnapshot(UsageError):
    """A snapshot reference (--from, --to) that names no snapshot of the trial."""


class OutputError(UsageError):
    """A file the command was asked to write (--out, demo --keep) cannot be written."""


class ConfigError(CtwatchError):
    """A configuration key is not usable (or an option that stands for one)."""

    exit_code = EXIT_USAGE

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


class Refused(CtwatchError):
    """An input the store keeps out as it stands: a record older than its trial's latest
    snapshot, a registry history for a trial that already has checked snapshots."""


class ParseError(CtwatchError):
    """A record that cannot be read as a ClinicalTrials.gov study."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(f"{source}: {message}" if source else message)
        self.source = source


class StoreError(CtwatchError):
    """The snapshot store cannot be read or written."""


class StoreBusy(StoreError):
    """Another ctwatch run holds the store's lock."""

    exit_code = EXIT_BUSY


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
