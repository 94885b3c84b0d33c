"""The lean Entity deserializers read what msgraph-sdk's own do: checked against the original on each upgrade."""

from __future__ import annotations

import json

from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph.generated.models.entity import Entity
from msgraph.generated.models.event import Event

from shared.adapters.graph import lean_models


def test_the_lean_entity_fields_are_the_sdks() -> None:
    lean_models.use_lean_entity_deserializers()
    original = lean_models.sdk_entity_fields
    assert original is not None and original is not Entity.get_field_deserializers
    assert set(original(Entity())) == set(Entity().get_field_deserializers())


def test_an_event_parses_with_the_lean_fields() -> None:
    lean_models.use_lean_entity_deserializers()
    raw = {"id": "AAM=", "@odata.type": "#microsoft.graph.event", "iCalUId": "0400", "subject": "Visit"}
    node = JsonParseNodeFactory().get_root_parse_node("application/json", json.dumps(raw).encode())
    event = node.get_object_value(Event)
    assert (event.id, event.odata_type, event.i_cal_u_id, event.subject) == ("AAM=", "#microsoft.graph.event",
                                                                             "0400", "Visit")
