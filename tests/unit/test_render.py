from __future__ import annotations

from shared.domain.planning.contract import check_event
from shared.domain.planning.model import PlanningEvent
from shared.domain.planning.render import desired_state
from shared.domain.timezones import resolve_time_zone
from tests.support.builders import cloud_event, task_data

BERLIN = resolve_time_zone("Europe/Berlin")


def render(type_: str, subject: str, data: dict | None, zone: str = "Europe/Berlin"):
    event = check_event(cloud_event(type_, subject, data), 0, BERLIN)
    assert isinstance(event, PlanningEvent)
    return desired_state(event, resolve_time_zone(zone))


CUSTOMER = {
    "name": "Müller GmbH",
    "phone": "+49 30 1234-567",
    "email": "info@mueller.example",
    "address": {"street": "Hauptstraße 1", "postalCode": "10115", "city": "Berlin", "countryOrRegion": "Germany"},
    "coordinates": {"latitude": 52.532, "longitude": 13.384},
}


class TestTaskContent:
    def test_subject_location_body_and_category_serve_a_field_worker(self) -> None:
        desired = render("task.planned", "task/1", task_data(
            customer=CUSTOMER, taskType="Maintenance", reference="WO-4711", description="Check <valve>\nand pump",
            url="https://planning.example.com/tasks/1"))
        assert desired is not None and desired.mailbox == "anna@contoso.com"
        content = desired.content
        assert content["subject"] == "Boiler service – Müller GmbH"
        assert content["showAs"] == "busy" and content["categories"] == ["Maintenance"]
        assert content["location"] == {
            "displayName": "Hauptstraße 1, 10115 Berlin, Germany",
            "address": {"street": "Hauptstraße 1", "city": "Berlin", "postalCode": "10115",
                        "countryOrRegion": "Germany"},
            "coordinates": {"latitude": 52.532, "longitude": 13.384},
        }
        html = content["body"]["content"]
        assert '<a href="tel:+49301234567">+49 30 1234-567</a>' in html
        assert 'href="mailto:info@mueller.example"' in html
        assert "WO-4711" in html and "Check &lt;valve&gt;<br>and pump" in html
        assert 'href="https://planning.example.com/tasks/1"' in html

    def test_times_are_written_as_wall_clock_in_the_configured_zone_under_its_windows_name(self) -> None:
        desired = render("task.planned", "task/1", task_data(start="2026-05-04T06:00:00Z", end="2026-05-04T07:30:00Z"))
        assert desired is not None
        assert desired.content["start"] == {"dateTime": "2026-05-04T08:00:00", "timeZone": "W. Europe Standard Time"}
        assert desired.content["end"] == {"dateTime": "2026-05-04T09:30:00", "timeZone": "W. Europe Standard Time"}

    def test_conversion_is_right_across_a_daylight_saving_change(self) -> None:
        # 2026-03-29: Berlin moves from UTC+1 to UTC+2 at 01:00 UTC.
        desired = render("task.planned", "task/1", task_data(start="2026-03-29T00:30:00Z", end="2026-03-29T01:30:00Z"))
        assert desired is not None
        assert desired.content["start"]["dateTime"] == "2026-03-29T01:30:00"
        assert desired.content["end"]["dateTime"] == "2026-03-29T03:30:00"

    def test_local_times_in_another_zone_are_converted(self) -> None:
        desired = render("task.planned", "task/1", task_data(start="2026-05-04T08:00:00", end="2026-05-04T09:00:00",
                                                             timeZone="America/New_York"))
        assert desired is not None and desired.content["start"]["dateTime"] == "2026-05-04T14:00:00"

    def test_a_task_without_customer_has_an_empty_location_so_updates_clear_it(self) -> None:
        desired = render("task.planned", "task/1", task_data())
        assert desired is not None
        assert desired.content["location"] == {"displayName": ""} and desired.content["categories"] == []
        assert desired.content["subject"] == "Boiler service"

    def test_removals_desire_no_entry(self) -> None:
        assert render("task.unplanned", "task/1", None) is None


class TestOtherKinds:
    def test_unavailability_is_out_of_office(self) -> None:
        desired = render("unavailability.added", "unavailability/1", {
            "resource": "Anna@Contoso.com", "start": "2026-05-04T13:00:00+02:00", "end": "2026-05-04T15:00:00+02:00",
            "reason": "Doctor"})
        assert desired is not None and desired.mailbox == "anna@contoso.com"
        assert desired.content["showAs"] == "oof" and desired.content["subject"] == "Doctor"
        assert desired.content["isAllDay"] is False

    def test_all_day_unavailability_spans_whole_days(self) -> None:
        desired = render("unavailability.added", "unavailability/1", {
            "resource": "anna@contoso.com", "start": "2026-05-04T00:00:00", "end": "2026-05-06T00:00:00",
            "allDay": True})
        assert desired is not None and desired.content["isAllDay"] is True
        assert desired.content["start"]["dateTime"] == "2026-05-04T00:00:00"
        assert desired.content["end"]["dateTime"] == "2026-05-06T00:00:00"
        assert desired.content["subject"] == "Unavailable"

    def test_exceptional_working_day_is_free_and_all_day_without_hours(self) -> None:
        desired = render("workingday.added", "workingday/1", {"resource": "anna@contoso.com", "date": "2026-05-09"})
        assert desired is not None
        assert desired.content["showAs"] == "free" and desired.content["isAllDay"] is True
        assert desired.content["start"]["dateTime"] == "2026-05-09T00:00:00"
        assert desired.content["end"]["dateTime"] == "2026-05-10T00:00:00"

    def test_exceptional_working_day_with_hours_is_timed(self) -> None:
        desired = render("workingday.added", "workingday/1", {"resource": "anna@contoso.com", "date": "2026-05-09",
                                                              "start": "08:00", "end": "12:30", "note": "Inventory"})
        assert desired is not None and desired.content["isAllDay"] is False
        assert desired.content["subject"] == "Exceptional working day: Inventory"
        assert desired.content["end"]["dateTime"] == "2026-05-09T12:30:00"

    def test_the_content_hash_ignores_the_case_of_the_mailbox(self) -> None:
        a = render("task.planned", "task/1", task_data(resource="anna@contoso.com"))
        b = render("task.planned", "task/1", task_data(resource="ANNA@contoso.com"))
        assert a is not None and b is not None and a.content_hash == b.content_hash
