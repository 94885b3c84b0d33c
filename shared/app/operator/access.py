"""Who may call the operator API: an Entra access token with one of the connector's app roles.

``Connector.Operator`` may do everything; ``Connector.Reader`` may read (GET and HEAD). No token, or one the
connector does not accept, is answered 401 with ``WWW-Authenticate: Bearer`` (RFC 6750); a valid token without
the role the method needs is answered 403. Both as problem+json, naming neither the token nor its claims.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from shared.app.ports.operator import OperatorAuth, Principal
from shared.app.responses import Reply, problem
from shared.errors import NotSignedIn, TransientError

__all__ = ["OPERATOR_ROLE", "READER_ROLE", "admit", "roles_for"]

logger = logging.getLogger(__name__)

OPERATOR_ROLE = "Connector.Operator"
READER_ROLE = "Connector.Reader"
_READ_METHODS = frozenset({"GET", "HEAD"})
_REALM = "calendar-connector"


def roles_for(method: str) -> frozenset[str]:
    """The roles of which a caller needs one for ``method``: reading takes either, anything else the operator's."""
    return frozenset({OPERATOR_ROLE, READER_ROLE}) if method.upper() in _READ_METHODS else frozenset({OPERATOR_ROLE})


async def admit(auth: OperatorAuth, authorization: str | None, method: str) -> Reply | Principal:
    """The caller, when the request may go on; otherwise the answer that refuses it (401, 403 or 503)."""
    try:
        principal = await auth.verify(authorization)
    except NotSignedIn as exc:
        challenge = f'Bearer realm="{_REALM}"'
        if authorization:  # RFC 6750 3.1: no error code when the request had no credentials at all
            challenge += f', error="invalid_token", error_description="{exc.reason}"'
        return replace(problem(401, "Sign-in required", f"an operator access token is required: {exc.reason}"),
                       headers={"WWW-Authenticate": challenge})
    except TransientError as exc:
        logger.warning("operator sign-in could not be checked: %s", exc)
        return problem(503, "Sign-in unavailable", "the tenant's signing keys cannot be read now; try again")
    needed = roles_for(method)
    if not needed & principal.roles:
        logger.info("operator %s refused %s: no role of %s", principal.subject, method.upper(), sorted(needed))
        return replace(problem(403, "Role required", f"{method.upper()} needs the app role "
                                                     f"{' or '.join(sorted(needed))}"),
                       headers={"WWW-Authenticate": f'Bearer realm="{_REALM}", error="insufficient_scope"'})
    logger.info("operator %s (%s) %s", principal.subject, principal.name, method.upper())
    return principal
