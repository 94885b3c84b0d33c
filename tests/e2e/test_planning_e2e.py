"""End to end: HTTP trigger → local queue → sync worker → msgraph-sdk → HTTPS Graph simulator,
with real Azurite for the mappings."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import pytest

from local.sample_day import sample_day
from local.stack import LocalStack
from tests.e2e.conftest import dead_letters_of, wait_for

pytestmark = pytest.mark.e2e
SOURCE = "https://planning.example.com/e2e"
_ids = itertools.count(1)


def event(type_: str, subject: str, data: dict | None = None, sequence: int = 1, *, source: str = SOURCE,
          event_id: str | None = None) -> dict:
    raw = {"specversion": "1.0", "id": event_id or f"e2e-{next(_ids)}-{type_}", "source": source, "type": type_,
           "subject": subject, "time": "2026-05-01T06:00:00Z", "sequence": str(sequence)}
    if data is not None:
        raw["data"] = data
    return raw


def task(mailbox: str, hour: int = 8, title: str = "Job", day: str = "2026-05-04") -> dict:
    return {"resource": {"email": mailbox}, "start": f"{day}T{hour:02d}:00:00", "end": f"{day}T{hour + 1:02d}:00:00",
            "timeZone": "Europe/Berlin", "title": title}


def subjects(stack: LocalStack, mailbox: str) -> list[str]:
    return [e["subject"] for e in stack.calendar(mailbox)]


def post_and_drain(stack: LocalStack, events: list[dict], timeout: float = 120) -> None:
    response = stack.post_events(events)
    assert response.status_code == 202, response.text
    stack.wait_until_drained(timeout)


class TestTheNineKinds:
    def test_a_sample_day_lands_in_the_calendars_as_planned(self, stack: LocalStack) -> None:
        day = sample_day(prefix="nine")
        post_and_drain(stack, day)
        anna = stack.calendar("anna.berger@contoso.com")
        assert [e["subject"] for e in anna] == [
            "Oven maintenance – Bäckerei Müller",            # planned
            "Doctor's appointment (moved)",                  # unavailability added, then updated
            "Boiler check – Hotel Spreeblick",               # rescheduled to 15:00 (13:00 UTC)
            "Exceptional working day: Stock-taking",         # working day added
        ]
        assert anna[2]["start"]["dateTime"].startswith("2026-05-04T13:00:00")
        assert [e["showAs"] for e in anna] == ["busy", "oof", "busy", "free"]
        oven = anna[0]
        assert oven["location"]["coordinates"] == {"latitude": 52.5291, "longitude": 13.4014}
        assert 'href="tel:+493012345678"' in oven["body"]["content"]
        assert oven["categories"] == ["Maintenance"]
        assert subjects(stack, "ben.okafor@contoso.com") == ["Training course"]  # task reassigned away
        assert subjects(stack, "carla.silva@contoso.com") == ["Ventilation repair – Grundschule am Park"]
        # unplanned task, deleted unavailability and removed working day left nothing behind
        assert dead_letters_of(stack, day) == []

    def test_every_event_carries_the_source_key_and_a_transaction_id(self, stack: LocalStack) -> None:
        post_and_drain(stack, [event("task.planned", "task/key-1", task("worker01@contoso.com"))])
        [stored] = stack.calendar("worker01@contoso.com")
        [prop] = stored["singleValueExtendedProperties"]
        assert prop["value"] == f"{SOURCE} task/key-1" and stored["transactionId"]


class TestBadInput:
    @pytest.mark.parametrize("body,content_type,status,path", [
        (b"{not json", "application/cloudevents+json", 400, None),
        (json.dumps(event("task.planned", "task/x", task("a@b.com") | {"title": 5})).encode(),
         "application/cloudevents+json", 400, "$.data.title"),
        (json.dumps(event("task.exploded", "task/x")).encode(), "application/cloudevents+json", 400, "$.type"),
        (json.dumps({"specversion": "1.0", "id": "x"}).encode(), "application/cloudevents+json", 400, "$"),
        (json.dumps(event("task.planned", "task/x", task("a@b.com") | {"end": "2026-05-04T07:00:00"})).encode(),
         "application/cloudevents+json", 400, "$.data.end"),
        (json.dumps([event("task.unplanned", f"task/{i}") for i in range(501)]).encode(),
         "application/cloudevents-batch+json", 413, None),
        (b"{}", "text/plain", 415, None),
    ])
    def test_bad_input_is_answered_with_the_right_status_and_nothing_is_queued(
            self, stack: LocalStack, body: bytes, content_type: str, status: int, path: str | None) -> None:
        before = stack.queue_counts()
        assert stack.host is not None
        with stack.client() as client:
            response = client.post("/api/planning/events", content=body,
                                   headers={"x-functions-key": stack.host.function_key, "content-type": content_type})
        assert response.status_code == status
        assert response.headers["content-type"].startswith("application/problem+json")
        if path is not None:
            assert path in [e["path"] for e in response.json()["errors"]]
        assert stack.queue_counts() == before

    def test_the_endpoint_needs_a_function_key(self, stack: LocalStack) -> None:
        with stack.client() as client:
            response = client.post("/api/planning/events", json=event("task.unplanned", "task/1"))
        assert response.status_code == 401


class TestGraphTrouble:
    @pytest.mark.parametrize("busy", [False, True], ids=["idle", "under-a-cpu-hog"])
    def test_a_429_storm_on_one_mailbox_delays_but_loses_and_duplicates_nothing(
            self, stack: LocalStack, cpu_hog, busy: bool) -> None:
        assert stack.simulator is not None
        mailbox = "worker02@contoso.com" if not busy else "worker18@contoso.com"
        if busy:
            cpu_hog(90)  # every core busy while the storm runs (the processes stop by themselves)
        before = replace(stack.simulator.state.throttle.config)  # a copy: configure changes it in place
        stack.simulator.state.set_throttle(budget=8, window_seconds=2)
        events = [event("task.planned", f"task/storm-{busy}-{i}", task(mailbox, 6 + i % 12, f"Storm {i}"))
                  for i in range(25)]
        try:
            # Throttled messages wait as long as Graph asks; on a loaded machine the storm takes minutes. The test
            # is about what lands (everything, once), not how fast, so the deadline is generous.
            post_and_drain(stack, events, timeout=600)
        finally:  # the stack is shared: later tests get the usual limits back
            stack.simulator.state.set_throttle(before.concurrency, before.budget, before.window_seconds)
        wait_for(lambda: len(stack.calendar(mailbox)) == 25, 180, "all 25 events")
        assert sorted(subjects(stack, mailbox)) == sorted(f"Storm {i}" for i in range(25))
        assert any(r["status"] == 429 for r in stack.simulator.state.requests())
        assert dead_letters_of(stack, events) == []  # throttled is not failed

    def test_503s_are_retried_and_a_long_retry_after_is_left_to_the_queue(self, stack: LocalStack) -> None:
        assert stack.simulator is not None
        stack.simulator.state.add_fault(503, mailbox="worker03@contoso.com", method="POST", count=2, retry_after=1)
        stack.simulator.state.add_fault(503, mailbox="worker04@contoso.com", method="POST", count=1, retry_after=7)
        post_and_drain(stack, [event("task.planned", "task/s503-a", task("worker03@contoso.com", title="A")),
                               event("task.planned", "task/s503-b", task("worker04@contoso.com", title="B"))])
        assert subjects(stack, "worker03@contoso.com") == ["A"]
        assert subjects(stack, "worker04@contoso.com") == ["B"]

    def test_a_lost_answer_after_the_graph_write_creates_no_second_event(self, stack: LocalStack) -> None:
        assert stack.simulator is not None
        # Graph creates the event, then the answer is lost: the mapping is never written.
        stack.simulator.state.add_fault(500, mailbox="worker05@contoso.com", method="POST", phase="after")
        post_and_drain(stack, [event("task.planned", "task/lost-1", task("worker05@contoso.com", title="Once"))])
        assert subjects(stack, "worker05@contoso.com") == ["Once"]
        post_and_drain(stack, [event("task.rescheduled", "task/lost-1", task("worker05@contoso.com", 14, "Once"),
                                     sequence=2)])
        [stored] = stack.calendar("worker05@contoso.com")
        assert stored["start"]["dateTime"].startswith("2026-05-04T12:00:00")

    def test_a_redelivered_message_after_a_transient_error_lands_once(self, stack: LocalStack) -> None:
        assert stack.simulator is not None
        stack.simulator.state.add_fault(500, mailbox="worker06@contoso.com", method="POST", count=2)
        post_and_drain(stack, [event("task.planned", "task/redeliver-1", task("worker06@contoso.com", title="R"))])
        assert subjects(stack, "worker06@contoso.com") == ["R"]

    def test_a_delete_that_meets_404_counts_as_done(self, stack: LocalStack) -> None:
        planned = event("task.planned", "task/gone-1", task("worker07@contoso.com"))
        post_and_drain(stack, [planned])
        assert stack.simulator is not None
        [stored] = stack.simulator.state.events_of("worker07@contoso.com")
        stack.simulator.state.delete_event("worker07@contoso.com", stored["id"])  # deleted in Outlook
        unplanned = event("task.unplanned", "task/gone-1", sequence=2)
        post_and_drain(stack, [unplanned])
        assert dead_letters_of(stack, [planned, unplanned]) == []


class TestIds:
    def test_two_planning_systems_with_the_same_event_id_and_subject_both_land(self, stack: LocalStack) -> None:
        north = event("task.planned", "task/shared-7", task("worker19@contoso.com", title="North"),
                      source="https://planning.example.com/north", event_id="same-id-7")
        south = event("task.planned", "task/shared-7", task("worker19@contoso.com", 12, "South"),
                      source="https://planning.example.com/south", event_id="same-id-7")
        post_and_drain(stack, [north])
        post_and_drain(stack, [south])  # within the duplicate-detection window
        assert sorted(subjects(stack, "worker19@contoso.com")) == ["North", "South"]

    def test_a_128_character_event_id_is_rescheduled_when_throttled_and_lands(self, stack: LocalStack) -> None:
        assert stack.simulator is not None
        # Retry-After beyond what is waited in place: the message goes back to the queue with a longer id.
        stack.simulator.state.add_fault(429, mailbox="worker16@contoso.com", method="POST", count=1, retry_after=6)
        long_id = event("task.planned", "task/" + "L" * 100, task("worker16@contoso.com", title="Long"),
                        event_id="I" * 128)
        post_and_drain(stack, [long_id])
        assert subjects(stack, "worker16@contoso.com") == ["Long"]
        assert dead_letters_of(stack, [long_id]) == []


class TestPoisonAndOperators:
    def test_an_unknown_mailbox_is_dead_lettered_with_its_reason_and_can_be_replayed(self, stack: LocalStack) -> None:
        poison = event("task.planned", "task/poison-1", task("nobody@contoso.com", title="P"))
        post_and_drain(stack, [poison])
        [record] = dead_letters_of(stack, [poison])
        assert "nobody@contoso.com is unknown to Microsoft 365" in record["reason"]
        assert stack.simulator is not None
        stack.simulator.state.add_user("nobody@contoso.com", "No Body")
        replay = stack.admin("POST", f"/api/manage/deadletters/{record['id']}/replay")
        assert replay.status_code == 202
        stack.wait_until_drained()
        assert subjects(stack, "nobody@contoso.com") == ["P"]
        assert dead_letters_of(stack, [poison]) == []

    def test_access_denied_is_dead_lettered_naming_the_policy(self, stack: LocalStack) -> None:
        assert stack.simulator is not None
        stack.simulator.state.add_fault(403, mailbox="worker08@contoso.com", error_code="ErrorAccessDenied",
                                        message="Access to OData is disabled.")
        denied = event("task.planned", "task/denied-1", task("worker08@contoso.com"))
        post_and_drain(stack, [denied])
        [record] = dead_letters_of(stack, [denied])
        assert "Test-ApplicationAccessPolicy" in record["reason"]
        stack.admin("DELETE", f"/api/manage/deadletters/{record['id']}")

    def test_an_opted_out_resource_gets_no_events(self, stack: LocalStack) -> None:
        response = stack.admin("PUT", "/api/manage/resources/worker09@contoso.com", json={"active": False})
        assert response.status_code == 200 and response.json()["active"] is False
        post_and_drain(stack, [event("task.planned", "task/optout-1", task("worker09@contoso.com"))])
        assert stack.calendar("worker09@contoso.com") == []
        stack.admin("PUT", "/api/manage/resources/worker09@contoso.com", json={"active": True})


class TestCrash:
    def test_a_host_killed_mid_stream_loses_and_duplicates_nothing(self, stack: LocalStack) -> None:
        assert stack.simulator is not None and stack.host is not None
        stack.simulator.state.set_latency(40)
        mailboxes = [f"worker{i:02d}@contoso.com" for i in range(10, 16)]
        events = []
        for i in range(30):
            mailbox = mailboxes[i % len(mailboxes)]
            events.append(event("task.planned", f"task/crash-{i}", task(mailbox, 6 + i // 6, f"Crash {i}")))
        response = stack.post_events(events)
        assert response.status_code == 202
        wait_for(lambda: sum(len(stack.calendar(m)) for m in mailboxes) >= 5, 60, "some progress")
        stack.host.kill()
        stack.simulator.state.set_latency(0)
        stack.host.start(timeout=60)
        stack.wait_until_drained(timeout=120)
        held = [e["subject"] for m in mailboxes for e in stack.calendar(m)]
        assert sorted(held) == sorted(f"Crash {i}" for i in range(30))
        assert dead_letters_of(stack, events) == []


class TestSecrets:
    def test_no_secret_or_key_appears_in_the_hosts_output(self, stack: LocalStack) -> None:
        post_and_drain(stack, [event("task.planned", "task/secret-1", task("worker17@contoso.com"))])
        assert stack.host is not None
        for output in (stack.host.output, stack.log_path.read_text()):  # what the console shows, and the file
            assert "Executed 'Functions.planning_sync' (Succeeded" in output, "the host logged its work"
            for secret in (stack.env["CALENDAR_MSGRAPH_CLIENT_SECRET"], stack.host.master_key,
                           stack.host.function_key, stack.env["CONNECTOR_OUTBOUND_WEBHOOK_SECRET"],
                           *stack.env["CONNECTOR_CLIENT_STATE_KEY"].split(",")):
                assert secret not in output
