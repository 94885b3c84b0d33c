"""Graph's directory listings as one tenant sees them: ``GET /users``, ``/users/delta`` and ``/places`` list only
the users and rooms of the caller's tenant (the token's ``tid``), as real Graph does. A mailbox belongs to the app's
home tenant unless ``tenancy.assign`` gave it to another (the rule ``Tenancy.check_mailbox`` enforces)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from .errors import GraphError

__all__ = ["of_callers_tenant", "room_mailbox"]


def of_callers_tenant(state: Any, request: Request, items: list[dict[str, Any]],
                      key: Callable[[dict[str, Any]], str] = lambda item: str(item.get("id", ""))
                      ) -> list[dict[str, Any]]:
    """The ``items`` (users, or rooms with ``key``) whose mailbox belongs to the tenant of the request's token."""
    claims = getattr(request.state, "claims", None)
    if not claims:
        return items

    def visible(item: dict[str, Any]) -> bool:
        try:
            state.tenancy.check_mailbox(claims, key(item))
        except GraphError:
            return False
        return True

    return [item for item in items if visible(item)]


def room_mailbox(state: Any) -> Callable[[dict[str, Any]], str]:
    """A room's mailbox user id (its address when it has no mailbox user)."""
    def key(room: dict[str, Any]) -> str:
        user = state.find_user(str(room.get("emailAddress", "")))
        return str(user["id"]) if user is not None else str(room.get("emailAddress", ""))
    return key
