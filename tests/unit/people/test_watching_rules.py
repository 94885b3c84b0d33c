"""The pure rules of watching organizers: which meetings count, answer diffs, moves in Outlook, no echo."""

from __future__ import annotations

from typing import Any

from shared.domain.people.watching import (
    CHANGED_IN_OUTLOOK,
    RESPONSE,
    AppointmentWatch,
    appointment_of,
    decide,
    expect_write,
)
from shared.domain.tagging import SOURCE_KEY_PROPERTY
from shared.domain.timezones import resolve_time_zone

BERLIN = resolve_time_zone("Europe/Berlin")
ORGANIZER = "rita@contoso.com"


def event(*, change_key: str = "ck1", start: str = "2026-06-01T08:00:00", end: str = "2026-06-01T09:00:00",
          attendees: list[dict[str, Any]] | None = None, tag: str | None = "ebms appointment/A-1",
          **extra: Any) -> dict[str, Any]:
    return {
        "id": "E1", "iCalUId": "ical-1", "changeKey": change_key,
        "start": {"dateTime": start + ".0000000", "timeZone": "UTC"},
        "end": {"dateTime": end + ".0000000", "timeZone": "UTC"},
        "attendees": attendees if attendees is not None else [attendee("ben@contoso.com")],
        "singleValueExtendedProperties": [{"id": SOURCE_KEY_PROPERTY, "value": tag}] if tag else [], **extra,
    }


