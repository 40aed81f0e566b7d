"""How `schedule:` reads a crontab day-of-week field: the days a check would really run.

Every case is the next fire times from a fixed start, as dates a user would see on a calendar:
Sunday 1 March 2026, noon UTC. In crontab, 0 and 7 are Sunday and 1 is Monday (APScheduler,
underneath, counts Monday as 0: the translation is what these cases pin).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ctwatch.errors import ConfigError
from ctwatch.schedule import parse_schedule

START = datetime(2026, 3, 1, 12, 0, tzinfo=ZoneInfo("UTC"))  # a Sunday
assert START.strftime("%a") == "Sun"

# Mon 2 … Sun 8, Mon 9 … Sun 15 March 2026
MON, TUE, WED, THU, FRI, SAT, SUN = (date(2026, 3, day) for day in range(2, 9))


def week(*days: date, weeks: int = 1) -> list[date]:
    """``days`` of the first week and of the ``weeks - 1`` weeks that follow."""
    return [day + timedelta(weeks=n) for n in range(weeks) for day in days]


def fire_dates(schedule: object, count: int) -> list[date]:
    """The dates of the next ``count`` checks after START, in the schedule's time zone."""
    trigger = parse_schedule(schedule).trigger
    fired: list[date] = []
    previous, now = None, START
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None and (fire.hour, fire.minute) == (7, 0), fire
        fired.append(fire.date())
        previous, now = fire, fire + timedelta(seconds=1)
    return fired


#: day-of-week field → the dates of the checks after Sunday 1 March 2026, 12:00
WEEKDAYS: dict[str, list[date]] = {
    "1-5": week(MON, TUE, WED, THU, FRI, weeks=2),
    "0": week(SUN, weeks=3),
    "7": week(SUN, weeks=3),
    "*/2": week(TUE, THU, SAT, SUN, weeks=2),  # 0, 2, 4, 6
    "1-5/2": week(MON, WED, FRI, weeks=2),
    "0-6": week(MON, TUE, WED, THU, FRI, SAT, SUN, weeks=2),
    "0-7": week(MON, TUE, WED, THU, FRI, SAT, SUN, weeks=2),
    "*": week(MON, TUE, WED, THU, FRI, SAT, SUN, weeks=2),
    "5-7": week(FRI, SAT, SUN, weeks=2),
    "6,0": week(SAT, SUN, weeks=2),
    "1,3,5": week(MON, WED, FRI, weeks=2),
    "mon-fri": week(MON, TUE, WED, THU, FRI, weeks=2),
    "MON-FRI": week(MON, TUE, WED, THU, FRI, weeks=2),
    "mon-fri/2": week(MON, WED, FRI, weeks=2),
    "sun": week(SUN, weeks=3),
    "sat,sun": week(SAT, SUN, weeks=2),
    "mon,3,fri": week(MON, WED, FRI, weeks=2),
    "sun-wed": week(MON, TUE, WED, SUN, weeks=2),  # names as numbers: 0-3, not wrapped
    "Sun-Wed": week(MON, TUE, WED, SUN, weeks=2),
}


@pytest.mark.parametrize(("field", "expected"), WEEKDAYS.items(), ids=list(WEEKDAYS))
def test_day_of_week_field(field: str, expected: list[date]) -> None:
    schedule = {"cron": f"0 7 * * {field}", "timezone": "UTC"}
    assert fire_dates(schedule, len(expected)) == expected


def test_the_plain_string_form_reads_the_same_days() -> None:
    """``schedule: "0 7 * * 1-5"`` (the machine's time zone): weekdays only, at 07:00."""
    trigger = parse_schedule("0 7 * * 1-5").trigger
    previous, now, days = None, START, []
    for _ in range(10):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None and (fire.hour, fire.minute) == (7, 0)
        days.append(fire.strftime("%a"))
        previous, now = fire, fire + timedelta(seconds=1)
    assert days == ["Mon", "Tue", "Wed", "Thu", "Fri"] * 2


def test_days_are_read_in_the_schedules_time_zone() -> None:
    """07:00 Monday in Auckland is Sunday evening in UTC: the day is Auckland's."""
    schedule = {"cron": "0 7 * * 1", "timezone": "Pacific/Auckland"}
    trigger = parse_schedule(schedule).trigger
    fire = trigger.get_next_fire_time(None, START)
    assert fire is not None
    assert fire.isoformat() == "2026-03-02T07:00:00+13:00"
    assert fire.astimezone(ZoneInfo("UTC")).strftime("%a %H:%M") == "Sun 18:00"


#: crontab(5): with both day fields restricted, a day matching EITHER runs the job; a field
#: that starts with * restricts nothing of the kind, and the two then combine as AND.
BOTH_DAY_FIELDS: dict[str, list[date]] = {
    "1,15 * 5": [FRI, date(2026, 3, 13), date(2026, 3, 15), date(2026, 3, 20),
                 date(2026, 3, 27), date(2026, 4, 1)],  # Fridays, and the 1st and 15th
    "13 * fri": [FRI, date(2026, 3, 13), date(2026, 3, 20), date(2026, 3, 27),
                 date(2026, 4, 3), date(2026, 4, 10), date(2026, 4, 13)],
    "1,15 * *": [date(2026, 3, 15), date(2026, 4, 1), date(2026, 4, 15), date(2026, 5, 1)],
    "* * 5": week(FRI, weeks=3),
    "1,15 * */2": [date(2026, 3, 15), date(2026, 8, 1), date(2026, 8, 15),  # 1st or 15th,
                   date(2026, 9, 1), date(2026, 9, 15), date(2026, 10, 1)],  # Sun Tue Thu Sat
}


@pytest.mark.parametrize(("fields", "expected"), BOTH_DAY_FIELDS.items(),
                         ids=list(BOTH_DAY_FIELDS))
def test_day_of_month_and_day_of_week(fields: str, expected: list[date]) -> None:
    schedule = {"cron": f"0 7 {fields}", "timezone": "UTC"}
    assert fire_dates(schedule, len(expected)) == expected


REFUSED = {
    "8": "'8'",
    "1-8": "'8'",
    "9/2": "'9'",
    "funday": "funday",
}


@pytest.mark.parametrize("field", REFUSED)
@pytest.mark.parametrize(("schedule", "key"), [
    ("0 7 * * {}", "schedule"),
    ({"cron": "0 7 * * {}", "timezone": "UTC"}, "schedule.cron"),
], ids=["string", "mapping"])
def test_an_out_of_range_day_is_refused_naming_the_key(field: str, schedule: object,
                                                       key: str) -> None:
    value = (schedule.format(field) if isinstance(schedule, str)
             else {**schedule, "cron": schedule["cron"].format(field)})  # type: ignore[index]
    with pytest.raises(ConfigError) as raised:
        parse_schedule(value)
    assert raised.value.key == key
    assert str(raised.value).startswith(f"{key}: '0 7 * * {field}' is not a valid cron expression")
    assert REFUSED[field] in str(raised.value)


@pytest.mark.parametrize("field", ["5-1", "fri-mon"])
def test_a_range_that_runs_backwards_is_refused_as_crontab_refuses_it(field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_schedule(f"0 7 * * {field}", key="trials[0].schedule")
    assert raised.value.key == "trials[0].schedule"
    assert f"'0 7 * * {field}' is not a valid cron expression" in str(raised.value)
