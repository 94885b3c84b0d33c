from __future__ import annotations

import pytest

from shared.domain.planning.contract import ContractViolation, check_event
from shared.domain.planning.model import PlanningEvent
from shared.domain.timezones import resolve_time_zone
from tests.support.builders import cloud_event, task_data

BERLIN = resolve_time_zone("Europe/Berlin")


def errors(raw: object) -> list[tuple[str, str]]:
    result = check_event(raw, 3, BERLIN)
    assert isinstance(result, list), "expected violations"
    assert all(v.index == 3 for v in result)
    return [(v.path, v.message) for v in result]


class TestValidEvents:
    @pytest.mark.parametrize("type_,subject,data", [
        ("task.planned", "task/1", task_data()),
        ("task.rescheduled", "task/1", task_data()),
        ("task.reassigned", "task/1", task_data(resource="ben@contoso.com")),
        ("task.unplanned", "task/1", None),
        ("unavailability.added", "unavailability/7", {"resource": "anna@contoso.com", "start": "2026-05-04T08:00:00",
                                                       "end": "2026-05-04T12:00:00", "reason": "Doctor"}),
        ("unavailability.updated", "unavailability/7", {"resource": {"email": "anna@contoso.com"},
                                                         "start": "2026-05-04", "end": "2026-05-05", "allDay": True}
         | {"start": "2026-05-04T00:00:00", "end": "2026-05-05T00:00:00"}),
        ("unavailability.deleted", "unavailability/7", None),
        ("workingday.added", "workingday/9", {"resource": "anna@contoso.com", "date": "2026-05-09",
                                               "start": "08:00", "end": "12:00", "note": "Inventory"}),
        ("workingday.removed", "workingday/9", None),
    ])
    def test_each_of_the_nine_kinds_is_accepted(self, type_: str, subject: str, data: dict | None) -> None:
        result = check_event(cloud_event(type_, subject, data, sequence=4), 0, BERLIN)
        assert isinstance(result, PlanningEvent)
        assert result.type == type_ and result.sequence == 4

    def test_local_times_are_read_in_the_events_time_zone(self) -> None:
        raw = cloud_event("task.planned", "task/1", task_data(start="2026-05-04T08:00:00", end="2026-05-04T09:00:00",
                                                               timeZone="America/New_York"))
        assert isinstance(check_event(raw, 0, BERLIN), PlanningEvent)


class TestInvalidEvents:
    def test_missing_required_attributes_are_each_reported(self) -> None:
        found = errors({"specversion": "1.0", "type": "task.unplanned"})
        paths = " ".join(message for _, message in found)
        for attribute in ("id", "source", "subject", "time"):
            assert f"'{attribute}' is a required property" in paths

    def test_unknown_type_is_named(self) -> None:
        assert errors(cloud_event("task.exploded", "task/1"))[0][0] == "$.type"

    def test_wrong_types_point_at_the_field(self) -> None:
        raw = cloud_event("task.planned", "task/1", task_data(title=42))
        assert ("$.data.title", "42 is not of type 'string'") in errors(raw)

    def test_end_before_start_is_refused(self) -> None:
        raw = cloud_event("task.planned", "task/1", task_data(start="2026-05-04T10:00:00+02:00",
                                                               end="2026-05-04T09:00:00+02:00"))
        assert errors(raw) == [("$.data.end", "must be after start")]

    def test_subject_must_match_the_type(self) -> None:
        assert errors(cloud_event("task.unplanned", "workingday/1"))[0][0] == "$.subject"

    def test_an_unknown_time_zone_is_refused(self) -> None:
        raw = cloud_event("task.planned", "task/1", task_data(timeZone="Mars/Olympus"))
        assert errors(raw)[0][0] == "$.data.timeZone"

    def test_missing_task_data_is_refused(self) -> None:
        assert errors(cloud_event("task.planned", "task/1"))[0] == ("$", "'data' is a required property")

    def test_a_title_longer_than_255_characters_is_refused(self) -> None:
        raw = cloud_event("task.planned", "task/1", task_data(title="x" * 256))
        assert errors(raw)[0][0] == "$.data.title"

    def test_working_hours_need_both_ends(self) -> None:
        raw = cloud_event("workingday.added", "workingday/1", {"resource": "a@b.com", "date": "2026-05-09",
                                                                "start": "08:00"})
        assert errors(raw) == [("$.data.end", "working hours need both start and end")]

    def test_a_non_json_object_is_refused(self) -> None:
        assert errors("hello")[0] == ("$", "'hello' is not of type 'object'")

    def test_violations_serialise_with_index_and_path(self) -> None:
        assert ContractViolation(2, "$.id", "x").as_dict() == {"index": 2, "path": "$.id", "message": "x"}
