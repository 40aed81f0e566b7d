"""The daemon: ``ctwatch run`` checks on ``schedule:`` until SIGTERM or SIGINT.

SIGHUP re-reads the configuration between two checks (a check in progress goes on): a valid
one replaces the old, a new schedule starts at once; an invalid one is logged and ignored.

``schedule:`` is a cron expression (``"0 7 * * 1-5"``), a mapping with ``cron:`` and an
optional ``timezone:``, or an interval (``{every: 30s|15m|6h|1d}``); either mapping may add
``jitter:`` (seconds, spread of the start time). Missed runs are coalesced into one, a run
never overlaps the previous one, and a run late by up to ``misfire_grace_time`` still starts.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ctwatch.checks import tell
from ctwatch.config import Config
from ctwatch.errors import ConfigError, StoreBusy, describe
from ctwatch.limits import MAX_INTERVAL_S
from ctwatch.logs import quoted
from ctwatch.signals import stop_signals
from ctwatch.watch import Watcher

log = logging.getLogger("ctwatch.schedule")

MISFIRE_GRACE_S = 3600  # a run late by up to an hour (machine asleep, long run) still starts
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SCHEDULE_KEYS = ("cron", "timezone", "every", "jitter")


@dataclass(frozen=True, slots=True)
class Schedule:
    """When checks run."""

    trigger: BaseTrigger
    text: str  # as written, for people


def parse_schedule(value: Any, key: str = "schedule") -> Schedule:
    """A Schedule from the ``schedule:`` value; a ConfigError naming the key otherwise."""
    if value is None:
        raise ConfigError("missing: a cron expression or {every: 6h} for ctwatch run", key=key)
    if isinstance(value, str):
        return Schedule(cron_trigger(value, None, 0, key), value)
    if not isinstance(value, Mapping):
        raise ConfigError(f"must be a cron expression or a mapping (got {quoted(value)})", key=key)
    unknown = sorted(set(value) - set(_SCHEDULE_KEYS), key=str)
    if unknown:
        raise ConfigError(f"unknown key (known: {', '.join(_SCHEDULE_KEYS)})",
                          key=f"{key}.{unknown[0]}")
    jitter = _jitter(value.get("jitter", 0), f"{key}.jitter")
    if ("cron" in value) == ("every" in value):
        raise ConfigError("give either cron: or every:", key=key)
    if "every" in value:
        seconds = every_seconds(value["every"], f"{key}.every")
        trigger = IntervalTrigger(seconds=seconds, jitter=jitter or None)
        return Schedule(trigger, f"every {value['every']}")
    timezone = _timezone(value.get("timezone"), f"{key}.timezone")
    trigger = cron_trigger(value["cron"], timezone, jitter, f"{key}.cron")
    return Schedule(trigger, str(value["cron"]))


def every_seconds(value: Any, key: str) -> float:
    """Seconds of an interval written ``30s``, ``15m``, ``6h`` or ``1d``."""
    match = _EVERY.fullmatch(str(value).strip().lower())
    if not match or float(match[1]) <= 0:
        raise ConfigError(f"{quoted(value)} is not an interval such as 30s, 15m, 6h or 1d", key=key)
    seconds = float(match[1]) * _UNITS[match[2]]
    if seconds > MAX_INTERVAL_S:
        raise ConfigError(f"{quoted(value)} is longer than the longest interval, 366d", key=key)
    return seconds


def cron_trigger(expression: Any, timezone: Any, jitter: int, key: str) -> BaseTrigger:
    """A trigger for a standard 5-field crontab expression, read as crontab(5) reads it: 0
    and 7 are Sunday, and when both the day of month and the day of week are restricted (not
    ``*``), a day matching either runs the job."""
    fields = str(expression).split()
    if len(fields) != 5:
        raise ConfigError(f"{quoted(expression)} is not a cron expression (5 fields: minute hour "
                          "day-of-month month day-of-week)", key=key)
    minute, hour, day, month, weekday = fields
    common = {"minute": minute, "hour": hour, "month": month, "timezone": timezone}
    try:
        days = _weekdays(weekday)
        if day.startswith("*") or weekday.startswith("*"):
            return CronTrigger(day=day, day_of_week=days, jitter=jitter or None, **common)
        return OrTrigger([CronTrigger(day=day, **common), CronTrigger(day_of_week=days, **common)],
                         jitter=jitter or None)
    except (ValueError, LookupError) as error:
        raise ConfigError(f"{quoted(expression)} is not a valid cron expression: {error}",
                          key=key) from None


def _weekdays(field: str) -> str:
    """Crontab's day-of-week field as day names: APScheduler counts Monday as 0, cron Sunday
    (numbers and names alike, so that ``sun-wed`` is Sunday to Wednesday as in cron)."""
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.split(","):
        part, _, step = item.partition("/")
        if part == "*":
            low, high = 0, 6
        else:
            low_text, _, high_text = part.partition("-")
            low, high = _day(low_text), _day(high_text or low_text)
            if step and not high_text:
                high = 6
        if low > high:
            raise ValueError(f"day of week range {part!r} runs backwards")
        days.update(day % 7 for day in range(low, high + 1, int(step) if step else 1))
    return ",".join(_DAY_NAMES[day] for day in sorted(days))


def _day(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text.lower()[:3] in _DAY_NAMES:
        return _DAY_NAMES.index(text.lower()[:3])
    raise ValueError(f"day of week {text!r}")


def _timezone(value: Any, key: str) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{quoted(value)} is not a time zone such as Europe/Berlin or UTC",
                          key=key) from None
    return str(value)


def _jitter(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"must be a whole number of seconds, 0 or more (got {quoted(value)})",
                          key=key)
    if value > MAX_INTERVAL_S:
        raise ConfigError(f"must be at most {MAX_INTERVAL_S} seconds (366 days)", key=key)
    return value


class Daemon:
    """Runs ``job`` on a schedule in a worker thread until ``stop()``; ``request_reload()``
    (SIGHUP) asks ``reload`` for a new schedule between two runs of the job."""

    def __init__(self, schedule: Schedule, job: Callable[[], object], *,
                 reload: Callable[[], Schedule | None] | None = None) -> None:
        self.schedule = schedule
        self._job = job
        self._reload = reload
        self._stopping = threading.Event()
        # What the main thread is asked to do. SimpleQueue.put is reentrant, so a signal
        # handler may call it even while the main thread is inside get().
        self._requests: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._checking = threading.Lock()  # held by a run: a reload waits for it to end
        self._on_plan: Callable[[str | None], None] = lambda _: None
        self._scheduler = BackgroundScheduler()
        # The job itself, kept: its next run time is read off it, never asked of the scheduler
        # from the job's thread — APScheduler's shutdown holds the job stores' lock while it
        # waits for a running job, so a job asking for it then would wait for ever.
        self._check = self._scheduler.add_job(
            self._run, schedule.trigger, id="check", max_instances=1, coalesce=True,
            misfire_grace_time=MISFIRE_GRACE_S)

    def serve(self, *, now: bool = False,
              on_plan: Callable[[str | None], None] = lambda _: None) -> None:
        """Block until stopped; with ``now``, a first check right away. ``on_plan`` hears of
        every next check time."""
        self._on_plan = on_plan
        self._scheduler.start()
        if now:
            self._scheduler.modify_job("check", next_run_time=datetime.now().astimezone())
        log.info("ctwatch run: checking on %s; next check at %s", self.schedule.text,
                 self.next_run())
        on_plan(self.next_run())
        try:
            while not self.stopping:
                if self._requests.get() == "reload":
                    self._reload_between_runs()
        finally:
            self._scheduler.shutdown(wait=True)  # lets a check in progress finish its trial

    def stop(self) -> None:
        self._stopping.set()
        self._requests.put("stop")

    def request_reload(self) -> None:
        """Reload before the next check, never during one; safe in a signal handler."""
        self._requests.put("reload")

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def next_run(self) -> str | None:
        when = getattr(self._check, "next_run_time", None)  # not set before the first start
        return when.isoformat(timespec="seconds") if when else None

    def _run(self) -> None:
        with self._checking:
            if self.stopping:
                return
            self._job()
            if not self.stopping:
                log.info("next check at %s", self.next_run())
                self._on_plan(self.next_run())

    def _reload_between_runs(self) -> None:
        if self._reload is None:
            log.warning("SIGHUP received: ignored, the configuration stays as it was; restart "
                        "ctwatch run to read it again")
            return
        log.info("SIGHUP received: reloading the configuration before the next check")
        with self._checking:
            schedule = None if self.stopping else self._reload()
            if schedule is None or self.stopping:
                return
            self.schedule = schedule
            self._scheduler.reschedule_job("check", trigger=schedule.trigger)
            log.info("checking on %s from now on; next check at %s", schedule.text,
                     self.next_run())
            self._on_plan(self.next_run())


def serve(config: Config, *, now: bool = False,
          reload: Callable[[], Config] | None = None) -> None:
    """``ctwatch run``: check on the configured schedule until SIGTERM or SIGINT. On SIGHUP,
    ``reload()`` gives the configuration again (without it, SIGHUP is ignored)."""
    following = _Following(config)
    plan = parse_schedule(config.schedule)
    with following.watcher.serving() as announce:
        daemon = Daemon(plan, lambda: following.check(daemon),
                        reload=(lambda: following.reload(reload)) if reload else None)
        with stop_signals(daemon.stop, reload=daemon.request_reload, grace_s=None):
            daemon.serve(now=now, on_plan=announce)
    log.info("ctwatch run: stopped")


class _Following:
    """The service the daemon checks with, replaced when a reload gives a valid configuration."""

    def __init__(self, config: Config) -> None:
        self.watcher = Watcher(config)
        self.watcher.plan  # noqa: B018 -- a configuration it cannot follow stops it at start

    def check(self, daemon: Daemon) -> None:
        """One check; a problem is logged, never the end of the daemon."""
        try:
            tell(self.watcher.check(stop=lambda: daemon.stopping))
        except StoreBusy as error:
            log.warning("%s; this check is skipped", error)
        except Exception as error:  # a bug must not end the daemon; its traceback only at -v
            log.error("check failed: %s", describe(error),
                      exc_info=log.isEnabledFor(logging.DEBUG))

    def reload(self, read: Callable[[], Config]) -> Schedule | None:
        """Take the configuration ``read`` gives if it is valid; its schedule if it changed."""
        old = self.watcher.config
        try:
            config = read()
            if config.store != old.store:  # the daemon holds the old store's lock
                log.warning("store: still %s; restart ctwatch run to use %s", old.store,
                            config.store)
                config = replace(config, store=old.store)
            watcher = Watcher(config)
            plan = watcher.plan
            schedule = parse_schedule(config.schedule)
        except Exception as error:  # a bad edit must not end the daemon: keep the old config
            log.error("configuration not reloaded: %s", describe(error),
                      exc_info=log.isEnabledFor(logging.DEBUG))
            return None
        self.watcher = watcher
        log.info("configuration reloaded: %d trials, %d channels", len(plan.trials),
                 len(plan.channels))
        return schedule if config.schedule != old.schedule else None
