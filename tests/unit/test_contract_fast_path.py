"""The compiled schema check (the fast path of every valid event) never takes an event jsonschema refuses, so the
fast path changes no verdict, and the violations of a refused event are still jsonschema's, naming the field.

One known difference, in the safe direction: Python's ``re`` lets a pattern's ``$`` match before a final newline
(jsonschema takes ``"source": "x\n"``), the compiled check does not (as ECMA-262 would not); such an event takes
the slow path and jsonschema's verdict stands."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.planning.contract import _check_for, _compiled, _validator, schema, schema_violations
from tests.support.builders import cloud_event, task_data

RESERVATION = {"room": "room.alpha@contoso.com", "booker": {"email": "anna@contoso.com", "name": "Anna"},
               "start": "2026-05-04T09:00:00", "end": "2026-05-04T10:00:00", "timeZone": "Europe/Berlin",
               "subject": "Sprint review",
               "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                              "range": {"type": "endDate", "startDate": "2026-05-04", "endDate": "2026-06-30"}}}
APPOINTMENT = {"organizer": {"email": "rita@contoso.com", "name": "Rita"},
               "attendees": [{"email": "ben@contoso.com", "name": "Ben", "type": "required"}],
               "rooms": ["room.alpha@contoso.com"], "start": "2026-05-04T10:00:00", "end": "2026-05-04T11:00:00",
               "timeZone": "Europe/Berlin", "subject": "Interview", "body": "<p>Hi</p>", "location": "B4",
               "online": True, "reminderMinutes": 15}
VALID = [
    cloud_event("task.planned", "task/1", task_data(customer={
        "name": "C", "phone": "+49 30 1234", "email": "c@example.com", "address": {"city": "Berlin"},
        "coordinates": {"latitude": 52.5, "longitude": 13.4}}, url="https://x.example/1", taskType="Repair"),
        sequence=3),
    cloud_event("task.unplanned", "task/1"),
    cloud_event("unavailability.added", "unavailability/7", {"resource": "anna@contoso.com", "allDay": True,
                                                             "start": "2026-05-04T00:00:00",
                                                             "end": "2026-05-05T00:00:00", "reason": "Doctor"}),
    cloud_event("workingday.added", "workingday/9", {"resource": "anna@contoso.com", "date": "2026-05-09",
                                                     "start": "08:00", "end": "24:00", "note": "Inventory"}),
    cloud_event("reservation.created", "reservation/R1", RESERVATION),
    cloud_event("appointment.scheduled", "appointment/A-1", APPOINTMENT),
    cloud_event("appointment.cancelled", "appointment/A-1", {"comment": "Sorry"}),
]
# Values that sit on the edges of the schema's rules: Python's regex ``$`` before a final newline, whitespace as
# ``\s`` sees it, integers written as floats, booleans where numbers go, lengths at the limits.
EDGES = st.sampled_from([
    "", " ", "a\n", "1\n", "12:00\n", "x\x1cy", "a\u00a0b", "a\u2028b", "é" * 255, "é" * 256, "a" * 128, "a" * 129,
    "task/1\n", "anna@contoso.com\n", "2026-05-04", "24:00", "+49 (30) 1234", "https://x\n", 1.0, 15.0, 2.5, -0.0,
    True, False, None, 0, -1, 91, 10**20, [], {}, ["monday"], [None], {"email": "a@b.c"},
]).map(copy.deepcopy)  # a fresh copy each time: a mutation must not change the table
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=6)


def accepted_by_jsonschema(raw: Any) -> bool:
    return not any(True for _ in _validator().iter_errors(raw))


def accepted_by_compiled(raw: Any) -> bool:
    """The compiled check the fast path runs (the one for the event's type), which must agree with the whole
    schema's compiled check as well."""
    from fastjsonschema import JsonSchemaValueException

    verdicts = []
    for check in (_check_for(raw), _compiled()):
        try:
            check(raw)
            verdicts.append(True)
        except JsonSchemaValueException:
            verdicts.append(False)
    assert verdicts[0] == verdicts[1], json.dumps(raw)[:400]
    return verdicts[0]


def strings(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [*node, *(s for child in node.values() for s in strings(child))]
    if isinstance(node, list):
        return [s for child in node for s in strings(child)]
    return [node]


def containers(node: Any, found: list[Any]) -> list[Any]:
    if isinstance(node, dict | list):
        found.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            containers(child, found)
    return found


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    event = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(containers(event, [])))
        if isinstance(target, list):
            if target and draw(st.booleans()):
                target[draw(st.integers(0, len(target) - 1))] = draw(EDGES | JSON)
            else:
                target.append(draw(EDGES | JSON))
            continue
        keys = sorted(target) + ["extra"]
        key = draw(st.sampled_from(keys))
        if key in target and draw(st.integers(0, 3)) == 0:
            del target[key]
        else:
            target[key] = draw(EDGES | JSON | st.sampled_from(sorted(schema()["properties"]["type"]["enum"])))
    return event


class TestTheCompiledCheckAgreesWithJsonschema:
    @pytest.mark.parametrize("raw", VALID, ids=lambda raw: raw["type"])
    def test_every_kind_of_valid_event_takes_the_fast_path(self, raw: dict[str, Any]) -> None:
        assert accepted_by_compiled(raw) and accepted_by_jsonschema(raw)
        assert schema_violations(raw, 0) == []

    @given(mutated_events())
    def test_on_events_changed_anywhere_the_verdict_and_violations_are_jsonschemas(self, raw: Any) -> None:
        detailed = [(e.json_path, e.message) for e in sorted(_validator().iter_errors(raw), key=lambda e: e.json_path)]
        assert [(v.path, v.message) for v in schema_violations(raw, 0)] == detailed
        if accepted_by_compiled(raw):
            assert detailed == [], json.dumps(raw)[:400]
        elif not any(isinstance(s, str) and s.endswith("\n") for s in strings(raw)):
            assert detailed != [], json.dumps(raw)[:400]  # refused by both: the fast path costs nothing extra

    @given(EDGES | JSON)
    def test_on_values_that_are_no_event_both_refuse(self, raw: Any) -> None:
        assert accepted_by_compiled(raw) == accepted_by_jsonschema(raw)

    def test_a_final_newline_is_refused_by_the_compiled_check_and_jsonschema_decides(self) -> None:
        raw = cloud_event("task.unplanned", "task/1") | {"source": "https://planning.example.com/x\n"}
        assert not accepted_by_compiled(raw) and accepted_by_jsonschema(raw)
        assert schema_violations(raw, 0) == []

    def test_the_compiled_check_fills_no_default_into_the_event(self) -> None:
        raw = copy.deepcopy(VALID[5])
        before = json.dumps(raw, sort_keys=True)
        schema_violations(raw, 0)
        assert json.dumps(raw, sort_keys=True) == before

    def test_the_schema_uses_no_keyword_that_draft_7_reads_otherwise(self) -> None:
        # The compiled check reads the schema as draft 7: keywords new in 2019-09/2020-12, or a $ref beside other
        # keywords (ignored in draft 7), would make it judge differently.
        newer = {"prefixItems", "unevaluatedProperties", "unevaluatedItems", "dependentRequired",
                 "dependentSchemas", "$anchor", "$dynamicRef", "$dynamicAnchor", "minContains", "maxContains"}
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                assert not ("$ref" in node and len(node) > 1), node
                found.update(node)
                for child in node.values():
                    walk(child)
            elif isinstance(node, list):
                for child in node:
                    walk(child)

        walk(schema())
        assert not (found & newer)


class TestViolationsStillNameTheField:
    @pytest.mark.parametrize("change,expected", [
        ({"title": 42}, ("$.data.title", "42 is not of type 'string'")),
        ({"start": None}, ("$.data.start", "None is not of type 'string'")),
        ({"url": "ftp://x"}, ("$.data.url", "'ftp://x' does not match '^https?://\\\\S+$'")),
        ({"resource": {"email": "not-an-address"}},
         ("$.data.resource.email", "'not-an-address' does not match '^[^@\\\\s]+@[^@\\\\s]+\\\\.[^@\\\\s]+$'")),
    ])
    def test_a_refused_event_gets_jsonschemas_messages(self, change: dict[str, Any],
                                                       expected: tuple[str, str]) -> None:
        raw = cloud_event("task.planned", "task/1", task_data(**change) if "resource" not in change
                          else task_data() | change)
        found = [(v.path, v.message) for v in schema_violations(raw, 4)]
        assert expected in found
        assert found == [(e.json_path, e.message) for e in sorted(_validator().iter_errors(raw),
                                                                   key=lambda e: e.json_path)]
