"""``GET`` / ``DELETE /api/connections/{email}`` and the operator's ``GET /api/manage/connections``."""

from __future__ import annotations

import logging

from shared.app.people.connect import EMAIL
from shared.app.people.lifecycle import PeopleDeps, tell_gauge
from shared.app.responses import Reply, json_reply, problem
from shared.domain.people.connections import not_connected

__all__ = ["forget", "list_connections", "status"]

logger = logging.getLogger(__name__)


def _bad_email(email: str) -> Reply | None:
    if EMAIL.fullmatch(email):
        return None
    return problem(400, "Invalid email", "the path must end with the person's email address", field="email")


async def status(email: str, deps: PeopleDeps) -> Reply:
    user = email.strip().lower()
    if (bad := _bad_email(user)) is not None:
        return bad
    connection = await deps.connections.get(user)
    return json_reply(200, connection.status() if connection else not_connected(user))


async def forget(email: str, deps: PeopleDeps) -> Reply:
    """Forget the person's tokens (the row goes; their parked work stays until they connect again)."""
    user = email.strip().lower()
    if (bad := _bad_email(user)) is not None:
        return bad
    await deps.connections.delete(user)
    logger.info("connection of %s forgotten", user)
    await tell_gauge(deps)
    return Reply(204)


async def list_connections(deps: PeopleDeps) -> Reply:
    connections = await deps.connections.list()
    await tell_gauge(deps)
    return json_reply(200, {"value": [c.status() for c in sorted(connections, key=lambda c: c.user)]})
