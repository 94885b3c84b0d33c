"""The served OpenAPI document is self-contained, and requests no route takes get problem+json."""

from __future__ import annotations

import json
from typing import Any

from shared.app.unrouted import unrouted
from shared.schemas import openapi_document


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_ref_resolves_inside_the_served_document() -> None:
    document = openapi_document()
    refs = _refs(document)
    assert "#/components/schemas/PlanningEvent/$defs/email" in refs, "the event schema is embedded, refs rebased"
    for ref in refs:
        assert ref.startswith("#/"), f"{ref} points outside the document"
        assert isinstance(_resolve(document, ref), dict), ref
    assert "$id" not in document["components"]["schemas"]["PlanningEvent"]


def test_a_documented_path_with_another_method_is_405_with_allow() -> None:
    reply = unrouted("PUT", "openapi.json")
    assert (reply.status, reply.content_type, reply.headers) == (405, "application/problem+json", {"Allow": "GET"})
    assert "PUT" in reply.json()["detail"]
    both = unrouted("POST", "manage/rooms/available")  # the literal route and manage/rooms/{email}
    assert both.headers == {"Allow": "DELETE, GET, PUT"}
    assert unrouted("GET", "Manage/Rooms/a@b.com/").headers == {"Allow": "DELETE, PUT"}


def test_an_unknown_path_is_a_problem_404() -> None:
    reply = unrouted("GET", "no/such/thing\n")
    assert (reply.status, reply.content_type) == (404, "application/problem+json")
    assert json.loads(reply.body)["status"] == 404
    assert unrouted("GET", "admin/host/status").status == 404, "/admin is the host's, never under /api"
