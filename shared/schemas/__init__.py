"""The published schemas: the planning-event JSON Schema and the OpenAPI document served at /api/openapi.json."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["EVENT_SCHEMA_REF", "openapi_document"]

EVENT_SCHEMA_REF = "#/components/schemas/PlanningEvent"


def _load(name: str) -> Any:
    return json.loads(resources.files(__name__).joinpath(name).read_text("utf-8"))


def _rebase(node: Any, base: str) -> Any:
    if isinstance(node, dict):
        return {k: (base + v[1:] if k == "$ref" and isinstance(v, str) and v.startswith("#/") else _rebase(v, base))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(item, base) for item in node]
    return node


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, self-contained: the planning-event schema sits in it as a component (its
    ``#/$defs/...`` references rebased), so a client resolves every ``$ref`` from this one document,
    wherever it was saved or served from."""
    document: dict[str, Any] = _load("openapi.json")
    event = {k: v for k, v in _load("planning-event.schema.json").items() if k not in ("$schema", "$id")}
    document["components"]["schemas"]["PlanningEvent"] = _rebase(event, EVENT_SCHEMA_REF)
    return document