def attendee(email: str, response: str = "none", proposed: tuple[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "required", "emailAddress": {"address": email, "name": email.split("@")[0]},
                           "status": {"response": response, "time": "2026-05-02T10:00:00Z" if response != "none"
                                      else "0001-01-01T00:00:00Z"}}
    if proposed:
        out["proposedNewTime"] = {"start": {"dateTime": proposed[0], "timeZone": "UTC"},
                                  "end": {"dateTime": proposed[1], "timeZone": "UTC"}}
    return out


def seen(ev: dict[str, Any], state: AppointmentWatch | None = None) -> AppointmentWatch:
    decision = decide(ev, state, organizer=ORGANIZER, zone=BERLIN)
    assert decision.state is not None
    return decision.state


class TestWhichMeetingsCount:
    def test_the_appointment_id_is_the_subject_of_the_source_key(self) -> None:
        assert appointment_of(event()) == "A-1"
        assert appointment_of(event(tag="appointment/A-2")) == "A-2"

    def test_events_not_written_by_the_connector_or_not_appointments_are_ignored(self) -> None:
        for ev in (event(tag=None), event(tag="planning task/T-1"), event(tag="ebms appointment/")):
            decision = decide(ev, None, organizer=ORGANIZER, zone=BERLIN)
            assert (decision.publications, decision.state, decision.reason) == ([], None, "not an appointment")


class TestResponses:
    def test_a_new_answer_is_published_once_and_a_repeated_notification_finds_nothing(self) -> None:
        state = seen(event())
        accepted = event(change_key="ck2", attendees=[attendee("ben@contoso.com", "accepted")])
        decision = decide(accepted, state, organizer=ORGANIZER, zone=BERLIN)
        [published] = decision.publications
        assert published.type == RESPONSE
        assert published.data["appointmentId"] == "A-1"
        assert published.data["attendee"]["email"] == "ben@contoso.com"
        assert (published.data["response"], published.data["proposedNewTime"]) == ("accepted", None)
        assert decide(accepted, decision.state, organizer=ORGANIZER, zone=BERLIN).reason == "duplicate"
        # The same answers under a new changeKey (Exchange touching the item): nothing new either.
        touched = event(change_key="ck3", attendees=[attendee("ben@contoso.com", "accepted")])
        assert decide(touched, decision.state, organizer=ORGANIZER, zone=BERLIN).publications == []

    def test_only_answers_are_published_and_a_proposal_comes_in_the_configured_zone(self) -> None:
        state = seen(event(attendees=[attendee("ben@contoso.com"), attendee("cleo@contoso.com")]))
        ev = event(change_key="ck2", attendees=[
            attendee("ben@contoso.com", "notResponded"),
            attendee("cleo@contoso.com", "tentativelyAccepted", ("2026-06-01T12:00:00", "2026-06-01T13:00:00"))])
        [published] = decide(ev, state, organizer=ORGANIZER, zone=BERLIN).publications
        assert published.data["response"] == "tentativelyAccepted"
        assert published.data["proposedNewTime"] == {"start": "2026-06-01T14:00:00+02:00",
                                                     "end": "2026-06-01T15:00:00+02:00"}

    def test_a_changed_proposal_with_the_same_answer_is_a_new_answer(self) -> None:
        first = event(attendees=[attendee("ben@contoso.com", "declined", ("2026-06-02T08:00:00", "2026-06-02T09:00"))])
        state = seen(first)
        again = event(change_key="ck2", attendees=[
            attendee("ben@contoso.com", "declined", ("2026-06-03T08:00:00", "2026-06-03T09:00:00"))])
        [published] = decide(again, state, organizer=ORGANIZER, zone=BERLIN).publications
        assert published.data["response"] == "declined"

    def test_answers_already_given_at_first_sight_are_published(self) -> None:
        decision = decide(event(attendees=[attendee("ben@contoso.com", "accepted")]), None, organizer=ORGANIZER,
                          zone=BERLIN)
        assert [p.type for p in decision.publications] == [RESPONSE]


class TestChangedInOutlook:
    def test_the_first_sight_is_the_baseline(self) -> None:
        decision = decide(event(), None, organizer=ORGANIZER, zone=BERLIN)
        assert (decision.publications, decision.reason) == ([], "baseline")

    def test_the_organizer_moving_the_meeting_is_published_with_the_times_before(self) -> None:
        state = seen(event())
        moved = event(change_key="ck2", start="2026-06-01T10:00:00", end="2026-06-01T11:30:00")
        decision = decide(moved, state, organizer=ORGANIZER, zone=BERLIN)
        [published] = decision.publications
        assert published.type == CHANGED_IN_OUTLOOK
        assert (published.data["start"], published.data["end"]) == ("2026-06-01T12:00:00+02:00",
                                                                    "2026-06-01T13:30:00+02:00")
        assert published.data["previous"]["start"] == "2026-06-01T10:00:00+02:00"
        assert decide(event(change_key="ck3", start="2026-06-01T10:00:00", end="2026-06-01T11:30:00"),
                      decision.state, organizer=ORGANIZER, zone=BERLIN).publications == []

    def test_the_connectors_own_move_does_not_echo_back(self) -> None:
        state = expect_write(seen(event()), "2026-06-01T10:00:00+00:00", "2026-06-01T11:00:00+00:00")
        ours = event(change_key="ck2", start="2026-06-01T10:00:00", end="2026-06-01T11:00:00")
        decision = decide(ours, state, organizer=ORGANIZER, zone=BERLIN)
        assert decision.publications == []
        assert decision.state is not None and decision.state.written_start is None  # seen back: used up
        # Moved back by the organizer later: that is a move in Outlook again.
        back = event(change_key="ck3")
        assert [p.type for p in decide(back, decision.state, organizer=ORGANIZER, zone=BERLIN).publications] == [
            CHANGED_IN_OUTLOOK]

    def test_a_move_by_the_organizer_while_the_connectors_write_is_pending_is_reported(self) -> None:
        state = expect_write(seen(event()), "2026-06-01T10:00:00+00:00", "2026-06-01T11:00:00+00:00")
        theirs = event(change_key="ck2", start="2026-06-01T15:00:00", end="2026-06-01T16:00:00")
        [published] = decide(theirs, state, organizer=ORGANIZER, zone=BERLIN).publications
        assert published.type == CHANGED_IN_OUTLOOK

    def test_a_cancelled_meeting_tells_nothing(self) -> None:
        state = seen(event())
        assert decide(event(change_key="ck2", isCancelled=True), state, organizer=ORGANIZER,
                      zone=BERLIN).reason == "cancelled"
