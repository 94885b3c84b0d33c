"""msgraph-sdk's ``Entity.get_field_deserializers`` runs about 1,200 relative imports on every call (the
generator imports each derived model for typing), and every Graph model parsed or built calls it: measured at
5 ms of CPU per request, a quarter of the client's cost, and on first use it loads every model module. It
returns two fields; the lean replacement returns the same two without the imports. The SDK stays as it is
otherwise (tests/unit/test_graph_lean_models.py checks the replacement against the original on each upgrade)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["use_lean_entity_deserializers"]

# The SDK's own method, kept when the lean one is installed (the test compares them).
sdk_entity_fields: Callable[[Any], dict[str, Callable[[Any], None]]] | None = None


def _entity_fields(self: Any) -> dict[str, Callable[[Any], None]]:
    return {
        "id": lambda n: setattr(self, "id", n.get_str_value()),
        "@odata.type": lambda n: setattr(self, "odata_type", n.get_str_value()),
    }


def use_lean_entity_deserializers() -> None:
    """Install the lean ``Entity.get_field_deserializers`` (idempotent)."""
    global sdk_entity_fields
    from msgraph.generated.models.entity import Entity

    current = Entity.__dict__["get_field_deserializers"]
    if current is not _entity_fields:
        sdk_entity_fields = current
        Entity.get_field_deserializers = _entity_fields  # type: ignore[method-assign]
