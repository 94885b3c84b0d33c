"""A small FunctionApp used only by the funchost tests; it records what it was asked to do."""

from __future__ import annotations

import asyncio
import json
import os
import threading

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

_lock = threading.Lock()
processed: list[dict[str, object]] = []  # successful queue deliveries, in completion order
attempts: list[dict[str, object]] = []  # every queue delivery
timer_runs: list[dict[str, object]] = []
overlaps: list[str] = []  # sessions seen with two messages in flight at once
_active_sessions: set[str] = set()


def reset() -> None:
    with _lock:
        for log in (processed, attempts, timer_runs, overlaps, events_seen):
            log.clear()
        _active_sessions.clear()


def _json(data: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(data), status_code=status, mimetype="application/json")


@app.route(route="greet/{name}/{greeting?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def greet(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"route": dict(req.route_params), "params": dict(req.params), "method": req.method})


@app.route(route="secure/{id:int}", methods=["GET", "POST"])
def secure(req: func.HttpRequest) -> func.HttpResponse:
    # Sync on purpose: the host must run it in a thread.
    body = req.get_body().decode()
    return func.HttpResponse(
        f"id={req.route_params['id']} body={body}",
        status_code=201,
        headers={"X-Sample": "yes"},
        mimetype="text/plain",
    )


@app.route(route="manage/status", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def manage_status(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"ok": True})


@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret internal detail")


@app.route(route="sample/records", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def records(req: func.HttpRequest) -> func.HttpResponse:
    with _lock:
        data = {"processed": processed, "attempts": attempts, "timer": timer_runs, "overlaps": overlaps}
        return _json(data)


@app.route(route="sample/env/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def env(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"value": os.environ.get(req.route_params["name"])})


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="sample-work", connection="ServiceBusConnection", is_sessions_enabled=True
)
async def work(msg: func.ServiceBusMessage) -> None:
    """Body: {"n": int, "fail": bool, "sleep": seconds, "sleep_first": seconds on delivery 1}."""
    data = json.loads(msg.get_body())
    session = msg.session_id or ""
    entry = {
        "session": session,
        "n": data.get("n"),
        "delivery_count": msg.delivery_count,
        "message_id": msg.message_id,
        "props": dict(msg.application_properties),
    }
    with _lock:
        attempts.append(entry)
        if session in _active_sessions:
            overlaps.append(session)
        _active_sessions.add(session)
    try:
        delay = data.get("sleep", 0) or (data.get("sleep_first", 0) if msg.delivery_count == 1 else 0)
        await asyncio.sleep(delay)
        if data.get("fail"):
            raise ValueError(f"message {data.get('n')} is poison")
        with _lock:
            processed.append(entry)
    finally:
        with _lock:
            _active_sessions.discard(session)


@app.timer_trigger(schedule="%SAMPLE_SCHEDULE%", arg_name="timer", run_on_startup=False)
def tick(timer: func.TimerRequest) -> None:
    with _lock:
        timer_runs.append({"past_due": timer.past_due})


events_seen: list[dict[str, object]] = []  # Event Grid deliveries, as the function got them


@app.function_name("on_event")
@app.event_grid_trigger(arg_name="event")
async def on_event(event: func.CloudEvent) -> None:
    data = event.get_json()
    if isinstance(data, dict) and data.get("fail"):
        raise RuntimeError("event refused")
    with _lock:
        events_seen.append({"class": type(event).__name__, "id": event.id, "type": event.type, "data": data,
                            "source": event.source})
