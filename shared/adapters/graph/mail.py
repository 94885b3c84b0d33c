"""``ReconnectMailer`` over Graph ``POST /users/{sender}/sendMail`` (application permission Mail.Send), through
the session's pool and limiter with the app's credential."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from shared.adapters.graph.applications import classify
from shared.adapters.graph.session import GraphSession
from shared.errors import Forbidden, PermanentError, TransientError

__all__ = ["GraphReconnectMailer"]


class GraphReconnectMailer:
    def __init__(self, session: GraphSession) -> None:
        self._session = session

    async def send(self, sender: str, to: str, subject: str, html: str) -> None:
        settings = self._session.settings
        token = await self._session.credential.get_token(*settings.scopes)
        body = {"message": {"subject": subject, "body": {"contentType": "HTML", "content": html},
                            "toRecipients": [{"emailAddress": {"address": to}}]},
                "saveToSentItems": False}
        try:
            response = await self._session.http.post(
                f"{settings.graph_endpoint}/users/{quote(sender, safe='@')}/sendMail", json=body,
                headers={"Authorization": f"Bearer {token.token}"})
        except httpx.HTTPError as exc:
            raise TransientError(f"Graph unreachable: {type(exc).__name__}") from None
        if response.status_code == 404:
            raise PermanentError(f"the mailbox {sender} (CONNECTOR_RECONNECT_MAIL_FROM) was not found")
        if response.status_code == 403:
            raise Forbidden(f"the app may not send mail as {sender}: grant the application permission Mail.Send"
                            " (admin consent), or limit it to that mailbox with an application access policy")
        if response.status_code != 202:
            raise classify(response)
