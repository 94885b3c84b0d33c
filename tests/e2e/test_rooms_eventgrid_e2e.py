"""Rooms with CONNECTOR_GRAPH_NOTIFICATION_DELIVERY=eventGrid through the local host: Graph (simulator) publishes
CloudEvents to the partner topic → Event Grid trigger (the host's /runtime/webhooks/eventgrid) → queue → worker →
outbound webhook, verified by the local booking-system receiver. The webhook-path version is test_rooms_e2e.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.e2e.test_rooms_e2e as webhook_path
from local.stack import LocalStack
from local.stack_eventgrid import LOCAL_EVENT_GRID_URL
from tests.e2e.conftest import ALL_USERS, wait_for
from tests.e2e.test_rooms_e2e import ANNA, current_subscription, meeting, new_room, register, reservations_of, settled
from tests.support.builders import require_azurite

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack of its own (this module's tests get it in place of the session's webhook stack)."""
    require_azurite()
    running = LocalStack(state_dir=Path(tmp_path_factory.mktemp("stack-eventgrid")), port=0, users=ALL_USERS,
                         lock_seconds=2, settings={"CONNECTOR_GRAPH_NOTIFICATION_DELIVERY": "eventGrid"}).start()
    yield running
    running.stop()


class TestOutlookToBookingSystemThroughEventGrid(webhook_path.TestOutlookToBookingSystem):
    """Every scenario of the webhook path (a storm, missed notifications, an expired subscription, a failing
    booking system, backfill ...) again, with Graph's notifications arriving through Event Grid."""

    def test_a_booking_in_outlook_reaches_the_booking_system_through_event_grid(self, stack: LocalStack) -> None:
        assert stack.simulator is not None and stack.booking is not None
        room = new_room(stack)
        register(stack, room)
        [subscription] = [s for s in stack.simulator.state.subscriptions() if s["id"] == current_subscription(stack,
                                                                                                            room)]
        assert subscription["notificationUrl"] == subscription["lifecycleNotificationUrl"] == LOCAL_EVENT_GRID_URL
        stack.simulator.state.outlook_create(ANNA, meeting(room, "Quarterly planning"))
        [event] = wait_for(lambda: reservations_of(stack, room), message="reservation delivered")
        settled(stack)
        assert [e["type"] for e in reservations_of(stack, room)] == ["reservation.created"]
        assert event["data"]["organizer"]["email"] == ANNA and event["data"]["subject"] == "Quarterly planning"
        delivered = [d for d in stack.simulator.state.notifications()
                     if d["subscriptionId"] == subscription["id"]]
        assert delivered and all("/runtime/webhooks/eventgrid?functionName=" in d["url"] and d["status"] == 202
                                 for d in delivered)
