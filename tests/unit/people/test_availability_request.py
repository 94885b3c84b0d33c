"""The availability request: what passes, and a 400 naming the field for what Graph would refuse or we do not take."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain.people.availability_query import InvalidQuery, chunked, parse_query

BASE: dict[str, Any] = {"people": ["Anna@Contoso.com"], "rooms": ["room.alpha@contoso.com"],
                        "start": "2026-03-02T08:00:00", "end": "2026-03-06T18:00:00", "timeZone": "Europe/Berlin"}


def with_(**changes: Any) -> dict[str, Any]:
    body = dict(BASE)
    for key, value in changes.items():
        if value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return body


class TestValid:
    def test_defaults_and_normalised_addresses(self) -> None:
        query = parse_query(BASE)
        assert query.people == ("anna@contoso.com",) and query.rooms == ("room.alpha@contoso.com",)
        assert query.duration == timedelta(minutes=30) and query.interval_minutes == 15 and query.as_user is None
        assert query.start == datetime(2026, 3, 2, 7, tzinfo=UTC) and query.zone.windows == "W. Europe Standard Time"

    def test_offsets_windows_zone_names_fractions_and_duplicates(self) -> None:
        query = parse_query(with_(start="2026-03-02T08:00:00.1234567Z", end="2026-03-02T12:00:00+01:00",
                                  timeZone="Pacific Standard Time", people=["a@x.com", "A@x.com", "b@x.com"],
                                  rooms=..., asUser="B@x.com", durationMinutes=60, intervalMinutes=5))
        assert query.start == datetime(2026, 3, 2, 8, 0, 0, 123456, tzinfo=UTC)
        assert query.end == datetime(2026, 3, 2, 11, tzinfo=UTC) and query.zone.iana == "America/Los_Angeles"
        assert query.people == ("a@x.com", "b@x.com") and query.as_user == "b@x.com"

    def test_a_window_of_exactly_62_days_is_taken(self) -> None:
        assert parse_query(with_(start="2026-01-01T00:00:00", end="2026-03-04T00:00:00")).end.day == 4

    def test_chunks_of_100(self) -> None:
        addresses = [f"p{n}@x.com" for n in range(201)]
        assert [len(c) for c in chunked(addresses)] == [100, 100, 1] and chunked(addresses)[2] == ("p200@x.com",)


@pytest.mark.parametrize(("body", "field"), [
    ([], "$"),
    (with_(timeZone=...), "timeZone"),
    (with_(timeZone="Mars/Olympus"), "timeZone"),
    (with_(timeZone=""), "timeZone"),
    (with_(people=[], rooms=[]), "people"),
    (with_(people="anna@contoso.com"), "people"),
    (with_(people=["anna@contoso.com", "not-an-address"]), "people[1]"),
    (with_(people=["anna@contoso.com\n"]), "people[0]"),
    (with_(rooms=["x@y.com"] * 51), "rooms"),
    (with_(people=[f"p{n}@x.com" for n in range(151)]), "people"),
    (with_(rooms=["anna@contoso.com"]), "rooms"),
    (with_(start=...), "start"),
    (with_(start="2026-03-02"), "start"),
    (with_(start="2026-02-30T08:00:00"), "start"),
    (with_(start="1500-01-01T00:00:00"), "start"),
    (with_(end="2026-03-02T08:00:00"), "end"),
    (with_(end="2026-03-02T07:00:00"), "end"),
    (with_(end="2026-05-03T08:00:01"), "end"),
    (with_(durationMinutes=4), "durationMinutes"),
    (with_(durationMinutes=1441), "durationMinutes"),
    (with_(durationMinutes=30.0), "durationMinutes"),
    (with_(intervalMinutes=True), "intervalMinutes"),
    (with_(intervalMinutes=1440, end="2026-03-02T20:00:00"), "intervalMinutes"),
    (with_(asUser=None), "asUser"),
    (with_(asUser="nobody"), "asUser"),
    (with_(organizer="x@y.com"), "organizer"),
])
def test_invalid_requests_name_the_field(body: Any, field: str) -> None:
    with pytest.raises(InvalidQuery) as refused:
        parse_query(body)
    assert refused.value.field == field
