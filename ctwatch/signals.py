"""Stopping on SIGTERM and SIGINT between two trials, and reloading on SIGHUP."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ctwatch.errors import Interrupted
from ctwatch.limits import STOP_GRACE_S

log = logging.getLogger("ctwatch.schedule")


@contextmanager
def stop_signals(callback: Callable[[], None], *, reload: Callable[[], None] | None = None,
                 grace_s: float | None = STOP_GRACE_S) -> Iterator[None]:
    """Call ``callback`` on SIGTERM or SIGINT instead of dying mid-transaction; with
    ``reload``, call it on SIGHUP, which then no longer ends the process.

    With ``grace_s`` (``check``), the main thread is still inside ``with`` that long after the
    first signal, or it gets a second one, :class:`Interrupted` is raised in it. ``None`` (the
    daemon, whose checks run in a worker thread a signal cannot interrupt): only the callback.
    """
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        if stopping and grace_s is not None:
            raise Interrupted(signum)
        within = "" if grace_s is None else f" (within {grace_s:g} s)"
        log.info("%s received: stopping after the trial in hand%s", signal.Signals(signum).name,
                 within)
        stopping.append(signum)
        callback()
        if grace_s is not None:
            signal.setitimer(signal.ITIMER_REAL, grace_s)

    def too_late(_signum: int, _frame: object) -> None:
        raise Interrupted(stopping[0])

    handlers: dict[signal.Signals, Callable[[int, object], None]] = {
        signal.SIGTERM: stop, signal.SIGINT: stop}
    if reload is not None:
        handlers[signal.SIGHUP] = lambda _signum, _frame: reload()
    if grace_s is not None:
        handlers[signal.SIGALRM] = too_late
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        yield
    finally:
        if grace_s is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, old in previous.items():
            signal.signal(sig, old)
