"""Free slots: table tests for the rules (tentative, working elsewhere, rooms, errors, the grid, DST) and property
tests against a brute-force check of every grid-aligned candidate."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.people.availability import Schedule, ScheduleItem, free_slots, grid_points, parse_schedule
from shared.domain.people.working_hours import (
    CustomZone,
    Transition,
    WorkingHours,
    parse_working_hours,
    working_intervals,
)

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
WEEKDAYS = frozenset(range(5))


def at(day: int, hour: int, minute: int = 0, zone: ZoneInfo = BERLIN, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=zone)


def person(email: str, *busy: tuple[datetime, datetime, str], hours: WorkingHours | None = None) -> Schedule:
    items = tuple(ScheduleItem(s.astimezone(UTC), e.astimezone(UTC), status) for s, e, status in busy)
    return Schedule(email, "", items, hours)


def office(zone: ZoneInfo = BERLIN, start: time = time(8), end: time = time(17), days: frozenset[int] = WEEKDAYS
           ) -> WorkingHours:
    return WorkingHours(days, start, end, zone, str(zone))


def local(slots: list[tuple[datetime, datetime]], zone: ZoneInfo = BERLIN) -> list[tuple[str, str]]:
    return [(s.astimezone(zone).strftime("%d %H:%M"), e.astimezone(zone).strftime("%d %H:%M")) for s, e in slots]


DAY_START, DAY_END = at(1, 0), at(2, 0)


def slots(people: list[Schedule], rooms: tuple[Schedule, ...] = (), *, start: datetime = DAY_START,
          end: datetime = DAY_END, duration: int = 30, interval: int = 15, zone: ZoneInfo = BERLIN
          ) -> list[tuple[str, str]]:
    found = free_slots(start, end, people, list(rooms), duration=timedelta(minutes=duration), interval_minutes=interval,
                       zone=zone)
    return local(found, zone)


class TestRules:
    def test_free_within_working_hours_around_a_meeting(self) -> None:
        anna = person("anna", (at(1, 10), at(1, 11), "busy"), hours=office())
        assert slots([anna]) == [("01 08:00", "01 10:00"), ("01 11:00", "01 17:00")]

    @pytest.mark.parametrize(("status", "blocks"), [
        ("busy", True), ("tentative", True), ("oof", True), ("unknown", True), ("free", False),
        ("workingElsewhere", False)])
    def test_which_statuses_block(self, status: str, blocks: bool) -> None:
        anna = person("anna", (at(1, 10), at(1, 11), status), hours=office())
        expected = [("01 08:00", "01 10:00"), ("01 11:00", "01 17:00")] if blocks else [("01 08:00", "01 17:00")]
        assert slots([anna]) == expected

    def test_every_person_and_every_room_must_be_free(self) -> None:
        anna = person("anna", (at(1, 9), at(1, 10), "busy"), hours=office())
        ben = person("ben", (at(1, 14), at(1, 15, 30), "busy"), hours=office(NEW_YORK))  # 08:00 EDT = 14:00 here
        room = person("room", (at(1, 16), at(1, 16, 30), "busy"))
        assert slots([anna, ben], (room,)) == [("01 15:30", "01 16:00"), ("01 16:30", "01 17:00")]
        assert slots([anna, ben]) == [("01 15:30", "01 17:00")]

    def test_rooms_have_no_working_hours(self) -> None:
        room = person("room", hours=office(start=time(12), end=time(13)))
        assert slots([], (room,), start=at(1, 6), end=at(1, 8)) == [("01 06:00", "01 08:00")]

    def test_a_schedule_with_an_error_takes_no_part(self) -> None:
        anna = person("anna", hours=office())
        ghost = Schedule("ghost", "", (), None, {"code": "5009", "message": "unknown"})
        assert slots([anna, ghost]) == [("01 08:00", "01 17:00")]

    def test_a_person_without_working_hours_is_not_restricted(self) -> None:
        assert slots([person("anna")], start=at(1, 22), end=at(2, 1)) == [("01 22:00", "02 01:00")]

    def test_without_items_the_view_is_read(self) -> None:
        view_only = Schedule("anna", "0020", (), None)
        assert slots([view_only], start=at(1, 8), end=at(1, 12), interval=60) == [
            ("01 08:00", "01 10:00"), ("01 11:00", "01 12:00")]

    def test_edges_move_onto_the_grid_and_short_gaps_are_dropped(self) -> None:
        anna = person("anna", (at(1, 8), at(1, 9, 5), "busy"), (at(1, 9, 40), at(1, 10, 7), "busy"),
                      (at(1, 10, 50), at(1, 17), "busy"), hours=office())
        # 09:05–09:40 shrinks to 09:15–09:30 (15 min < 30); 10:07–10:50 to 10:15–10:45.
        assert slots([anna]) == [("01 10:15", "01 10:45")]
        assert slots([anna], duration=15) == [("01 09:15", "01 09:30"), ("01 10:15", "01 10:45")]

    def test_an_interval_that_does_not_divide_the_hour_counts_from_local_midnight(self) -> None:
        assert slots([person("a")], start=at(1, 0, 10), end=at(1, 3), interval=45, duration=45) == [
            ("01 00:45", "01 03:00")]

    def test_working_days_and_an_overnight_shift(self) -> None:
        nights = person("nina", hours=office(start=time(22), end=time(6), days=frozenset({4})))  # Friday night
        assert slots([nights], start=at(4, 0), end=at(8, 0), duration=60) == [("05 22:00", "06 06:00")]

    def test_across_the_spring_switch_the_working_day_is_in_wall_time(self) -> None:
        # Europe/Berlin springs forward on 2026-03-29 (a Sunday); New York already did on 03-08.
        ben = person("ben", hours=office(NEW_YORK, days=frozenset(range(7))))
        got = slots([ben], start=at(27, 0, month=3), end=at(31, 0, month=3), duration=60)
        assert got == [("27 13:00", "27 22:00"), ("28 13:00", "28 22:00"), ("29 14:00", "29 23:00"),
                       ("30 14:00", "30 23:00")]

    def test_a_grid_point_the_clock_skips_is_none(self) -> None:
        points = grid_points(at(29, 1, month=3), at(29, 4, month=3), 30, BERLIN)
        assert [p.astimezone(BERLIN).strftime("%H:%M") for p in points] == [
            "01:00", "01:30", "03:00", "03:30", "04:00"]

    def test_a_repeated_hour_gives_its_grid_points_twice(self) -> None:
        points = grid_points(at(25, 1, month=10), at(25, 3, month=10), 30, BERLIN)
        assert len(points) == 7 and points == sorted(set(points))


class TestCustomZone:
    PACIFIC = {"@odata.type": "#microsoft.graph.customTimeZone", "bias": 480, "name": "Customized Time Zone",
               "standardOffset": {"time": "02:00:00.0000000", "dayOccurrence": 1, "dayOfWeek": "sunday",
                                  "month": 11, "year": 0},
               "daylightOffset": {"daylightBias": -60, "time": "02:00:00.0000000", "dayOccurrence": 2,
                                  "dayOfWeek": "sunday", "month": 3, "year": 0}}

    @pytest.mark.parametrize("day", ["2026-01-15", "2026-03-07", "2026-03-09", "2026-07-01", "2026-10-31",
                                     "2026-11-02", "2027-03-15", "2026-12-31"])
    def test_graphs_custom_zone_matches_the_tz_database(self, day: str) -> None:
        hours = parse_working_hours({"daysOfWeek": ["monday"], "startTime": "08:00:00.0000000",
                                     "endTime": "17:00:00.0000000", "timeZone": self.PACIFIC}, UTC, "UTC")
        assert hours is not None and isinstance(hours.zone, CustomZone)
        wall = datetime.fromisoformat(day + "T08:00:00")
        assert wall.replace(tzinfo=hours.zone).utcoffset() == wall.replace(
            tzinfo=ZoneInfo("America/Los_Angeles")).utcoffset()

    def test_southern_hemisphere_summer_spans_the_new_year(self) -> None:
        # Australia/Sydney: UTC+10, +11 from the first Sunday of October to the first Sunday of April.
        sydney = CustomZone(-600, daylight_bias=-60, standard=Transition(4, 6, 1, time(3)),
                            daylight=Transition(10, 6, 1, time(2)))
        for day in ("2026-01-10", "2026-05-10", "2026-10-10", "2026-12-25"):
            wall = datetime.fromisoformat(day + "T09:00:00")
            assert wall.replace(tzinfo=sydney).utcoffset() == wall.replace(
                tzinfo=ZoneInfo("Australia/Sydney")).utcoffset(), day

    def test_the_last_weekday_of_a_month(self) -> None:
        assert Transition(10, 6, 5, time(3)).on(2026) == datetime(2026, 10, 25, 3)
        assert Transition(3, 6, 5, time(2)).on(2026) == datetime(2026, 3, 29, 2)


def test_graphs_sample_answer_gives_the_expected_slots() -> None:
    pacific = ZoneInfo("America/Los_Angeles")
    raw = {"scheduleId": "AdeleV@contoso.com", "availabilityView": "", "scheduleItems": [
        {"status": "busy", "start": {"dateTime": "2019-03-15T12:00:00.0000000", "timeZone": "Pacific Standard Time"},
         "end": {"dateTime": "2019-03-15T14:00:00.0000000", "timeZone": "Pacific Standard Time"}}],
        "workingHours": {"daysOfWeek": ["friday"], "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000",
                         "timeZone": {"name": "Pacific Standard Time"}}}
    schedule = parse_schedule(raw, UTC, "UTC")
    assert schedule.email == "adelev@contoso.com"
    found = free_slots(datetime(2019, 3, 15, tzinfo=pacific), datetime(2019, 3, 16, tzinfo=pacific), [schedule], [],
                       duration=timedelta(minutes=60), interval_minutes=30, zone=pacific)
    assert local(found, pacific) == [("15 08:00", "15 12:00"), ("15 14:00", "15 17:00")]


# -- properties

ZONES = [ZoneInfo(z) for z in ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC",
                               "Pacific/Chatham")]
BASES = [datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 10, 23, tzinfo=UTC), datetime(2026, 6, 10, tzinfo=UTC),
         datetime(2026, 4, 3, tzinfo=UTC)]  # around the DST switches of both hemispheres, and a quiet week


@st.composite
def busy_list(draw: st.DrawFn, base: datetime) -> list[tuple[datetime, datetime, str]]:
    items = []
    for _ in range(draw(st.integers(0, 8))):
        start = base + timedelta(minutes=draw(st.integers(-120, 4 * 1440)))
        length = timedelta(minutes=draw(st.integers(1, 600)))
        items.append((start, start + length, draw(st.sampled_from(["busy", "tentative", "free", "oof"]))))
    return items


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    base = draw(st.sampled_from(BASES))
    start = base + timedelta(minutes=draw(st.integers(0, 600)))
    end = start + timedelta(minutes=draw(st.integers(60, 2 * 1440)))
    people = []
    for n in range(draw(st.integers(0, 3))):
        hours = None
        if draw(st.booleans()):
            hours = office(draw(st.sampled_from(ZONES)), time(draw(st.integers(0, 12)), draw(st.sampled_from([0, 30]))),
                           time(draw(st.integers(13, 23)), draw(st.sampled_from([0, 15]))),
                           frozenset(draw(st.sets(st.integers(0, 6), min_size=1))))
        people.append(person(f"p{n}", *draw(busy_list(base)), hours=hours))
    rooms = [person(f"r{n}", *draw(busy_list(base))) for n in range(draw(st.integers(0 if people else 1, 2)))]
    return {"start": start, "end": end, "people": people, "rooms": rooms,
            "duration": timedelta(minutes=draw(st.sampled_from([5, 15, 30, 45, 60, 90]))),
            "interval": draw(st.sampled_from([5, 15, 30, 45, 60])), "zone": draw(st.sampled_from(ZONES))}


def _free_at(s: dict, lo: datetime, hi: datetime) -> bool:
    """Brute force: nobody busy in [lo, hi) and every person working throughout."""
    for sched in (*s["people"], *s["rooms"]):
        if any(i.start < hi and i.end > lo and i.status.lower() not in ("free", "workingelsewhere")
               for i in sched.items):
            return False
    for p in s["people"]:
        if p.working_hours is not None and not any(a <= lo and hi <= b for a, b in
                                                   working_intervals(p.working_hours, s["start"], s["end"])):
            return False
    return s["start"] <= lo and hi <= s["end"]


def _aligned(instant: datetime, interval: int, zone: ZoneInfo) -> bool:
    wall = instant.astimezone(zone)
    return wall.second == 0 and (wall.hour * 60 + wall.minute) % interval == 0


def _compute(s: dict) -> list[tuple[datetime, datetime]]:
    return free_slots(s["start"], s["end"], s["people"], s["rooms"], duration=s["duration"],
                      interval_minutes=s["interval"], zone=s["zone"])


@given(scenarios())
def test_every_slot_is_free_long_enough_aligned_and_apart(s: dict) -> None:
    found = _compute(s)
    for n, (lo, hi) in enumerate(found):
        after = found[n + 1] if n + 1 < len(found) else None
        assert hi - lo >= s["duration"]
        assert _aligned(lo, s["interval"], s["zone"]) and _aligned(hi, s["interval"], s["zone"])
        assert _free_at(s, lo, hi)
        if after is not None:
            assert hi < after[0]  # sorted, disjoint, never touching


@given(scenarios())
def test_every_free_aligned_stretch_of_the_duration_lies_in_a_slot(s: dict) -> None:
    found = _compute(s)
    grid = grid_points(s["start"], s["end"], s["interval"], s["zone"])
    for n, lo in enumerate(grid):
        hi = next((g for g in grid[n:] if g - lo >= s["duration"]), None)
        if hi is not None and _free_at(s, lo, hi):
            assert any(a <= lo and hi <= b for a, b in found), (lo, hi)


def test_an_offset_with_seconds_is_written_in_utc() -> None:
    from shared.domain.people.availability import render_instant

    instant = datetime(1960, 6, 1, 12, tzinfo=UTC)
    assert render_instant(instant, ZoneInfo("Africa/Monrovia")) == "1960-06-01T12:00:00+00:00"
    assert render_instant(instant, BERLIN) == "1960-06-01T13:00:00+01:00"
