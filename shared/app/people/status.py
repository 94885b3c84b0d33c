"""``GET`` / ``DELETE /api/connections/{email}`` and the operator's ``GET /api/manage/connections``, each for
the people of the tenant ``?tenant=`` names (``shared/app/people/tenancy.py``; without it the default tenant's)."""

from __future__ import annotations

import logging

from shared.app.people.connect import EMAIL
from shared.app.people.lifecycle import PeopleDeps, tell_gauge
from shared.app.people.tenancy import people_asked
from shared.app.responses import Reply, json_reply, problem
from shared.domain.people.connections import not_connected
from shared.domain.tenants.keys import tenant_of_key

__all__ = ["forget", "list_connections", "status"]

logger = logging.getLogger(__name__)


async def _person(email: str, tenant: str | None, deps: PeopleDeps) -> tuple[str, PeopleDeps] | Reply:
    """The person a route's path names, with the dependencies of the tenant its ``?tenant=`` names; or the
    answer (the email is checked first)."""
    user = email.strip().lower()
    if not EMAIL.fullmatch(user):
        return problem(400, "Invalid email", "the path must end with the person's email address", field="email")
    scoped = await people_asked(tenant, deps)
    return scoped if isinstance(scoped, Reply) else (user, scoped)


async def status(email: str, deps: PeopleDeps, tenant: str | None = None) -> Reply:
    person = await _person(email, tenant, deps)
    if isinstance(person, Reply):
        return person
    user, scoped = person
    connection = await scoped.connections.get(user)
    return json_reply(200, connection.status() if connection else not_connected(user))


async def forget(email: str, deps: PeopleDeps, tenant: str | None = None) -> Reply:
    """Forget the person's tokens: the tenant's row goes (another tenant's person of the same address keeps
    theirs); their parked work stays under the tenant's key of the person until they connect again (so the
    work resumes then) or the tenant is purged."""
    person = await _person(email, tenant, deps)
    if isinstance(person, Reply):
        return person
    user, scoped = person
    await scoped.connections.delete(user)
    logger.info("connection of %s forgotten%s", user, f" in tenant {scoped.tenant}" if scoped.tenant else "")
    await tell_gauge(scoped)
    return Reply(204)


async def list_connections(deps: PeopleDeps, tenant: str | None = None) -> Reply:
    """The connections of the tenant's people, each naming its tenant (its directory id; the default tenant's
    is the settings' tenant)."""
    scoped = await people_asked(tenant, deps)
    if isinstance(scoped, Reply):
        return scoped
    # The default tenant's store holds every tenant's rows: its people are those of unscoped keys.
    connections = [c for c in await scoped.connections.list()
                   if scoped.tenant is not None or tenant_of_key(c.user)[0] is None]
    await tell_gauge(scoped)
    named = scoped.tenant or (scoped.settings.tenant_id or "").strip().lower() or None
    return json_reply(200, {"value": [{**c.status(), "tenant": named}
                                      for c in sorted(connections, key=lambda c: c.user)]})
