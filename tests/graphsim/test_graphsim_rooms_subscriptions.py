"""Subscriptions: the validation handshake, the rules on create/renew, expiry and deletion."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from local.graphsim.server import RunningSimulator

from .receiver import Receiver, running_receiver
from .simdata import ALICE, CLIENT_ID, CLIENT_SECRET, TENANT, fetch_token

pytestmark = pytest.mark.asyncio


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as rx:
        yield rx


def expiry(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def sub_body(rx: Receiver, mailbox: str = ALICE, **extra: object) -> dict[str, object]:
    return {"changeType": "created,updated,deleted", "notificationUrl": rx.url(),
            "lifecycleNotificationUrl": rx.url("/api/graph/lifecycle"),
            "resource": f"/users/{mailbox}/events", "expirationDateTime": expiry(4000),
            "clientState": "s3cret-state"} | extra


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")[:26] + "+00:00")


async def test_create_validates_both_urls_and_returns_the_subscription(
        graph: httpx.AsyncClient, receiver: Receiver, sim: RunningSimulator) -> None:
    response = await graph.post("/subscriptions", json=sub_body(receiver))
    assert response.status_code == 201, response.text
    sub = response.json()
    assert {v["path"] for v in receiver.validations} == {"/api/graph/notifications",
                                                         "/api/graph/lifecycle"}
    assert all(v["contentType"].startswith("text/plain") for v in receiver.validations)
    # Graph's token is a sentence; the receiver got it decoded from the query string.
    assert all(" " in v["token"] for v in receiver.validations)
    for key in ("id", "resource", "applicationId", "changeType", "clientState", "notificationUrl",
                "lifecycleNotificationUrl", "expirationDateTime", "creatorId",
                "latestSupportedTlsVersion", "notificationContentType"):
        assert key in sub
    assert sub["applicationId"] == CLIENT_ID
    assert sub["changeType"] == "created,updated,deleted"
    assert sub["clientState"] == "s3cret-state"
    assert sub["resource"] == f"/users/{ALICE}/events"
    listed = (await graph.get("/subscriptions")).json()["value"]
    assert [s["id"] for s in listed] == [sub["id"]]
    assert (await graph.get(f"/subscriptions/{sub['id']}")).json()["id"] == sub["id"]
    control = sim.state.subscriptions()
    assert control[0]["clientState"] == "s3cret-state" and control[0]["expired"] is False


async def test_handshake_keeps_the_urls_own_query_and_localhost_is_loopback(
        graph: httpx.AsyncClient, receiver: Receiver) -> None:
    url = receiver.url("/api/graph/notifications?code=abc").replace("127.0.0.1", "localhost")
    body = sub_body(receiver, notificationUrl=url)
    del body["lifecycleNotificationUrl"]
    response = await graph.post("/subscriptions", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["notificationUrl"] == url
    assert response.json()["lifecycleNotificationUrl"] is None
    assert receiver.validations[0]["query"].startswith("code=abc&validationToken=")


@pytest.mark.parametrize("mode", ["refuse", "encoded"])
async def test_failed_handshake_creates_nothing(graph: httpx.AsyncClient, receiver: Receiver,
                                                mode: str) -> None:
    receiver.validation_mode = mode
    response = await graph.post("/subscriptions", json=sub_body(receiver))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ValidationError"
    assert (await graph.get("/subscriptions")).json()["value"] == []


async def test_unreachable_endpoint_fails_validation(graph: httpx.AsyncClient,
                                                     receiver: Receiver) -> None:
    body = sub_body(receiver, notificationUrl="http://127.0.0.1:9/api/graph/notifications")
    response = await graph.post("/subscriptions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ValidationError"


async def test_url_rules_expiry_rules_and_duplicates(graph: httpx.AsyncClient,
                                                     receiver: Receiver) -> None:
    not_loopback = await graph.post("/subscriptions", json=sub_body(
        receiver, notificationUrl="http://example.com/hook"))
    assert not_loopback.status_code == 400
    too_long = await graph.post("/subscriptions", json=sub_body(receiver,
                                                                expirationDateTime=expiry(10_090)))
    assert too_long.status_code == 400
    short = await graph.post("/subscriptions", json=sub_body(receiver, expirationDateTime=expiry(5)))
    assert short.status_code == 201
    raised_to = parse(short.json()["expirationDateTime"]) - datetime.now(UTC)
    assert timedelta(minutes=44) < raised_to <= timedelta(minutes=45)
    duplicate = await graph.post("/subscriptions", json=sub_body(receiver))
    assert duplicate.status_code == 409
    other_resource = await graph.post("/subscriptions", json=sub_body(
        receiver, resource="/users/nobody@contoso.example/events"))
    assert other_resource.status_code == 404
    bad_resource = await graph.post("/subscriptions", json=sub_body(receiver, resource="/me/messages"))
    assert bad_resource.status_code == 400


async def test_renew_reauthorize_delete(graph: httpx.AsyncClient, receiver: Receiver) -> None:
    sub = (await graph.post("/subscriptions", json=sub_body(receiver,
                                                            expirationDateTime=expiry(60)))).json()
    renewed = await graph.patch(f"/subscriptions/{sub['id']}",
                                json={"expirationDateTime": expiry(10_000)})
    assert renewed.status_code == 200
    assert parse(renewed.json()["expirationDateTime"]) > parse(sub["expirationDateTime"])
    too_far = await graph.patch(f"/subscriptions/{sub['id']}",
                                json={"expirationDateTime": expiry(20_000)})
    assert too_far.status_code == 400
    assert (await graph.post(f"/subscriptions/{sub['id']}/reauthorize")).status_code == 204
    assert (await graph.delete(f"/subscriptions/{sub['id']}")).status_code == 204
    gone = await graph.patch(f"/subscriptions/{sub['id']}", json={"expirationDateTime": expiry(60)})
    assert gone.status_code == 404
    assert (await graph.delete(f"/subscriptions/{sub['id']}")).status_code == 404


async def test_expired_subscription_is_gone_and_sends_nothing(
        graph: httpx.AsyncClient, control: httpx.AsyncClient, receiver: Receiver,
        sim: RunningSimulator) -> None:
    sub = (await graph.post("/subscriptions", json=sub_body(receiver))).json()
    assert (await control.post(f"/subscriptions/{sub['id']}/expire")).status_code == 204
    assert (await graph.get(f"/subscriptions/{sub['id']}")).status_code == 404
    renew = await graph.patch(f"/subscriptions/{sub['id']}", json={"expirationDateTime": expiry(60)})
    assert renew.status_code == 404
    assert (await graph.get("/subscriptions")).json()["value"] == []
    sim.state.outlook_create(ALICE, {"subject": "After expiry",
                                     "start": {"dateTime": "2025-06-02T09:00:00", "timeZone": "UTC"},
                                     "end": {"dateTime": "2025-06-02T10:00:00", "timeZone": "UTC"}})
    assert sim.state.notifier.pending() == 0
    assert receiver.items() == []
    listed = (await control.get("/subscriptions")).json()["value"]
    assert listed[0]["expired"] is True


async def test_subscriptions_need_a_calendar_role_and_belong_to_their_app(
        sim: RunningSimulator, ssl_ctx: ssl.SSLContext, graph: httpx.AsyncClient,
        receiver: Receiver) -> None:
    sub = (await graph.post("/subscriptions", json=sub_body(receiver))).json()
    sim.state.add_app("other-app", "other-secret", TENANT, roles=["User.Read.All"])
    token = fetch_token(sim, ssl_ctx, client_id="other-app", client_secret="other-secret")
    async with httpx.AsyncClient(base_url=sim.graph_endpoint, verify=ssl_ctx, headers={
            "Authorization": f"Bearer {token.json()['access_token']}"}) as other:
        assert (await other.post("/subscriptions", json=sub_body(receiver))).status_code == 403
    sim.state.add_app("reader-app", "reader-secret", TENANT, roles=["Calendars.Read"])
    token = fetch_token(sim, ssl_ctx, client_id="reader-app", client_secret="reader-secret")
    async with httpx.AsyncClient(base_url=sim.graph_endpoint, verify=ssl_ctx, headers={
            "Authorization": f"Bearer {token.json()['access_token']}"}) as reader:
        # Another app does not see (or renew) the first app's subscription.
        assert (await reader.get(f"/subscriptions/{sub['id']}")).status_code == 404
        assert (await reader.get("/subscriptions")).json()["value"] == []
    sim.state.add_app(CLIENT_ID, CLIENT_SECRET, TENANT)


async def test_reset_clears_subscriptions(graph: httpx.AsyncClient, control: httpx.AsyncClient,
                                          receiver: Receiver, sim: RunningSimulator) -> None:
    await graph.post("/subscriptions", json=sub_body(receiver))
    assert (await control.post("/reset")).status_code == 204
    assert sim.state.subscriptions() == []
    assert sim.state.notifications() == []


async def test_graph_may_grant_a_shorter_lifetime_than_asked(graph: httpx.AsyncClient, control: httpx.AsyncClient,
                                                             receiver: Receiver) -> None:
    before = (await graph.post("/subscriptions", json=sub_body(receiver))).json()  # 4000 min asked and granted
    assert parse(before["expirationDateTime"]) > datetime.now(UTC) + timedelta(minutes=3990)
    switched = await control.put("/subscriptions/lifetime", json={"maxMinutes": 90})
    assert switched.status_code == 200 and switched.json() == {"maxMinutes": 90}
    ninety = datetime.now(UTC) + timedelta(minutes=90, seconds=5)
    # Graph's view of the existing one is shorter now, and so is what it grants on renew and create.
    [listed] = (await graph.get("/subscriptions")).json()["value"]
    assert parse(listed["expirationDateTime"]) <= ninety
    renewed = (await graph.patch(f"/subscriptions/{before['id']}", json={"expirationDateTime": expiry(4000)})).json()
    assert parse(renewed["expirationDateTime"]) <= ninety
    other = (await graph.post("/subscriptions", json=sub_body(receiver, notificationUrl=receiver.url("/other"))))
    assert other.status_code == 201 and parse(other.json()["expirationDateTime"]) <= ninety
    assert (await control.put("/subscriptions/lifetime", json={"maxMinutes": 0})).status_code == 400
    assert (await control.put("/subscriptions/lifetime", json={"maxMinutes": None})).json() == {"maxMinutes": None}
    again = (await graph.patch(f"/subscriptions/{before['id']}", json={"expirationDateTime": expiry(4000)})).json()
    assert parse(again["expirationDateTime"]) > datetime.now(UTC) + timedelta(minutes=3990)
