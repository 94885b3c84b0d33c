"""A fake OperatorAuth: a fixed token per set of app roles, as the real adapter would read them."""

from __future__ import annotations

from shared.app.operator.access import OPERATOR_ROLE, READER_ROLE
from shared.app.ports.operator import Principal
from shared.errors import NotSignedIn

OPERATOR_TOKEN = "operator-token"
READER_TOKEN = "reader-token"
NO_ROLE_TOKEN = "no-role-token"


class StaticOperatorAuth:
    def __init__(self) -> None:
        self.tokens = {OPERATOR_TOKEN: frozenset({OPERATOR_ROLE}), READER_TOKEN: frozenset({READER_ROLE}),
                       NO_ROLE_TOKEN: frozenset()}
        self.checked = 0

    async def verify(self, authorization: str | None) -> Principal:
        self.checked += 1
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotSignedIn("no bearer token")
        if token not in self.tokens:
            raise NotSignedIn("the token is not valid")
        return Principal(subject="00000000-0000-0000-0000-00000000000a", name="ops@contoso.com",
                         roles=self.tokens[token])
