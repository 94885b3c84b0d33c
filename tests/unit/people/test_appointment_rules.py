"""The pure rules: the appointment contract, its rendering as a Graph meeting and the PATCH diff."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.people.appointments import changed_fields, render_appointment
from shared.domain.planning.contract import check_event
from shared.domain.tagging import SOURCE_KEY_PROPERTY
from shared.domain.timezones import resolve_time_zone
from tests.support.builders import cloud_event
from tests.unit.people.world import ROOM, appointment

BERLIN = resolve_time_zone("Europe/Berlin")


class TestContract:
    def test_a_full_appointment_passes(self) -> None:
        checked = check_event(cloud_event("appointment.scheduled", "appointment/A-1", appointment()), 0, BERLIN)
        assert not isinstance(checked, list) and checked.subject == "appointment/A-1"

    def test_a_cancellation_needs_no_data_and_may_carry_a_comment(self) -> None:
        for data in (None, {"comment": "Withdrawn"}):
            assert not isinstance(check_event(cloud_event("appointment.cancelled", "appointment/A-1", data), 0,
                                              BERLIN), list)

    @pytest.mark.parametrize(("change", "path"), [
        ({"organizer": {"name": "Rita"}}, "$.data.organizer"),
        ({"attendees": [{"email": "ben@contoso.com", "type": "resource"}]}, "$.data.attendees[0].type"),
        ({"attendees": [{"name": "Ben"}]}, "$.data.attendees[0]"),
        ({"rooms": ["not an email"]}, "$.data.rooms[0]"),
        ({"online": "yes"}, "$.data.online"),
        ({"reminderMinutes": -5}, "$.data.reminderMinutes"),
        ({"end": "2026-05-04T09:00:00"}, "$.data.end"),
        ({"timeZone": "Mars/Olympus"}, "$.data.timeZone"),
        ({"subject": ""}, "$.data.subject"),
    ])
    def test_a_bad_field_is_named(self, change: dict[str, Any], path: str) -> None:
        checked = check_event(cloud_event("appointment.scheduled", "appointment/A-1", {**appointment(), **change}), 0,
                              BERLIN)
        assert isinstance(checked, list) and path in [v.path for v in checked]

    def test_the_subject_must_name_an_appointment(self) -> None:
        checked = check_event(cloud_event("appointment.scheduled", "task/A-1", appointment()), 0, BERLIN)
        assert isinstance(checked, list) and checked[0].path == "$.subject"


class TestRendering:
    def test_attendees_rooms_body_location_reminder_and_teams(self) -> None:
        content = render_appointment(appointment(), BERLIN)
        assert content["attendees"] == [
            {"emailAddress": {"address": "ben@contoso.com", "name": "Ben"}, "type": "required"},
            {"emailAddress": {"address": "cleo@contoso.com", "name": "Cleo"}, "type": "required"},
            {"emailAddress": {"address": ROOM}, "type": "resource"},
        ]
        assert content["body"] == {"contentType": "html", "content": "<p>Second round</p>"}
        assert content["location"] == {"displayName": "Building 4"}
        assert content["isReminderOn"] and content["reminderMinutesBeforeStart"] == 15
        assert content["isOnlineMeeting"] and content["onlineMeetingProvider"] == "teamsForBusiness"
        assert content["start"] == {"dateTime": "2026-05-04T10:00:00", "timeZone": "W. Europe Standard Time"}
        assert SOURCE_KEY_PROPERTY not in str(content)  # the writer adds the tag and the transactionId

    def test_the_organizer_is_not_invited_to_their_own_meeting_and_nobody_twice(self) -> None:
        data = appointment()
        data["attendees"] += [{"email": "RITA@contoso.com"}, {"email": "ben@contoso.com", "type": "optional"}]
        addresses = [a["emailAddress"]["address"] for a in render_appointment(data, BERLIN)["attendees"]]
        assert addresses == ["ben@contoso.com", "cleo@contoso.com", ROOM]

    def test_an_offline_appointment_without_reminder(self) -> None:
        data = appointment(online=False)
        del data["reminderMinutes"]
        content = render_appointment(data, BERLIN)
        assert not content["isOnlineMeeting"] and "onlineMeetingProvider" not in content
        assert content["isReminderOn"] is False


class TestDiff:
    def test_only_changed_fields(self) -> None:
        old = render_appointment(appointment(), BERLIN)
        new = render_appointment(appointment(subject="Third round", location=""), BERLIN)
        assert changed_fields(old, new) == {"subject": "Third round", "location": {"displayName": ""}}

    def test_attendees_compare_as_a_set_of_address_and_type(self) -> None:
        old = render_appointment(appointment(), BERLIN)
        reordered = render_appointment(appointment(attendees=("cleo@contoso.com", "ben@contoso.com")), BERLIN)
        assert changed_fields(old, reordered) == {}
        optional = appointment()
        optional["attendees"][0]["type"] = "optional"
        assert set(changed_fields(old, render_appointment(optional, BERLIN))) == {"attendees"}

    def test_nothing_known_before_sends_everything(self) -> None:
        new = render_appointment(appointment(), BERLIN)
        assert changed_fields(None, new) == new
